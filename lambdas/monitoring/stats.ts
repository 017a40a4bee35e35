/**
 * The statistics of the drift tests, as pure functions on counts: p-values (Kolmogorov-Smirnov,
 * chi-squared, two-proportion z) and distances (Wasserstein, Jensen-Shannon, PSI, Kullback-Leibler,
 * Hellinger). The definitions follow Evidently's default tests (which call SciPy); the fixtures in
 * test/fixtures/drift/ hold values computed independently with SciPy, and test/stats.test.ts checks
 * every function against them.
 *
 * Nothing here sees raw rows: the drift monitor keeps counts per bin or per value (memory independent
 * of the number of rows) and the reference comes from the training profile. Where counts lose
 * information (values inside a bin), the functions return bounds as well as the statistic; see
 * `ksFromBins` and `wassersteinFromBins`.
 */

// ---------------------------------------------------------------------------------------------
// Special functions
// ---------------------------------------------------------------------------------------------

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9: about 15 significant digits). */
export function lnGamma(x: number): number {
  if (!(x > 0)) throw new Error(`lnGamma needs x > 0, got ${x}.`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

const TINY = 1e-300;

/** The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a). */
export function gammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) throw new Error(`gammaQ needs a > 0 and x >= 0, got a = ${a}, x = ${x}.`);
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  const front = Math.exp(-x + a * Math.log(x) - lnGamma(a));
  if (x < a + 1) {
    // Series for P(a, x), then Q = 1 - P.
    let ap = a;
    let sum = 1 / a;
    let term = sum;
    for (let n = 0; n < 100000; n++) {
      ap += 1;
      term *= x / ap;
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-17) break;
    }
    return Math.max(0, 1 - sum * front);
  }
  // Continued fraction for Q(a, x) (modified Lentz).
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 100000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.min(1, front * h);
}

/** Survival function of the chi-squared distribution with `df` degrees of freedom. */
export function chi2Sf(x: number, df: number): number {
  if (x <= 0) return 1;
  return gammaQ(df / 2, x / 2);
}

/** P(|Z| >= |z|) for a standard normal Z: erfc(|z| / sqrt 2), accurate in the far tail too. */
export function normalTwoSidedP(z: number): number {
  if (Number.isNaN(z)) return NaN;
  return z === 0 ? 1 : gammaQ(0.5, (z * z) / 2);
}

// ---------------------------------------------------------------------------------------------
// Kolmogorov-Smirnov
// ---------------------------------------------------------------------------------------------

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Sample sizes up to which the two-sample p-value is exact, as SciPy's method='auto' decides. */
export const KS_EXACT_MAX_N = 10000;

/**
 * The p-value of the two-sample KS statistic `d` for samples of `n1` and `n2` values, two-sided,
 * as scipy.stats.ks_2samp(method='auto') computes it: exact when both sizes are at most 10,000
 * (the share of lattice paths from (0, 0) to (n1, n2) that leave the band |i/n1 - j/n2| < d),
 * else from the one-sample distribution with n = round(n1 n2 / (n1 + n2)) (`kolmogorovSf`).
 */
export function ksTwoSampleP(d: number, n1: number, n2: number): number {
  if (!(n1 > 0 && n2 > 0)) throw new Error(`The KS test needs two non-empty samples, got ${n1} and ${n2} values.`);
  if (!(d > 0)) return 1;
  if (Math.max(n1, n2) <= KS_EXACT_MAX_N) return ksExactP(d, n1, n2);
  const en = (n1 * n2) / (n1 + n2);
  return kolmogorovSf(d, Math.round(en));
}

