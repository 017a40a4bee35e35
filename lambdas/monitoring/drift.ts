/**
 * Data drift: live feature values against the training profile, feature by feature.
 *
 * The test of each feature is chosen as Evidently chooses it by default (`selectTest`): with up to
 * 1,000 reference values, Kolmogorov-Smirnov for numeric columns with more than 5 distinct values,
 * chi-squared for categorical ones and numeric ones with 3 to 5 values, a two-proportion z-test for
 * columns of at most 2 values, drift at p < 0.05; with more reference values, the Wasserstein
 * distance over the reference's standard deviation (numeric) and the Jensen-Shannon distance
 * (categorical, and numeric with at most 5 values), drift at >= 0.1. PSI, KL divergence and
 * Hellinger are available by configuration (config.ts), with per-model and per-feature overrides.
 *
 * Only the profile is used (histograms on fixed edges, the numeric sketches, category frequencies,
 * counts): a monitor never rescans the training data, and the window is kept as counts per bin or
 * per value, so its memory does not grow with the number of rows. What binning costs:
 * - KS and Wasserstein are exact when the profile lists every distinct value ('points' sketches:
 *   columns of at most 1,024 values, which covers every column KS is chosen for by default), up to
 *   the Wasserstein distance inside a gap between two reference values that the window's CDF
 *   crosses;
 * - on 'bins' sketches (about 100 bins of about equal counts) and on profiles without a sketch
 *   (their 10-bin histogram), both are bounded: the report gives `bounds`. The KS statistic reported
 *   is the lower bound (the CDFs compared at the bin edges), so its p-value errs on the side of no
 *   drift; the upper bound exceeds it by at most the largest reference bin share plus the window's
 *   share in that bin (about 1% + the window's share with 100 equal-count bins). The Wasserstein
 *   distance is exact outside the reference's range and, inside, assumes the reference spread
 *   evenly in each bin; its error is at most sum over bins of width x (reference share + window
 *   share), the bounds say how much for the data at hand.
 * - bucket tests (chi-squared, z, Jensen-Shannon, PSI, KL, Hellinger) on numeric columns with more
 *   than 5 values use the profile's histogram (10 equal-width bins by default); categorical ones use
 *   the profile's top categories with the rest summed under OTHER_CATEGORY (a value outside the
 *   reference's top list counts there).
 */
import { OTHER_CATEGORY, type DatasetProfile, type FeatureType, type NumericColumnProfile, type NumericSketch } from '../shared/types';
import {
  DEFAULT_DRIFT_SHARE,
  DEFAULT_NULL_SHARE_THRESHOLD,
  DRIFT_TEST_NAMES,
  DRIFT_TESTS,
  SMALL_REFERENCE_ROWS,
  type DriftTestName,
  type FeatureDriftConfig,
} from './config';
import {
  chiSquared,
  fillZeroes,
  hellinger,
  jensenShannon,
  klDivergence,
  ksFromBins,
  ksFromPoints,
  ksTwoSampleP,
  twoProportionZ,
  wassersteinFromBins,
  wassersteinFromPoints,
  type Bounded,
  type GridCounts,
} from './stats';

/** Zero shares are replaced by this before the log (see stats.fillZeroes), so PSI stays finite. */
export const PSI_EPSILON = 1e-4;
export const DEFAULT_PSI_THRESHOLD = DRIFT_TESTS.psi.defaultThreshold;
export const DEFAULT_DRIFT_SHARE_THRESHOLD = DEFAULT_DRIFT_SHARE;
/** Distinct values of a numeric column the window counts one by one, at most. */
const TRACKED_VALUES = 21;
/** Values outside the reference's categories listed in a report, at most. */
const LISTED_UNSEEN = 10;

export interface Distribution {
  kind: FeatureType;
  /** Bin label (numeric) or category (categorical) -> share of the non-missing values. */
  distribution: Record<string, number>;
}

