/**
 * Distances and divergences between two distributions given as counts or shares over the same
 * buckets: Jensen-Shannon, Kullback-Leibler, Hellinger and the population stability index (PSI),
 * with Evidently's replacement of zero shares before a logarithm (`fillZeroes`). Shared by the drift
 * monitor and the dataset diff; checked against SciPy by test/drift-stats.test.ts.
 */
import { shares } from './counts';

/**
 * The Jensen-Shannon distance (base e) of two count vectors, scipy.spatial.distance.jensenshannon:
 * sqrt((KL(p || m) + KL(q || m)) / 2) with m = (p + q) / 2; 0 to sqrt(ln 2) ≈ 0.833.
 */
export function jensenShannon(reference: ArrayLike<number>, current: ArrayLike<number>): number {
  const p = shares(reference);
  const q = shares(current);
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const mid = (p[i] + q[i]) / 2;
    if (p[i] > 0) js += p[i] * Math.log(p[i] / mid);
    if (q[i] > 0) js += q[i] * Math.log(q[i] / mid);
  }
  return Math.sqrt(Math.max(0, js / 2));
}

/**
 * Zero shares replaced as Evidently does before a logarithm (`feel_zeroes`): by the smallest
 * non-zero share / 10^6 when that share is at most 1e-4, else by 1e-4.
 */
export function fillZeroes(values: number[]): number[] {
  let min = Infinity;
  for (const v of values) if (v > 0 && v < min) min = v;
  const fill = min <= 1e-4 ? min / 1e6 : 1e-4;
  return values.map((v) => (v === 0 ? fill : v));
}

/** The Kullback-Leibler divergence KL(reference || current) of two count vectors, zeros filled. */
export function klDivergence(reference: ArrayLike<number>, current: ArrayLike<number>): number {
  const p = fillZeroes(shares(reference));
  const q = fillZeroes(shares(current));
  // scipy.stats.entropy normalizes again after the fill.
  const sp = p.reduce((s, v) => s + v, 0);
  const sq = q.reduce((s, v) => s + v, 0);
  let kl = 0;
  for (let i = 0; i < p.length; i++) kl += (p[i] / sp) * Math.log(p[i] / sp / (q[i] / sq));
  return Math.max(0, kl);
}

/** The Hellinger distance of two count vectors: sqrt(sum (sqrt p - sqrt q)^2) / sqrt 2, in [0, 1]. */
export function hellinger(reference: ArrayLike<number>, current: ArrayLike<number>): number {
  const p = shares(reference);
  const q = shares(current);
  let s = 0;
  for (let i = 0; i < p.length; i++) s += (Math.sqrt(p[i]) - Math.sqrt(q[i])) ** 2;
  return Math.sqrt(s) / Math.SQRT2;
}

/**
 * The population stability index of two distributions given as shares over the same buckets:
 * sum((c - r) * ln(c / r)), zero shares replaced first as Evidently does (`fillZeroes`: 1e-4,
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