/** Exact P(D >= d) for two samples without ties, by counting lattice paths (normalized). */
export function ksExactP(d: number, n1: number, n2: number): number {
  const g = gcd(n1, n2);
  const a = n2 / g; // step of i, in units of 1 / lcm
  const b = n1 / g; // step of j
  const lcm = n1 * a;
  const h = Math.round(d * lcm);
  if (h <= 0) return 1;
  // A(i, j): share of the paths to (i, j) that stayed strictly inside |i a - j b| < h.
  // A(i, j) = (A(i-1, j) i + A(i, j-1) j) / (i + j), row by row over the band only.
  let prev = new Float64Array(n2 + 1);
  let cur = new Float64Array(n2 + 1);
  let prevLo = 0;
  let prevHi = Math.min(n2, Math.ceil(h / b) - 1);
  for (let j = prevLo; j <= prevHi; j++) prev[j] = 1;
  for (let i = 1; i <= n1; i++) {
    const lo = Math.max(0, Math.floor((i * a - h) / b) + 1);
    const hi = Math.min(n2, Math.ceil((i * a + h) / b) - 1);
    if (hi < lo) return 1;
    let left = 0;
    for (let j = lo; j <= hi; j++) {
      const up = j >= prevLo && j <= prevHi ? prev[j] : 0;
      const value = i + j === 0 ? 1 : (up * i + left * j) / (i + j);
      cur[j] = value;
      left = value;
    }
    [prev, cur] = [cur, prev];
    prevLo = lo;
    prevHi = hi;
  }
  const inside = n2 >= prevLo && n2 <= prevHi ? prev[n2] : 0;
  return Math.min(1, Math.max(0, 1 - inside));
}

/** ln(n!) */
function lnFactorial(n: number): number {
  return lnGamma(n + 1);
}

/**
 * P(D+_n >= x), the exact one-sided one-sample KS survival function (Birnbaum and Tingey 1951),
 * SciPy's scipy.special.smirnov(n, x): x * sum_j C(n, j) (1 - x - j/n)^(n-j) (x + j/n)^(j-1).
 */
export function smirnovSf(n: number, x: number): number {
  if (x <= 0) return 1;
  if (x >= 1) return 0;
  const jmax = Math.floor(n * (1 - x) + 1e-12);
  let max = -Infinity;
  const logs: number[] = [];
  for (let j = 0; j <= jmax; j++) {
    const u = 1 - x - j / n;
    if (u <= 0 && n - j > 0) continue;
    const term =
      lnFactorial(n) - lnFactorial(j) - lnFactorial(n - j) + (n - j) * Math.log(Math.max(u, TINY)) + (j - 1) * Math.log(x + j / n);
    logs.push(term);
    if (term > max) max = term;
  }
  let sum = 0;
  for (const l of logs) sum += Math.exp(l - max);
  return Math.min(1, Math.max(0, x * Math.exp(max) * sum));
}

/** Largest band (k = floor(n x) + 1) for which the exact matrix method is used. */
const MTW_MAX_K = 60;

/**
 * P(D_n < x) exactly, by Marsaglia, Tsang and Wang (2003), "Evaluating Kolmogorov's distribution":
 * a power of a (2k-1)x(2k-1) matrix, with the exponent kept apart so it neither under- nor
 * overflows.
 */
export function kolmogorovCdfMTW(n: number, x: number): number {
  const k = Math.floor(n * x) + 1;
  const m = 2 * k - 1;
  const h = k - n * x;
  const H = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) H[i * m + j] = i - j + 1 < 0 ? 0 : 1;
  for (let i = 0; i < m; i++) {
    H[i * m] -= h ** (i + 1);
    H[(m - 1) * m + i] -= h ** (m - i);
  }
  H[(m - 1) * m] += 2 * h - 1 > 0 ? (2 * h - 1) ** m : 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      if (i - j + 1 > 0) for (let g = 1; g <= i - j + 1; g++) H[i * m + j] /= g;
    }
  }
  const multiply = (A: Float64Array, B: Float64Array): Float64Array => {
    const C = new Float64Array(m * m);
    for (let i = 0; i < m; i++) {
      for (let l = 0; l < m; l++) {
        const ail = A[i * m + l];
        if (ail === 0) continue;
        for (let j = 0; j < m; j++) C[i * m + j] += ail * B[l * m + j];
      }
    }
    return C;
  };
  // Matrix power by squaring; the exponent (base 2) is carried in `e`.
  const power = (base: Float64Array, p: number): { M: Float64Array; e: number } => {
    if (p === 1) return { M: base, e: 0 };
    const half = power(base, Math.floor(p / 2));
    let M = multiply(half.M, half.M);
    let e = 2 * half.e;
    if (p % 2 === 1) M = multiply(base, M);
    const centre = M[(k - 1) * m + (k - 1)];
    if (centre > 2 ** 460) {
      for (let i = 0; i < m * m; i++) M[i] *= 2 ** -460;
      e += 460;
    }
    return { M, e };
  };
  const { M, e } = power(H, n);
  let s = M[(k - 1) * m + (k - 1)];
  let exponent = e;
  for (let i = 1; i <= n; i++) {
    s = (s * i) / n;
    if (s < 2 ** -460) {
      s *= 2 ** 460;
      exponent -= 460;
    }
  }
  return Math.min(1, Math.max(0, s * 2 ** exponent));
}

