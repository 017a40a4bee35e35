/**
 * The pure rules behind Parquet cells (lambdas/data/parquet-cells.ts), against independent
 * references: JavaScript's Date for the calendar, every one of the 65,536 half-precision floats for
 * FLOAT16, Math.fround for FLOAT, bigint arithmetic for DECIMAL.
 */
import fc from 'fast-check';
import {
  dateText,
  decimalText,
  float16Of,
  float16Text,
  float32Text,
  roundToFloat16,
  signedBigEndian,
  timeOfDayText,
  timestampText,
} from '../lambdas/data/parquet-cells';

const DAY_MS = 86_400_000;
/** The days either side of 1970 that JavaScript's Date reaches. */
const DATE_RANGE = 100_000_000;

describe('the calendar', () => {
  test('dateText agrees with Date on every day it reaches (sampled), and at the edges', () => {
    fc.assert(
      fc.property(fc.integer({ min: -DATE_RANGE, max: DATE_RANGE }), (days) => {
        expect(dateText(days)).toBe(new Date(days * DAY_MS).toISOString().slice(0, -14));
      }),
      { numRuns: 5_000 },
    );
    for (const days of [-DATE_RANGE, -719_529, -719_528, -1, 0, 59, 60, 2_932_896, 2_932_897, DATE_RANGE])
      expect(dateText(days)).toBe(new Date(days * DAY_MS).toISOString().slice(0, -14));
  });

  test('dateText beyond Date: INT32 days reach 5.8 million years', () => {
    expect(dateText(2 ** 31 - 1)).toBe('+5881580-07-11');
    expect(dateText(-(2 ** 31))).toBe('-5877641-06-23');
  });

  test('timestampText in MILLIS is Date.toISOString, before 1970 too', () => {
    fc.assert(
      fc.property(fc.integer({ min: -8.64e15, max: 8.64e15 }), (ms) => {
        expect(timestampText(BigInt(ms), 'MILLIS')).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 5_000 },
    );
  });

  test('timestampText keeps every digit of MICROS and NANOS, on both sides of 2^52', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (nanos) => {
        const ms = nanos / 1_000_000n - (nanos % 1_000_000n < 0n ? 1n : 0n);
        const sub = nanos - ms * 1_000_000n;
        const iso = new Date(Number(ms)).toISOString();
        expect(timestampText(nanos, 'NANOS')).toBe(`${iso.slice(0, -1)}${String(sub).padStart(6, '0')}Z`);
      }),
      { numRuns: 5_000 },
    );
    expect(timestampText(2n ** 52n, 'MICROS')).toBe('2112-09-17T23:53:47.370496Z');
    expect(timestampText(2n ** 52n + 1n, 'MICROS')).toBe('2112-09-17T23:53:47.370497Z');
    expect(timestampText(-(2n ** 52n) - 1n, 'MICROS')).toBe('1827-04-16T00:06:12.629503Z');
  });

  test('timeOfDayText: HH:MM:SS with the unit’s digits; a count outside a day as it is', () => {
    expect(timeOfDayText(0, 'MILLIS')).toBe('00:00:00.000');
    expect(timeOfDayText(86_399_999_999n, 'MICROS')).toBe('23:59:59.999999');
    expect(timeOfDayText(86_400_000, 'MILLIS')).toBe('86400000');
    expect(timeOfDayText(-1n, 'NANOS')).toBe('-1');
  });
});

describe('numbers', () => {
  test('decimalText: exact, with scale digits after the point', () => {
    expect(decimalText(12_345n, 2)).toBe('123.45');
    expect(decimalText(-1n, 2)).toBe('-0.01');
    expect(decimalText(0n, 3)).toBe('0.000');
    expect(decimalText(150n, 2)).toBe('1.50');
    expect(decimalText(42n, 0)).toBe('42');
    expect(decimalText(-(10n ** 38n) + 1n, 38)).toBe(`-0.${'9'.repeat(38)}`);
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }), fc.integer({ min: 0, max: 40 }), (unscaled, scale) => {
        const text = decimalText(unscaled, scale);
        const [whole, fraction = ''] = text.replace('-', '').split('.');
        expect(fraction).toHaveLength(scale);
        expect(BigInt(whole + fraction) * (text.startsWith('-') ? -1n : 1n)).toBe(unscaled);
      }),
    );
  });

  test('signedBigEndian: two’s complement of any width', () => {
    expect(signedBigEndian(new Uint8Array([]))).toBe(0n);
    expect(signedBigEndian(new Uint8Array([0xff]))).toBe(-1n);
    expect(signedBigEndian(new Uint8Array([0x00, 0x80]))).toBe(128n);
    expect(signedBigEndian(new Uint8Array([0x80, 0x00]))).toBe(-32_768n);
    expect(signedBigEndian(new Uint8Array(16).fill(0xff))).toBe(-1n);
  });

  test('float16Text: every half-precision value, read back, is the same half', () => {
    const bytes = new Uint8Array(2);
    for (let bits = 0; bits < 0x10000; bits++) {
      bytes[0] = bits & 0xff;
      bytes[1] = bits >> 8;
      const value = float16Of(bytes);
      const text = float16Text(value);
      if (Number.isNaN(value)) expect(text).toBe('NaN');
      else expect(roundToFloat16(Number(text))).toBe(value === 0 ? 0 : value); // -0 is written 0
    }
    expect(float16Text(float16Of(new Uint8Array([0x66, 0x2e])))).toBe('0.1');
  });

  test('roundToFloat16: to nearest, ties to even, overflow to infinity', () => {
    expect(roundToFloat16(1 + 2 ** -11)).toBe(1); // a tie: to the even neighbour
    expect(roundToFloat16(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(roundToFloat16(65519)).toBe(65504);
    expect(roundToFloat16(65520)).toBe(Infinity);
    expect(roundToFloat16(2 ** -25)).toBe(0); // half the smallest subnormal: a tie, to even (0)
    expect(roundToFloat16(2 ** -25 * 1.5)).toBe(2 ** -24);
  });

  test('float32Text: the shortest decimal that reads back as the same 32-bit float', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (value) => {
        const text = float32Text(value);
        expect(Math.fround(Number(text))).toBe(value === 0 ? 0 : value); // -0 is written 0
        // No shorter decimal would do.
        const digits = text.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').length;
        if (digits > 1 && Number.isFinite(value) && !Number.isInteger(value))
          expect(Math.fround(Number(value.toPrecision(digits - 1)))).not.toBe(value);
      }),
      { numRuns: 5_000 },
    );
    expect(float32Text(Math.fround(0.1))).toBe('0.1');
    expect(float32Text(Math.fround(3.4e38))).toBe('3.4e+38');
  });
});
