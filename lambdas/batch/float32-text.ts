/**
 * String(x) for a float32 value x (a double that a Float32Array held), written as ASCII bytes
 * without making the string, for x in [2^-9, 1): most of a classifier's probabilities. The bytes
 * are exactly String's (ECMAScript Number::toString: the shortest decimal that reads back as the
 * same double, the nearer of two, the even one on a tie), which the API answers and batch output
 * keeps. Every float32 of the range (75,497,472 of them) was compared with String when this was
 * written and again after each change of method, with no difference;
 * test/batch-float32-text.test.ts compares every 101st, the range's edges and its powers of two.
 * Any other x is left to the caller (writeFloat32At answers false).
 *
 * Why: String of a float32 as a double, with the copy into the output, costs about 155 ns here,
 * twice per row of a two-class model, a large part of batch scoring's time per row
 * (bench/README.md, batch); this costs about 48 (1M real model probabilities, one core; the
 * method before this one, which wrote N = m * 5^k, about 82), and leaves no garbage (see
 * writeFloat32At and POW10).
 *
 * The digits: a float32 has only 24 significant bits, x = m / 2^k exactly (m < 2^24,
 * 24 <= k <= 32), so M = x * 10^32 = m * 5^k * 10^(32-k) is an integer under 10^32, which four
 * multiplications in base 10^7 give exactly. Scaling to 10^32 rather than writing N = m * 5^k
 * puts every decimal place at the same digit of M whatever k is (the first place after the point
 * is M's digit 31), so the digits are written at fixed places of the output with no branch on k.
 * Branches on the value mispredict, as values come in no order: the method before spent about a
 * fifth of its time on them (82 ns per value on real values against 65 on one value repeated;
 * this one 51 against 44), so the cut and the rounding below are decided by arithmetic where
 * either way is likely.
 *
 * The digits kept: a double's neighbours are half a unit in the last place away, 2^-(k+30) (a
 * quarter below a power of two), which is half = 5^k * 10^(32-k) / 2^30 units of M. Cutting the
 * last d digits of M off (rounding down) or adding one to what is left (rounding up) reads back as
 * x when it moves M by at most that much. The largest such d gives the shortest spelling; as the
 * half-unit (5^32 / 2^(k-2)) is never a whole number of M's units, no candidate lies exactly on the
 * boundary. Cutting `first` digits (10^first <= half) always fits rounding down; one more is
 * decided by numbers (what is cut is under 10^16 and a multiple of 10^(32-k), so exact as a
 * double); past that, as 10^d > half, only a run of 0s (down) or of 9s (up) can be cut. (Over this
 * range the closer lower neighbour of the 9 powers of two never decides a value; it is kept because
 * it is the rule, which a wider range would need.)
 */
import type { OutputBytes } from './output-bytes';

/** x < 1 as a normal float32: x = m / 2^k with m in [2^23, 2^24) and k >= 24. */
const MIN_K = 24;
/** x >= 2^-9: half stays under 2^53, and every cut starts at 13 digits or more (FIRST_BELOW). */
const MAX_K = 32;
const BASE = 1e7;
const SMALLEST_M = 0x800000;
/** The output is "0." and M's digits 31 down to the cut: at most 2 + 32 bytes. */
const MAX_LENGTH = 34;

/**
 * 10^i for every cut d (up to 31) and d + 1: exact as doubles for i <= 22, which is all that
 * decides a value (a cut of more than 16 digits fits one way only: see the end of
 * writeFloat32At). Why past 22 at all: a typed array read past its end deoptimizes the function,
 * and V8 then compiles it again with reads that may answer undefined, whose arithmetic boxes a
 * heap number per call (about 100 bytes of garbage per value, measured).
 */
const POW10 = Float64Array.from({ length: 33 }, (_, i) => Number(10n ** BigInt(i)));
/** PLUS14[d]: 10^14 where the search starts at d = 15 (digit 14 is then among those cut), else 0. */
const PLUS14 = new Float64Array(32);
PLUS14[15] = 1e14;

/**
 * Per scale (index k - MIN_K), in typed arrays rather than objects (one load each): 5^k * 10^(32-k)
 * in base 10^7, least significant limb first (under 10^25: four limbs), and the half-unit in units
 * of M (floor: M moves by whole units), all exact doubles (under 2^53).
 */
