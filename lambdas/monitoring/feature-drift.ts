/**
 * One feature's drift: which test (Evidently's default selection, `selectTest`, or the configured
 * one), the test run on the feature's counts (lambdas/shared/stats/), the verdict against its
 * threshold, the null-share rise, and a summary of both sides for the report. The window's counts
 * come from drift-window.ts; drift.ts gathers the features into the report.
 */
import { OTHER_CATEGORY, type FeatureType } from '../shared/types';
import { shares } from '../shared/stats/counts';
import { hellinger, jensenShannon, klDivergence, psi } from '../shared/stats/divergence';
import { ksFromBins, ksFromPoints, wassersteinFromBins, wassersteinFromPoints, type Bounded } from '../shared/stats/grid';
import { chiSquared, twoProportionZ } from '../shared/stats/hypothesis';
import { ksTwoSampleP } from '../shared/stats/kolmogorov';
import { DRIFT_TESTS, SMALL_REFERENCE_ROWS, type DriftTestName } from './config';
import type { ColumnSummary, FeatureDrift, NullShareDrift } from './drift-report';
import { TRACKED_VALUES, valueGrid, type CategoricalState, type FeatureState, type Grid, type NumericState } from './drift-window';

/** Values outside the reference's categories listed in a report, at most. */
const LISTED_UNSEEN = 10;

export interface FeatureSettings {
  test: DriftTestName | 'auto';
  configured: boolean;
  thresholds: Record<DriftTestName, number>;
  threshold?: number;
  nullShareThreshold: number;
  enabled: boolean;
}

/** Evidently's default test for a column (see the module comment of drift.ts). */
export function selectTest(type: FeatureType, referenceRows: number, distinct: number | null): { test: DriftTestName; reason: string } {
  const small = referenceRows <= SMALL_REFERENCE_ROWS;
  const rows = `${referenceRows} reference values (${small ? '<=' : '>'} ${SMALL_REFERENCE_ROWS})`;
  const values = distinct === null ? 'more than 5 distinct values' : `${distinct} distinct value${distinct === 1 ? '' : 's'}`;
  if (type === 'numeric' && (distinct === null || distinct > 5)) {
    return small ? { test: 'ks', reason: `numeric, ${values}, ${rows}` } : { test: 'wasserstein', reason: `numeric, ${values}, ${rows}` };
  }
  const kind = type === 'numeric' ? 'numeric' : 'categorical';
  if (!small) return { test: 'jensenshannon', reason: `${kind}, ${values}, ${rows}` };
  return distinct !== null && distinct <= 2
    ? { test: 'z', reason: `${kind}, ${values}, ${rows}` }
    : { test: 'chisquare', reason: `${kind}, ${values}, ${rows}` };
}

/** Buckets of a bucket test: keys with the reference's and the window's counts. */
interface Buckets {
  keys: string[];
  reference: number[];
  current: number[];
}

function valueBuckets(reference: Map<number, number>, current: Map<number, number>): Buckets {
  const keys = [...new Set([...reference.keys(), ...current.keys()])].sort((a, b) => a - b);
  return { keys: keys.map(String), reference: keys.map((k) => reference.get(k) ?? 0), current: keys.map((k) => current.get(k) ?? 0) };
}

/**
 * Compare one feature's window with its reference: choose the test (Evidently's default, or the
 * configured one where it applies), run it, and judge drift against the threshold; and the null
 * share's rise against its own threshold.
 */
