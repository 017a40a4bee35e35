/**
 * Streaming statistics for dataset profiles, in bounded memory per column however long the file:
 * numeric moments (Welford: lambdas/shared/stats/moments.ts), a histogram sketch, and category
 * counts with a distinct-count sketch.
 * Pure code: no I/O.
 */
import type { CategoricalColumnProfile, Histogram, NumericColumnProfile, NumericSketch } from '../shared/types';
import { OTHER_CATEGORY } from '../shared/types';
import { Moments } from '../shared/stats/moments';
import { SLOTS } from './cell-interner';
import { fmix32 } from './mix32';

/** A HistogramSketch as JSON: its exact values, or its fine bins. */
export interface HistogramSketchState {
  n: number;
  values?: number[];
  origin?: number;
  width?: number;
  bins?: number[];
}

/** NumericStats as JSON. */
export interface NumericStatsState {
  count: number;
  mean: number;
  m2: number;
  min: number | null;
  max: number | null;
  sketch: HistogramSketchState;
  valueCounts: [number, number][] | null;
}

/** CategoryCounter as JSON: HyperLogLog registers in base64. */
export interface CategoryCounterState {
  total: number;
  counts: [string, number][];
  hll: string | null;
}

/** Values kept exactly per numeric column; histograms of columns with no more values are exact. */
const EXACT_VALUES = 1024;
/** Fine bins of the histogram sketch used beyond EXACT_VALUES values (must be even). */
const FINE_BINS = 1024;
/** Bins of a drift sketch (NumericStats.driftSketch) past EXACT_VALUES values. */
export const DRIFT_SKETCH_BINS = 100;
/** Distinct values a numeric column's drift sketch lists with their counts, at most. */
export const MAX_SKETCH_VALUES = 20;

/** The smallest positive normal double: below it a reciprocal loses precision. */
const MIN_NORMAL = 2.2250738585072014e-308;

/**
 * 1 / width, or 0 where that would be a subnormal number, short of a double's precision: then
 * every quotient HistogramSketch.add makes is 0, a whole number, and every value takes the division.
 */
function inverseOf(width: number): number {
  const inverse = 1 / width;
  return inverse >= MIN_NORMAL ? inverse : 0;
}

/**
 * A histogram sketch for one numeric column.
 *
 * The first EXACT_VALUES values are kept as they are, so small columns get exact histograms. Past
 * that, the values are counted on FINE_BINS equal-width bins over a range that starts as the range
 * of the values kept and doubles (to the left or to the right) whenever a value falls outside it;
 * doubling merges neighbouring bins in pairs, so no count is ever split. The final histogram on
 * equal-width edges over [min, max] assigns each fine bin to the final bin that holds the fine
 * bin's midpoint. Approximation: a value can land in a neighbouring final bin when it lies within
 * one fine bin of a final edge; a fine bin is at most about 4 / FINE_BINS of the data's range wide,
 * so the error is a small share of each final bin. Counts always sum to the number of values.
 */
export class HistogramSketch {
  private values: Float64Array | null = new Float64Array(16);
  private n = 0;
  private bins: Float64Array | null = null;
  private origin = 0;
  private width = 1;
  /**
   * 1 / width (inverseOf), so that add() finds a value's bin by a multiplication rather than a
   * division: inserting values was about a tenth of the scan's time on the bench file.
   */
  private inverse = 1;

