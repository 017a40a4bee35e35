/**
 * Hypothesis tests on category (or value) counts, as Evidently's default tests run them: Pearson's
 * chi-squared goodness of fit and the two-proportion z-test. (The Kolmogorov-Smirnov p-value is in
 * kolmogorov.ts.) Checked against SciPy by test/drift-stats.test.ts.
 */
import { total } from './counts';
import { chi2Sf, normalTwoSidedP } from './special';

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
