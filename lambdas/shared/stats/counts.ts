/**
 * Sums and shares of count vectors: the small arithmetic every test on counts (hypothesis tests,
 * divergences, the grid statistics) starts from.
 */

/** The sum of the counts, added in order. */
export function total(counts: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < counts.length; i++) s += counts[i];
  return s;
}

/** Each count's share of the total; all 0 when the total is 0. */
export function shares(counts: ArrayLike<number>): number[] {
  const t = total(counts);
  const out = new Array<number>(counts.length);
  for (let i = 0; i < counts.length; i++) out[i] = t === 0 ? 0 : counts[i] / t;
  return out;
}
