/**
 * The drift monitor's pure parts: configuration (per-model and per-feature overrides, windows),
 * the dataset-drift share, null-share drift, prediction drift, quality-drop detection, the
 * retraining policy with its storm guard and cooldown, and the HTML report.
 */
import { NumericStats } from '../lambdas/data/profile';
import { parseDriftConfig, parseWindow, resolveDriftConfig } from '../lambdas/monitoring/config';
import { DriftAccumulator } from '../lambdas/monitoring/drift';
import { escapeHtml, histogramSvg, renderDriftHtml } from '../lambdas/monitoring/html';
import type { DriftRun } from '../lambdas/monitoring/drift-run';
import { predictionColumns, predictionProfile, predictionRow } from '../lambdas/registry/prediction-profile';
import { CaptureIndexer, predictionKey, QualityAccumulator, qualityDrop } from '../lambdas/monitoring/quality';
import { decideRetrain, type RetrainPolicy, type RetrainSignals } from '../lambdas/monitoring/retrain';
import type { Prediction } from '../lambdas/shared/model-runtime';
import type { DatasetProfile } from '../lambdas/shared/types';
import { prng as uniform } from '../local/demo-data';

function normals(seed: number, n: number, mean = 0): number[] {
  const u = uniform(seed);
  return Array.from({ length: n }, () => mean + Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u()));
}

function numericProfile(columns: Record<string, number[]>, missing: Record<string, number> = {}): DatasetProfile {
  const out: DatasetProfile['columns'] = {};
  const sketches: NonNullable<DatasetProfile['sketches']> = {};
  let rows = 0;
  for (const [name, values] of Object.entries(columns)) {
    const stats = new NumericStats();
    for (const v of values) stats.add(v);
    out[name] = stats.profile(missing[name] ?? 0, 10);
    sketches[name] = stats.driftSketch()!;
    rows = Math.max(rows, values.length + (missing[name] ?? 0));
  }
  return { rows, columns: out, sketches };
}

describe('configuration', () => {
  test('defaults: Evidently selection, thresholds by test, share 0.5, null-share rise 0.1, quality margin 5%', () => {
    const c = resolveDriftConfig({}, 'churn');
    expect(c.test).toBe('auto');
    expect(c.thresholds).toEqual({
      ks: 0.05,
      chisquare: 0.05,
      z: 0.05,
      wasserstein: 0.1,
      jensenshannon: 0.1,
      psi: 0.2,
      kl_div: 0.1,
      hellinger: 0.1,
    });
    expect(c).toMatchObject({ driftShare: 0.5, nullShareThreshold: 0.1, quality: { margin: 0.05, minRows: 30 } });
  });

  test('per-model overrides replace the top level; features merge field by field', () => {
    const config = parseDriftConfig(
      JSON.stringify({
        thresholds: { ks: 0.01, wasserstein: 0.2 },
        driftShare: 0.4,
        features: { age: { test: 'psi', threshold: 0.25 }, id: { enabled: false } },
        models: {
          churn: {
            test: 'jensenshannon',
            threshold: 0.05,
            driftShare: 0.3,
            features: { age: { threshold: 0.3 } },
            quality: { margin: 0.1 },
          },
        },
      }),
    );
    const churn = resolveDriftConfig(config, 'churn', { psiThreshold: 0.15, driftShare: 0.6 });
    expect(churn.test).toBe('jensenshannon');
    expect(churn.thresholds).toMatchObject({ ks: 0.01, wasserstein: 0.2, jensenshannon: 0.05, psi: 0.15 });
    expect(churn.driftShare).toBe(0.3);
    expect(churn.features).toEqual({ age: { test: 'psi', threshold: 0.3 }, id: { enabled: false } });
    expect(churn.quality).toEqual({ margin: 0.1, minRows: 30 });
    const other = resolveDriftConfig(config, 'other', { driftShare: 0.6 });
    expect(other).toMatchObject({ test: 'auto', driftShare: 0.4, features: { age: { test: 'psi', threshold: 0.25 } } });
    // The environment's share applies when the configuration has none.
    expect(resolveDriftConfig({}, 'x', { driftShare: 0.6 }).driftShare).toBe(0.6);
  });

  test('bad configurations are refused with the path of the problem', () => {
    expect(() => parseDriftConfig('{nope')).toThrow(/not valid JSON/);
    expect(() => parseDriftConfig({ thresholds: { ks: 0 } })).toThrow(/thresholds\.ks/);
    expect(() => parseDriftConfig({ features: { a: { test: 'anova' } } })).toThrow(/features\.a\.test/);
    expect(() => parseDriftConfig({ models: { m: { threshold: 0.2 } } })).toThrow(/models\.m without a test/);
    expect(() => parseDriftConfig({ surprise: 1 })).toThrow(/surprise|Unrecognized/);
    expect(parseDriftConfig('')).toEqual({});
  });

  test.each([
    ['30m', 1800],
    ['24h', 86400],
    ['7d', 604800],
    ['90s', 90],
    ['1w', 604800],
    ['1.5h', 5400],
  ])('window %s is %p seconds', (text, seconds) => expect(parseWindow(text)).toBe(seconds));

  test('a window that is not one is refused', () => {
    expect(() => parseWindow('24')).toThrow(/30m, 24h or 7d/);
    expect(() => parseWindow('0h')).toThrow(/longer than 0/);
    expect(() => parseWindow('yesterday')).toThrow(/not a window/);
  });
});

