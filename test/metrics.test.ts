import fc from 'fast-check';
import {
  classificationDetails,
  classificationMetrics,
  compareWithChampion,
  primaryMetric,
  regressionMetrics,
  ROC_CURVE_POINTS,
  rocCurve,
} from '../lambdas/registry/metrics';
import { RESIDUAL_SAMPLE, residualsOf } from '../lambdas/registry/scoring';

describe('classificationMetrics', () => {
  // 3 classes. Truth and the argmax of each row:
  //   row  truth  probabilities (a, b, c)  predicted  p[truth]
  //   0    a      0.7 0.2 0.1              a          0.7
  //   1    a      0.6 0.3 0.1              a          0.6
  //   2    a      0.3 0.5 0.2              b          0.3
  //   3    b      0.1 0.8 0.1              b          0.8
  //   4    b      0.1 0.4 0.5              c          0.4
  //   5    c      0.2 0.2 0.6              c          0.6
  // Confusion (rows truth, columns predicted):  a: 2 1 0 | b: 0 1 1 | c: 0 0 1
  //   F1(a) = 2*2 / (2*2 + 0 + 1) = 4/5
  //   F1(b) = 2*1 / (2*1 + 1 + 1) = 1/2
  //   F1(c) = 2*1 / (2*1 + 1 + 0) = 2/3
  //   macro F1 = (4/5 + 1/2 + 2/3) / 3 = (24 + 15 + 20) / 90 = 59/90
  // accuracy = 4/6; log loss = -(ln .7 + ln .6 + ln .3 + ln .8 + ln .4 + ln .6) / 6 = 0.62028888...
  const classes = ['a', 'b', 'c'];
  const truth = ['a', 'a', 'a', 'b', 'b', 'c'];
  const probabilities = [
    [0.7, 0.2, 0.1],
    [0.6, 0.3, 0.1],
    [0.3, 0.5, 0.2],
    [0.1, 0.8, 0.1],
    [0.1, 0.4, 0.5],
    [0.2, 0.2, 0.6],
  ];

  it('computes accuracy, macro F1 and log loss of a 3-class confusion worked out by hand', () => {
    const m = classificationMetrics(truth, probabilities, classes);
    expect(m.accuracy).toBeCloseTo(4 / 6, 12);
    expect(m.macro_f1).toBeCloseTo(59 / 90, 12);
    expect(m.log_loss).toBeCloseTo(0.6202888798308358, 12);
    // One-vs-rest AUCs: a 1 (every a row outscores every other row on p[a]); b 7/8 (0.4 loses to
    // row 2's 0.5); c 1. Macro average (1 + 7/8 + 1) / 3.
    expect(m.roc_auc).toBeCloseTo((1 + 7 / 8 + 1) / 3, 12);
  });

  it('computes the binary AUC with a tie counted as one half', () => {
    // Scores of 'pos': neg 0.1, neg 0.4, pos 0.4, pos 0.8.
    // Pairs (pos, neg): (0.4, 0.1) = 1, (0.4, 0.4) = 1/2, (0.8, 0.1) = 1, (0.8, 0.4) = 1 -> 3.5 / 4.
    // Ranks: 0.1 -> 1, 0.4 and 0.4 -> 2.5, 0.8 -> 4; U = (2.5 + 4) - 2*3/2 = 3.5.
    const m = classificationMetrics(
      ['neg', 'neg', 'pos', 'pos'],
      [
        [0.9, 0.1],
        [0.6, 0.4],
        [0.6, 0.4],
        [0.2, 0.8],
      ],
      ['neg', 'pos'],
    );
    expect(m.roc_auc).toBeCloseTo(0.875, 12);
    // Ties in argmax go to the first class: row 2 (0.6, 0.4) is predicted 'neg'.
    expect(m.accuracy).toBeCloseTo(3 / 4, 12);
  });

  it('matches a pairwise count of the AUC on random data', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 10 })), { minLength: 2, maxLength: 40 }), (rows) => {
        const truthLabels = rows.map(([positive]) => (positive ? 'y' : 'n'));
        const scores = rows.map(([, s]) => s / 10);
        const m = classificationMetrics(
          truthLabels,
          scores.map((s) => [1 - s, s]),
          ['n', 'y'],
        );
        let pairs = 0;
        let wins = 0;
        rows.forEach(([pi], i) =>
          rows.forEach(([pj], j) => {
            if (pi && !pj) {
              pairs++;
              wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
            }
          }),
        );
        if (pairs === 0) expect(m.roc_auc).toBeUndefined();
        else expect(m.roc_auc).toBeCloseTo(wins / pairs, 12);
      }),
    );
  });

  it('counts truth labels that are not among the classes as wrong', () => {
    // Predicted a, b, a; truth a, b, z.
    // F1(a) = 2*1 / (2 + 1) = 2/3, F1(b) = 1, F1(z) = 0 (never predicted) -> macro 5/9.
    // log loss = -(ln .9 + ln .8 + ln 1e-15) / 3; AUC on the rows of a and b only: 1.
    const m = classificationMetrics(
      ['a', 'b', 'z'],
      [
        [0.9, 0.1],
        [0.2, 0.8],
        [0.5, 0.5],
      ],
      ['a', 'b'],
    );
    expect(m.accuracy).toBeCloseTo(2 / 3, 12);
    expect(m.macro_f1).toBeCloseTo(5 / 9, 12);
    expect(m.log_loss).toBeCloseTo(11.622426820627574, 9);
    expect(m.roc_auc).toBe(1);
  });

  it('clips probabilities for the log loss', () => {
    const m = classificationMetrics(
      ['a', 'b'],
      [
        [1, 0],
        [1, 0],
      ],
      ['a', 'b'],
    );
    // -(ln(1 - 1e-15) + ln(1e-15)) / 2
    expect(m.log_loss).toBeCloseTo(-Math.log(1e-15) / 2, 9);
    expect(Number.isFinite(m.log_loss)).toBe(true);
  });

  it('leaves the AUC out when the truth holds a single class', () => {
    const m = classificationMetrics(
      ['a', 'a'],
      [
        [0.9, 0.1],
        [0.4, 0.6],
      ],
      ['a', 'b'],
    );
    expect(m.roc_auc).toBeUndefined();
    expect(m.accuracy).toBe(0.5);
  });

  it('rejects empty and inconsistent input with a clear message', () => {
    expect(() => classificationMetrics([], [], ['a', 'b'])).toThrow(/empty/);
    expect(() => classificationMetrics(['a'], [], ['a', 'b'])).toThrow(/1 truth labels but 0 rows/);
    expect(() => classificationMetrics(['a'], [[1]], ['a', 'b'])).toThrow(/row 0 has 1 probabilities for 2 classes/);
    expect(() => classificationMetrics(['a'], [[NaN, 1]], ['a', 'b'])).toThrow(/finite/);
    expect(() => classificationMetrics(['a'], [[1]], [])).toThrow(/classes is empty/);
  });
});

