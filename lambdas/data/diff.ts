/**
 * What changed between two dataset versions of a model, from their schemas and profiles alone
 * (no rescan): columns added or removed, type and nullability changes, and per column the
 * changes of count, missing, mean and standard deviation, the population stability index (PSI)
 * between the two histograms or category shares, and the categories whose share moved most.
 * Pure code: the caller reads the records, schemas and profiles (`mloop datasets diff`).
 */
import type {
  CategoricalColumnProfile,
  ColumnProfile,
  DatasetProfile,
  DatasetSchema,
  Histogram,
  NumericColumnProfile,
} from '../shared/types';
import { OTHER_CATEGORY } from '../shared/types';
import { psi } from '../shared/stats/divergence';

/** PSI at or above this is reported as a shift (the drift monitor's threshold). */
export const PSI_SHIFT = 0.2;
/** Categories listed per column, by the size of their share change. */
export const MAX_CATEGORY_CHANGES = 10;

export interface DatasetSide {
  readonly version: number;
  readonly schema?: DatasetSchema;
  readonly profile?: DatasetProfile;
}

export interface Delta {
  readonly a: number;
  readonly b: number;
  /** b - a */
  readonly delta: number;
}

export type SchemaChange =
  | { readonly column: string; readonly change: 'added'; readonly type?: string }
  | { readonly column: string; readonly change: 'removed'; readonly type?: string }
  | { readonly column: string; readonly change: 'type'; readonly from: string; readonly to: string }
  | { readonly column: string; readonly change: 'nullable'; readonly from: boolean; readonly to: boolean }
  | { readonly column: string; readonly change: 'target'; readonly from: string; readonly to: string }
  | { readonly column: string; readonly change: 'task'; readonly from: string; readonly to: string };

export interface CategoryChange {
  readonly value: string;
  /** Share of the column's non-missing values, 0..1. */
  readonly a: number;
  readonly b: number;
  readonly delta: number;
}

export interface ColumnDiff {
  readonly column: string;
  readonly kind: 'numeric' | 'categorical' | 'changed';
  readonly count: Delta;
  readonly missing: Delta;
  /** Missing share of all rows, 0..1. */
  readonly missingShare: Delta;
  readonly mean?: Delta;
  readonly std?: Delta;
  readonly min?: Delta;
  readonly max?: Delta;
  readonly distinct?: Delta;
  /** Population stability index of b against a; null when it cannot be computed (no values, kinds differ). */
  readonly psi: number | null;
  /** How the PSI was computed: on the same bin edges, after re-binning b onto a's edges, or on categories. */
  readonly psiMethod: 'same_edges' | 'rebinned' | 'categories' | null;
  readonly shifted: boolean;
  readonly categories?: CategoryChange[];
}

export interface DatasetDiff {
  readonly a: number;
  readonly b: number;
  readonly rows: Delta;
  readonly schemaChanges: SchemaChange[];
  readonly columns: ColumnDiff[];
  /** Columns whose PSI is at least PSI_SHIFT, by PSI descending. */
  readonly shifted: string[];
}

function delta(a: number, b: number): Delta {
  return { a, b, delta: b - a };
}

/** The PSI of two count vectors (normalized here), or null when either has no values. */
function psiOfCounts(a: readonly number[], b: readonly number[]): number | null {
  const sa = a.reduce((s, x) => s + x, 0);
  const sb = b.reduce((s, x) => s + x, 0);
  if (!(sa > 0) || !(sb > 0)) return null;
  return psi(
    a.map((x) => x / sa),
    b.map((x) => x / sb),
  );
}

