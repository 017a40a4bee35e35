import fc from 'fast-check';
import { DriftAccumulator } from '../lambdas/monitoring/drift';
import { psi } from '../lambdas/shared/stats/divergence';
import { binIndex, binLabels } from '../lambdas/shared/stats/histogram';
import { OTHER_CATEGORY, type DatasetProfile } from '../lambdas/shared/types';
import { prng as uniform } from '../local/demo-data';

/** Normal samples by Box-Muller. */
function normal(seed: number, n: number, mean = 0, std = 1): number[] {
  const u = uniform(seed);
  const out: number[] = [];
  while (out.length < n) {
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    const theta = 2 * Math.PI * u();
    out.push(mean + std * r * Math.cos(theta), mean + std * r * Math.sin(theta));
  }
  return out.slice(0, n);
}

/** Edges -3, -2.5, ..., 3: 12 bins. */
const EDGES = Array.from({ length: 13 }, (_, i) => -3 + i * 0.5);

/** Histogram counts by a linear scan, independent of the implementation's binary search. */
function histogram(values: number[], edges: number[]): number[] {
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (const v of values) {
    let bin = 0;
    for (let i = 0; i < edges.length - 1; i++) if (v >= edges[i]) bin = i;
    counts[bin]++;
  }
  return counts;
}

function profileOf(columns: { x?: number[]; color?: Record<string, number> }): DatasetProfile {
  const result: DatasetProfile['columns'] = {};
  if (columns.x) {
    const x = columns.x;
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    result.x = {
      kind: 'numeric',
      count: x.length,
      missing: 0,
      min: Math.min(...x),
      max: Math.max(...x),
      mean,
      std: Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length),
      histogram: { edges: EDGES, counts: histogram(x, EDGES) },
    };
  }
  if (columns.color) {
    const total = Object.values(columns.color).reduce((s, v) => s + v, 0);
    result.color = {
      kind: 'categorical',
      count: total,
      missing: 0,
      distinct: Object.keys(columns.color).length,
      frequencies: columns.color,
    };
  }
  return { rows: columns.x?.length ?? 0, columns: result };
}

describe('psi', () => {
  it('matches a value computed by hand', () => {
    // r = (0.5, 0.3, 0.2), c = (0.4, 0.4, 0.2)
    //   (0.4 - 0.5) * ln(0.4 / 0.5) = -0.1 * -0.2231435513 = 0.0223143551
    //   (0.4 - 0.3) * ln(0.4 / 0.3) =  0.1 *  0.2876820725 = 0.0287682072
    //   (0.2 - 0.2) * ln(1)         =  0
    //   PSI = 0.0510825624
    expect(psi([0.5, 0.3, 0.2], [0.4, 0.4, 0.2])).toBeCloseTo(0.0510825624, 9);
  });

  it('smooths a zero share with 1e-4', () => {
    // r = (0.5, 0.5, 0), c = (0.5, 0.25, 0.25); the reference's 0 becomes 1e-4.
    //   (0.5 - 0.5) * ln(1)                 = 0
    //   (0.25 - 0.5) * ln(0.25 / 0.5)       = -0.25 * -0.6931471806 = 0.1732867951
    //   (0.25 - 0.0001) * ln(0.25 / 0.0001) = 0.2499 * 7.8240460109 = 1.9552290981
    //   PSI = 2.1285158933
    expect(psi([0.5, 0.5, 0], [0.5, 0.25, 0.25])).toBeCloseTo(2.1285158933, 9);
  });

  it('is 0 for identical distributions and never negative', () => {
    expect(psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5])).toBe(0);
    expect(psi([1, 0], [1, 0])).toBe(0);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(100), fc.nat(100)), { minLength: 1, maxLength: 10 }), (pairs) => {
        const rt = pairs.reduce((s, [r]) => s + r, 0) || 1;
        const ct = pairs.reduce((s, [, c]) => s + c, 0) || 1;
        expect(
          psi(
            pairs.map(([r]) => r / rt),
            pairs.map(([, c]) => c / ct),
          ),
        ).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('rejects mismatched or empty distributions', () => {
    expect(() => psi([], [])).toThrow(/empty/);
    expect(() => psi([1], [0.5, 0.5])).toThrow(/1 buckets, the current 2/);
    expect(() => psi([-1, 2], [0.5, 0.5])).toThrow(/finite number >= 0/);
  });
});

