/**
 * Parquet values as cells: one rule per physical and logical type, so that a Parquet column gives
 * the text a CSV export of the same table would hold, exactly.
 *
 * hyparquet is asked for physical values only (physicalElement: every annotation but text is taken
 * off before it decodes), because its own conversions lose information: DECIMAL becomes a float64
 * (a 30-digit decimal is rounded), TIMESTAMP a Date (micro- and nanoseconds cut, and cut toward
 * zero, so a time before 1970 moves forward a millisecond), DATE a midnight Date. The rules here
 * work from the physical value and the column's annotations (parquetCellOf):
 *
 *   BOOLEAN                        true / false
 *   INT32, INT64 (signed)          the integer in full (an INT64 beyond 2^53 too: a bigint)
 *   UINT_8..UINT_64, INTEGER(unsigned)  the unsigned integer in full
 *   FLOAT                          the shortest decimal that reads back as the same 32-bit float (0.1,
 *                                  3.4e+38), as numpy prints it
 *   DOUBLE                         JavaScript's shortest round-trip form; NaN and Infinity spelled so
 *   FLOAT16                        the shortest decimal that reads back as the same 16-bit float (65500
 *                                  for the largest, 65504)
 *   DECIMAL (INT32, INT64, FIXED_LEN_BYTE_ARRAY, BYTE_ARRAY)  the exact decimal, with `scale` digits
 *                                  after the point (1.50 for 150 at scale 2)
 *   DATE                           YYYY-MM-DD
 *   TIMESTAMP (MILLIS, MICROS, NANOS; UTC-adjusted or not), INT96 (legacy)
 *                                  ISO 8601 in UTC with the unit's digits: 2001-01-01T00:01:00.000Z
 *                                  (.000000Z for MICROS, .000000000Z for NANOS and INT96). A timestamp
 *                                  not adjusted to UTC (a wall-clock time) is written as if it were UTC.
 *   TIME (MILLIS, MICROS, NANOS)   HH:MM:SS with the unit's digits
 *   STRING/UTF8, ENUM, JSON, unannotated BYTE_ARRAY  the text (JSON as written, not parsed); an
 *                                  empty string is an empty cell (missing), as in CSV; bytes that
 *                                  are not UTF-8 are raw bytes (below)
 *   UUID                           8-4-4-4-12 lower-case hex
 *   null (any type)                an empty cell: missing
 *   anything else (BSON, GEOMETRY, GEOGRAPHY, INTERVAL, unannotated FIXED_LEN_BYTE_ARRAY)
 *                                  raw bytes: NESTED, which the checks report
 *
 * Years outside 0000-9999 are written with a sign and six digits (+275760-09-13), as ISO 8601's
 * expanded form and JavaScript's toISOString do.
 */
import type { ParquetParsers, SchemaElement, TimeUnit } from 'hyparquet';
import { NESTED } from './formats';

/** A Parquet value as a cell: its text ('' when null), or NESTED for a value that has none. */
export type ParquetCell = string | typeof NESTED;
export type CellRule = (value: unknown) => ParquetCell;

/**
 * The schema element hyparquet decodes a column by: its physical type with no annotation, except
 * that text (STRING, ENUM, JSON, and BYTE_ARRAY with no annotation, which older writers used for
 * strings) is marked UTF8, so that hyparquet decodes it, a dictionary's entries once each. Read with
 * `utf8: false`, every other BYTE_ARRAY (a DECIMAL, BSON, WKB) then stays bytes.
 */