function sameEdges(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Counts of `from` moved onto the bins of `onto`, assuming values spread evenly within each bin
 * of `from` (a one-value bin moves whole). As for profiles, the first and last bins of `onto` are
 * open: values below or above its edges fall in them.
 */
export function rebin(from: Histogram, onto: readonly number[]): number[] {
  const k = onto.length - 1;
  const out = new Array<number>(Math.max(1, k)).fill(0);
  if (k < 1) {
    out[0] = from.counts.reduce((s, x) => s + x, 0);
    return out;
  }
  const binOf = (v: number): number => {
    let j = 0;
    while (j < k - 1 && v >= onto[j + 1]) j++;
    return j;
  };
  for (let i = 0; i < from.counts.length; i++) {
    const c = from.counts[i];
    if (c === 0) continue;
    const lo = from.edges[i];
    const hi = from.edges[i + 1];
    if (!(hi > lo)) {
      out[binOf(lo)] += c;
      continue;
    }
    for (let j = 0; j < k; j++) {
      const left = j === 0 ? -Infinity : onto[j];
      const right = j === k - 1 ? Infinity : onto[j + 1];
      const overlap = Math.min(hi, right) - Math.max(lo, left);
      if (overlap > 0) out[j] += (c * overlap) / (hi - lo);
    }
  }
  return out;
}

/** Whether a histogram has one bin of width 0 (a constant column). */
function degenerate(h: Histogram): boolean {
  return h.counts.length <= 1 || !(h.edges[h.edges.length - 1] > h.edges[0]);
}

function numericPsi(a: NumericColumnProfile, b: NumericColumnProfile): { psi: number | null; method: ColumnDiff['psiMethod'] } {
  if (a.count === 0 || b.count === 0) return { psi: null, method: null };
  const ha = a.histogram;
  const hb = b.histogram;
  if (sameEdges(ha.edges, hb.edges)) return { psi: psiOfCounts(ha.counts, hb.counts), method: 'same_edges' };
  if (degenerate(ha) && degenerate(hb)) {
    // Two constants: the same value, or all the mass moved.
    if (ha.edges[0] === hb.edges[0]) return { psi: 0, method: 'same_edges' };
    return { psi: psiOfCounts([a.count, 0], [0, b.count]), method: 'rebinned' };
  }
  // Re-bin onto the edges of the side that has real bins (a's when both do).
  if (degenerate(ha)) return { psi: psiOfCounts(rebin(ha, hb.edges), hb.counts), method: 'rebinned' };
  return { psi: psiOfCounts(ha.counts, rebin(hb, ha.edges)), method: 'rebinned' };
}

function shares(p: CategoricalColumnProfile): Map<string, number> {
  const total = Object.values(p.frequencies).reduce((s, x) => s + x, 0);
  return new Map(Object.entries(p.frequencies).map(([k, v]) => [k, total > 0 ? v / total : 0]));
}

function categoricalChanges(
  a: CategoricalColumnProfile,
  b: CategoricalColumnProfile,
): { psi: number | null; categories: CategoryChange[] } {
  const sa = shares(a);
  const sb = shares(b);
  const values = [...new Set([...sa.keys(), ...sb.keys()])];
  const categories = values
    .map((value) => ({ value, a: sa.get(value) ?? 0, b: sb.get(value) ?? 0, delta: (sb.get(value) ?? 0) - (sa.get(value) ?? 0) }))
    .sort((x, y) => Math.abs(y.delta) - Math.abs(x.delta) || (x.value < y.value ? -1 : x.value > y.value ? 1 : 0));
  // Each side's top-k differ: a value outside one side's top-k is part of its "other" bucket, so
  // the PSI is on the values both sides list, plus everything else pooled.
  const common = values.filter((v) => v !== OTHER_CATEGORY && sa.has(v) && sb.has(v));
  const rest = (m: Map<string, number>): number => 1 - common.reduce((s, v) => s + (m.get(v) ?? 0), 0);
  const ca = [...common.map((v) => sa.get(v) ?? 0), Math.max(0, rest(sa))];
  const cb = [...common.map((v) => sb.get(v) ?? 0), Math.max(0, rest(sb))];
  const psiValue = a.count === 0 || b.count === 0 ? null : psiOfCounts(ca, cb);
  return { psi: psiValue, categories: categories.slice(0, MAX_CATEGORY_CHANGES) };
}

function columnDiff(column: string, a: ColumnProfile, b: ColumnProfile, rowsA: number, rowsB: number): ColumnDiff {
  const base = {
    column,
    count: delta(a.count, b.count),
    missing: delta(a.missing, b.missing),
    missingShare: delta(rowsA > 0 ? a.missing / rowsA : 0, rowsB > 0 ? b.missing / rowsB : 0),
  };
  if (a.kind === 'numeric' && b.kind === 'numeric') {
    const { psi: value, method } = numericPsi(a, b);
    return {
      ...base,
      kind: 'numeric',
      mean: delta(a.mean, b.mean),
      std: delta(a.std, b.std),
      min: delta(a.min, b.min),
      max: delta(a.max, b.max),
      psi: value,
      psiMethod: method,
      shifted: value !== null && value >= PSI_SHIFT,
    };
  }
  if (a.kind === 'categorical' && b.kind === 'categorical') {
    const { psi: value, categories } = categoricalChanges(a, b);
    return {
      ...base,
      kind: 'categorical',
      distinct: delta(a.distinct, b.distinct),
      psi: value,
      psiMethod: value === null ? null : 'categories',
      shifted: value !== null && value >= PSI_SHIFT,
      categories,
    };
  }
  return { ...base, kind: 'changed', psi: null, psiMethod: null, shifted: false };
}

/** Columns of a side: its schema's, else its profile's. */
function columnsOf(side: DatasetSide): Map<string, { type?: string; nullable?: boolean }> {
  if (side.schema) return new Map(side.schema.columns.map((c) => [c.name, { type: c.type, nullable: c.nullable }]));
  return new Map(Object.entries(side.profile?.columns ?? {}).map(([name, p]) => [name, { type: p.kind }]));
}

/** The diff of dataset version b against version a. */
export function diffDatasets(a: DatasetSide, b: DatasetSide): DatasetDiff {
  const ca = columnsOf(a);
  const cb = columnsOf(b);
  const schemaChanges: SchemaChange[] = [];
  for (const [name, c] of ca) if (!cb.has(name)) schemaChanges.push({ column: name, change: 'removed', type: c.type });
  for (const [name, c] of cb) if (!ca.has(name)) schemaChanges.push({ column: name, change: 'added', type: c.type });
  for (const [name, x] of ca) {
    const y = cb.get(name);
    if (!y) continue;
    if (x.type !== undefined && y.type !== undefined && x.type !== y.type)
      schemaChanges.push({ column: name, change: 'type', from: x.type, to: y.type });
    if (x.nullable !== undefined && y.nullable !== undefined && x.nullable !== y.nullable)
      schemaChanges.push({ column: name, change: 'nullable', from: x.nullable, to: y.nullable });
  }
  if (a.schema && b.schema) {
    if (a.schema.target !== b.schema.target)
      schemaChanges.push({ column: b.schema.target, change: 'target', from: a.schema.target, to: b.schema.target });
    if (a.schema.task !== b.schema.task)
      schemaChanges.push({ column: b.schema.target, change: 'task', from: a.schema.task, to: b.schema.task });
  }

  const pa = a.profile?.columns ?? {};
  const pb = b.profile?.columns ?? {};
  const rowsA = a.profile?.rows ?? 0;
  const rowsB = b.profile?.rows ?? 0;
  const columns: ColumnDiff[] = [];
  for (const name of Object.keys(pa)) {
    if (Object.hasOwn(pb, name)) columns.push(columnDiff(name, pa[name], pb[name], rowsA, rowsB));
  }
  const shifted = columns
    .filter((c) => c.shifted)
    .sort((x, y) => (y.psi ?? 0) - (x.psi ?? 0))
    .map((c) => c.column);
  return { a: a.version, b: b.version, rows: delta(rowsA, rowsB), schemaChanges, columns, shifted };
}