  add(x: number): void {
    if (this.values !== null) {
      if (this.n < EXACT_VALUES) {
        if (this.n === this.values.length) {
          const grown = new Float64Array(Math.min(this.values.length * 2, EXACT_VALUES));
          grown.set(this.values);
          this.values = grown;
        }
        this.values[this.n++] = x;
        return;
      }
      this.startBins();
    }
    this.n++;
    // insert()'s common case inline, its division by the width made a multiplication by the
    // inverse. Both differ from the exact quotient by at most a few units in the last place, under
    // 1e-12 for a quotient below FINE_BINS: one more than 1e-9 away from a whole number floors to
    // the same bin either way. Within that of a bin's edge (every value of a 0/1 column), the
    // division decides, so every value lands in the bin it gives: the same sketch as ever.
    const t = (x - this.origin) * this.inverse;
    let index = Math.floor(t);
    const fraction = t - index;
    if (!(fraction > 1e-9 && fraction < 1 - 1e-9)) index = Math.floor((x - this.origin) / this.width);
    if (index >= 0 && index < FINE_BINS) (this.bins as Float64Array)[index]++;
    else this.insert(x);
  }

  /** Switch from exact values to fine bins over the range of the values kept so far. */
  private startBins(): void {
    const values = this.values as Float64Array;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < this.n; i++) {
      if (values[i] < lo) lo = values[i];
      if (values[i] > hi) hi = values[i];
    }
    const span = hi > lo ? hi - lo : Math.max(Math.abs(lo), 1);
    this.origin = lo;
    this.width = span / (FINE_BINS - 1);
    this.inverse = inverseOf(this.width);
    this.bins = new Float64Array(FINE_BINS);
    this.values = null;
    for (let i = 0; i < this.n; i++) this.insert(values[i]);
  }

  private insert(x: number, weight = 1): void {
    let index = Math.floor((x - this.origin) / this.width);
    // Each doubling at least halves the distance in bins; the bound guards against overflow.
    for (let guard = 0; (index < 0 || index >= FINE_BINS) && guard < 2100; guard++) {
      if (index < 0) this.growLeft();
      else this.growRight();
      index = Math.floor((x - this.origin) / this.width);
    }
    if (!(index >= 0)) index = 0;
    if (index >= FINE_BINS) index = FINE_BINS - 1;
    (this.bins as Float64Array)[index] += weight;
  }

  /** Double the range to the right: bins 2i and 2i+1 merge into bin i. */
  private growRight(): void {
    const old = this.bins as Float64Array;
    const bins = new Float64Array(FINE_BINS);
    for (let i = 0; i < FINE_BINS; i++) bins[i >> 1] += old[i];
    this.bins = bins;
    this.width *= 2;
    this.inverse = inverseOf(this.width);
  }

  /** Double the range to the left: the old range becomes the right half. */
  private growLeft(): void {
    const old = this.bins as Float64Array;
    const bins = new Float64Array(FINE_BINS);
    for (let i = 0; i < FINE_BINS; i++) bins[FINE_BINS / 2 + (i >> 1)] += old[i];
    this.bins = bins;
    this.origin -= FINE_BINS * this.width;
    this.width *= 2;
    this.inverse = inverseOf(this.width);
  }

  /** The sketch as JSON (a partial scan's state; see lambdas/data/parts.ts). */
  toJSON(): HistogramSketchState {
    if (this.values !== null) return { n: this.n, values: Array.from(this.values.subarray(0, this.n)) };
    return { n: this.n, origin: this.origin, width: this.width, bins: Array.from(this.bins as Float64Array) };
  }

  static fromJSON(state: HistogramSketchState): HistogramSketch {
    const sketch = new HistogramSketch();
    if (state.values !== undefined) {
      // Room to grow as add() expects (it doubles the array up to EXACT_VALUES).
      sketch.values = new Float64Array(Math.max(16, state.values.length));
      sketch.values.set(state.values);
      sketch.n = state.values.length;
    } else {
      sketch.values = null;
      sketch.n = state.n;
      sketch.origin = state.origin ?? 0;
      sketch.width = state.width ?? 1;
      sketch.inverse = inverseOf(sketch.width);
      sketch.bins = Float64Array.from(state.bins ?? []);
    }
    return sketch;
  }

  /**
   * Add another sketch's values (the sketch of a later part of the same file). Exact values stay
   * exact while there are at most EXACT_VALUES in all; the other's fine bins are added at their
   * midpoints, so a merged histogram can put a value one more fine bin away from its place than a
   * single pass would: within two fine bins (8 / FINE_BINS of the range) in all.
   */
  merge(other: HistogramSketch): void {
    if (other.n === 0) return;
    if (this.values !== null && other.values !== null && this.n + other.n <= EXACT_VALUES) {
      for (let i = 0; i < other.n; i++) this.add(other.values[i]);
      return;
    }
    if (this.values !== null) {
      const kept = this.values.subarray(0, this.n);
      if (this.n === 0) {
        // Nothing here yet: take the other's state as it is.
        const copy = HistogramSketch.fromJSON(other.toJSON());
        this.values = copy.values;
        this.n = copy.n;
        this.origin = copy.origin;
        this.width = copy.width;
        this.inverse = copy.inverse;
        this.bins = copy.bins;
        return;
      }
      this.values = Float64Array.from(kept);
      this.startBins();
    }
    if (other.values !== null) {
      for (let i = 0; i < other.n; i++) this.insert(other.values[i]);
    } else {
      const fine = other.bins as Float64Array;
      for (let j = 0; j < FINE_BINS; j++) if (fine[j] > 0) this.insert(other.origin + (j + 0.5) * other.width, fine[j]);
    }
    this.n += other.n;
  }

  /**
   * A cut point with about a share `q` of the values below it: exactly the value at rank
   * floor(q * n) while the values are kept (so fewer than that many lie below it), else the fine
   * bin boundary nearest to that rank (off by at most one fine bin's values).
   */
  quantile(q: number): number {
    if (this.n === 0) return NaN;
    const rank = Math.min(this.n - 1, Math.max(0, Math.floor(q * this.n)));
    if (this.values !== null) return this.values.slice(0, this.n).sort()[rank];
    const fine = this.bins as Float64Array;
    let below = 0;
    for (let j = 0; j < FINE_BINS; j++) {
      if (below + fine[j] > rank) {
        // Between the bin's lower boundary (`below` values under it) and its upper one.
        return below + fine[j] - rank < rank - below ? this.origin + (j + 1) * this.width : this.origin + j * this.width;
      }
      below += fine[j];
    }
    return this.origin + FINE_BINS * this.width;
  }

  /** `bins` equal-width bins over [min, max]; one bin [min, max] when min === max. */
  histogram(min: number, max: number, bins: number): Histogram {
    if (this.n === 0) return { edges: [0, 0], counts: [0] };
    if (!(max > min)) return { edges: [min, max], counts: [this.n] };
    const k = Math.max(1, Math.floor(bins));
    const edges = Array.from({ length: k + 1 }, (_, i) => (i === k ? max : min + ((max - min) * i) / k));
    const counts = new Array<number>(k).fill(0);
    const binOf = (v: number): number => {
      const b = Math.floor(((v - min) / (max - min)) * k);
      return b < 0 ? 0 : b >= k ? k - 1 : b;
    };
    if (this.values !== null) {
      for (let i = 0; i < this.n; i++) counts[binOf(this.values[i])]++;
    } else {
      const fine = this.bins as Float64Array;
      for (let j = 0; j < FINE_BINS; j++) {
        if (fine[j] > 0) counts[binOf(this.origin + (j + 0.5) * this.width)] += fine[j];
      }
    }
    return { edges, counts };
  }

  /**
   * The drift tests' sketch (lambdas/shared/stats/grid.ts): with at most EXACT_VALUES values, every
   * distinct value and its count ('points'); past that, about `bins` bins of about equal counts
   * whose inner edges are fine-bin boundaries, so each count is exactly the sum of whole fine bins
   * ('bins'), over [min, max].
   */
  driftSketch(min: number, max: number, bins: number): NumericSketch | undefined {
    if (this.n === 0) return undefined;
    if (this.values !== null) {
      const sorted = this.values.slice(0, this.n).sort();
      const edges: number[] = [];
      const counts: number[] = [];
      for (let i = 0; i < sorted.length; i++) {
        if (edges.length > 0 && sorted[i] === edges[edges.length - 1]) counts[counts.length - 1]++;
        else {
          edges.push(sorted[i]);
          counts.push(1);
        }
      }
      return { kind: 'points', edges, counts };
    }
    const fine = this.bins as Float64Array;
    const k = Math.max(1, Math.floor(bins));
    const edges = [min];
    const counts: number[] = [];
    const means: number[] = [];
    let inBin = 0;
    let sum = 0;
    let seen = 0;
    const close = (upper: number) => {
      // The fine bins' midpoints stand for their values: the mean, kept inside the bin.
      const lower = edges[edges.length - 1];
      means.push(inBin === 0 ? (lower + upper) / 2 : Math.min(Math.max(sum / inBin, lower), upper));
      edges.push(upper);
      counts.push(inBin);
      inBin = 0;
      sum = 0;
    };
    for (let j = 0; j < FINE_BINS; j++) {
      if (fine[j] === 0) continue;
      inBin += fine[j];
      sum += fine[j] * (this.origin + (j + 0.5) * this.width);
      seen += fine[j];
      const boundary = this.origin + (j + 1) * this.width;
      const target = (this.n * (counts.length + 1)) / k;
      if (seen >= target && seen < this.n && boundary > edges[edges.length - 1] && boundary < max) close(boundary);
    }
    close(max);
    return { kind: 'bins', edges, counts, means };
  }
}