export function physicalElement(element: SchemaElement): SchemaElement {
  if (element.type === undefined) return element; // a group: no values of its own
  const { converted_type: _c, logical_type: _l, ...physical } = element;
  return isText(element) ? { ...physical, converted_type: 'UTF8' } : physical;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The parsers hyparquet calls on physicalElement's columns. INT96 always goes through
 * timestampFromNanoseconds (with the nanoseconds since the epoch), which here hands them on as they
 * are, for timestampText. Text is decoded strictly: bytes that are not UTF-8 (a binary column with
 * no annotation) stay bytes, which are reported, rather than becoming text with U+FFFD in it.
 */
export const PHYSICAL_PARSERS: Partial<ParquetParsers> = {
  timestampFromNanoseconds: (nanos: bigint) => nanos,
  stringFromBytes: (bytes: Uint8Array | undefined) => {
    if (bytes === undefined) return undefined;
    try {
      return UTF8.decode(bytes);
    } catch {
      return bytes;
    }
  },
};

function isText({ type, converted_type: ctype, logical_type: ltype }: SchemaElement): boolean {
  if (type !== 'BYTE_ARRAY') return false;
  if (ctype === 'UTF8' || ctype === 'ENUM' || ctype === 'JSON') return true;
  if (ltype?.type === 'STRING' || ltype?.type === 'ENUM' || ltype?.type === 'JSON') return true;
  return ctype === undefined && ltype === undefined;
}

/** The rule that turns a column's physical values (as hyparquet decodes physicalElement) into cells. */
export function parquetCellOf(element: SchemaElement): CellRule {
  const rule = valueRule(element);
  return (value) => (value === null || value === undefined ? '' : rule(value));
}

function valueRule(element: SchemaElement): CellRule {
  const { type, converted_type: ctype, logical_type: ltype } = element;
  const decimal = ctype === 'DECIMAL' || ltype?.type === 'DECIMAL';
  const scale = ltype?.type === 'DECIMAL' ? ltype.scale : (element.scale ?? 0);
  switch (type) {
    case 'BOOLEAN':
      return (v) => (v ? 'true' : 'false');
    case 'INT32': {
      if (decimal) return (v) => decimalText(BigInt(v as number), scale);
      if (ctype === 'DATE' || ltype?.type === 'DATE') return (v) => dateText(v as number);
      const time = timeUnitOf(element);
      if (time !== undefined) return (v) => timeOfDayText(v as number, time);
      if (isUnsigned(element)) return (v) => String((v as number) >>> 0);
      return (v) => String(v);
    }
    case 'INT64': {
      if (decimal) return (v) => decimalText(v as bigint, scale);
      const stamp = timestampUnitOf(element);
      if (stamp !== undefined) return lastOne((v) => timestampText(v as bigint, stamp));
      const time = timeUnitOf(element);
      if (time !== undefined) return (v) => timeOfDayText(v as bigint, time);
      if (isUnsigned(element)) return (v) => BigInt.asUintN(64, v as bigint).toString();
      return (v) => String(v);
    }
    case 'INT96':
      // Legacy timestamps (Impala, old Spark and Hive): nanoseconds, see PHYSICAL_PARSERS.
      return lastOne((v) => timestampText(v as bigint, 'NANOS'));
    case 'FLOAT':
      return (v) => float32Text(v as number);
    case 'DOUBLE':
      return (v) => String(v);
    case 'BYTE_ARRAY':
    case 'FIXED_LEN_BYTE_ARRAY':
      if (isText(element)) return (v) => (typeof v === 'string' ? v : NESTED);
      if (decimal) return (v) => decimalText(signedBigEndian(v as Uint8Array), scale);
      if (ltype?.type === 'UUID') return (v) => uuidText(v as Uint8Array);
      if (ltype?.type === 'FLOAT16') return (v) => float16Text(float16Of(v as Uint8Array));
      return () => NESTED;
    default:
      return () => NESTED;
  }
}

/**
 * A rule that remembers its last value's cell: a time column is often sorted, with runs of the
 * same time, and each repeat then costs no new string (garbage collection was most of the time a
 * Parquet read took, before).
 */
function lastOne(rule: CellRule): CellRule {
  // Never undefined once called: null and undefined values do not reach a value's rule.
  let last: unknown;
  let cell: ParquetCell = '';
  return (value) => {
    if (value !== last) {
      cell = rule(value);
      last = value;
    }
    return cell;
  };
}

function isUnsigned({ converted_type: ctype, logical_type: ltype }: SchemaElement): boolean {
  return ctype?.startsWith('UINT_') === true || (ltype?.type === 'INTEGER' && !ltype.isSigned);
}

function timestampUnitOf({ converted_type: ctype, logical_type: ltype }: SchemaElement): TimeUnit | undefined {
  if (ltype?.type === 'TIMESTAMP') return ltype.unit;
  if (ctype === 'TIMESTAMP_MILLIS') return 'MILLIS';
  if (ctype === 'TIMESTAMP_MICROS') return 'MICROS';
  return undefined;
}

function timeUnitOf({ converted_type: ctype, logical_type: ltype }: SchemaElement): TimeUnit | undefined {
  if (ltype?.type === 'TIME') return ltype.unit;
  if (ctype === 'TIME_MILLIS') return 'MILLIS';
  if (ctype === 'TIME_MICROS') return 'MICROS';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------------

/** An unscaled integer at `scale` as exact decimal text: 12345 at scale 2 is 123.45, -1 at 2 is -0.01. */
export function decimalText(unscaled: bigint, scale: number): string {
  if (scale <= 0) return (unscaled * 10n ** BigInt(-scale)).toString();
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/** Big-endian two's complement bytes (DECIMAL in a byte array) as a bigint. */
export function signedBigEndian(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  let hex = '0x';
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0');
  const value = BigInt(hex);
  return bytes[0] & 0x80 ? value - (1n << BigInt(bytes.length * 8)) : value;
}

/**
 * The shortest decimal that `round` maps back to `value` (at most `maxDigits` significant digits
 * are ever needed), in JavaScript's number form: 0.1 for the 32-bit float nearest 0.1, which as a
 * float64 prints 0.10000000149011612.
 */
function shortestText(value: number, round: (x: number) => number, maxDigits: number, exactIntegers: number): string {
  // Below 2^(fraction bits + 1) every integer is exact, and its own shortest decimal.
  if (!Number.isFinite(value) || (Number.isInteger(value) && Math.abs(value) <= exactIntegers)) return String(value);
  for (let digits = 1; digits < maxDigits; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (round(candidate) === value) return String(candidate);
  }
  return String(Number(value.toPrecision(maxDigits)));
}

/** A 32-bit float (decoded as a float64 holding the same value) as its shortest decimal. */
export function float32Text(value: number): string {
  return shortestText(value, Math.fround, 9, 2 ** 24);
}

/** A 16-bit float as its shortest decimal. */
export function float16Text(value: number): string {
  return shortestText(value, roundToFloat16, 5, 2 ** 11);
}

/** IEEE 754 half precision, little-endian (Parquet's FLOAT16), as a number. */
export function float16Of(bytes: Uint8Array): number {
  const bits = (bytes[1] << 8) | bytes[0];
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -24 * fraction;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** The 16-bit float nearest x (ties to even), as a number. */
export function roundToFloat16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const magnitude = Math.abs(x);
  // Past the midpoint between the largest half (65504) and 2^16, x rounds to infinity.
  if (magnitude >= 65520) return Math.sign(x) * Infinity;
  let exponent = Math.floor(Math.log2(magnitude));
  if (2 ** exponent > magnitude) exponent--;
  else if (2 ** (exponent + 1) <= magnitude) exponent++;
  // Ten fraction bits; below 2^-14 the spacing stays that of the subnormals.
  const spacing = 2 ** (Math.max(exponent, -14) - 10);
  const steps = magnitude / spacing;
  let rounded = Math.round(steps);
  if (rounded - steps === 0.5 && rounded % 2 === 1) rounded--;
  return Math.sign(x) * rounded * spacing;
}

/** 16 bytes as a UUID: 8-4-4-4-12 lower-case hex digits. */
export function uuidText(bytes: Uint8Array): string {
  let hex = '';
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---------------------------------------------------------------------------------------------
// Dates and times
// ---------------------------------------------------------------------------------------------

const DAY_SECONDS = 86_400;
const UNITS_PER_SECOND: Readonly<Record<TimeUnit, number>> = { MILLIS: 1e3, MICROS: 1e6, NANOS: 1e9 };
const FRACTION_DIGITS: Readonly<Record<TimeUnit, number>> = { MILLIS: 3, MICROS: 6, NANOS: 9 };

/**
 * Days since 1970-01-01 as YYYY-MM-DD in the proleptic Gregorian calendar, for any day count a
 * Parquet file can hold (JavaScript's Date stops at 100 million days either side; INT32 and INT64
 * counts go further). Arithmetic on 400-year cycles of 146,097 days, counted from 0000-03-01 so
 * that a leap day ends each year.
 */
export function dateText(days: number): string {
  const fromMarch = days + 719_468; // days from 0000-03-01 to 1970-01-01
  const cycle = Math.floor(fromMarch / 146_097);
  const dayOfCycle = fromMarch - cycle * 146_097;
  const yearOfCycle = Math.floor(
    (dayOfCycle - Math.floor(dayOfCycle / 1_460) + Math.floor(dayOfCycle / 36_524) - Math.floor(dayOfCycle / 146_096)) / 365,
  );
  const dayOfYear = dayOfCycle - (365 * yearOfCycle + Math.floor(yearOfCycle / 4) - Math.floor(yearOfCycle / 100));
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  const year = yearOfCycle + cycle * 400 + (month <= 2 ? 1 : 0);
  return `${yearText(year)}-${pad(month, 2)}-${pad(day, 2)}`;
}

/** Four digits for 0000-9999, else a sign and at least six (ISO 8601's expanded years). */
function yearText(year: number): string {
  if (year >= 0 && year <= 9999) return pad(year, 4);
  return `${year < 0 ? '-' : '+'}${pad(Math.abs(year), 6)}`;
}

/** '00' to '99': most padding is of two digits (months, days, hours...). */
const TWO_DIGITS = Array.from({ length: 100 }, (_, n) => String(n).padStart(2, '0'));

function pad(n: number, width: number): string {
  return width === 2 && n < 100 ? TWO_DIGITS[n] : String(n).padStart(width, '0');
}

/**
 * A count of `unit`s since 1970-01-01T00:00:00Z as ISO 8601 in UTC, with the unit's digits after
 * the seconds. Exact for every INT64: the day is split off (floor, so that a time before 1970 stays
 * in its own second) in doubles while the count is below 2^52 (MILLIS and MICROS of any date a
 * table holds) and as a bigint beyond; what is left of a day always fits a double exactly.
 */
export function timestampText(value: bigint, unit: TimeUnit): string {
  const perDay = DAY_SECONDS * UNITS_PER_SECOND[unit];
  let days: number;
  let rest: number;
  const count = Number(value);
  if (Math.abs(count) <= 2 ** 52) {
    // days * perDay is then exact; the quotient may round up across a day's edge, hence the check.
    days = Math.floor(count / perDay);
    rest = count - days * perDay;
    if (rest < 0) {
      days--;
      rest += perDay;
    }
  } else {
    const bigPerDay = BigInt(perDay);
    let bigDays = value / bigPerDay;
    let bigRest = value - bigDays * bigPerDay;
    if (bigRest < 0n) {
      bigRest += bigPerDay;
      bigDays -= 1n;
    }
    days = Number(bigDays);
    rest = Number(bigRest);
  }
  return `${dateText(days)}T${clockText(rest, unit)}Z`;
}

/**
 * A time of day in `unit`s since midnight as HH:MM:SS with the unit's digits; a count out of a
 * day's range (which the format forbids) as the integer it is.
 */
export function timeOfDayText(value: number | bigint, unit: TimeUnit): string {
  const units = Number(value);
  if (!(units >= 0 && units < DAY_SECONDS * UNITS_PER_SECOND[unit])) return String(value);
  return clockText(units, unit);
}

function clockText(unitsOfDay: number, unit: TimeUnit): string {
  const perSecond = UNITS_PER_SECOND[unit];
  const seconds = Math.floor(unitsOfDay / perSecond);
  const fraction = unitsOfDay - seconds * perSecond;
  const hh = Math.floor(seconds / 3600);
  const mm = Math.floor((seconds % 3600) / 60);
  const ss = seconds % 60;
  return `${pad(hh, 2)}:${pad(mm, 2)}:${pad(ss, 2)}.${pad(fraction, FRACTION_DIGITS[unit])}`;
}
