/**
 * The special functions the drift tests' p-values rest on: ln Γ, the regularized incomplete gamma
 * function, and through it the chi-squared and the two-sided normal tails. Pure functions; checked
 * against SciPy by test/drift-stats.test.ts (fixtures in test/fixtures/drift/special.json).
 */

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

/** A floor for values about to be divided by or logged, far below any probability the tests report. */
export const TINY = 1e-300;

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

/** ln(n!) */
export function lnFactorial(n: number): number {
  return lnGamma(n + 1);
}
