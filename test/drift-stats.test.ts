/**
 * The drift tests' statistics against reference values computed independently with SciPy
 * (test/fixtures/drift/*.json, written by test/fixtures/drift/generate.py; each file names the
 * versions that produced it), and Evidently's default test selection.
 */
import { NumericStats } from '../lambdas/data/profile';
import { DriftAccumulator } from '../lambdas/monitoring/drift';
import { selectTest } from '../lambdas/monitoring/feature-drift';
import { hellinger, jensenShannon, klDivergence, psi } from '../lambdas/shared/stats/divergence';
import { ksFromBins, ksFromPoints, wassersteinFromBins, type GridCounts } from '../lambdas/shared/stats/grid';
import { chiSquared, twoProportionZ } from '../lambdas/shared/stats/hypothesis';
import { kolmogorovSf, ksTwoSampleP, smirnovSf } from '../lambdas/shared/stats/kolmogorov';
import { chi2Sf, normalTwoSidedP } from '../lambdas/shared/stats/special';
import type { DatasetProfile } from '../lambdas/shared/types';
import counts from './fixtures/drift/counts.json';
import samples from './fixtures/drift/samples.json';
import special from './fixtures/drift/special.json';

/** |actual - expected| <= abs + rel |expected|. */
function close(actual: number, expected: number, rel: number, abs = 0): void {
  const tolerance = abs + rel * Math.abs(expected);
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new Error(`expected ${expected}, got ${actual} (difference ${Math.abs(actual - expected)}, tolerance ${tolerance})`);
  }
}

interface Pairs {
  values: number[];
  counts: number[];
}

function expand(pairs: Pairs): number[] {
  const out: number[] = [];
  pairs.values.forEach((v, i) => {
    for (let k = 0; k < pairs.counts[i]; k++) out.push(v);
  });
  return out;
}

/** A profile of one numeric column 'x', built by the ingest's own statistics (profile.ts). */
function profileOf(values: number[]): DatasetProfile {
  const stats = new NumericStats();
  for (const v of values) stats.add(v);
  const sketch = stats.driftSketch();
  return { rows: values.length, columns: { x: stats.profile(0, 10) }, sketches: sketch ? { x: sketch } : undefined };
}

/** Counts of values on a grid of points, as the drift monitor keeps them. */
function gridCounts(points: number[], values: number[]): GridCounts {
  const L = points.length;
  const at = new Float64Array(L);
  const between = new Float64Array(Math.max(0, L - 1));
  const betweenDistance = new Float64Array(Math.max(0, L - 1));
  let under = 0;
  let underDistance = 0;
  let over = 0;
  let overDistance = 0;
  for (const x of values) {
    if (x < points[0]) {
      under++;
      underDistance += points[0] - x;
    } else if (x > points[L - 1]) {
      over++;
      overDistance += x - points[L - 1];
    } else {
      let i = 0;
      while (i + 1 < L && points[i + 1] <= x) i++;
      if (points[i] === x) at[i]++;
      else {
        between[i]++;
        betweenDistance[i] += points[i + 1] - x;
      }
    }
  }
  return { under, underDistance, over, overDistance, at, between, betweenDistance };
}

describe('special functions against SciPy', () => {
  test.each(special.kstwo_sf.rows)('kstwo.sf(%p, %p)', (x, n, sf) => {
    close(kolmogorovSf(x, n), sf, 1e-6, 1e-15);
  });

  test.each(special.ks_2samp_p.rows)('the two-sample p-value of D = %p for %p and %p values', (d, n1, n2, p) => {
    close(ksTwoSampleP(d, n1, n2), p, Math.max(n1, n2) > 10000 ? 1e-6 : 1e-9, 1e-14);
  });

  test.each(special.smirnov.rows)('smirnov(%p, %p)', (n, x, sf) => close(smirnovSf(n, x), sf, 1e-10, 1e-300));
  test.each(special.chi2_sf.rows)('chi2.sf(%p, df %p)', (x, df, sf) => close(chi2Sf(x, df), sf, 1e-10, 1e-300));
  test.each(special.normal_two_sided.rows)('2 norm.sf(|%p|)', (z, p) => close(normalTwoSidedP(z), p, 1e-10, 1e-300));
});