/** One side of a feature's comparison. */
export interface ColumnSummary extends Distribution {
  /** Non-missing values. */
  count: number;
  missing: number;
  /** missing / (count + missing); 0 when there are no rows. */
  nullShare: number;
  mean?: number;
  std?: number;
  min?: number;
  max?: number;
  /** Distinct values, when known (null: more than the monitor tracks). */
  distinct?: number | null;
  /** Values of a categorical window that the reference does not list (the first few). */
  unseen?: string[];
}

export interface NullShareDrift {
  reference: number;
  current: number;
  /** The rise (current - reference) above which the null share has drifted. */
  threshold: number;
  drifted: boolean;
}

export interface FeatureDrift {
  name: string;
  type: FeatureType;
  /** The test run (or that would have run: see `warning`). */
  test: DriftTestName;
  /** 'auto': Evidently's default selection; 'config': set by the drift configuration. */
  selection: 'auto' | 'config';
  /** Why this test, in words. */
  reason: string;
  /** The test's statistic (KS D, chi-squared, z, or the distance); null when not tested. */
  statistic: number | null;
  /** p-value tests only; null for distances and untested features. */
  pValue: number | null;
  /** p-value tests: drift when pValue < threshold; distances: when statistic >= threshold. */
  threshold: number;
  drifted: boolean;
  /** Bounds of the statistic where binned counts leave it inexact (KS, Wasserstein). */
  bounds?: { lower: number; upper: number };
  /** Whether the feature counts in the drift share (config `enabled`, default true). */
  enabled: boolean;
  /** Rows in the current window. */
  rows: number;
  /** Rows of the current window where the feature is missing. */
  missing: number;
  nullShare: NullShareDrift;
  reference: ColumnSummary;
  current: ColumnSummary;
  warning?: string;
}

export interface DriftReport {
  /** driftShare >= driftShareThreshold, with at least one tested feature. */
  datasetDrift: boolean;
  /** Drifted features / tested features (0 when none was tested). */
  driftShare: number;
  driftShareThreshold: number;
  /** Features tested (enabled, with values on both sides) and, of them, drifted. */
  tested: number;
  drifted: number;
  /** Whether some feature's null share rose by more than its threshold. */
  nullShareDrift: boolean;
  rows: number;
  features: FeatureDrift[];
  generatedAt: string;
}

export interface DriftOptions {
  /** The test of every feature without its own; default 'auto' (Evidently's selection). */
  test?: DriftTestName | 'auto';
  /** The threshold of every feature without its own; only with `test`. */
  threshold?: number;
  /** Thresholds by test (defaults: config.DRIFT_TESTS). */
  thresholds?: Partial<Record<DriftTestName, number>>;
  /** Per-feature test, threshold, null-share threshold, enabled. */
  features?: Record<string, FeatureDriftConfig>;
  /** Share of drifted features at or above which the dataset has drifted; default 0.5. */
  driftShareThreshold?: number;
  /** Rise of a feature's null share above which it has drifted; default 0.1. */
  nullShareThreshold?: number;
  now?: Date;
}

/**
 * The population stability index of two distributions given as shares over the same buckets:
 * sum((c - r) * ln(c / r)), zero shares replaced first as Evidently does (stats.fillZeroes: 1e-4,
 * or the smallest non-zero share / 10^6 when that is at most 1e-4).
 */
export function psi(reference: number[], current: number[]): number {
  if (reference.length === 0) throw new Error('Cannot compute the PSI of empty distributions.');
  if (reference.length !== current.length) {
    throw new Error(`Cannot compute the PSI: the reference has ${reference.length} buckets, the current ${current.length}.`);
  }
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i];
    const c = current[i];
    if (!Number.isFinite(r) || !Number.isFinite(c) || r < 0 || c < 0) {
      throw new Error(`Cannot compute the PSI: bucket ${i} has a share that is not a finite number >= 0 (reference ${r}, current ${c}).`);
    }
  }
  const rs = fillZeroes(reference);
  const cs = fillZeroes(current);
  let total = 0;
  for (let i = 0; i < rs.length; i++) total += (cs[i] - rs[i]) * Math.log(cs[i] / rs[i]);
  return total;
}