const SCALES = MAX_K - MIN_K + 1;
const SCALE_LIMBS = new Float64Array(4 * SCALES);
/** floor(half): how far M may move (a move is within the half-unit when at most this). */
const HALF = new Float64Array(SCALES);
/** floor(half / 2): the same below a power of two, whose lower neighbour is closer. */
const HALF_BELOW = new Float64Array(SCALES);
/** The largest d with 10^d <= HALF (and HALF_BELOW): cutting that many digits always reads back. */
const FIRST = new Int32Array(SCALES);
const FIRST_BELOW = new Int32Array(SCALES);
for (let k = MIN_K; k <= MAX_K; k++) {
  const s = k - MIN_K;
  const scale = 5n ** BigInt(k) * 10n ** BigInt(32 - k);
  for (let i = 0, rest = scale; i < 4; i++, rest /= 10_000_000n) SCALE_LIMBS[4 * s + i] = Number(rest % 10_000_000n);
  const half = scale >> 30n;
  const halfBelow = scale >> 31n;
  HALF[s] = Number(half);
  HALF_BELOW[s] = Number(halfBelow);
  FIRST[s] = half.toString().length - 1;
  FIRST_BELOW[s] = halfBelow.toString().length - 1;
}

/**
 * The three ASCII digits of i < 1000, first digit in the low byte: a limb's 7 digits are two
 * lookups and one digit, with two divisions by constants (V8 makes them multiplications) instead
 * of one per digit or pair. 4 KB, against 40 KB for four digits (which measured about 3 ns faster
 * per value, but in batch scoring shares the cache with everything else).
 */
const TRIPLES = new Uint32Array(1000);
for (let i = 0; i < 1000; i++) {
  const text = String(i).padStart(3, '0');
  TRIPLES[i] = text.charCodeAt(0) | (text.charCodeAt(1) << 8) | (text.charCodeAt(2) << 16);
}

const F32 = new Float32Array(1);
const BITS = new Uint32Array(F32.buffer);

/** What fits at a cut: DOWN when rounding down reads back, UP when rounding up does, or both. */
const NONE = 0;
const DOWN = 1;
const UP = 2;

/** The 7 digits of limb v < 10^7, its least significant at bytes[at], the others before it. */
function write7(bytes: Uint8Array, at: number, v: number): void {
  const top = (v / 1_000_000) | 0;
  const rest = (v - top * 1_000_000) | 0;
  const high = (rest / 1000) | 0;
  const low = TRIPLES[(rest - high * 1000) | 0];
  const mid = TRIPLES[high];
  bytes[at] = low >>> 16;
  bytes[at - 1] = (low >>> 8) & 0xff;
  bytes[at - 2] = low & 0xff;
  bytes[at - 3] = mid >>> 16;
  bytes[at - 4] = (mid >>> 8) & 0xff;
  bytes[at - 5] = mid & 0xff;
  bytes[at - 6] = 0x30 + top;
}

/** The 4 digits of v < 10^4, the same way. */
function write4(bytes: Uint8Array, at: number, v: number): void {
  const top = (v / 1000) | 0;
  const low = TRIPLES[(v - top * 1000) | 0];
  bytes[at] = low >>> 16;
  bytes[at - 1] = (low >>> 8) & 0xff;
  bytes[at - 2] = low & 0xff;
  bytes[at - 3] = 0x30 + top;
}

/**
 * Write String(values[i]) to `out` when values[i] is in [2^-9, 1) and answer true; otherwise write
 * nothing and answer false. Why a Float32Array and an index, not the number: a double
 * passed to a function that is not inlined (this one is too large to be) is boxed, a heap number
 * per call, which was most of what batch scoring left to the garbage collector per row; an index
 * is a small integer and the value is read here, unboxed.
 */