/** Count, mean, population standard deviation (Welford: Moments), min, max and a histogram sketch. */
export class NumericStats extends Moments {
  min = Infinity;
  max = -Infinity;
  private readonly sketch = new HistogramSketch();
  /**
   * Each distinct value and its count while there are at most MAX_SKETCH_VALUES of them, in the
   * order first seen (`distinctValues` of them; -1 once there are more): two small arrays
   * searched in order, cheaper per value than a map's lookup and store for a column of few values.
   */
  private readonly seenValues = new Float64Array(MAX_SKETCH_VALUES);
  private readonly seenCounts = new Float64Array(MAX_SKETCH_VALUES);
  private distinctValues = 0;

  add(x: number): void {
    const distinct = this.distinctValues;
    if (distinct >= 0) {
      const values = this.seenValues;
      let i = 0;
      // (=== as a Map's keys compare numbers: 0 and -0 are one value, stored as 0.)
      while (i < distinct && values[i] !== x) i++;
      if (i < distinct) this.seenCounts[i]++;
      else if (distinct < MAX_SKETCH_VALUES) {
        values[distinct] = x === 0 ? 0 : x;
        this.seenCounts[distinct] = 1;
        this.distinctValues = distinct + 1;
      } else this.distinctValues = -1;
    }
    super.add(x);
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
    this.sketch.add(x);
  }