describe('per-feature and per-model test choice', () => {
  const reference = normals(1, 3000);
  const profile = numericProfile({ a: reference, b: reference, c: reference });
  const features = ['a', 'b', 'c'].map((name) => ({ name, type: 'numeric' as const }));
  const acc = new DriftAccumulator(features, profile);
  const window = normals(2, 500, 0.15);
  for (const x of window) acc.add({ a: x, b: x, c: x });

  test('a feature override changes its test and threshold only', () => {
    const report = acc.report({ features: { b: { test: 'psi', threshold: 0.5 }, c: { threshold: 0.5 } } });
    expect(report.features.map((f) => [f.name, f.test, f.selection, f.threshold])).toEqual([
      ['a', 'wasserstein', 'auto', 0.1],
      ['b', 'psi', 'config', 0.5],
      ['c', 'wasserstein', 'auto', 0.5],
    ]);
    expect(report.features[0].drifted).toBe(true); // a shift of 0.15 sd: Wasserstein / std about 0.15
    expect(report.features[2].drifted).toBe(false);
  });

  test('a disabled feature is reported but left out of the drift share', () => {
    const report = acc.report({ features: { a: { enabled: false } } });
    expect(report.features[0]).toMatchObject({ enabled: false, drifted: true });
    expect(report.tested).toBe(2);
    expect(report.driftShare).toBe(1);
  });

  test('a configured test that does not apply falls back to the default, with a warning', () => {
    const cat = new DriftAccumulator([{ name: 'color', type: 'categorical' }], {
      rows: 10,
      columns: { color: { kind: 'categorical', count: 10, missing: 0, distinct: 3, frequencies: { red: 5, green: 3, blue: 2 } } },
    });
    for (const color of ['red', 'green', 'blue', 'red']) cat.add({ color });
    const f = cat.report({ features: { color: { test: 'ks', threshold: 0.9 } } }).features[0];
    expect(f).toMatchObject({ test: 'chisquare', selection: 'auto', threshold: 0.05 });
    expect(f.warning).toMatch(/configured ks test does not apply: the column is categorical; chisquare was run instead/);
  });
});

describe('the dataset-drift share', () => {
  test('counts drifted features among the tested ones, drift at the threshold or more', () => {
    const reference = normals(3, 2000);
    const profile = numericProfile({ a: reference, b: reference, c: reference, d: reference });
    const acc = new DriftAccumulator(
      ['a', 'b', 'c', 'd'].map((name) => ({ name, type: 'numeric' as const })),
      profile,
    );
    const shifted = normals(4, 800, 1);
    const same = normals(5, 800);
    for (let i = 0; i < 800; i++) acc.add({ a: shifted[i], b: shifted[799 - i], c: same[i], d: same[799 - i] });
    const report = acc.report();
    expect(report.features.map((f) => f.drifted)).toEqual([true, true, false, false]);
    expect(report).toMatchObject({ tested: 4, drifted: 2, driftShare: 0.5, driftShareThreshold: 0.5, datasetDrift: true });
    expect(acc.report({ driftShareThreshold: 0.51 }).datasetDrift).toBe(false);
  });
});