describe('classificationDetails', () => {
  // The 3-class example above: confusion a: 2 1 0 | b: 0 1 1 | c: 0 0 1.
  const classes = ['a', 'b', 'c'];
  const truth = ['a', 'a', 'a', 'b', 'b', 'c'];
  const probabilities = [
    [0.7, 0.2, 0.1],
    [0.6, 0.3, 0.1],
    [0.3, 0.5, 0.2],
    [0.1, 0.8, 0.1],
    [0.1, 0.4, 0.5],
    [0.2, 0.2, 0.6],
  ];

  it('gives the confusion matrix (rows truth, columns predicted) and per-class scores worked out by hand', () => {
    const d = classificationDetails(truth, probabilities, classes);
    expect(d.labels).toEqual(['a', 'b', 'c']);
    expect(d.confusionMatrix).toEqual([
      [2, 1, 0],
      [0, 1, 1],
      [0, 0, 1],
    ]);
    const [a, b, c] = d.perClass;
    expect(a).toEqual({ label: 'a', precision: 1, recall: 2 / 3, f1: 4 / 5, support: 3, predicted: 2, rocAuc: 1 });
    expect(b).toEqual({ label: 'b', precision: 1 / 2, recall: 1 / 2, f1: 1 / 2, support: 2, predicted: 2, rocAuc: 7 / 8 });
    expect(c).toEqual({ label: 'c', precision: 1 / 2, recall: 1, f1: 2 / 3, support: 1, predicted: 2, rocAuc: 1 });
  });

  it('adds truth labels the model does not know as rows that are never predicted', () => {
    const d = classificationDetails(
      ['a', 'b', 'z'],
      [
        [0.9, 0.1],
        [0.2, 0.8],
        [0.5, 0.5],
      ],
      ['a', 'b'],
    );
    expect(d.labels).toEqual(['a', 'b', 'z']);
    expect(d.confusionMatrix).toEqual([
      [1, 0],
      [0, 1],
      [1, 0], // the tie goes to the first class
    ]);
    expect(d.perClass[0]).toMatchObject({ label: 'a', precision: 1 / 2, recall: 1, support: 1, predicted: 2, rocAuc: 1 });
    expect(d.perClass[2]).toEqual({ label: 'z', precision: 0, recall: 0, f1: 0, support: 1, predicted: 0 });
  });

  it('leaves a class absent from the truth out of the one-vs-rest average', () => {
    // AUC(a): positives 0.6, 0.4 vs negatives 0.3, 0.5 -> 3/4; AUC(b) the same; c has no positives.
    const t = ['a', 'a', 'b', 'b'];
    const p = [
      [0.6, 0.3, 0.1],
      [0.4, 0.5, 0.1],
      [0.3, 0.6, 0.1],
      [0.5, 0.4, 0.1],
    ];
    expect(classificationMetrics(t, p, ['a', 'b', 'c']).roc_auc).toBeCloseTo(0.75, 12);
    const c = classificationDetails(t, p, ['a', 'b', 'c']).perClass[2];
    expect(c).toEqual({ label: 'c', precision: 0, recall: 0, f1: 0, support: 0, predicted: 0 });
    // Only one class in the truth: no class has an AUC, and the key is absent.
    expect(
      classificationMetrics(
        ['a', 'a'],
        [
          [0.5, 0.3, 0.2],
          [0.2, 0.3, 0.5],
        ],
        ['a', 'b', 'c'],
      ).roc_auc,
    ).toBeUndefined();
  });

  it('agrees with the metric map, and the one-vs-rest AUC with a pairwise count, on random data', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 3, maxLength: 3 })), {
          minLength: 1,
          maxLength: 30,
        }),
        (rows) => {
          const labels = ['x', 'y', 'z'];
          const t = rows.map(([k]) => labels[k]);
          const p = rows.map(([, scores]) => scores.map((s) => s / 5));
          const m = classificationMetrics(t, p, labels);
          const d = classificationDetails(t, p, labels);
          const total = d.confusionMatrix.flat().reduce((a, b) => a + b, 0);
          expect(total).toBe(t.length);
          const diagonal = d.confusionMatrix.reduce((sum, row, i) => sum + row[i], 0);
          expect(m.accuracy).toBeCloseTo(diagonal / t.length, 12);
          const occurring = d.perClass.filter((c) => c.support > 0 || c.predicted > 0);
          expect(m.macro_f1).toBeCloseTo(occurring.reduce((sum, c) => sum + c.f1, 0) / occurring.length, 12);
          // Each class's AUC by counting (positive, negative) pairs, ties one half.
          const aucs: number[] = [];
          labels.forEach((label, j) => {
            let pairs = 0;
            let wins = 0;
            t.forEach((ti, i) =>
              t.forEach((tk, k) => {
                if (ti === label && tk !== label) {
                  pairs++;
                  wins += p[i][j] > p[k][j] ? 1 : p[i][j] === p[k][j] ? 0.5 : 0;
                }
              }),
            );
            const scores = d.perClass[j];
            if (pairs === 0) expect(scores.rocAuc).toBeUndefined();
            else {
              expect(scores.rocAuc).toBeCloseTo(wins / pairs, 12);
              aucs.push(wins / pairs);
            }
          });
          if (aucs.length === 0) expect(m.roc_auc).toBeUndefined();
          else expect(m.roc_auc).toBeCloseTo(aucs.reduce((a, b) => a + b, 0) / aucs.length, 12);
        },
      ),
    );
  });

  it('rejects the input classificationMetrics rejects, with the same message', () => {
    expect(() => classificationDetails([], [], ['a', 'b'])).toThrow('Cannot compute classification metrics on an empty set: no rows.');
    expect(() => classificationDetails(['a'], [[1]], ['a', 'b'])).toThrow('row 0 has 1 probabilities for 2 classes');
  });
});

