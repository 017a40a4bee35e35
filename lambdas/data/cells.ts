/** One cell of a table, as text: blank or not, a number, a class label, a time. */
import { parseIsoDateTime } from '../shared/datetime';
import { plainDecimal } from './readers/csv-tokenizer';

/** The same grammar as the trainer's: ints, decimals, exponents; no hex, no NaN, no inf. */
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const NON_FINITE = /^[+-]?(?:nan|inf|infinity)$/i;
/** Letters of the radix prefixes Number() accepts and the number grammar does not. */
const RADIX = /[xXbBoO]/;

export function isBlank(cell: string): boolean {
  if (cell.length === 0) return true;
  // Fast path: a printable ASCII first character.
  const c = cell.charCodeAt(0);
  if (c > 0x20 && c < 0x7f) return false;
  return cell.trim().length === 0;
}

/** The cell as a number: finite, Infinity for a non-finite spelling (NaN, inf, 1e999), NaN for text. */
export function readNumber(cell: string): number {
  // Fastest path: a plain decimal, read in place exactly as Number() reads it.
  const plain = plainDecimal(cell, 0, cell.length);
  if (plain === plain) return plain;
  // Text: a first letter that no number or non-finite spelling (inf, nan) starts with.
  const lower = cell.charCodeAt(0) | 0x20;
  if (lower >= 0x61 && lower <= 0x7a && lower !== 0x69 && lower !== 0x6e) return NaN;
  // Fast path: Number() reads the same grammar (surrounding whitespace allowed), except that it
  // also takes hex, binary and octal literals (0x1f, 0b1, 0o7), which the trainer does not.
  const fast = Number(cell);
  // (Only a cell starting with 0 or whitespace can be one.)
  if (Number.isFinite(fast)) {
    const c = cell.charCodeAt(0);
    if ((c > 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || !RADIX.test(cell)) return fast;
  }
  const text = cell.trim();
  if (NUMBER.test(text)) {
    const value = Number(text);
    return Number.isFinite(value) ? value : Infinity;
  }
  return NON_FINITE.test(text) ? Infinity : NaN;
}

/** A class label for a number: integers without a decimal point ('1', not '1.0'). */
export function numberLabel(value: number): string {
  return Number.isInteger(value) && Math.abs(value) < 1e21 ? value.toFixed(0) : String(value);
}

/**
 * A time cell as a number: a number as it is (epoch seconds or milliseconds, a day index...), an
 * ISO 8601 date or date-time as epoch milliseconds, in UTC when it names no zone (so that a time
 * means the same on every machine). Undefined for anything else.
 */
export function readTime(cell: string): number | undefined {
  const text = cell.trim();
  const number = readNumber(text);
  if (Number.isFinite(number)) return number;
  // The one reader of ISO 8601 the features use too (lambdas/shared/datetime.ts).
  return parseIsoDateTime(text)?.instant;
}