describe('tests on counts against SciPy and Evidently formulas', () => {
  const shares = (c: number[]) => c.map((v) => v / c.reduce((a, b) => a + b, 0));
  test.each(counts.cases.map((c, i) => [i, c] as const))('case %p', (_i, c) => {
    close(jensenShannon(c.reference, c.current), c.jensenshannon, 1e-12, 1e-15);
    close(psi(shares(c.reference), shares(c.current)), c.psi, 1e-12, 1e-15);
    close(klDivergence(c.reference, c.current), c.kl_div, 1e-12, 1e-15);
    close(hellinger(c.reference, c.current), c.hellinger, 1e-12, 1e-15);
    if ('chisquare' in c && c.chisquare) {
      const result = chiSquared(c.reference, c.current);
      close(result.statistic, c.chisquare.statistic, 1e-12);
      close(result.pValue, c.chisquare.pvalue, 1e-9, 1e-300);
    }
    if ('z' in c && c.z) {
      const result = twoProportionZ(c.reference as [number, number], c.current as [number, number]);
      close(result.statistic, c.z.statistic, 1e-12);
      close(result.pValue, c.z.pvalue, 1e-9, 1e-15);
    }
  });

  test('chi-squared: a value the reference never had gives p = 0', () => {
    expect(chiSquared([10, 0, 5], [3, 8, 0])).toEqual({ statistic: Infinity, pValue: 0, df: 2 });
  });

  test('z: one and the same value on both sides gives p = 1', () => {
    expect(twoProportionZ([10, 0], [7, 0])).toEqual({ statistic: 0, pValue: 1 });
  });
});