/**
 * P(D_n >= x) for the one-sample two-sided KS statistic (SciPy's scipy.stats.kstwo.sf):
 * - exact closed forms near the ends (x <= 1/(2n), x <= 1/n, x >= 1 - 1/n, x >= 1/2);
 * - exact by the matrix method while k = floor(n x) + 1 <= 60;
 * - else 2 P(D+_n >= x) when n x^2 >= 2.2 (as SciPy does: the two one-sided events then almost
 *   never happen together, so the error is far below the value; p <= 0.03 there);
 * - else (large n and a small x: n > 740 and p > 0.02) Pelz and Good's expansion, as SciPy.
 * Within 1e-6 (relative) of SciPy over the fixtures and a grid of n up to 200,000.
 */
export function kolmogorovSf(x: number, n: number): number {
  if (!(n >= 1)) throw new Error(`kolmogorovSf needs n >= 1, got ${n}.`);
  if (x >= 1) return 0;
  if (x <= 0.5 / n) return 1;
  if (n === 1) return 1 - (2 * x - 1);
  const t = n * x;
  if (t <= 1) {
    // P(D_n <= x) = n! (2x - 1/n)^n for 1/(2n) <= x <= 1/n.
    const cdf = Math.exp(lnFactorial(n) + n * Math.log(2 * x - 1 / n));
    return 1 - cdf;
  }
  if (t >= n - 1) return 2 * (1 - x) ** n;
  if (x >= 0.5) return Math.min(1, 2 * smirnovSf(n, x));
  if (Math.floor(t) + 1 <= MTW_MAX_K) return Math.min(1, Math.max(0, 1 - kolmogorovCdfMTW(n, x)));
  if (t * x >= 2.2) return Math.min(1, 2 * smirnovSf(n, x));
  return Math.min(1, Math.max(0, 1 - kolmogorovCdfPelzGood(n, x)));
}

/**
 * P(D_n <= x) by Pelz and Good's (1976) expansion in 1/sqrt(n) of the Li-Chien / Korolyuk series,
 * as SciPy evaluates it for large n (scipy.stats._ksstats._kolmogn_PelzGood).
 */
