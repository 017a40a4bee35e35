/**
 * MurmurHash3's 32-bit finalizer (fmix32): every input bit reaches every output bit, so a hash
 * that mixes weakly as it goes (FNV-1a in ./profile.ts) or a MurmurHash3 body (./split-hash.ts)
 * ends well spread in its high bits too.
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