describe('KS and Wasserstein from the profile, against SciPy on the raw samples', () => {
  const small = samples.cases.filter((c) => expand(c.reference).length <= 1024);
  const large = samples.cases.filter((c) => expand(c.reference).length > 1024);
  expect(small.length).toBeGreaterThan(3);
  expect(large.length).toBeGreaterThan(0);

  test.each(small.map((c) => [c.name, c] as const))('%s: the profile lists every value, KS is exact', (_name, c) => {
    const reference = expand(c.reference);
    const current = expand(c.current);
    const profile = profileOf(reference);
    expect(profile.sketches?.x.kind).toBe('points');
    const acc = new DriftAccumulator([{ name: 'x', type: 'numeric' }], profile);
    for (const x of current) acc.add({ x });
    const ks = acc.report({ test: 'ks' }).features[0];
    close(ks.statistic!, c.ks.statistic, 1e-12);
    // SciPy's p-value is exact while both samples have at most 10,000 values, else asymptotic.
    close(ks.pValue!, c.ks.pvalue, current.length > 10000 ? 1e-6 : 1e-8, 1e-15);
    expect(ks.bounds).toBeUndefined();
    expect(ks.drifted).toBe(c.ks.pvalue < 0.05);

    const w = acc.report({ test: 'wasserstein' }).features[0];
    const expected = c.wasserstein / Math.max(c.reference_std, 0.001);
    if (w.bounds) {
      expect(w.bounds.lower).toBeLessThanOrEqual(expected * (1 + 1e-9));
      expect(w.bounds.upper).toBeGreaterThanOrEqual(expected * (1 - 1e-9));
      close(w.statistic!, expected, 0.05);
    } else {
      close(w.statistic!, expected, 1e-9);
    }
  });

  test('integers: every window value on a reference value makes the Wasserstein distance exact', () => {
    const c = samples.cases.find((x) => x.name.startsWith('integers'))!;
    const acc = new DriftAccumulator([{ name: 'x', type: 'numeric' }], profileOf(expand(c.reference)));
    for (const x of expand(c.current)) acc.add({ x });
    const w = acc.report({ test: 'wasserstein' }).features[0];
    expect(w.bounds).toBeUndefined();
    close(w.statistic!, c.wasserstein / c.reference_std, 1e-12);
  });

  test.each(large.map((c) => [c.name, c] as const))('%s: the binned reference bounds KS and Wasserstein', (_name, c) => {
    const reference = expand(c.reference);
    const current = expand(c.current);
    const profile = profileOf(reference);
    const sketch = profile.sketches!.x;
    expect(sketch.kind).toBe('bins');
    expect(sketch.counts.length).toBeLessThanOrEqual(100);
    expect(sketch.counts.reduce((a, b) => a + b, 0)).toBe(reference.length);
    // Bins of about equal counts: none holds more than 3% of the values.
    expect(Math.max(...sketch.counts) / reference.length).toBeLessThan(0.03);

    const acc = new DriftAccumulator([{ name: 'x', type: 'numeric' }], profile);
    for (const x of current) acc.add({ x });
    const ks = acc.report({ test: 'ks' }).features[0];
    const ksBounds = ks.bounds ?? { lower: ks.statistic!, upper: ks.statistic! };
    expect(ksBounds.lower).toBeLessThanOrEqual(c.ks.statistic + 1e-12);
    expect(ksBounds.upper).toBeGreaterThanOrEqual(c.ks.statistic - 1e-12);
    expect(ksBounds.upper - ksBounds.lower).toBeLessThan(0.05);

    const w = acc.report({ test: 'wasserstein' }).features[0];
    const expected = c.wasserstein / c.reference_std;
    expect(w.bounds!.lower).toBeLessThanOrEqual(expected * (1 + 1e-9));
    expect(w.bounds!.upper).toBeGreaterThanOrEqual(expected * (1 - 1e-9));
    close(w.statistic!, expected, 0.05);
    // The default for a reference of more than 1,000 values: Wasserstein.
    expect(acc.report().features[0].test).toBe('wasserstein');
  });

  test('bounds hold for any sample against a 10-bin histogram (a profile without a sketch)', () => {
    const c = samples.cases.find((x) => x.name.startsWith('shifted 0.3'))!;
    const reference = expand(c.reference);
    const current = expand(c.current);
    const min = Math.min(...reference);
    const max = Math.max(...reference);
    const edges = Array.from({ length: 11 }, (_, i) => (i === 10 ? max : min + ((max - min) * i) / 10));
    const binCounts = new Array<number>(10).fill(0);
    for (const v of reference) binCounts[Math.min(9, Math.floor(((v - min) / (max - min)) * 10))]++;
    const grid = gridCounts(edges, current);
    const ks = ksFromBins(edges, binCounts, grid);
    expect(ks.lower).toBeLessThanOrEqual(c.ks.statistic + 1e-12);
    expect(ks.upper).toBeGreaterThanOrEqual(c.ks.statistic - 1e-12);
    const w = wassersteinFromBins(edges, binCounts, grid);
    expect(w.lower).toBeLessThanOrEqual(c.wasserstein + 1e-12);
    expect(w.upper).toBeGreaterThanOrEqual(c.wasserstein - 1e-12);
  });

  test('ksFromPoints is the exact ECDF distance on a small hand case', () => {
    // Reference {1, 2, 2, 3}; window {0.5, 2, 2.5, 4}: ECDFs at 0.5: 0 vs 1/4; at 1: 1/4 vs 1/4;
    // at 2: 3/4 vs 1/2; at 2.5: 3/4 vs 3/4; at 3: 1 vs 3/4; at 4: 1 vs 1. D = 1/4.
    const result = ksFromPoints([1, 2, 3], [1, 2, 1], gridCounts([1, 2, 3], [0.5, 2, 2.5, 4]));
    expect(result).toEqual({ statistic: 0.25, lower: 0.25, upper: 0.25, exact: true });
  });
});