describe('null-share drift', () => {
  const reference = normals(6, 1500);
  const profile = numericProfile({ x: reference }, { x: 50 }); // 50 missing of 1,550: 3.2%
  const categorical: DatasetProfile = {
    rows: 100,
    columns: { color: { kind: 'categorical', count: 100, missing: 0, distinct: 2, frequencies: { red: 60, blue: 40 } } },
  };

  test('flags a feature whose missing share rose by more than the threshold, as a signal of its own', () => {
    const acc = new DriftAccumulator([{ name: 'x', type: 'numeric' }], profile);
    const values = normals(7, 1000);
    values.forEach((x, i) => acc.add({ x: i % 5 === 0 ? null : x })); // 20% missing
    const report = acc.report();
    const f = report.features[0];
    expect(f.nullShare.reference).toBeCloseTo(50 / 1550, 12);
    expect(f.nullShare.current).toBeCloseTo(0.2, 12);
    expect(f.nullShare).toMatchObject({ threshold: 0.1, drifted: true });
    expect(f.drifted).toBe(false); // the values themselves did not move
    expect(report).toMatchObject({ nullShareDrift: true, datasetDrift: false });
    // A per-feature threshold above the rise does not flag it.
    expect(acc.report({ features: { x: { nullShareThreshold: 0.2 } } }).nullShareDrift).toBe(false);
  });

  test('an empty column in the window is a warning and a null-share drift, not a crash', () => {
    const acc = new DriftAccumulator([{ name: 'color', type: 'categorical' }], categorical);
    for (let i = 0; i < 20; i++) acc.add({ color: '' });
    const f = acc.report().features[0];
    expect(f).toMatchObject({ statistic: null, pValue: null, drifted: false, missing: 20 });
    expect(f.warning).toMatch(/empty in the window/);
    expect(f.nullShare).toMatchObject({ reference: 0, current: 1, drifted: true });
  });

  test('no rows, no null-share drift', () => {
    const acc = new DriftAccumulator([{ name: 'color', type: 'categorical' }], categorical);
    expect(acc.report().features[0].nullShare).toEqual({ reference: 0, current: 0, threshold: 0.1, drifted: false });
  });
});

describe('prediction drift', () => {
  const card = { task: 'classification' as const, classes: ['0', '1'] };
  const predict = (p: number): Prediction => ({ label: p >= 0.5 ? '1' : '0', probabilities: { '0': 1 - p, '1': p } });
  const u = uniform(8);
  const testSplit = Array.from({ length: 400 }, () => predict(u() * 0.7));

  test('the output columns: the label and the second class probability for two classes; the value for regression', () => {
    expect(predictionColumns(card)).toEqual([
      { name: 'label', type: 'categorical' },
      { name: 'probability:1', type: 'numeric' },
    ]);
    expect(predictionColumns({ task: 'classification', classes: ['a', 'b', 'c'] }).map((c) => c.name)).toEqual([
      'label',
      'probability:a',
      'probability:b',
      'probability:c',
    ]);
    expect(predictionColumns({ task: 'regression' })).toEqual([{ name: 'value', type: 'numeric' }]);
    expect(predictionRow(predictionColumns(card), predict(0.8))).toEqual({ label: '1', 'probability:1': 0.8 });
    expect(predictionRow([{ name: 'value', type: 'numeric' }], { value: 3.5 })).toEqual({ value: 3.5 });
  });

  test('outputs like those on the test split do not drift; shifted outputs do', () => {
    const profile = predictionProfile(card, testSplit);
    expect(profile.rows).toBe(400);
    expect(profile.sketches?.['probability:1'].kind).toBe('points');
    const columns = predictionColumns(card);
    const calm = new DriftAccumulator(columns, profile);
    const v = uniform(9);
    for (let i = 0; i < 300; i++) calm.add(predictionRow(columns, predict(v() * 0.7)));
    expect(calm.report().datasetDrift).toBe(false);
    const drifted = new DriftAccumulator(columns, profile);
    for (let i = 0; i < 300; i++) drifted.add(predictionRow(columns, predict(0.3 + v() * 0.7)));
    const report = drifted.report();
    expect(report.features.map((f) => [f.name, f.test, f.drifted])).toEqual([
      ['label', 'z', true],
      ['probability:1', 'ks', true],
    ]);
  });
});