describe('binIndex and binLabels', () => {
  it('puts values in [edge_i, edge_i+1), the outside ones in the first or last bin', () => {
    const edges = [0, 1, 2, 3];
    expect([-5, 0, 0.5, 1, 1.999, 2, 3, 99].map((v) => binIndex(edges, v))).toEqual([0, 0, 0, 1, 1, 2, 2, 2]);
    expect(binIndex([5, 5], 5)).toBe(0);
    expect(binIndex([5, 5], -1)).toBe(0);
  });

  it('agrees with a linear scan', () => {
    fc.assert(
      fc.property(fc.double({ min: -10, max: 10, noNaN: true }), (v) => {
        expect(binIndex(EDGES, v)).toBe(histogram([v], EDGES).indexOf(1));
      }),
    );
  });

  it('labels bins as half-open intervals, the last one closed', () => {
    expect(binLabels([0.5, 1.2, 2])).toEqual(['[0.5, 1.2)', '[1.2, 2]']);
    expect(binLabels([0.1 + 0.2, 1])).toEqual(['[0.3, 1]']);
    expect(binLabels([1, 1.0000001, 2])).toEqual(['[1, 1.0000001)', '[1.0000001, 2]']);
    expect(new Set(binLabels([0, 0, 0, 1])).size).toBe(3);
  });
});

