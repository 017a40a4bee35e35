/**
 * writeFloat32At (lambdas/batch/float32-text.ts) against String, which batch output must match
 * byte for byte: on a dense sample of every float32 it takes (every 101st bit pattern of
 * [2^-9, 1), from each end), on random bit patterns of any kind (where it must decline and write
 * nothing, or match), and on the cases its rounding turns on (powers of two, whose lower neighbour
 * is closer; the two ends of the range; values with short spellings).
 */
import { writeFloat32At } from '../lambdas/batch/float32-text';
import { OutputBytes } from '../lambdas/batch/output-bytes';
import { prng } from '../lambdas/shared/prng';

const F32 = new Float32Array(1);
const BITS = new Uint32Array(F32.buffer);
const floatOf = (bits: number): number => {
  BITS[0] = bits;
  return F32[0];
};
/** 2^-9 and 1 as float32 bit patterns: the range written. */
const LOW = 0x3b000000;
const ONE = 0x3f800000;

/** The mismatches of writeFloat32At with String over the float32s of `bits` (at most 5 kept), and how many it wrote. */
function compare(bits: Iterable<number>): { written: number; declined: number; wrong: string[] } {
  const out = new OutputBytes();
  let written = 0;
  let declined = 0;
  const wrong: string[] = [];
  // Compared a block of lines at a time (a take() per value would allocate a buffer per value).
  let expected: string[] = [];
  let patterns: number[] = [];
  const check = (): void => {
    const lines = out.take().toString('latin1').split('\n').slice(0, -1);
    for (let i = 0; i < expected.length && wrong.length < 5; i++)
      if (lines[i] !== expected[i]) wrong.push(`0x${patterns[i].toString(16)}: ${lines[i]}, String gives ${expected[i]}`);
    if (lines.length !== expected.length && wrong.length < 5) wrong.push(`${lines.length} lines written for ${expected.length} values`);
    expected = [];
    patterns = [];
  };
  for (const b of bits) {
    const x = floatOf(b);
    const before = out.length;
    if (!writeFloat32At(out, F32, 0)) {
      declined++;
      if (out.length !== before && wrong.length < 5) wrong.push(`0x${b.toString(16)}: declined but wrote ${out.length - before} bytes`);
      continue;
    }
    written++;
    out.byte(0x0a);
    expected.push(String(x));
    patterns.push(b);
    if (expected.length === 10_000) check();
  }
  check();
  return { written, declined, wrong };
}

function* stride(from: number, to: number, step: number): Generator<number> {
  for (let b = from; b < to; b += step) yield b;
}

describe('writeFloat32At', () => {
  test('writes what String writes for every 101st float32 of [2^-9, 1)', () => {
    const result = compare(stride(LOW, ONE, 101));
    expect(result.wrong).toEqual([]);
    expect(result.declined).toBe(0);
    expect(result.written).toBe(Math.ceil((ONE - LOW) / 101));
  });

  test('and for the cases its rounding turns on', () => {
    const cases: number[] = [];
    // Powers of two (the lower neighbour is half as far) and their neighbours; both ends.
    for (let e = 0x76; e <= 0x7e; e++) cases.push(e << 23, (e << 23) + 1, (e << 23) - 1, (e << 23) | 0x7fffff);
    for (const x of [0.5, 0.1, 0.2, 0.3, 0.25, 0.75, 0.999, 0.001953125, 0.002, 0.9999999403953552, 1 / 3, 2 / 3]) {
      F32[0] = x;
      cases.push(BITS[0]);
    }
    const result = compare(cases);
    expect(result.wrong).toEqual([]);
    expect(result.written).toBeGreaterThan(40);
  });

  test('declines, writing nothing, outside the range; matches String inside', () => {
    const random = prng(17);
    const bits = Array.from({ length: 200_000 }, () => Math.floor(random() * 2 ** 32));
    const result = compare(bits);
    expect(result.wrong).toEqual([]);
    // About 9 exponents of 512 (both signs) fall in the range.
    expect(result.written).toBeGreaterThan(2000);
    expect(result.declined).toBeGreaterThan(190_000);
  });

  test('reads the value at its index: the same bytes, and declines NaN of either sign, the infinities and the rest', () => {
    const values = new Float32Array([0.75, 0.1, 2 ** -9, NaN, Infinity, -Infinity, -0.5, 1, 0, -0, 1.5, 2 ** -10, 1e-30]);
    // A negative NaN's bits (sign bit set), which a JavaScript NaN need not carry.
    new Uint32Array(values.buffer)[values.length - 1] = 0xffc00000;
    const out = new OutputBytes();
    for (let i = 0; i < 3; i++) {
      expect(writeFloat32At(out, values, i)).toBe(true);
      out.byte(0x20);
    }
    expect(out.take().toString('latin1')).toBe(`${values[0]} ${values[1]} ${values[2]} `);
    for (let i = 3; i < values.length; i++) expect({ i, written: writeFloat32At(out, values, i) }).toEqual({ i, written: false });
    expect(out.length).toBe(0);
  });
});
