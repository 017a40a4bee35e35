/**
 * Distributions on a grid: the window's counts against the reference's, for the Kolmogorov-Smirnov
 * statistic and the Wasserstein-1 distance. Nothing here sees raw rows: the drift monitor keeps
 * counts per bin or per value (memory independent of the number of rows) and the reference comes
 * from the training profile. Where counts lose information (values inside a bin), the functions
 * return bounds as well as the statistic; see `ksFromBins` and `wassersteinFromBins`. Checked
 * against SciPy by test/drift-stats.test.ts.
 */
import { total } from './counts';

/**
 * A numeric column's counts on a grid of points p_0 < ... < p_(L-1):
 * - `under`, `over`: values below p_0 and above p_(L-1), with `underDistance` = sum(p_0 - x) and
 *   `overDistance` = sum(x - p_(L-1)) (exact tails for the Wasserstein distance);
 * - `at[i]`: values equal to p_i;
 * - `between[i]`: values strictly between p_i and p_(i+1), with `betweenDistance[i]` =
 *   sum(p_(i+1) - x) over them.
 */
export interface GridCounts {
  readonly under: number;
  readonly underDistance: number;
  readonly over: number;
  readonly overDistance: number;
  readonly at: ArrayLike<number>;
  readonly between: ArrayLike<number>;
  readonly betweenDistance: ArrayLike<number>;
}

/** A statistic known between two bounds (the statistic itself lies within them). */
export interface Bounded {
  readonly statistic: number;
  readonly lower: number;
  readonly upper: number;
  /** Whether the counts determine the statistic exactly (lower === upper). */
  readonly exact: boolean;
}

function gridTotal(c: GridCounts): number {
  return c.under + c.over + total(c.at) + total(c.between);
}

/**
 * The reference as point masses: `counts[i]` values equal to `points[i]` (the profile keeps every
 * distinct value of columns of up to 1,024 values). With the window counted on the same points, the
 * KS statistic is exact: between two points the reference CDF is flat and the window's CDF moves
 * from its value at the left point to its value just before the right one, both known.
 */
export function ksFromPoints(points: ArrayLike<number>, counts: ArrayLike<number>, current: GridCounts): Bounded {
  const L = points.length;
  const n = total(counts);
  const m = gridTotal(current);
  if (n === 0 || m === 0) throw new Error('The KS statistic needs values on both sides.');
  let d = current.under / m; // below p_0 the reference CDF is 0
  let r = 0;
  let c = current.under;
  for (let i = 0; i < L; i++) {
    r += counts[i];
    c += current.at[i];
    d = Math.max(d, Math.abs(r / n - c / m));
    if (i < L - 1) {
      c += current.between[i];
      d = Math.max(d, Math.abs(r / n - c / m));
    }
  }
  // Above the last point the reference CDF is 1 and the window's rises from 1 - over/m to 1.
  d = Math.max(d, current.over / m);
  return { statistic: d, lower: d, upper: d, exact: true };
}

/**
 * The reference as a histogram: `counts[i]` values in [edges[i], edges[i+1]) (the last bin closed),
 * nothing outside [edges[0], edges[last]]. The window is counted on the edges as points.
 *
 * The KS statistic is bounded: at each edge both CDFs are known (the reference's just below it),
 * which gives the lower bound, the statistic reported (so the p-value is conservative); inside bin
 * i both CDFs are non-decreasing, so |F_ref - F_cur| <= max(R_(i+1) - C_i, C_(i+1) - R_i), with R and
 * C the CDFs at the bin's ends, which gives the upper bound. upper - lower is at most the largest
 * reference bin share plus the window's share in that bin.
 */
export function ksFromBins(edges: ArrayLike<number>, counts: ArrayLike<number>, current: GridCounts): Bounded {
  const B = counts.length;
  if (edges.length !== B + 1) throw new Error(`A histogram of ${B} bins needs ${B + 1} edges, got ${edges.length}.`);
  const n = total(counts);
  const m = gridTotal(current);
  if (n === 0 || m === 0) throw new Error('The KS statistic needs values on both sides.');
  let lower = current.under / m;
  let upper = lower;
  let r = 0; // reference CDF just below edges[i]
  let c = current.under; // window CDF just below edges[i]
  for (let i = 0; i < B; i++) {
    const rLo = r / n;
    lower = Math.max(lower, Math.abs(rLo - c / m));
    // Inside the bin the window's CDF is at least its value at the edge (values at the edge included).
    const cLo = (c + current.at[i]) / m;
    r += counts[i];
    c += current.at[i] + current.between[i];
    // The window's CDF just below the next edge; the last bin is closed, so it takes the values at the last edge too.
    const cHi = (i === B - 1 ? c + current.at[B] : c) / m;
    const rHi = r / n;
    upper = Math.max(upper, rHi - cLo, cHi - rLo);
  }
  // At the last edge both CDFs are known: 1 for the reference, 1 - over/m for the window.
  lower = Math.max(lower, current.over / m);
  upper = Math.max(upper, lower);
  return { statistic: lower, lower, upper, exact: upper - lower < 1e-15 };
}

/** ∫_0^w |a + (b - a) t / w - (c + (d - c) t / w)| dt: the gap between two linear CDFs over a width w. */
function linearGapArea(w: number, a: number, b: number, c: number, d: number): number {
  const g0 = a - c;
  const g1 = b - d;
  if (g0 * g1 >= 0) return (w * (Math.abs(g0) + Math.abs(g1))) / 2;
  // The gap changes sign inside: two triangles.
  return (w * (g0 * g0 + g1 * g1)) / (2 * (Math.abs(g0) + Math.abs(g1)));
}

/**
 * ∫ over [a, b] of |F - G| where F steps from f0 to f1 at x = p and G from g0 to g1 at x = q.
 */