export function kolmogorovCdfPelzGood(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const PI2 = Math.PI ** 2;
  const PI4 = PI2 ** 2;
  const PI6 = PI2 ** 3;
  const SQRT2PI = Math.sqrt(2 * Math.PI);
  const z = Math.sqrt(n) * x;
  const z2 = z * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const qlog = -PI2 / 8 / z2;
  if (qlog < -745) return 0;
  let q = Math.exp(qlog);
  const k1a = -z2;
  const k1b = PI2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI2) / 4;
  const k2c = (PI4 * (1 - 2 * z2)) / 16;
  const k3d = (PI6 * (5 - 30 * z2)) / 64;
  const k3c = (PI4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z ** 8;
  const K = [0, 0, 0, 0];
  const maxk = Math.ceil((16 * z) / Math.PI);
  // Horner over the odd integers m = 2k - 1: sum c_m q^(m^2).
  for (let k = maxk; k >= 1; k--) {
    const m = 2 * k - 1;
    const m2 = m * m;
    const m4 = m2 * m2;
    const m6 = m4 * m2;
    const qpower = q ** (8 * k);
    const coeffs = [1, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
    for (let i = 0; i < 4; i++) K[i] = K[i] * qpower + coeffs[i];
  }
  const divisors = [z, 6 * z4, 72 * z ** 7, 6480 * z ** 10];
  for (let i = 0; i < 4; i++) K[i] = (K[i] * q * SQRT2PI) / divisors[i];
  // The terms over all integers k: K2 gets pi^2 k^2 q^(k^2), K3 (3 pi^2 k^2 z^2 - pi^4 k^4) q^(k^2).
  q = Math.exp(-PI2 / 2 / z2);
  let k2extra = 0;
  let k3extra = 0;
  const sqrt3z = Math.sqrt(3) * z;
  for (let k = maxk; k >= 1; k--) {
    const k2 = k * k;
    const qp = q ** k2;
    const kpi = Math.PI * k;
    k2extra += k2 * qp;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qp;
  }
  K[2] += (k2extra * PI2 * SQRT2PI) / (-36 * z ** 3);
  K[3] += (k3extra * PI2 * SQRT2PI) / (216 * z6);
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += K[i] / n ** (i / 2);
  return Math.min(1, Math.max(0, sum));
}

// ---------------------------------------------------------------------------------------------
// Distributions on a grid: the window's counts against the reference's
// ---------------------------------------------------------------------------------------------

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

function total(counts: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < counts.length; i++) s += counts[i];
  return s;
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

// ---------------------------------------------------------------------------------------------
// Tests on category (or value) counts
// ---------------------------------------------------------------------------------------------

/**
 * Pearson's chi-squared goodness of fit of the window's counts to the reference's shares, as
 * Evidently's `chisquare` test does it: expected = reference count x (window total / reference
 * total), over the categories seen on either side; df = categories - 1. A category the window has
 * and the reference never had makes the statistic infinite and the p-value 0.
 */
export function chiSquared(reference: ArrayLike<number>, current: ArrayLike<number>): { statistic: number; pValue: number; df: number } {
  if (reference.length !== current.length) throw new Error('chiSquared needs counts over the same categories.');
  const n = total(reference);
  const m = total(current);
  if (n === 0 || m === 0) throw new Error('The chi-squared test needs values on both sides.');
  const k = m / n;
  let statistic = 0;
  let categories = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i];
    const c = current[i];
    if (r === 0 && c === 0) continue;
    categories++;
    const expected = r * k;
    statistic += expected === 0 ? Infinity : (c - expected) ** 2 / expected;
  }
  const df = categories - 1;
  if (df <= 0) return { statistic: 0, pValue: 1, df: 0 };
  return { statistic, pValue: statistic === Infinity ? 0 : chi2Sf(statistic, df), df };
}

/**
 * The two-proportion z-test of Evidently's `z` test (pooled variance, two-sided), for a column of
 * at most two values: `reference` and `current` count the two values. The p-value is 1 when both
 * sides hold one and the same value.
 */
export function twoProportionZ(reference: [number, number], current: [number, number]): { statistic: number; pValue: number } {
  const n1 = reference[0] + reference[1];
  const n2 = current[0] + current[1];
  if (n1 === 0 || n2 === 0) throw new Error('The z-test needs values on both sides.');
  const p1 = reference[0] / n1;
  const p2 = current[0] / n2;
  const pooled = (reference[0] + current[0]) / (n1 + n2);
  const variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2);
  if (variance === 0) return { statistic: 0, pValue: 1 };
  const z = (p1 - p2) / Math.sqrt(variance);
  return { statistic: z, pValue: normalTwoSidedP(z) };
}

function shares(counts: ArrayLike<number>): number[] {
  const t = total(counts);
  const out = new Array<number>(counts.length);
  for (let i = 0; i < counts.length; i++) out[i] = t === 0 ? 0 : counts[i] / t;
  return out;
}

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