describe('model quality', () => {
  const labels = new Map<string, string | number>();
  const card = { task: 'classification' as const, classes: ['0', '1'] };

  test('joins captured predictions with labels on (requestId, index) and scores them', () => {
    for (let i = 0; i < 40; i++) labels.set(predictionKey('r1', i), i < 30 ? '1' : '0');
    const q = new QualityAccumulator(card, { labels, objects: 1 });
    for (let i = 0; i < 40; i++) q.add('r1', i, { label: '1', probabilities: { '0': 0.1, '1': 0.9 } });
    q.add('r2', 0, { label: '1', probabilities: { '0': 0.1, '1': 0.9 } }); // no label: left out
    const report = q.report({ accuracy: 0.9 }, { margin: 0.05, minRows: 30 });
    expect(report).toMatchObject({ rows: 40, metric: 'accuracy', value: 0.75, reference: 0.9, dropped: true });
    expect(report.drop).toBeCloseTo((0.9 - 0.75) / 0.9, 12);
    expect(report.metrics.accuracy).toBe(0.75);
    // Within the margin, or too few rows: no drop.
    expect(q.report({ accuracy: 0.78 }, { margin: 0.05, minRows: 30 }).dropped).toBe(false);
    expect(q.report({ accuracy: 0.9 }, { margin: 0.05, minRows: 41 })).toMatchObject({
      dropped: false,
      warning: expect.stringMatching(/Only 40/),
    });
  });

  test('regression: rmse, where lower is better', () => {
    const index = new Map<string, string | number>([...Array(50).keys()].map((i) => [predictionKey('q', i), i]));
    const q = new QualityAccumulator({ task: 'regression' }, { labels: index, objects: 1 });
    for (let i = 0; i < 50; i++) q.add('q', i, { value: i + 2 });
    const report = q.report({ rmse: 1.5 }, { margin: 0.1, minRows: 30 });
    expect(report).toMatchObject({ metric: 'rmse', higherIsBetter: false, value: 2, dropped: true });
    expect(report.drop).toBeCloseTo(1 / 3, 12);
    expect(qualityDrop(1.4, 1.5, false)).toBeCloseTo(-1 / 15, 12);
    expect(qualityDrop(0.2, 0, false)).toBe(0.2);
  });

  test('no labelled prediction: a report with a warning, no drop', () => {
    const q = new QualityAccumulator(card, { labels: new Map(), objects: 0 });
    expect(q.report({ accuracy: 0.9 }, { margin: 0.05, minRows: 30 })).toMatchObject({ rows: 0, value: null, dropped: false });
  });

  test("a line without an index is placed by its position among its request's lines", () => {
    const indexer = new CaptureIndexer();
    expect(['a', 'a', 'a', 'b', 'b', 'c'].map((requestId) => indexer.next({ requestId }))).toEqual([0, 1, 2, 0, 1, 0]);
    expect(indexer.next({ requestId: 'c', index: 7 })).toBe(7);
  });
});