function stepGapArea(a: number, b: number, f0: number, f1: number, p: number, g0: number, g1: number, q: number): number {
  const first = Math.min(p, q);
  const second = Math.max(p, q);
  const middle = p <= q ? Math.abs(f1 - g0) : Math.abs(f0 - g1);
  return Math.abs(f0 - g0) * (first - a) + middle * (second - first) + Math.abs(f1 - g1) * (b - second);
}

/**
 * The Wasserstein-1 distance ∫|F_ref - F_cur| with the reference as point masses (see
 * `ksFromPoints`). Exact except between two points where the window's CDF crosses the reference's
 * (flat) CDF, where the values' positions inside the gap are only known through their sum: the
 * statistic then assumes them spread evenly, between bounds.
 */
export function wassersteinFromPoints(points: ArrayLike<number>, counts: ArrayLike<number>, current: GridCounts): Bounded {
  const L = points.length;
  const n = total(counts);
  const m = gridTotal(current);
  if (n === 0 || m === 0) throw new Error('The Wasserstein distance needs values on both sides.');
  let statistic = current.underDistance / m + current.overDistance / m;
  let lower = statistic;
  let upper = statistic;
  let r = 0;
  let c = current.under;
  for (let i = 0; i < L - 1; i++) {
    r += counts[i];
    c += current.at[i];
    const w = points[i + 1] - points[i];
    const R = r / n;
    const a = c / m; // window CDF at p_i
    const b = (c + current.between[i]) / m; // just below p_(i+1)
    // ∫ F_cur over the gap = a w + sum(p_(i+1) - x) / m.
    const area = a * w + current.betweenDistance[i] / m;
    const exactGap = Math.abs(R * w - area);
    if (R >= b || R <= a) {
      statistic += exactGap;
      lower += exactGap;
      upper += exactGap;
    } else {
      statistic += Math.max(exactGap, linearGapArea(w, R, R, a, b));
      lower += exactGap;
      upper += w * Math.max(R - a, b - R);
    }
    c += current.between[i];
  }
  statistic = Math.min(Math.max(statistic, lower), upper);
  return { statistic, lower, upper, exact: upper - lower < 1e-12 * Math.max(1, upper) };
}

/**
 * The Wasserstein-1 distance with the reference as a histogram (see `ksFromBins`). Outside the
 * reference's range it is exact (the reference CDF is 0 below, 1 above, and the window's distances
 * to the range are summed). Inside bin i of width w, the reference's area ∫F_ref lies between
 * R_i w and R_(i+1) w and the window's is known from its distances. The lower bound takes
 * |∫F_ref - ∫F_cur| at its closest, the upper bound w max(R_(i+1) - C_i, C_(i+1) - R_i); upper -
 * lower is at most the sum over bins of the width times the reference and window shares in the
 * bin. The statistic takes the reference's area from the bin's mean when `means` are given (else
 * the reference spread evenly) and |∫F_ref - ∫F_cur| as the bin's part where the two CDFs do not
 * cross at the bin's ends: exact when the means are and nothing crosses inside a bin.
 */
export function wassersteinFromBins(
  edges: ArrayLike<number>,
  counts: ArrayLike<number>,
  current: GridCounts,
  means?: ArrayLike<number>,
): Bounded {
  const B = counts.length;
  if (edges.length !== B + 1) throw new Error(`A histogram of ${B} bins needs ${B + 1} edges, got ${edges.length}.`);
  const n = total(counts);
  const m = gridTotal(current);
  if (n === 0 || m === 0) throw new Error('The Wasserstein distance needs values on both sides.');
  let statistic = current.underDistance / m + current.overDistance / m;
  let lower = statistic;
  let upper = statistic;
  let r = 0;
  let c = current.under;
  for (let i = 0; i < B; i++) {
    const w = edges[i + 1] - edges[i];
    const rLo = r / n;
    const rHi = (r + counts[i]) / n;
    const cLo = (c + current.at[i]) / m; // window CDF at edges[i]
    const cHi = (c + current.at[i] + current.between[i]) / m; // just below edges[i+1]
    const area = cLo * w + current.betweenDistance[i] / m;
    // The reference's area is in [rLo w, rHi w]; the closest it can come to the window's:
    const gapLower = area < rLo * w ? rLo * w - area : area > rHi * w ? area - rHi * w : 0;
    const gapUpper = w * Math.max(rHi - cLo, cHi - rLo);
    // Estimate: the reference's area from its mean (or spread evenly), the window's known.
    const referenceArea = means ? rLo * w + (counts[i] / n) * (edges[i + 1] - means[i]) : ((rLo + rHi) / 2) * w;
    const crosses = (rLo - cLo) * (rHi - cHi) < 0;
    let estimate: number;
    if (!crosses) estimate = Math.abs(referenceArea - area);
    else if (means && counts[i] > 0) {
      // Each side's mass in the bin as a point at its mean: exact for discrete data (one value per bin).
      const inBin = current.between[i];
      const currentMean = inBin > 0 ? edges[i + 1] - current.betweenDistance[i] / inBin : edges[i];
      estimate = stepGapArea(edges[i], edges[i + 1], rLo, rHi, means[i], cLo, cHi, currentMean);
    } else estimate = Math.max(Math.abs(referenceArea - area), linearGapArea(w, rLo, rHi, cLo, cHi));
    statistic += Math.min(Math.max(estimate, gapLower), gapUpper);
    lower += gapLower;
    upper += gapUpper;
    r += counts[i];
    c += current.at[i] + current.between[i];
  }
  statistic = Math.min(Math.max(statistic, lower), upper);
  return { statistic, lower, upper, exact: upper - lower < 1e-12 * Math.max(1, upper) };
}