  /** Each distinct value's count, in the order first seen, while there are at most MAX_SKETCH_VALUES of them (else null). */
  private get valueCounts(): Map<number, number> | null {
    if (this.distinctValues < 0) return null;
    const counts = new Map<number, number>();
    for (let i = 0; i < this.distinctValues; i++) counts.set(this.seenValues[i], this.seenCounts[i]);
    return counts;
  }

  private set valueCounts(counts: Map<number, number> | null) {
    if (counts === null || counts.size > MAX_SKETCH_VALUES) {
      this.distinctValues = -1;
      return;
    }
    let i = 0;
    for (const [value, count] of counts) {
      this.seenValues[i] = value;
      this.seenCounts[i] = count;
      i++;
    }
    this.distinctValues = i;
  }

  toJSON(): NumericStatsState {
    return {
      count: this.count,
      mean: this.mean,
      m2: this.m2,
      // JSON has no Infinity: an empty column's bounds are null.
      min: this.count > 0 ? this.min : null,
      max: this.count > 0 ? this.max : null,
      sketch: this.sketch.toJSON(),
      valueCounts: this.valueCounts === null ? null : [...this.valueCounts.entries()],
    };
  }

  static fromJSON(state: NumericStatsState): NumericStats {
    const stats = new NumericStats();
    stats.count = state.count;
    stats.mean = state.mean;
    stats.m2 = state.m2;
    stats.min = state.min ?? Infinity;
    stats.max = state.max ?? -Infinity;
    (stats as unknown as { sketch: HistogramSketch }).sketch = HistogramSketch.fromJSON(state.sketch);
    stats.valueCounts = state.valueCounts === null ? null : new Map(state.valueCounts);
    return stats;
  }