describe('the retraining policy', () => {
  const policy: RetrainPolicy = { enabled: true, cooldownSeconds: 24 * 3600, leaseSeconds: 6 * 3600, minFeedbackRows: 1 };
  const drift: RetrainSignals = { dataDrift: true, qualityDrop: false, driftShare: 0.6 };
  const now = new Date('2025-03-01T12:00:00.000Z');
  const hoursAgo = (h: number) => new Date(now.getTime() - h * 3600_000).toISOString();

  test('retrains on data drift or on a quality drop, with the cause', () => {
    expect(decideRetrain({ policy, signals: drift, state: {}, now })).toEqual({
      action: 'retrain',
      cause: 'data drift (share 0.60 of features)',
    });
    const quality = { dataDrift: false, qualityDrop: true, driftShare: 0, quality: { metric: 'accuracy', value: 0.71, reference: 0.9 } };
    expect(decideRetrain({ policy, signals: quality, state: {}, now })).toEqual({
      action: 'retrain',
      cause: 'quality drop (accuracy 0.7100 against 0.9000 at evaluation)',
    });
  });

  test('does nothing without a signal, when off, or for an inspection window', () => {
    expect(decideRetrain({ policy, signals: { ...drift, dataDrift: false }, state: {}, now })).toMatchObject({
      action: 'skip',
      blockedBy: 'no-signal',
    });
    expect(decideRetrain({ policy: { ...policy, enabled: false }, signals: drift, state: {}, now })).toMatchObject({
      action: 'skip',
      blockedBy: 'off',
      reason: expect.stringMatching(/retrainOnDrift/),
    });
    expect(decideRetrain({ policy, signals: drift, state: {}, now, windowed: true })).toMatchObject({
      action: 'skip',
      blockedBy: 'window',
    });
  });

  test('storm guard: one retraining in flight per model, until its lease expires', () => {
    const lease = { id: 'l1', key: 'datasets/m/retrain-x.csv', startedAt: hoursAgo(1), expiresAt: hoursAgo(-5) };
    expect(decideRetrain({ policy, signals: drift, state: { lease, lastRetrainAt: hoursAgo(30) }, now })).toMatchObject({
      action: 'skip',
      blockedBy: 'in-flight',
      reason: expect.stringMatching(/datasets\/m\/retrain-x\.csv/),
    });
    // An expired lease no longer blocks (its run never reported back).
    const expired = { ...lease, startedAt: hoursAgo(40), expiresAt: hoursAgo(34) };
    expect(decideRetrain({ policy, signals: drift, state: { lease: expired, lastRetrainAt: hoursAgo(40) }, now }).action).toBe('retrain');
  });

  test('cooldown: no second retraining within the cooldown of the last one', () => {
    expect(decideRetrain({ policy, signals: drift, state: { lastRetrainAt: hoursAgo(23.9) }, now })).toMatchObject({
      action: 'skip',
      blockedBy: 'cooldown',
      reason: expect.stringMatching(/next may start at 2025-03-01T12:06:00.000Z/),
    });
    expect(decideRetrain({ policy, signals: drift, state: { lastRetrainAt: hoursAgo(24) }, now }).action).toBe('retrain');
    expect(
      decideRetrain({ policy: { ...policy, cooldownSeconds: 0 }, signals: drift, state: { lastRetrainAt: hoursAgo(0) }, now }).action,
    ).toBe('retrain');
  });

  test('a drifting model every hour for three days retrains at most once a day', () => {
    let state: { lastRetrainAt?: string } = {};
    const started: string[] = [];
    for (let h = 0; h < 72; h++) {
      const at = new Date(now.getTime() + h * 3600_000);
      const decision = decideRetrain({ policy, signals: drift, state, now: at });
      if (decision.action === 'retrain') {
        started.push(at.toISOString());
        state = { lastRetrainAt: at.toISOString() };
      }
    }
    expect(started).toEqual(['2025-03-01T12:00:00.000Z', '2025-03-02T12:00:00.000Z', '2025-03-03T12:00:00.000Z']);
  });
});

describe('the HTML report', () => {
  test('is one self-contained page with a histogram per feature, names escaped', () => {
    const reference = normals(10, 500);
    const acc = new DriftAccumulator([{ name: 'x<script>', type: 'numeric' }], numericProfile({ 'x<script>': reference }));
    for (const x of normals(11, 200, 2)) acc.add({ 'x<script>': x });
    const report = acc.report();
    const run: DriftRun = {
      ...report,
      model: 'm',
      modelVersion: 3,
      datasetVersion: 2,
      captureObjects: 1,
      rowsBySource: { api: 200, batch: 0 },
      window: { mode: 'window', seconds: 86400, label: '24h', from: '2025-01-01T00:00:00.000Z', to: '2025-01-02T00:00:00.000Z' },
      config: { test: 'auto', nullShareThreshold: 0.1 },
      predictionDrift: null,
      predictionDriftWarning: 'No prediction profile.',
      quality: null,
      retrain: { action: 'skip', reason: 'Data drift, but retraining on drift is off (retrainOnDrift).', blockedBy: 'off' },
      report: { json: 's3://b/monitoring/m/drift/x.json', html: 's3://b/monitoring/m/drift/x.html' },
    };
    const html = renderDriftHtml(run);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('DATASET DRIFT');
    expect(html).toContain('x&lt;script&gt;');
    expect(html).not.toContain('<script');
    expect(html).not.toMatch(/(src|href)="http/);
    expect((html.match(/<svg /g) ?? []).length).toBe(1);
    expect(html).toContain('the last 24h');
    expect(html).toContain('retraining on drift is off');
    expect(escapeHtml(`a&b"'`)).toBe('a&amp;b&quot;&#39;');
    // Many categories: the largest 30 are drawn.
    const many = Object.fromEntries(Array.from({ length: 45 }, (_, i) => [`c${i}`, (i + 1) / 1035]));
    expect((histogramSvg(many, many, false).match(/<rect /g) ?? []).length).toBe(60);
  });
});
