/**
 * String(x) for a float32 value x (a double that a Float32Array held), written as ASCII bytes
 * without making the string, for x in [2^-9, 1): most of a classifier's probabilities. The bytes
 * are exactly String's (ECMAScript Number::toString: the shortest decimal that reads back as the
 * same double, the nearer of two, the even one on a tie), which the API answers and batch output
 * keeps. Every float32 of the range (75,497,472 of them) was compared with String when this was
 * written, with no difference; test/batch-float32-text.test.ts compares every 101st, the range's
 * edges and its powers of two. Any other x is left to the caller (writeFloat32Text answers false).
 *
 * Why: String of a float32 as a double costs about 125 ns here, twice per row of a two-class
 * model, about a sixth of batch scoring's time per row (bench/README.md, batch); this, with the
 * copy into the output, about half of String alone. A float32 has only 24 significant bits:
 * x = m / 2^k exactly (m < 2^24, 24 <= k <= 32), so its decimal digits are those of the integer
 * N = m * 5^k, which four multiplications in base 10^7 give exactly.
 *
 * The digits kept: a double's neighbours are half a unit in the last place away, 2^-(k+30) (a
 * quarter below a power of two), which is 5^k / 2^30 units of 10^-k. Cutting the last d digits of
 * N off (rounding down) or adding one to what is left (rounding up) reads back as x when it moves
 * N by at most that much. The largest such d gives the shortest spelling; as the half-unit is
 * never a whole number of those units, no candidate lies exactly on the boundary. (Over this
 * range two of the rules below never decide a value, by the same comparison: the closer lower
 * neighbour of the 9 powers of two, and rounding up past the 14th digit. They are kept because
 * they are the rule, which a wider range would need.)
 */
import type { OutputBytes } from './output-bytes';

/** x < 1 as a normal float32: x = m / 2^k with m in [2^23, 2^24) and k >= 24. */
const MIN_K = 24;
/** x >= 2^-9: N < 4e29, so floor(N / 10^14) is under 2^53 and exact as a double. */
const MAX_K = 32;
const BASE = 1e7;
const SMALLEST_M = 0x800000;

/** 10^i, exact as doubles for i <= 22. */
const POW10 = Float64Array.from({ length: 23 }, (_, i) => Number(10n ** BigInt(i)));
/** 10^i for i <= 9, as int32s: remainders of a limb stay integer operations (a double's is a call). */
const INT_POW10 = Int32Array.from({ length: 10 }, (_, i) => 10 ** i);

/** For each k: 5^k in base 10^7 (least significant limb first), and the half-unit in units of 10^-k. */
interface Scale {
  readonly limbs: Float64Array;
  /** floor(5^k / 2^30): how far N may move (an integer move is within it when at most this). */
  readonly half: number;
  /** floor(5^k / 2^31): the same below a power of two, whose lower neighbour is closer. */
  readonly halfBelow: number;
  /** The largest d with 10^d <= half (and halfBelow): cutting that many digits always reads back. */
  readonly first: number;
  readonly firstBelow: number;
}

const SCALES: Scale[] = [];
for (let k = MIN_K; k <= MAX_K; k++) {
  const five = 5n ** BigInt(k);
  const limbs = new Float64Array(4);
  for (let i = 0, rest = five; i < 4; i++, rest /= 10_000_000n) limbs[i] = Number(rest % 10_000_000n);
  const half = five >> 30n;
  const halfBelow = five >> 31n;
  SCALES.push({
    limbs,
    half: Number(half),
    halfBelow: Number(halfBelow),
    first: half.toString().length - 1,
    firstBelow: halfBelow.toString().length - 1,
  });
}

const F32 = new Float32Array(1);
const BITS = new Uint32Array(F32.buffer);

/** N in base 10^7 for the value being written, least significant limb first (N < 4e29: 5 limbs). */
const N = new Int32Array(5);

/** N mod 10^d, for d <= 14 (exact: under 10^14). */
function lowDigits(d: number): number {
  return d <= 7 ? N[0] % INT_POW10[d] : (N[1] % INT_POW10[d - 7]) * BASE + N[0];
}

/** floor(N / 10^14) mod 10^e, for 1 <= e <= 17 (exact: under 2^53). */
function highDigits(e: number): number {
  if (e <= 7) return N[2] % INT_POW10[e];
  if (e <= 14) return (N[3] % INT_POW10[e - 7]) * BASE + N[2];
  return (N[4] % INT_POW10[e - 14]) * 1e14 + N[3] * BASE + N[2];
}