export function assessFeatureDrift(state: FeatureState, rows: number, settings: FeatureSettings): FeatureDrift {
  const reference = summaryOfReference(state);
  const current = summaryOfCurrent(state, rows);
  const nullShare: NullShareDrift = {
    reference: reference.nullShare,
    current: current.nullShare,
    threshold: settings.nullShareThreshold,
    drifted: rows > 0 && current.nullShare - reference.nullShare > settings.nullShareThreshold,
  };

  // Distinct values on both sides together, when known.
  let distinct: number | null;
  let distinctNote = '';
  if (state.kind === 'numeric') {
    if (state.referenceValues !== null && state.values !== null) {
      distinct = new Set([...state.referenceValues.keys(), ...state.values.keys()]).size;
    } else {
      distinct = null;
      if (!state.sketched && state.profile.histogram.counts.filter((c) => c > 0).length <= 5) {
        distinctNote = ' (the profile has no sketch: its distinct values are unknown, taken as more than 5)';
      }
    }
  } else {
    const unseen = state.unseen.size;
    distinct = unseen >= TRACKED_VALUES ? null : state.referenceTotal.distinct + unseen;
  }
  const referenceRows = state.kind === 'numeric' ? state.profile.count : state.referenceTotal.count;
  const auto = selectTest(state.kind, referenceRows, distinct);
  let test: DriftTestName = auto.test;
  let reason = `${auto.reason}${distinctNote}: Evidently's default`;
  let selection: 'auto' | 'config' = 'auto';
  let warning: string | undefined;
  if (settings.test !== 'auto') {
    const problem = unsuitable(settings.test, state.kind, distinct);
    if (problem) warning = `The configured ${settings.test} test does not apply: ${problem}; ${auto.test} was run instead.`;
    else {
      test = settings.test;
      selection = 'config';
      reason = `configured (${DRIFT_TESTS[test].description})`;
    }
  }
  // A feature's own threshold is for its test; not for the test run instead of an unsuitable one.
  const threshold = settings.threshold !== undefined && warning === undefined ? settings.threshold : settings.thresholds[test];
  const base = {
    name: state.name,
    type: state.kind,
    test,
    selection,
    reason,
    threshold,
    enabled: settings.enabled,
    rows,
    missing: state.missing,
    nullShare,
    reference,
    current,
  };
  const untested = (why: string): FeatureDrift => ({
    ...base,
    statistic: null,
    pValue: null,
    drifted: false,
    warning: warning ? `${warning} ${why}` : why,
  });
  if (reference.count === 0) return untested(`Column '${state.name}' has no values in the training profile: no drift test was run.`);
  if (current.count === 0) return untested(`Column '${state.name}' is empty in the window: no drift test was run.`);

  const result = runTest(test, state, distinct);
  const spec = DRIFT_TESTS[test];
  const isDrifted = spec.kind === 'p_value' ? (result.pValue as number) < threshold : result.statistic >= threshold;
  const feature: FeatureDrift = { ...base, statistic: result.statistic, pValue: result.pValue, drifted: isDrifted };
  if (result.bounds && !result.bounds.exact) feature.bounds = { lower: result.bounds.lower, upper: result.bounds.upper };
  if (result.note) feature.reason = `${feature.reason}; ${result.note}`;
  if (warning) feature.warning = warning;
  return feature;
}

function unsuitable(test: DriftTestName, kind: FeatureType, distinct: number | null): string | null {
  if ((test === 'ks' || test === 'wasserstein') && kind === 'categorical') return 'the column is categorical';
  if (test === 'z' && (distinct === null || distinct > 2))
    return `the column has ${distinct === null ? 'more than 20' : distinct} distinct values (the z-test needs at most 2)`;
  return null;
}

interface TestResult {
  statistic: number;
  pValue: number | null;
  bounds?: Bounded;
  note?: string;
}

function bucketsOf(state: FeatureState, distinct: number | null): Buckets {
  if (state.kind === 'categorical') return { keys: state.buckets, reference: state.referenceCounts, current: state.counts };
  if (distinct !== null && distinct <= 5 && state.referenceValues !== null && state.values !== null) {
    return valueBuckets(state.referenceValues, state.values);
  }
  return { keys: state.labels, reference: state.referenceCounts, current: state.counts };
}

