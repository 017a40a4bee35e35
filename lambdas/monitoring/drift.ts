/**
 * Data drift: live feature values against the training profile, feature by feature, with the
 * population stability index (PSI). Only the profile is used (histograms on fixed edges, category
 * frequencies): a monitor never rescans the training data, and its memory does not grow with the
 * number of rows it has seen.
 */
import { OTHER_CATEGORY, type DatasetProfile, type FeatureType } from '../shared/types';

/** Zero shares are replaced by this before the log, so that an empty bin gives a finite PSI. */
export const PSI_EPSILON = 1e-4;
export const DEFAULT_PSI_THRESHOLD = 0.2;
export const DEFAULT_DRIFT_SHARE_THRESHOLD = 0.5;

export interface Distribution {
  kind: FeatureType;
  /** Bin label (numeric) or category (categorical) -> share of the non-missing values. */
  distribution: Record<string, number>;
}

export interface FeatureDrift {
  name: string;
  test: 'psi';
  /** The PSI; null when the feature was not tested (see `warning`). */
  statistic: number | null;
  threshold: number;
  /** statistic >= threshold. */
  drifted: boolean;
  /** Rows in the current window. */
  rows: number;
  /** Rows of the current window where the feature is missing. */
  missing: number;
  reference: Distribution;
  current: Distribution;
  warning?: string;
}

export interface DriftReport {
  /** driftShare >= driftShareThreshold, with at least one tested feature. */
  datasetDrift: boolean;
  /** Drifted features / tested features (0 when none was tested). */
  driftShare: number;
  driftShareThreshold: number;
  rows: number;
  features: FeatureDrift[];
  generatedAt: string;
}

export interface DriftOptions {
  /** PSI at or above which a feature has drifted; default 0.2. */
  threshold?: number;
  /** Share of drifted features at or above which the dataset has drifted; default 0.5. */
  driftShareThreshold?: number;
  now?: Date;
}

/**
 * The population stability index of two distributions given as shares over the same buckets:
 * sum((c - r) * ln(c / r)), zero shares replaced by 1e-4 first (in both factors).
 */
export function psi(reference: number[], current: number[]): number {
  if (reference.length === 0) throw new Error('Cannot compute the PSI of empty distributions.');
  if (reference.length !== current.length) {
    throw new Error(`Cannot compute the PSI: the reference has ${reference.length} buckets, the current ${current.length}.`);
  }
  let total = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i];
    const c = current[i];
    if (!Number.isFinite(r) || !Number.isFinite(c) || r < 0 || c < 0) {
      throw new Error(`Cannot compute the PSI: bucket ${i} has a share that is not a finite number >= 0 (reference ${r}, current ${c}).`);
    }
    const rs = r === 0 ? PSI_EPSILON : r;
    const cs = c === 0 ? PSI_EPSILON : c;
    total += (cs - rs) * Math.log(cs / rs);
  }
  return total;
}

interface NumericState {
  readonly name: string;
  readonly kind: 'numeric';
  readonly edges: number[];
  readonly labels: string[];
  readonly referenceCounts: number[];
  readonly counts: number[];
  missing: number;
}

interface CategoricalState {
  readonly name: string;
  readonly kind: 'categorical';
  /** The reference buckets: the profile's categories, OTHER_CATEGORY last (added if absent). */
  readonly buckets: string[];
  readonly index: Map<string, number>;
  readonly referenceCounts: number[];
  readonly counts: number[];
  missing: number;
}

type FeatureState = NumericState | CategoricalState;

/**
 * Accumulates the current window row by row (O(features) per row, fixed memory), then reports.
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
          throw new Error(`The training profile of '${feature.name}' has an invalid histogram: ${edges.length} edges for ${counts.length} bins.`);
        }
        for (let i = 1; i < edges.length; i++) {
          if (!(edges[i] >= edges[i - 1])) {
            throw new Error(`The training profile of '${feature.name}' has histogram edges that are not ascending.`);
          }
        }
        return {
          name: feature.name,
          kind: 'numeric',
          edges: [...edges],
          labels: binLabels(edges),
          referenceCounts: [...counts],
          counts: new Array<number>(counts.length).fill(0),
          missing: 0,
        };
      }
      const buckets = Object.keys(column.frequencies).filter((k) => k !== OTHER_CATEGORY);
      buckets.push(OTHER_CATEGORY);
      return {
        name: feature.name,
        kind: 'categorical',
        buckets,
        index: new Map(buckets.map((b, i) => [b, i])),
        referenceCounts: buckets.map((b) => column.frequencies[b] ?? 0),
        counts: new Array<number>(buckets.length).fill(0),
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
        else state.counts[binIndex(state.edges, value)]++;
      } else {
        const category = toCategory(raw);
        if (category === null) state.missing++;
        else state.counts[state.index.get(category) ?? state.buckets.length - 1]++;
      }
    }
  }

  report(options: DriftOptions = {}): DriftReport {
    const threshold = options.threshold ?? DEFAULT_PSI_THRESHOLD;
    const driftShareThreshold = options.driftShareThreshold ?? DEFAULT_DRIFT_SHARE_THRESHOLD;
    if (!Number.isFinite(threshold) || threshold <= 0) {
      throw new Error(`The PSI threshold must be a finite number > 0, got ${threshold}.`);
    }
    if (!Number.isFinite(driftShareThreshold) || driftShareThreshold <= 0 || driftShareThreshold > 1) {
      throw new Error(`The drift share threshold must be in (0, 1], got ${driftShareThreshold}.`);
    }
    let tested = 0;
    let drifted = 0;
    const features = this.states.map((state): FeatureDrift => {
      const keys = state.kind === 'numeric' ? state.labels : state.buckets;
      const referenceShares = shares(state.referenceCounts);
      const currentShares = shares(state.counts);
      // OTHER_CATEGORY is shown only where it holds something, on either side.
      const shown = keys.map(
        (key, i) => state.kind === 'numeric' || key !== OTHER_CATEGORY || referenceShares[i] > 0 || currentShares[i] > 0,
      );
      const base = {
        name: state.name,
        test: 'psi' as const,
        threshold,
        rows: this.rows,
        missing: state.missing,
        reference: { kind: state.kind, distribution: record(keys, referenceShares, shown) },
        current: { kind: state.kind, distribution: record(keys, currentShares, shown) },
      };
      const currentTotal = sum(state.counts);
      if (sum(state.referenceCounts) === 0) {
        return {
          ...base,
          statistic: null,
          drifted: false,
          warning: `Column '${state.name}' has no values in the training profile: no drift test was run.`,
        };
      }
      if (currentTotal === 0) {
        return {
          ...base,
          statistic: null,
          drifted: false,
          warning: `Column '${state.name}' is empty in the window: no drift test was run.`,
        };
      }
      const statistic = psi(referenceShares, currentShares);
      tested++;
      const isDrifted = statistic >= threshold;
      if (isDrifted) drifted++;
      return { ...base, statistic, drifted: isDrifted };
    });
    const driftShare = tested === 0 ? 0 : drifted / tested;
    return {
      datasetDrift: tested > 0 && driftShare >= driftShareThreshold,
      driftShare,
      driftShareThreshold,
      rows: this.rows,
      features,
      generatedAt: (options.now ?? new Date()).toISOString(),
    };
  }
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

function record(keys: string[], values: number[], shown: boolean[]): Record<string, number> {
  const out: Record<string, number> = {};
  keys.forEach((key, i) => {
    if (shown[i]) out[key] = values[i];
  });
  return out;
}