describe('regressionMetrics', () => {
  it('gives r2 = 1 and zero errors for perfect predictions', () => {
    expect(regressionMetrics([1, 2, 3, 4], [1, 2, 3, 4])).toEqual({ rmse: 0, mae: 0, r2: 1 });
  });

  it('gives r2 = 0 for predicting the mean', () => {
    // Mean 2.5; errors 1.5, 0.5, 0.5, 1.5: rmse = sqrt((2.25 + .25 + .25 + 2.25) / 4) = sqrt(1.25), mae = 1.
    const m = regressionMetrics([1, 2, 3, 4], [2.5, 2.5, 2.5, 2.5]);
    expect(m.r2).toBeCloseTo(0, 12);
    expect(m.rmse).toBeCloseTo(Math.sqrt(1.25), 12);
    expect(m.mae).toBeCloseTo(1, 12);
  });

  it('computes known values', () => {
    // Errors 0.5, -0.5, 0, -1: SSres = .25 + .25 + 0 + 1 = 1.5; mean 2.875,
    // SStot = 0.015625 + 11.390625 + 0.765625 + 17.015625 = 29.1875; r2 = 1 - 1.5 / 29.1875.
    const m = regressionMetrics([3, -0.5, 2, 7], [2.5, 0, 2, 8]);
    expect(m.rmse).toBeCloseTo(Math.sqrt(1.5 / 4), 12);
    expect(m.mae).toBeCloseTo(0.5, 12);
    expect(m.r2).toBeCloseTo(1 - 1.5 / 29.1875, 12);
  });

  it('handles a constant truth', () => {
    expect(regressionMetrics([5, 5], [5, 5]).r2).toBe(1);
    expect(regressionMetrics([5, 5], [4, 6]).r2).toBe(0);
  });

  it('rejects empty and inconsistent input', () => {
    expect(() => regressionMetrics([], [])).toThrow(/empty/);
    expect(() => regressionMetrics([1, 2], [1])).toThrow(/2 truth values but 1 predictions/);
    expect(() => regressionMetrics([1, NaN], [1, 2])).toThrow(/finite/);
  });
});

