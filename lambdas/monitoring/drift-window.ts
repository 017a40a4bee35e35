/**
 * The drift monitor's window, feature by feature: the state each feature keeps (the reference's
 * counts from the training profile beside the window's counts per bin, per value or per category,
 * and the window's moments), built from the profile and updated value by value in fixed memory.
 * The tests on these counts are in feature-drift.ts.
 */
import { getOwn } from '../shared/own-record';
import { OTHER_CATEGORY, type DatasetProfile, type FeatureType, type NumericColumnProfile, type NumericSketch } from '../shared/types';
import type { GridCounts } from '../shared/stats/grid';
import { binIndex, binLabels } from '../shared/stats/histogram';
import { Moments } from '../shared/stats/moments';

/** Distinct values of a numeric column the window counts one by one, at most. */
export const TRACKED_VALUES = 21;

/** The grid a numeric window is counted on for KS and Wasserstein (see GridCounts in lambdas/shared/stats/grid.ts). */
export interface Grid extends GridCounts {
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

export interface NumericState {
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
  /** Count, mean and variance of the window's values (Welford). */
  readonly moments: Moments;
  min: number;
  max: number;
  missing: number;
}

export interface CategoricalState {
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

export type FeatureState = NumericState | CategoricalState;

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
 * A feature's state for the window: the reference's counts from the training profile, and empty
 * counts for the window. Throws when the profile lacks the feature, types it otherwise, or holds an
 * invalid histogram.
 */
export function featureState(feature: { name: string; type: FeatureType }, profile: DatasetProfile): FeatureState {
  const column = getOwn(profile.columns, feature.name); // a feature may be called `constructor`
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
      moments: new Moments(),
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
}

/**
 * One captured value of the feature. Missing: null, undefined, '' (and, for a numeric feature,
 * anything that is not a finite number or a string holding one).
 */
export function addValue(state: FeatureState, raw: unknown): void {
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

function addNumber(state: NumericState, x: number): void {
  state.moments.add(x);
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

/** Both sides as point masses on the union of their values. */
export function valueGrid(reference: Map<number, number>, current: Map<number, number>): Grid {
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