describe("Evidently's default test selection", () => {
  test.each<[string, 'numeric' | 'categorical', number, number | null, string]>([
    ['numeric, many values, small reference', 'numeric', 1000, null, 'ks'],
    ['numeric, 6 values, small reference', 'numeric', 500, 6, 'ks'],
    ['numeric, 5 values, small reference', 'numeric', 500, 5, 'chisquare'],
    ['numeric, 3 values, small reference', 'numeric', 500, 3, 'chisquare'],
    ['numeric, 2 values (binary), small reference', 'numeric', 500, 2, 'z'],
    ['categorical, 4 values, small reference', 'categorical', 1000, 4, 'chisquare'],
    ['categorical, binary, small reference', 'categorical', 10, 2, 'z'],
    ['numeric, many values, large reference', 'numeric', 1001, null, 'wasserstein'],
    ['numeric, 4 values, large reference', 'numeric', 5000, 4, 'jensenshannon'],
    ['numeric, binary, large reference', 'numeric', 5000, 2, 'jensenshannon'],
    ['categorical, large reference', 'categorical', 1001, 40, 'jensenshannon'],
    ['categorical, binary, large reference', 'categorical', 1001, 2, 'jensenshannon'],
  ])('%s: %s', (_name, type, rows, distinct, expected) => {
    expect(selectTest(type, rows, distinct).test).toBe(expected);
  });

  test('counts distinct values on both sides together, as Evidently does', () => {
    // A binary reference column whose window brings a third value: chi-squared, not z.
    const profile = profileOf([0, 1, 0, 1, 1, 0, 0, 1, 1, 1]);
    const acc = new DriftAccumulator([{ name: 'x', type: 'numeric' }], profile);
    for (const x of [0, 1, 1, 1, 0]) acc.add({ x });
    expect(acc.report().features[0]).toMatchObject({ test: 'z', selection: 'auto' });
    acc.add({ x: 2 });
    expect(acc.report().features[0].test).toBe('chisquare');
    for (let i = 0; i < 30; i++) acc.add({ x: 10 + i });
    expect(acc.report().features[0].test).toBe('ks');
  });

  test('the z-test on a binary numeric column matches the Evidently formula', () => {
    // Reference 300 zeros and 700 ones; window 310 and 690 (counts.json, case [300, 700]).
    const c = counts.cases.find((x) => x.reference[0] === 300)!;
    const profile = profileOf([...new Array<number>(300).fill(0), ...new Array<number>(700).fill(1)]);
    const acc = new DriftAccumulator([{ name: 'x', type: 'numeric' }], profile);
    for (let i = 0; i < 310; i++) acc.add({ x: 0 });
    for (let i = 0; i < 690; i++) acc.add({ x: 1 });
    const f = acc.report().features[0];
    expect(f.test).toBe('z');
    close(Math.abs(f.statistic!), Math.abs(c.z!.statistic), 1e-12);
    close(f.pValue!, c.z!.pvalue, 1e-9);
    expect(f.drifted).toBe(false);
  });

  test('a categorical column with a small reference gets chi-squared on its categories', () => {
    const c = counts.cases[0]; // [50, 30, 20] vs [45, 35, 20]
    const profile: DatasetProfile = {
      rows: 100,
      columns: { color: { kind: 'categorical', count: 100, missing: 0, distinct: 3, frequencies: { red: 50, blue: 30, green: 20 } } },
    };
    const acc = new DriftAccumulator([{ name: 'color', type: 'categorical' }], profile);
    for (const [color, n] of [
      ['red', 45],
      ['blue', 35],
      ['green', 20],
    ] as const)
      for (let i = 0; i < n; i++) acc.add({ color });
    const f = acc.report().features[0];
    expect(f.test).toBe('chisquare');
    close(f.statistic!, c.chisquare!.statistic, 1e-12);
    close(f.pValue!, c.chisquare!.pvalue, 1e-9);
  });
});