describe('primaryMetric', () => {
  it('is accuracy for classification and rmse for regression', () => {
    expect(primaryMetric('classification')).toEqual({ name: 'accuracy', higherIsBetter: true });
    expect(primaryMetric('regression')).toEqual({ name: 'rmse', higherIsBetter: false });
  });
});

describe('compareWithChampion', () => {
  it('promotes when there is no champion', () => {
    expect(compareWithChampion('classification', { accuracy: 0.5 }, null)).toEqual({
      better: true,
      reason: 'No champion yet: the candidate is promoted.',
      candidate: 0.5,
      champion: null,
      metric: 'accuracy',
    });
  });

  it('promotes a classifier with a higher accuracy', () => {
    const d = compareWithChampion('classification', { accuracy: 0.912 }, { accuracy: 0.9 });
    expect(d.better).toBe(true);
    expect(d.reason).toBe('Candidate accuracy 0.912 beats champion accuracy 0.900 (margin 0).');
    expect(d).toMatchObject({ candidate: 0.912, champion: 0.9, metric: 'accuracy' });
  });

  it('does not promote an equal score', () => {
    const d = compareWithChampion('classification', { accuracy: 0.9 }, { accuracy: 0.9 });
    expect(d.better).toBe(false);
    expect(d.reason).toBe('Candidate accuracy 0.900 is not better than champion accuracy 0.900.');
  });

  it('treats a lower rmse as better and a higher one as worse', () => {
    const worse = compareWithChampion('regression', { rmse: 3.1 }, { rmse: 3.05 });
    expect(worse.better).toBe(false);
    expect(worse.reason).toBe('Candidate rmse 3.10 is not better than champion rmse 3.05.');
    const better = compareWithChampion('regression', { rmse: 3.0 }, { rmse: 3.05 });
    expect(better.better).toBe(true);
  });

  it('requires an improvement of strictly more than the minimum', () => {
    const small = compareWithChampion('classification', { accuracy: 0.905 }, { accuracy: 0.9 }, 0.01);
    expect(small.better).toBe(false);
    expect(small.reason).toBe('Candidate accuracy 0.905 is better than champion accuracy 0.900 but not by more than the margin 0.01.');
    expect(compareWithChampion('classification', { accuracy: 0.92 }, { accuracy: 0.9 }, 0.01).better).toBe(true);
    expect(compareWithChampion('regression', { rmse: 2 }, { rmse: 3 }, 1).better).toBe(false);
  });

  it('prints enough digits to tell close values apart', () => {
    const d = compareWithChampion('classification', { accuracy: 0.91234 }, { accuracy: 0.91229 });
    expect(d.reason).toBe('Candidate accuracy 0.91234 beats champion accuracy 0.91229 (margin 0).');
  });

  it('promotes when the champion lacks the metric, and rejects a candidate that lacks it', () => {
    const d = compareWithChampion('regression', { rmse: 1 }, { accuracy: 0.9 });
    expect(d.better).toBe(true);
    expect(d.champion).toBeNull();
    expect(d.reason).toBe('The champion has no rmse metric to compare with: the candidate is promoted.');
    expect(() => compareWithChampion('regression', { accuracy: 1 }, null)).toThrow(/no finite rmse/);
    expect(() => compareWithChampion('regression', { rmse: 1 }, null, -1)).toThrow(/minimum improvement/);
  });
});