  /**
   * Add another part's statistics: counts, bounds and value counts exactly; mean and variance by
   * Chan et al.'s pairwise update (exact up to rounding); the histogram sketch as HistogramSketch.merge.
   */
  merge(other: NumericStats): void {
    if (other.count === 0) return;
    super.merge(other);
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    this.sketch.merge(other.sketch);
    const mine = this.valueCounts;
    if (mine !== null) {
      const theirs = other.valueCounts;
      if (theirs === null) this.valueCounts = null;
      else {
        for (const [value, count] of theirs) mine.set(value, (mine.get(value) ?? 0) + count);
        // (More than MAX_SKETCH_VALUES: null.)
        this.valueCounts = mine;
      }
    }
  }

  /** See HistogramSketch.quantile; clamped to [min, max]. */
  quantile(q: number): number {
    return Math.min(this.max, Math.max(this.min, this.sketch.quantile(q)));
  }

  /** The drift tests' sketch of the column (see HistogramSketch.driftSketch), with `values` when few. */
  driftSketch(bins = DRIFT_SKETCH_BINS): NumericSketch | undefined {
    const sketch = this.sketch.driftSketch(this.min, this.max, bins);
    const counts = this.valueCounts;
    if (sketch === undefined || counts === null) return sketch;
    const values: Record<string, number> = {};
    for (const [value, count] of [...counts.entries()].sort((a, b) => a[0] - b[0])) values[String(value)] = count;
    return { ...sketch, values };
  }

  /** The profile; a column with no values gets zeros (JSON has no NaN). */
  profile(missing: number, bins: number): NumericColumnProfile {
    if (this.count === 0) {
      return { kind: 'numeric', count: 0, missing, min: 0, max: 0, mean: 0, std: 0, histogram: { edges: [0, 0], counts: [0] } };
    }
    return {
      kind: 'numeric',
      count: this.count,
      missing,
      min: this.min,
      max: this.max,
      mean: this.mean,
      std: this.std,
      histogram: this.sketch.histogram(this.min, this.max, bins),
    };
  }
}