/** The grid a numeric window is counted on for KS and Wasserstein (see stats.GridCounts). */
interface Grid extends GridCounts {
  readonly kind: 'points' | 'bins';
  readonly points: Float64Array;
  /** Reference counts: per point ('points') or per bin between consecutive points ('bins'). */
  readonly reference: number[];
  /** 'bins' from a sketch: the mean of the reference's values in each bin. */
  readonly means?: number[];
  under: number;
  underDistance: number;
  over: number;
  overDistance: number;
  readonly at: Float64Array;
  readonly between: Float64Array;
  readonly betweenDistance: Float64Array;
}

interface NumericState {
  readonly name: string;
  readonly kind: 'numeric';
  readonly profile: NumericColumnProfile;
  readonly edges: number[];
  readonly labels: string[];
  readonly referenceCounts: number[];
  /** The window on the profile's histogram, values outside in the first or last bin. */
  readonly counts: number[];
  readonly grid: Grid;
  /** Whether the profile has a sketch of the column (else the grid is its histogram). */
  readonly sketched: boolean;
  /** The reference's distinct values with counts, when known (the profile's sketch). */
  readonly referenceValues: Map<number, number> | null;
  /** The window's distinct values with counts, until there are more than TRACKED_VALUES. */
  values: Map<number, number> | null;
  n: number;
  mean: number;
  m2: number;
  min: number;
  max: number;
  missing: number;
}

interface CategoricalState {
  readonly name: string;
  readonly kind: 'categorical';
  /** Non-missing values and missing ones of the reference, and its distinct count. */
  readonly referenceTotal: { count: number; missing: number; distinct: number };
  /** The reference buckets: the profile's categories, OTHER_CATEGORY last (added if absent). */
  readonly buckets: string[];
  readonly index: Map<string, number>;
  readonly referenceCounts: number[];
  readonly counts: number[];
  /** Distinct window values outside the reference's buckets (up to TRACKED_VALUES). */
  readonly unseen: Set<string>;
  missing: number;
}

type FeatureState = NumericState | CategoricalState;

function buildGrid(sketch: NumericSketch | undefined, column: NumericColumnProfile): Grid {
  const source = sketch ?? { kind: 'bins' as const, edges: column.histogram.edges, counts: column.histogram.counts };
  const points = Float64Array.from(source.edges);
  const L = points.length;
  return {
    kind: source.kind,
    points,
    reference: [...source.counts],
    means: sketch?.means && sketch.means.length === sketch.counts.length ? [...sketch.means] : undefined,
    under: 0,
    underDistance: 0,
    over: 0,
    overDistance: 0,
    at: new Float64Array(L),
    between: new Float64Array(Math.max(0, L - 1)),
    betweenDistance: new Float64Array(Math.max(0, L - 1)),
  };
}

function validSketch(name: string, sketch: NumericSketch | undefined, column: NumericColumnProfile): NumericSketch | undefined {
  if (!sketch) return undefined;
  const { edges, counts } = sketch;
  const lengthOk = sketch.kind === 'points' ? edges.length === counts.length : edges.length === counts.length + 1;
  let ascending = true;
  for (let i = 1; i < edges.length; i++) if (!(edges[i] >= edges[i - 1])) ascending = false;
  if (!lengthOk || !ascending || edges.length === 0) {
    throw new Error(
      `The training profile's sketch of '${name}' is invalid: ${edges.length} edges for ${counts.length} counts, ${ascending ? '' : 'not '}ascending.`,
    );
  }
  const sum = counts.reduce((s, c) => s + c, 0);
  return sum === column.count ? sketch : undefined;
}

/**
 * Accumulates the current window row by row (O(features x log bins) per row, fixed memory), then
 * reports.
 */
export class DriftAccumulator {
  /** Rows added so far. */
  rows = 0;
  private readonly states: FeatureState[];