describe('DriftAccumulator', () => {
  const reference = normal(1, 10000);
  const features = [{ name: 'x', type: 'numeric' as const }];
  const now = new Date('2025-01-02T03:04:05.000Z');

  it('does not flag a sample from the same generator as the reference', () => {
    const acc = new DriftAccumulator(features, profileOf({ x: reference }));
    for (const x of normal(2, 2000)) acc.add({ x });
    const report = acc.report({ now });
    const [f] = report.features;
    expect(f.statistic).not.toBeNull();
    expect(f.statistic!).toBeLessThan(0.05);
    expect(f.drifted).toBe(false);
    expect(report).toMatchObject({ datasetDrift: false, driftShare: 0, rows: 2000, generatedAt: '2025-01-02T03:04:05.000Z' });
    expect(f.reference.kind).toBe('numeric');
    expect(Object.keys(f.current.distribution)).toEqual(binLabels(EDGES));
    expect(Object.keys(f.current.distribution)[0]).toBe('[-3, -2.5)');
    const total = Object.values(f.current.distribution).reduce((s, v) => s + v, 0);
    expect(total).toBeCloseTo(1, 12);
  });

  it('flags a shifted normal sample', () => {
    const acc = new DriftAccumulator(features, profileOf({ x: reference }));
    for (const x of normal(3, 2000, 1, 1)) acc.add({ x });
    const report = acc.report({ now });
    expect(report.features[0].statistic!).toBeGreaterThan(0.5);
    expect(report.features[0].drifted).toBe(true);
    expect(report).toMatchObject({ datasetDrift: true, driftShare: 1 });
  });

  it('bins from the profile alone, matching a PSI computed from the counts', () => {
    // Reference counts 1, 2, 1 on edges 0, 1, 2, 3; the window has 3 values in the first bin
    // (one below the first edge) and 2 in the last (one above the last edge).
    const profile: DatasetProfile = {
      rows: 4,
      columns: {
        x: {
          kind: 'numeric',
          count: 4,
          missing: 0,
          min: 0,
          max: 3,
          mean: 1.5,
          std: 1,
          histogram: { edges: [0, 1, 2, 3], counts: [1, 2, 1] },
        },
      },
    };
    const acc = new DriftAccumulator(features, profile);
    for (const x of [-1, 0, 0.5, 7, null, 'abc', Infinity, '2.5', '']) acc.add({ x });
    const [f] = acc.report({ now, test: 'psi' }).features;
    // Non-numbers (null, 'abc', Infinity, '') are missing; the numeric string '2.5' counts.
    expect(f.rows).toBe(9);
    expect(f.missing).toBe(4);
    expect(f.reference.distribution).toEqual({ '[0, 1)': 0.25, '[1, 2)': 0.5, '[2, 3]': 0.25 });
    expect(f.current.distribution).toEqual({ '[0, 1)': 0.6, '[1, 2)': 0, '[2, 3]': 0.4 });
    expect(f.statistic).toBeCloseTo(psi([0.25, 0.5, 0.25], [0.6, 0, 0.4]), 12);
  });

  it('sends unseen categories to the other bucket', () => {
    const profile = profileOf({ color: { red: 50, blue: 30, [OTHER_CATEGORY]: 20 } });
    const acc = new DriftAccumulator([{ name: 'color', type: 'categorical' }], profile);
    for (const color of ['red', 'red', 'blue', 'green', 'purple', 'yellow', null, '', undefined]) acc.add({ color });
    acc.add({});
    const [f] = acc.report({ now, test: 'psi' }).features;
    expect(f.reference).toMatchObject({ kind: 'categorical', distribution: { red: 0.5, blue: 0.3, [OTHER_CATEGORY]: 0.2 } });
    expect(f.current.distribution).toEqual({ red: 2 / 6, blue: 1 / 6, [OTHER_CATEGORY]: 3 / 6 });
    expect(f.rows).toBe(10);
    expect(f.missing).toBe(4);
    expect(f.statistic).toBeCloseTo(psi([0.5, 0.3, 0.2], [2 / 6, 1 / 6, 3 / 6]), 12);
    expect(f.drifted).toBe(true);
  });

  it('flags a category never seen in training when the profile has no other bucket', () => {
    const profile = profileOf({ color: { red: 60, blue: 40 } });
    const acc = new DriftAccumulator([{ name: 'color', type: 'categorical' }], profile);
    for (let i = 0; i < 60; i++) acc.add({ color: 'red' });
    for (let i = 0; i < 40; i++) acc.add({ color: 'blue' });
    expect(acc.report().features[0]).toMatchObject({ statistic: 0, drifted: false });
    expect(acc.report().features[0].reference.distribution).toEqual({ red: 0.6, blue: 0.4 });
    for (let i = 0; i < 30; i++) acc.add({ color: 'green' });
    const [f] = acc.report().features;
    expect(f.current.distribution[OTHER_CATEGORY]).toBeCloseTo(30 / 130, 12);
    expect(f.reference.distribution[OTHER_CATEGORY]).toBe(0);
    expect(f.drifted).toBe(true);
  });

  it('does not test an empty column and says so', () => {
    const acc = new DriftAccumulator(
      [
        { name: 'x', type: 'numeric' },
        { name: 'color', type: 'categorical' },
      ],
      profileOf({ x: reference, color: { red: 1, blue: 1 } }),
    );
    for (let i = 0; i < 10; i++) acc.add({ x: null, color: i % 2 ? 'red' : 'blue' });
    const report = acc.report({ now });
    const x = report.features[0];
    expect(x).toMatchObject({ name: 'x', statistic: null, drifted: false, rows: 10, missing: 10 });
    expect(x.warning).toBe("Column 'x' is empty in the window: no drift test was run.");
    expect(report.features[1].warning).toBeUndefined();
    expect(report.features[1].statistic).toBe(0);
    expect(JSON.parse(JSON.stringify(report)).features[0].statistic).toBeNull();
    // Only the categorical column was tested.
    expect(report.driftShare).toBe(0);
    expect(report.datasetDrift).toBe(false);
  });

  it('reports no dataset drift when no feature was tested', () => {
    const acc = new DriftAccumulator(features, profileOf({ x: reference }));
    const report = acc.report({ now });
    expect(report).toMatchObject({ rows: 0, driftShare: 0, datasetDrift: false, driftShareThreshold: 0.5 });
    expect(report.features[0].statistic).toBeNull();
  });

  it('computes the drift share over the tested features and applies the dataset rule', () => {
    // a and b drift (shifted), c does not, d is empty: 2 of 3 tested features drifted.
    const names = ['a', 'b', 'c', 'd'];
    const cols: DatasetProfile['columns'] = {};
    for (const name of names) cols[name] = profileOf({ x: reference }).columns.x;
    const acc = new DriftAccumulator(
      names.map((name) => ({ name, type: 'numeric' as const })),
      { rows: reference.length, columns: cols },
    );
    const shifted = normal(4, 1000, 1.5);
    const same = normal(5, 1000);
    for (let i = 0; i < 1000; i++) acc.add({ a: shifted[i], b: shifted[999 - i], c: same[i], d: undefined });
    const report = acc.report({ now, test: 'psi' });
    expect(report.features.map((f) => f.drifted)).toEqual([true, true, false, false]);
    expect(report.driftShare).toBeCloseTo(2 / 3, 12);
    expect(report.datasetDrift).toBe(true);
    expect(acc.report({ test: 'psi', driftShareThreshold: 2 / 3 }).datasetDrift).toBe(true); // at the threshold
    expect(acc.report({ test: 'psi', driftShareThreshold: 0.7 }).datasetDrift).toBe(false);
    // A higher PSI threshold un-flags the features.
    const lenient = acc.report({ test: 'psi', threshold: 100 });
    expect(lenient.driftShare).toBe(0);
    expect(lenient.features[0].threshold).toBe(100);
  });

  it('rejects features the profile does not describe', () => {
    const profile = profileOf({ x: reference });
    expect(() => new DriftAccumulator([{ name: 'y', type: 'numeric' }], profile)).toThrow(/'y' is not in the training profile/);
    expect(() => new DriftAccumulator([{ name: 'x', type: 'categorical' }], profile)).toThrow(
      /categorical but the training profile has it as numeric/,
    );
    const acc = new DriftAccumulator(features, profile);
    expect(() => acc.report({ test: 'psi', threshold: 0 })).toThrow(/psi threshold/);
    expect(() => acc.report({ threshold: 0.1 })).toThrow(/needs a test/);
    expect(() => acc.report({ driftShareThreshold: 1.5 })).toThrow(/drift share threshold/);
  });
});
