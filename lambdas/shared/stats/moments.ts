/**
 * Streaming mean and variance in one pass and fixed memory: Welford's update for one value, Chan et
 * al.'s pairwise update for merging two partial results. The one implementation behind a dataset
 * profile's numeric columns (lambdas/data/profile.ts) and the drift monitor's window
 * (lambdas/monitoring/drift-window.ts).
 */

/** Count, mean and the sum of squared deviations from the mean (m2), as JSON. */
export interface MomentsState {
  count: number;
  mean: number;
  m2: number;
}

/** Count, mean and population variance of a stream of numbers (Welford). */
export class Moments implements MomentsState {
  count = 0;
  mean = 0;
  /** The sum of squared deviations from the mean: variance = m2 / count. */
  m2 = 0;

  /** Welford's update: numerically stable where the naive sum of squares cancels. */
  add(x: number): void {
    this.count++;
    const delta = x - this.mean;
    this.mean += delta / this.count;
    this.m2 += delta * (x - this.mean);
  }

  /** Add another stream's moments by Chan et al.'s pairwise update (exact up to rounding). */
  merge(other: MomentsState): void {
    if (other.count === 0) return;
    const n = this.count + other.count;
    const delta = other.mean - this.mean;
    this.m2 += other.m2 + (delta * delta * this.count * other.count) / n;
    this.mean += (delta * other.count) / n;
    this.count = n;
  }

  /** Population standard deviation (divides by n), 0 for fewer than two values. */
  get std(): number {
    return this.count > 1 ? Math.sqrt(Math.max(0, this.m2 / this.count)) : 0;
  }
}