  constructor(features: { name: string; type: FeatureType }[], profile: DatasetProfile) {
    const seen = new Set<string>();
    this.states = features.map((feature) => {
      if (seen.has(feature.name)) throw new Error(`Feature '${feature.name}' is listed twice for the drift monitor.`);
      seen.add(feature.name);
      const column = profile.columns[feature.name];
      if (column === undefined) throw new Error(`Feature '${feature.name}' is not in the training profile.`);
      if (column.kind !== feature.type) {
        throw new Error(`Feature '${feature.name}' is ${feature.type} but the training profile has it as ${column.kind}.`);
      }
      if (column.kind === 'numeric') {
        const { edges, counts } = column.histogram;
        if (counts.length === 0 || edges.length !== counts.length + 1) {
          throw new Error(
            `The training profile of '${feature.name}' has an invalid histogram: ${edges.length} edges for ${counts.length} bins.`,
          );
        }
        for (let i = 1; i < edges.length; i++) {
          if (!(edges[i] >= edges[i - 1])) {
            throw new Error(`The training profile of '${feature.name}' has histogram edges that are not ascending.`);
          }
        }
        const sketch = validSketch(feature.name, profile.sketches?.[feature.name], column);
        let referenceValues: Map<number, number> | null = null;
        if (sketch?.values) referenceValues = new Map(Object.entries(sketch.values).map(([v, c]) => [Number(v), c]));
        else if (sketch?.kind === 'points' && sketch.edges.length <= TRACKED_VALUES) {
          referenceValues = new Map(sketch.edges.map((v, i) => [v, sketch.counts[i]]));
        }
        return {
          name: feature.name,
          kind: 'numeric',
          profile: column,
          edges: [...edges],
          labels: binLabels(edges),
          referenceCounts: [...counts],
          counts: new Array<number>(counts.length).fill(0),
          grid: buildGrid(sketch, column),
          sketched: sketch !== undefined,
          referenceValues,
          values: new Map(),
          n: 0,
          mean: 0,
          m2: 0,
          min: Infinity,
          max: -Infinity,
          missing: 0,
        };
      }
      const buckets = Object.keys(column.frequencies).filter((k) => k !== OTHER_CATEGORY);
      buckets.push(OTHER_CATEGORY);
      return {
        name: feature.name,
        kind: 'categorical',
        referenceTotal: { count: column.count, missing: column.missing, distinct: column.distinct },
        buckets,
        index: new Map(buckets.map((b, i) => [b, i])),
        referenceCounts: buckets.map((b) => (Object.hasOwn(column.frequencies, b) ? column.frequencies[b] : 0)),
        counts: new Array<number>(buckets.length).fill(0),
        unseen: new Set(),
        missing: 0,
      };
    });
  }

  /**
   * One captured input row. Missing: null, undefined, '' (and, for a numeric feature, anything
   * that is not a finite number or a string holding one).
   */
  add(instance: Record<string, unknown>): void {
    this.rows++;
    for (const state of this.states) {
      const raw = instance[state.name];
      if (state.kind === 'numeric') {
        const value = toNumber(raw);
        if (value === null) state.missing++;
        else addNumber(state, value);
      } else {
        const category = toCategory(raw);
        if (category === null) state.missing++;
        else {
          const index = state.index.get(category);
          if (index !== undefined && category !== OTHER_CATEGORY) state.counts[index]++;
          else {
            state.counts[state.buckets.length - 1]++;
            if (state.unseen.size < TRACKED_VALUES) state.unseen.add(category);
          }
        }
      }
    }
  }