export function writeFloat32At(out: OutputBytes, values: Float32Array, i: number): boolean {
  const x = values[i];
  F32[0] = x;
  const bits = BITS[0];
  // A negative x has the sign bit: its k is far below MIN_K, as is that of NaN and the infinities.
  const k = 150 - (bits >>> 23);
  if (k < MIN_K || k > MAX_K) return false;
  const m = (bits & 0x7fffff) | SMALLEST_M;
  const s = k - MIN_K;

  // M = m * scale in base 10^7. Each product is under 2^24 * 10^7 (exact). Each is split into
  // limb and carry on its own (the four overlap), then the carries (at most 2 each) added with
  // divisions by a constant: a carry through each product's floor chains four floors.
  // floor(p * 10^-7 + 0.5 * 10^-7) is floor(p / 10^7) for an integer p < 2^48: the product's error
  // (under 2^-27) is less than the 0.5 * 10^-7 added, which is less than any fraction p / 10^7 has
  // (a multiple of 10^-7).
  const f = 4 * s;
  const p0 = m * SCALE_LIMBS[f];
  const p1 = m * SCALE_LIMBS[f + 1];
  const p2 = m * SCALE_LIMBS[f + 2];
  const p3 = m * SCALE_LIMBS[f + 3];
  const h0 = Math.floor(p0 * 1e-7 + 5e-8);
  const h1 = Math.floor(p1 * 1e-7 + 5e-8);
  const h2 = Math.floor(p2 * 1e-7 + 5e-8);
  const h3 = Math.floor(p3 * 1e-7 + 5e-8);
  const n0 = (p0 - h0 * BASE) | 0;
  let sum = (p1 - h1 * BASE + h0) | 0;
  let carry = (sum / BASE) | 0;
  const n1 = (sum - carry * BASE) | 0;
  sum = (p2 - h2 * BASE + h1 + carry) | 0;
  carry = (sum / BASE) | 0;
  const n2 = (sum - carry * BASE) | 0;
  sum = (p3 - h3 * BASE + h2 + carry) | 0;
  carry = (sum / BASE) | 0;
  const n3 = (sum - carry * BASE) | 0;
  const n4 = (h3 + carry) | 0; // M < 10^32: digits 28 to 31

  // "0." and M's digits 31 down to 14, straight into the output: digit p at units - p. The search
  // never cuts fewer than 13 digits (FIRST_BELOW >= 13), and the last 14 digits are needed as
  // text only where it starts at 13 (k >= 29: rare among probabilities).
  const bytes = out.reserve(MAX_LENGTH);
  const start = out.length;
  const units = start + 33;
  bytes[start] = 0x30;
  bytes[start + 1] = 0x2e;
  write4(bytes, units - 28, n4);
  write7(bytes, units - 21, n3);
  write7(bytes, units - 14, n2);

  const power2 = m === SMALLEST_M;
  const above = HALF[s];
  const below = power2 ? HALF_BELOW[s] : above;
  const first = FIRST[s];
  // d: the digits cut, from what always fits rounding down; rest = M mod 10^d (exact: under 10^16
  // and a multiple of 10^(32-k)); fits: what fits at d.
  let d = power2 ? FIRST_BELOW[s] : first;
  let rest = n1 * BASE + n0 + (bytes[units - 14] - 0x30) * PLUS14[d];
  if (d === 13) {
    write7(bytes, units - 7, n1);
    rest -= (bytes[units - 13] - 0x30) * 1e13;
  }
  let fits = POW10[d] - rest <= above ? DOWN | UP : DOWN;
  // Below `first` (a power of two only): one digit at a time while something fits.
  while (d < first) {
    const r = rest + (bytes[units - d] - 0x30) * POW10[d];
    const next = (r <= below ? DOWN : NONE) | (POW10[d + 1] - r <= above ? UP : NONE);
    if (next === NONE) break;
    rest = r;
    fits = next;
    d++;
  }
  // The digit at `first`: whether it can be cut is as likely as not, so it is decided by
  // arithmetic rather than a branch.
  if (d === first) {
    const r = rest + (bytes[units - d] - 0x30) * POW10[d];
    const next = +(r <= below) | (+(POW10[d + 1] - r <= above) << 1);
    const grow = +(next !== NONE);
    d += grow;
    fits += grow * (next - fits);
    rest += grow * (r - rest);
  }
  // Past `first`, 10^d > half: a further digit is cut only when it is 0 (and rounding down fits)
  // or 9 (and rounding up fits), keeping at least one digit (x is not a whole number). The digit is
  // compared first: it is rarely 0 or 9, so these branches predict well.
  while (bytes[units - d] === 0x30 && fits !== UP && d > first && d < 31) {
    d++;
    fits = DOWN;
  }
  while (bytes[units - d] === 0x39 && fits !== DOWN && d > first && d < 31) {
    d++;
    fits = UP;
  }

  // Up or down, again by arithmetic: when both fit (only when 10^d <= 2 * half, so rest is
  // current), the nearer; on a tie, the one that leaves the last digit even.
  const toUp = POW10[d] - rest;
  const nearerUp = +(toUp < rest) | (+(toUp === rest) & bytes[units - d] & 1);
  const up = (fits >> 1) & (((fits & 1) ^ 1) | nearerUp);
  const last = units - d;
  bytes[last] += up;
  if (bytes[last] === 0x3a) {
    // A 9 rounded up: carry to the left.
    let at = last;
    while (at > start + 1 && bytes[at] === 0x3a) {
      bytes[at--] = 0x30;
      bytes[at]++;
    }
    // x would round up to 1 (not for a float32 under 1, whose neighbours are closer): String.
    // Nothing is written: `length` has not moved.
    if (at === start + 1) return false;
  }
  // No trailing 0 can be left (cutting one more digit would have fit), but never write one.
  let end = last + 1;
  while (bytes[end - 1] === 0x30) end--;
  out.length = end;
  return true;
}