function runTest(test: DriftTestName, state: FeatureState, distinct: number | null): TestResult {
  if (test === 'ks' || test === 'wasserstein') {
    const numeric = state as NumericState;
    // With every distinct value of both sides known, both statistics are exact on their union.
    const grid: Grid =
      numeric.referenceValues !== null && numeric.values !== null ? valueGrid(numeric.referenceValues, numeric.values) : numeric.grid;
    if (test === 'ks') {
      const bounded =
        grid.kind === 'points' ? ksFromPoints(grid.points, grid.reference, grid) : ksFromBins(grid.points, grid.reference, grid);
      const n = numeric.profile.count;
      return { statistic: bounded.statistic, pValue: ksTwoSampleP(bounded.statistic, n, numeric.moments.count), bounds: bounded };
    }
    const bounded =
      grid.kind === 'points'
        ? wassersteinFromPoints(grid.points, grid.reference, grid)
        : wassersteinFromBins(grid.points, grid.reference, grid, grid.means);
    const norm = Math.max(numeric.profile.std, 0.001);
    return {
      statistic: bounded.statistic / norm,
      pValue: null,
      bounds: { ...bounded, statistic: bounded.statistic / norm, lower: bounded.lower / norm, upper: bounded.upper / norm },
      note: `normalized by the reference standard deviation ${formatNumber(norm)}`,
    };
  }
  const buckets = bucketsOf(state, distinct);
  switch (test) {
    case 'chisquare': {
      const result = chiSquared(buckets.reference, buckets.current);
      if (result.statistic === Infinity) {
        return { statistic: Number.MAX_VALUE, pValue: 0, note: 'the window has values the reference never had (infinite statistic)' };
      }
      return { statistic: result.statistic, pValue: result.pValue, note: `${result.df} degrees of freedom` };
    }
    case 'z': {
      const used = buckets.keys.map((_, i) => i).filter((i) => buckets.reference[i] > 0 || buckets.current[i] > 0);
      if (used.length <= 1) return { statistic: 0, pValue: 1, note: 'one value on both sides' };
      const [a, b] = used;
      const result = twoProportionZ([buckets.reference[a], buckets.reference[b]], [buckets.current[a], buckets.current[b]]);
      return { statistic: result.statistic, pValue: result.pValue, note: `share of '${buckets.keys[a]}'` };
    }
    case 'jensenshannon':
      return { statistic: jensenShannon(buckets.reference, buckets.current), pValue: null };
    case 'psi':
      return { statistic: psi(shares(buckets.reference), shares(buckets.current)), pValue: null };
    case 'kl_div':
      return { statistic: klDivergence(buckets.reference, buckets.current), pValue: null };
    case 'hellinger':
      return { statistic: hellinger(buckets.reference, buckets.current), pValue: null };
    default:
      throw new Error(`Unknown drift test '${String(test)}'.`);
  }
}

function summaryOfReference(state: FeatureState): ColumnSummary {
  if (state.kind === 'numeric') {
    const p = state.profile;
    const total = p.count + p.missing;
    return {
      kind: 'numeric',
      count: p.count,
      missing: p.missing,
      nullShare: total === 0 ? 0 : p.missing / total,
      distribution: record(state.labels, shares(state.referenceCounts)),
      mean: p.mean,
      std: p.std,
      min: p.min,
      max: p.max,
      distinct: state.referenceValues === null ? null : state.referenceValues.size,
    };
  }
  const { count, missing, distinct } = state.referenceTotal;
  return {
    kind: 'categorical',
    count,
    missing,
    nullShare: count + missing === 0 ? 0 : missing / (count + missing),
    distribution: categoricalRecord(state, 'reference'),
    distinct,
  };
}

function summaryOfCurrent(state: FeatureState, rows: number): ColumnSummary {
  const nullShare = rows === 0 ? 0 : state.missing / rows;
  if (state.kind === 'numeric') {
    const summary: ColumnSummary = {
      kind: 'numeric',
      count: state.moments.count,
      missing: state.missing,
      nullShare,
      distribution: record(state.labels, shares(state.counts)),
      distinct: state.values === null ? null : state.values.size,
    };
    if (state.moments.count > 0)
      Object.assign(summary, { mean: state.moments.mean, std: state.moments.std, min: state.min, max: state.max });
    return summary;
  }
  const count = state.counts.reduce((s, c) => s + c, 0);
  const summary: ColumnSummary = {
    kind: 'categorical',
    count,
    missing: state.missing,
    nullShare,
    distribution: categoricalRecord(state, 'current'),
  };
  if (state.unseen.size > 0) summary.unseen = [...state.unseen].slice(0, LISTED_UNSEEN);
  return summary;
}

/** One side's category shares; OTHER_CATEGORY only where it holds something, on either side. */
function categoricalRecord(state: CategoricalState, side: 'reference' | 'current'): Record<string, number> {
  const referenceShares = shares(state.referenceCounts);
  const currentShares = shares(state.counts);
  const values = side === 'reference' ? referenceShares : currentShares;
  const out: Record<string, number> = {};
  state.buckets.forEach((key, i) => {
    if (key === OTHER_CATEGORY && !(referenceShares[i] > 0 || currentShares[i] > 0)) return;
    Object.defineProperty(out, key, { value: values[i], enumerable: true, writable: true, configurable: true });
  });
  return out;
}

function formatNumber(value: number): string {
  return String(Number(value.toPrecision(4)));
}

function record(keys: string[], values: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  keys.forEach((key, i) => {
    out[key] = values[i];
  });
  return out;
}