  report(options: DriftOptions = {}): DriftReport {
    const driftShareThreshold = options.driftShareThreshold ?? DEFAULT_DRIFT_SHARE_THRESHOLD;
    if (!Number.isFinite(driftShareThreshold) || driftShareThreshold <= 0 || driftShareThreshold > 1) {
      throw new Error(`The drift share threshold must be in (0, 1], got ${driftShareThreshold}.`);
    }
    if (options.threshold !== undefined && (options.test === undefined || options.test === 'auto')) {
      throw new Error('A threshold for every feature needs a test for every feature (p-values and distances differ): give `test` too.');
    }
    const thresholds = Object.fromEntries(DRIFT_TEST_NAMES.map((t) => [t, DRIFT_TESTS[t].defaultThreshold])) as Record<
      DriftTestName,
      number
    >;
    Object.assign(thresholds, options.thresholds ?? {});
    if (options.threshold !== undefined && options.test !== undefined && options.test !== 'auto')
      thresholds[options.test] = options.threshold;
    for (const [test, value] of Object.entries(thresholds)) {
      if (!Number.isFinite(value) || value <= 0) throw new Error(`The ${test} threshold must be a finite number > 0, got ${value}.`);
    }
    const nullShareDefault = options.nullShareThreshold ?? DEFAULT_NULL_SHARE_THRESHOLD;
    let tested = 0;
    let drifted = 0;
    const features = this.states.map((state) => {
      const feature = evaluate(state, this.rows, {
        test: options.features?.[state.name]?.test ?? options.test ?? 'auto',
        configured: options.features?.[state.name]?.test !== undefined || (options.test !== undefined && options.test !== 'auto'),
        thresholds,
        threshold: options.features?.[state.name]?.threshold,
        nullShareThreshold: options.features?.[state.name]?.nullShareThreshold ?? nullShareDefault,
        enabled: options.features?.[state.name]?.enabled ?? true,
      });
      if (feature.enabled && feature.statistic !== null) {
        tested++;
        if (feature.drifted) drifted++;
      }
      return feature;
    });
    const driftShare = tested === 0 ? 0 : drifted / tested;
    return {
      datasetDrift: tested > 0 && driftShare >= driftShareThreshold,
      driftShare,
      driftShareThreshold,
      tested,
      drifted,
      nullShareDrift: features.some((f) => f.nullShare.drifted),
      rows: this.rows,
      features,
      generatedAt: (options.now ?? new Date()).toISOString(),
    };
  }
}

function addNumber(state: NumericState, x: number): void {
  state.n++;
  const delta = x - state.mean;
  state.mean += delta / state.n;
  state.m2 += delta * (x - state.mean);
  if (x < state.min) state.min = x;
  if (x > state.max) state.max = x;
  state.counts[binIndex(state.edges, x)]++;
  const values = state.values;
  if (values !== null) {
    const seen = values.get(x);
    if (seen !== undefined) values.set(x, seen + 1);
    else if (values.size < TRACKED_VALUES) values.set(x, 1);
    else state.values = null;
  }
  const grid = state.grid;
  const points = grid.points;
  const last = points.length - 1;
  if (x < points[0]) {
    grid.under++;
    grid.underDistance += points[0] - x;
  } else if (x > points[last]) {
    grid.over++;
    grid.overDistance += x - points[last];
  } else {
    // The last point <= x (upper bound - 1).
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid] <= x) lo = mid + 1;
      else hi = mid;
    }
    const i = lo - 1;
    if (points[i] === x) grid.at[i]++;
    else {
      grid.between[i]++;
      grid.betweenDistance[i] += points[i + 1] - x;
    }
  }
}

interface FeatureSettings {
  test: DriftTestName | 'auto';
  configured: boolean;
  thresholds: Record<DriftTestName, number>;
  threshold?: number;
  nullShareThreshold: number;
  enabled: boolean;
}

/** Evidently's default test for a column (see the module comment). */
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