/** What fits at d digits cut: DOWN when cutting them off (rounding down) moves N by at most
 * `below`, UP when rounding up does by at most `above`, both, or NONE. */
const NONE = 0;
const DOWN = 1;
const UP = 2;
function fitsAt(d: number, below: number, above: number): number {
  if (d <= 14) {
    const rest = lowDigits(d);
    return (rest <= below ? DOWN : NONE) | (POW10[d] - rest <= above ? UP : NONE);
  }
  // below and above are under 10^14: the digits from the 15th on must be all 0 (down) or all 9 (up).
  const high = highDigits(d - 14);
  const low = N[1] * BASE + N[0];
  if (high === 0) return low <= below ? DOWN : NONE;
  return high === POW10[d - 14] - 1 && 1e14 - low <= above ? UP : NONE;
}

/**
 * Write String(x) to `out` when x is a float32 value in [2^-9, 1) and answer true; otherwise
 * write nothing and answer false.
 */
export function writeFloat32Text(out: OutputBytes, x: number): boolean {
  F32[0] = x;
  const bits = BITS[0];
  // A negative x has the sign bit: its k is far below MIN_K. NaN fails the comparison.
  const k = 150 - (bits >>> 23);
  if (k < MIN_K || k > MAX_K || F32[0] !== x) return false;
  const m = (bits & 0x7fffff) | SMALLEST_M;
  const scale = SCALES[k - MIN_K];
  const five = scale.limbs;
  // N = m * 5^k: each product is under 2^24 * 10^7 (exact). The carry is found by multiplying
  // by 10^-7, which may be 1 off, then corrected (a division here is the slowest step).
  let carry = 0;
  for (let i = 0; i < 4; i++) {
    const v = m * five[i] + carry;
    carry = Math.floor(v * 1e-7);
    let limb = v - carry * BASE;
    if (limb < 0) {
      carry--;
      limb += BASE;
    } else if (limb >= BASE) {
      carry++;
      limb -= BASE;
    }
    N[i] = limb;
  }
  N[4] = carry;

  const power2 = m === SMALLEST_M;
  const below = power2 ? scale.halfBelow : scale.half;
  const above = scale.half;
  // The digits that may be cut: from what always fits (rounding down, at least), as many more
  // as still fit (k - 1 at most: x is not a whole number).
  let d = power2 ? scale.firstBelow : scale.first;
  let fits = fitsAt(d, below, above);
  while (d + 1 < k) {
    const next = fitsAt(d + 1, below, above);
    if (next === NONE) break;
    d++;
    fits = next;
  }
  let up = fits === UP;
  if (fits === (DOWN | UP)) {
    // Both read back (only when 10^d <= 2 * half < 10^14): the nearer; on a tie, the even one.
    const rest = lowDigits(d);
    const toUp = POW10[d] - rest;
    up = toUp < rest || (toUp === rest && isOddKept(d));
  }

  // The text, straight into the output: "0.", then N's digits at positions k - 1 down to d
  // (N < 10^k, as x < 1: the leading ones may be 0). Position p (from the right) is at index
  // 2 + k - 1 - p from where the text starts.
  const length = 2 + k - d;
  const bytes = out.reserve(length);
  const start = out.length;
  const units = start + k + 1;
  bytes[start] = 0x30;
  bytes[start + 1] = 0x2e;
  for (let limb = 0; limb < 5; limb++) {
    const from = limb * 7;
    if (from + 7 <= d || from >= k) continue;
    let value = N[limb];
    let position = from;
    if (position < d) {
      value = (value / INT_POW10[d - position]) | 0;
      position = d;
    }
    const end = Math.min(from + 7, k);
    for (; position < end; position++) {
      const next = (value / 10) | 0;
      bytes[units - position] = 0x30 + value - next * 10;
      value = next;
    }
  }
  if (up) {
    let at = start + length - 1;
    while (at > start + 1 && bytes[at] === 0x39) bytes[at--] = 0x30;
    // x would round up to 1 (not for a float32 under 1, whose neighbours are closer): String.
    // Nothing is written: `length` has not moved.
    if (at === start + 1) return false;
    bytes[at]++;
  }
  // No trailing 0 can be left (cutting one more digit would have fit), but never write one.
  let end = start + length;
  while (bytes[end - 1] === 0x30) end--;
  out.length = end;
  return true;
}

/** Whether the digit kept last (at position d of N, before rounding) is odd. */
function isOddKept(d: number): boolean {
  const limb = Math.floor(d / 7);
  return ((N[limb] / INT_POW10[d - limb * 7]) | 0) % 2 === 1;
}