/** 32-bit FNV-1a over UTF-16 code units, then murmur3's finalizer for avalanche. */
function hash32(value: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    h ^= value.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** HyperLogLog with 2^12 registers (about 1.6% standard error), for distinct counts past the exact map. */
export class HyperLogLog {
  private static readonly P = 12;
  private readonly registers = new Uint8Array(1 << HyperLogLog.P);

  add(value: string): void {
    const h = hash32(value);
    const index = h >>> (32 - HyperLogLog.P);
    const rest = (h << HyperLogLog.P) >>> 0;
    const rank = rest === 0 ? 32 - HyperLogLog.P + 1 : Math.clz32(rest) + 1;
    if (rank > this.registers[index]) this.registers[index] = rank;
  }

  /** The registers, base64. */
  toJSON(): string {
    return Buffer.from(this.registers).toString('base64');
  }

  static fromJSON(state: string): HyperLogLog {
    const hll = new HyperLogLog();
    hll.registers.set(Buffer.from(state, 'base64').subarray(0, hll.registers.length));
    return hll;
  }

  /** The union's sketch: the larger register of each pair (exact: as if one sketch saw both). */
  merge(other: HyperLogLog): void {
    for (let i = 0; i < this.registers.length; i++) if (other.registers[i] > this.registers[i]) this.registers[i] = other.registers[i];
  }

  estimate(): number {
    const m = this.registers.length;
    let sum = 0;
    let zeros = 0;
    for (const r of this.registers) {
      sum += 2 ** -r;
      if (r === 0) zeros++;
    }
    const alpha = 0.7213 / (1 + 1.079 / m);
    let e = (alpha * m * m) / sum;
    if (e <= 2.5 * m && zeros > 0) e = m * Math.log(m / zeros);
    else if (e > 2 ** 32 / 30) e = -(2 ** 32) * Math.log(1 - e / 2 ** 32);
    return Math.round(e);
  }
}

/** Distinct values counted exactly per column up to this many; then the map is pruned. */
const MAX_TRACKED = 8192;
/** The most frequent values kept when the map is pruned. */
const KEEP_TRACKED = 2048;

/** Compare strings by UTF-16 code units: deterministic, independent of locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Set an own enumerable property, even for keys such as '__proto__'. */
export function setOwn(target: Record<string, number>, key: string, value: number): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Counts of a column's values. Exact while the column has at most MAX_TRACKED distinct values.
 * Beyond that the map is pruned to the KEEP_TRACKED most frequent values each time it fills up
 * (batched Misra-Gries): the frequent values survive with counts that are lower bounds, and the
 * distinct count becomes a HyperLogLog estimate.
 */
export class CategoryCounter {
  total = 0;
  private counts = new Map<string, number>();
  private hll: HyperLogLog | null = null;
  /**
   * Counts not yet in the map, by a CellInterner's slot (see addInSlot): the value each slot holds
   * and its count since it was last added to the map. Null while unused, and once the counts are
   * pruned.
   */
  private slotValues: (string | undefined)[] | null = null;
  private slotCounts: Int32Array | null = null;

  add(value: string): void {
    this.total++;
    this.counts.set(value, (this.counts.get(value) ?? 0) + 1);
    if (this.hll !== null) this.hll.add(value);
    if (this.counts.size >= MAX_TRACKED) {
      this.settle();
      this.slotValues = null;
      this.prune();
    }
  }

  /**
   * add(value) for a value a CellInterner returned from `slot` (CellInterner.slot): while the
   * counts are exact, a value seen again in its slot is only tallied there (an array's element
   * instead of the map's lookup and store, the costliest part of counting a column of few
   * categories), and added to the map when the slot changes hands or the counts are read
   * (settle). The map's contents and order are those add() makes: a value enters it when first
   * seen, and the slots are settled before any pruning.
   */
  addInSlot(value: string, slot: number): void {
    if (this.hll !== null || slot < 0) {
      this.add(value);
      return;
    }
    let values = this.slotValues;
    if (values === null) {
      values = this.slotValues = new Array<string | undefined>(SLOTS);
      this.slotCounts = new Int32Array(SLOTS);
    }
    if (values[slot] === value) {
      this.total++;
      (this.slotCounts as Int32Array)[slot]++;
      return;
    }
    this.settleSlot(slot);
    this.add(value);
    // (Unless that add pruned the counts: then no slot is used any more.)
    if (this.slotValues !== null) values[slot] = value;
  }

  /** Add the slots' tallies to the map. */
  private settle(): void {
    if (this.slotValues === null) return;
    for (let slot = 0; slot < SLOTS; slot++) this.settleSlot(slot);
  }

  private settleSlot(slot: number): void {
    const counts = this.slotCounts as Int32Array;
    const pending = counts[slot];
    if (pending === 0) return;
    const value = (this.slotValues as (string | undefined)[])[slot] as string;
    // The value is in the map: it was added when it took the slot, and nothing leaves the map unsettled.
    this.counts.set(value, (this.counts.get(value) as number) + pending);
    counts[slot] = 0;
  }

  /** Count a value without tracking it: it is part of "other" in the profile. */
  addOther(): void {
    this.total++;
  }

  /** Keep the KEEP_TRACKED highest counts (ties in insertion order), in O(n) plus a numeric sort. */
  private prune(): void {
    if (this.hll === null) {
      this.hll = new HyperLogLog();
      for (const value of this.counts.keys()) this.hll.add(value);
    }
    const sorted = Float64Array.from(this.counts.values()).sort();
    const threshold = sorted[sorted.length - KEEP_TRACKED];
    // Room left for values whose count equals the threshold, after all those above it.
    let ties = KEEP_TRACKED;
    for (let i = sorted.length - 1; i >= 0 && sorted[i] > threshold; i--) ties--;
    const kept = new Map<string, number>();
    for (const [value, count] of this.counts) {
      if (count > threshold || (count === threshold && ties-- > 0)) kept.set(value, count);
    }
    this.counts = kept;
  }

  toJSON(): CategoryCounterState {
    this.settle();
    return { total: this.total, counts: [...this.counts.entries()], hll: this.hll === null ? null : this.hll.toJSON() };
  }

  static fromJSON(state: CategoryCounterState): CategoryCounter {
    const counter = new CategoryCounter();
    counter.total = state.total;
    counter.counts = new Map(state.counts);
    counter.hll = state.hll === null ? null : HyperLogLog.fromJSON(state.hll);
    return counter;
  }

  /**
   * Add another part's counts. While both are exact and their union stays under MAX_TRACKED
   * values, the result is exact; past that, the summed counts are pruned as in a single pass
   * (mergeable Misra-Gries summaries: the frequent values keep lower-bound counts) and the
   * distinct count is the HyperLogLog of the union, which merges exactly.
   */
  merge(other: CategoryCounter): void {
    this.settle();
    other.settle();
    this.total += other.total;
    if (this.hll !== null || other.hll !== null) {
      if (this.hll === null) {
        this.hll = new HyperLogLog();
        for (const value of this.counts.keys()) this.hll.add(value);
      }
      if (other.hll !== null) this.hll.merge(other.hll);
      else for (const value of other.counts.keys()) this.hll.add(value);
    }
    for (const [value, count] of other.counts) this.counts.set(value, (this.counts.get(value) ?? 0) + count);
    if (this.counts.size >= MAX_TRACKED) {
      this.slotValues = null;
      this.prune();
    }
  }

  /** Whether the counts are exact (the column never had more than MAX_TRACKED distinct values). */
  get exact(): boolean {
    return this.hll === null;
  }

  get distinct(): number {
    this.settle();
    return this.hll === null ? this.counts.size : Math.max(this.counts.size, this.hll.estimate());
  }

  /** The values seen (all of them while exact), in no particular order. */
  values(): IterableIterator<string> {
    this.settle();
    return this.counts.keys();
  }

  /** The k most frequent values, by count descending then value ascending. */
  top(k: number): [string, number][] {
    this.settle();
    const entries = [...this.counts.entries()];
    entries.sort((a, b) => b[1] - a[1] || compareStrings(a[0], b[0]));
    return entries.slice(0, Math.max(0, k));
  }

  profile(missing: number, maxCategories: number): CategoricalColumnProfile {
    const frequencies: Record<string, number> = {};
    let kept = 0;
    for (const [value, count] of this.top(maxCategories)) {
      setOwn(frequencies, value, count);
      kept += count;
    }
    const rest = this.total - kept;
    if (rest > 0)
      setOwn(frequencies, OTHER_CATEGORY, (Object.hasOwn(frequencies, OTHER_CATEGORY) ? frequencies[OTHER_CATEGORY] : 0) + rest);
    return { kind: 'categorical', count: this.total, missing, distinct: this.distinct, frequencies };
  }
}