function evaluate(state: FeatureState, rows: number, settings: FeatureSettings): FeatureDrift {
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

  const result = run(test, state, distinct);
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

function run(test: DriftTestName, state: FeatureState, distinct: number | null): TestResult {
  if (test === 'ks' || test === 'wasserstein') {
    const numeric = state as NumericState;
    // With every distinct value of both sides known, both statistics are exact on their union.
    const grid: Grid =
      numeric.referenceValues !== null && numeric.values !== null ? valueGrid(numeric.referenceValues, numeric.values) : numeric.grid;
    if (test === 'ks') {
      const bounded =
        grid.kind === 'points' ? ksFromPoints(grid.points, grid.reference, grid) : ksFromBins(grid.points, grid.reference, grid);
      const n = numeric.profile.count;
      return { statistic: bounded.statistic, pValue: ksTwoSampleP(bounded.statistic, n, numeric.n), bounds: bounded };
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

/** Both sides as point masses on the union of their values. */
function valueGrid(reference: Map<number, number>, current: Map<number, number>): Grid {
  const points = Float64Array.from(new Set([...reference.keys(), ...current.keys()])).sort();
  const L = points.length;
  const at = new Float64Array(L);
  points.forEach((p, i) => {
    at[i] = current.get(p) ?? 0;
  });
  return {
    kind: 'points',
    points,
    reference: Array.from(points, (p) => reference.get(p) ?? 0),
    under: 0,
    underDistance: 0,
    over: 0,
    overDistance: 0,
    at,
    between: new Float64Array(Math.max(0, L - 1)),
    betweenDistance: new Float64Array(Math.max(0, L - 1)),
  };
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
      count: state.n,
      missing: state.missing,
      nullShare,
      distribution: record(state.labels, shares(state.counts)),
      distinct: state.values === null ? null : state.values.size,
    };
    if (state.n > 0)
      Object.assign(summary, { mean: state.mean, std: Math.sqrt(Math.max(0, state.m2 / state.n)), min: state.min, max: state.max });
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

/**
 * The bin of `value`: bins are [edges[i], edges[i+1]), the last one closed; a value below the
 * first edge falls in the first bin, one above the last edge in the last bin. Binary search.
 */
export function binIndex(edges: number[], value: number): number {
  const bins = edges.length - 1;
  // Count the edges <= value (upper bound), in O(log edges).
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid] <= value) lo = mid + 1;
    else hi = mid;
  }
  return Math.min(Math.max(lo - 1, 0), bins - 1);
}

/**
 * "[a, b)" for each bin, "[a, b]" for the last one, with as few digits as keep distinct edges
 * and labels distinct (6 significant digits usually); bins that no precision separates (repeated
 * edges) get " #n".
 */
export function binLabels(edges: number[]): string[] {
  let labels: string[] = [];
  for (const digits of [6, 10, 17]) {
    const text = edges.map((e) => (digits === 17 ? String(e) : String(Number(e.toPrecision(digits)))));
    labels = text.slice(0, -1).map((a, i) => `[${a}, ${text[i + 1]}${i === edges.length - 2 ? ']' : ')'}`);
    const distinctEdgesShown = text.every((t, i) => i === 0 || edges[i] === edges[i - 1] || t !== text[i - 1]);
    if (distinctEdgesShown && new Set(labels).size === labels.length) return labels;
  }
  const used = new Set<string>();
  return labels.map((label, i) => {
    const unique = used.has(label) ? `${label} #${i + 1}` : label;
    used.add(unique);
    return unique;
  });
}

function formatNumber(value: number): string {
  return String(Number(value.toPrecision(4)));
}

function toNumber(raw: unknown): number | null {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : null;
  if (typeof raw === 'string') {
    const trimmed = raw.trim();
    if (trimmed === '') return null;
    const value = Number(trimmed);
    return Number.isFinite(value) ? value : null;
  }
  return null;
}

function toCategory(raw: unknown): string | null {
  if (raw === null || raw === undefined || raw === '') return null;
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number') return Number.isNaN(raw) ? null : String(raw);
  if (typeof raw === 'boolean' || typeof raw === 'bigint') return String(raw);
  return null;
}

function sum(values: number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

function shares(counts: number[]): number[] {
  const total = sum(counts);
  return counts.map((c) => (total === 0 ? 0 : c / total));
}

function record(keys: string[], values: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  keys.forEach((key, i) => {
    out[key] = values[i];
  });
  return out;
}
