/**
 * mulberry32: a small, fast, seeded pseudo-random generator. Quality enough for generated data and
 * for choosing rows to sample, and reproducible from its seed, so a retried task draws the same.
 * Not for anything secret.
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
