/**
 * The Kolmogorov-Smirnov distributions: the two-sample p-value as SciPy's ks_2samp(method='auto')
 * computes it (exact lattice-path counting up to 10,000 values a side, else the one-sample
 * distribution), and the one-sample distribution itself (Birnbaum-Tingey, Marsaglia-Tsang-Wang,
 * Pelz-Good). Pure functions; checked against SciPy by test/drift-stats.test.ts.
 */
import { lnFactorial, TINY } from './special';

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