describe('rocCurve (the evaluation report’s curves, drawn by mloop ui)', () => {
  test('steps through each distinct score from the highest, (0,0) to (1,1)', () => {
    expect(rocCurve(['a', 'b', 'a', 'b'], [0.1, 0.4, 0.35, 0.8], 'b')).toEqual([
      [0, 0],
      [0, 0.5],
      [0, 1],
      [0.5, 1],
      [1, 1],
    ]);
  });

  test('tied scores move the curve together, and a class absent from either side has none', () => {
    expect(rocCurve(['a', 'b'], [0.5, 0.5], 'b')).toEqual([
      [0, 0],
      [1, 1],
    ]);
    expect(rocCurve(['b', 'b'], [0.2, 0.9], 'b')).toBeNull();
  });

  test('its area is the AUC the metrics report, and a long curve is thinned to ROC_CURVE_POINTS with both ends', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 20 })), { minLength: 2, maxLength: 300 }), (rows) => {
        const truth = rows.map(([positive]) => (positive ? 'y' : 'n'));
        const p = rows.map(([, score]) => score / 20);
        const curve = rocCurve(truth, p, 'y');
        const auc = classificationMetrics(
          truth,
          p.map((q) => [1 - q, q]),
          ['n', 'y'],
        ).roc_auc;
        if (curve === null) return auc === undefined;
        let area = 0;
        for (let i = 1; i < curve.length; i++) area += ((curve[i][0] - curve[i - 1][0]) * (curve[i][1] + curve[i - 1][1])) / 2;
        return Math.abs(area - auc!) < 1e-9;
      }),
    );
    const truth = Array.from({ length: 1000 }, (_, i) => (i % 3 === 0 ? 'y' : 'n'));
    const curve = rocCurve(
      truth,
      truth.map((_, i) => i / 1000),
      'y',
    )!;
    expect(curve).toHaveLength(ROC_CURVE_POINTS);
    expect(curve[0]).toEqual([0, 0]);
    expect(curve[ROC_CURVE_POINTS - 1]).toEqual([1, 1]);
  });

  test('classificationDetails keeps the second class’s curve for two classes, one per class for more', () => {
    expect(
      classificationDetails(
        ['a', 'b'],
        [
          [0.7, 0.3],
          [0.2, 0.8],
        ],
        ['a', 'b'],
      ).rocCurves!.map((c) => c.label),
    ).toEqual(['b']);
    const three = classificationDetails(
      ['a', 'b', 'c'],
      [
        [0.7, 0.2, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.2, 0.7],
      ],
      ['a', 'b', 'c'],
    );
    expect(three.rocCurves!.map((c) => c.label)).toEqual(['a', 'b', 'c']);
  });
});

describe('residualsOf (a regression’s predicted against true values)', () => {
  test('every row when few, an evenly spaced RESIDUAL_SAMPLE when many, in split order', () => {
    expect(residualsOf([{ value: 1.5 }, { value: 2 }], ['1', '3'])).toEqual({
      rows: 2,
      sample: [
        [1, 1.5],
        [3, 2],
      ],
    });
    const truth = Array.from({ length: 2000 }, (_, i) => String(i));
    const many = residualsOf(
      truth.map((t) => ({ value: Number(t) + 0.5 })),
      truth,
    );
    expect(many.rows).toBe(2000);
    expect(many.sample).toHaveLength(RESIDUAL_SAMPLE);
    expect(many.sample[0]).toEqual([0, 0.5]);
    expect(many.sample[1]).toEqual([4, 4.5]);
  });
});
