/**
 * Dates and times as features: reading a date or date-time cell (ISO 8601, or a declared format)
 * and the numeric features derived from it (hour, minute, day of week, day of month, month, day of
 * year, the time itself, and cyclical encodings of the hour and the day of year).
 *
 * One implementation for every path that computes them: ingestion writes them into the splits
 * (lambdas/data/splits.ts), the model runtime derives them from a request's raw value before
 * `session.run` (./model-runtime.ts), and the drift monitor from a captured one. So the model sees
 * the same numbers in training and in serving.
 *
 * Time zones: a value that names its offset (`Z`, `+02:00`) is that instant; one that names none is
 * read as UTC, so that a value means the same on every machine. The calendar parts (hour, day of
 * week, ...) are those of the wall clock the value is written in (08:00+02:00 is hour 8: the hour
 * people lived it); `time` is the instant, in days since 1970-01-01T00:00Z.
 */

/** The derived features of a date-time column, in the order they are appended to a split's row. */
export const DATE_PARTS = ['hour', 'minute', 'dow', 'dom', 'month', 'doy', 'time', 'hour_sin', 'hour_cos', 'doy_sin', 'doy_cos'] as const;
export type DatePart = (typeof DATE_PARTS)[number];

/** The parts that only mean something when the values have a time of day. */
const TIME_OF_DAY_PARTS: ReadonlySet<DatePart> = new Set(['hour', 'minute', 'hour_sin', 'hour_cos']);

/** The parts derived from a column: all of them when its values have a time of day, else the calendar ones. */
export function datePartsFor(hasTime: boolean): DatePart[] {
  return DATE_PARTS.filter((part) => hasTime || !TIME_OF_DAY_PARTS.has(part));
}

export function isDatePart(value: unknown): value is DatePart {
  return typeof value === 'string' && (DATE_PARTS as readonly string[]).includes(value);
}

/** The name of a derived feature in the splits, the model card and the profile: `date.hour`. */
export function derivedName(column: string, part: DatePart): string {
  return `${column}.${part}`;
}

/** A date or date-time as read: its wall-clock fields and the instant they name. */
export interface DateTime {
  readonly year: number;
  /** 1-12. */
  readonly month: number;
  /** 1-31. */
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  /** Milliseconds since 1970-01-01T00:00Z. */
  readonly instant: number;
  /** Whether the value had a time of day (a date alone has none). */
  readonly hasTime: boolean;
}

const MS_PER_DAY = 86_400_000;

/**
 * ISO 8601 as tables write it: a date (`2024-05-01`, or with slashes `2024/05/01`), optionally a
 * time after `T` or a space (`12:30`, `12:30:15`, `12:30:15.250`), optionally an offset (`Z`,
 * `+02:00`, `+0200`, `+02`).
 */
const ISO = /^(\d{4})([-/])(\d{2})\2(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)? ?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Whether a cell can be an ISO date at all: four digits then `-` or `/`. A cheap test that keeps
 * the full parse off the numbers and words of other columns.
 */
export function looksLikeDate(cell: string): boolean {
  if (cell.length < 10) return false;
  const sep = cell.charCodeAt(4);
  if (sep !== 0x2d && sep !== 0x2f) return false;
  for (let i = 0; i < 4; i++) {
    const c = cell.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** A date-time from its fields, or undefined when a field is out of range (2024-02-30, 25:00). */
function fromFields(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms: number,
  offsetMinutes: number,
  hasTime: boolean,
): DateTime | undefined {
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return undefined;
  // setUTCFullYear, not Date.UTC, which reads years 0-99 as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  // A day past the month's end (2024-02-30) rolls over into the next month: not a date.
  if (date.getUTCDate() !== day) return undefined;
  // A leap second (:60) is read as :59.
  date.setUTCHours(hour, minute, Math.min(second, 59), ms);
  return { year, month, day, hour, minute, second, instant: date.getTime() - offsetMinutes * 60_000, hasTime };
}

/** The offset a zone designator names, in minutes east of UTC. */
function offsetOf(zone: string | undefined): number | undefined {
  if (zone === undefined || zone === 'Z' || zone === 'z') return 0;
  const sign = zone[0] === '-' ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
  if (hours > 18 || minutes > 59) return undefined;
  return sign * (hours * 60 + minutes);
}

function fraction(digits: string | undefined): number {
  return digits === undefined ? 0 : Math.floor(Number(`0.${digits}`) * 1000);
}

/** An ISO 8601 date or date-time, or undefined. Surrounding whitespace is ignored. */
export function parseIsoDateTime(cell: string): DateTime | undefined {
  const text = cell.trim();
  if (!looksLikeDate(text)) return undefined;
  const m = ISO.exec(text);
  if (m === null) return undefined;
  const offset = offsetOf(m[9]);
  if (offset === undefined) return undefined;
  const hasTime = m[5] !== undefined;
  return fromFields(
    Number(m[1]),
    Number(m[3]),
    Number(m[4]),
    hasTime ? Number(m[5]) : 0,
    hasTime ? Number(m[6]) : 0,
    m[7] !== undefined ? Number(m[7]) : 0,
    fraction(m[8]),
    offset,
    hasTime,
  );
}

/** The tokens of a declared format, each with the pattern it reads. */
const FORMAT_TOKENS: readonly [token: string, pattern: string][] = [
  ['YYYY', '(\\d{4})'],
  ['MM', '(\\d{1,2})'],
  ['DD', '(\\d{1,2})'],
  ['HH', '(\\d{1,2})'],
  ['mm', '(\\d{1,2})'],
  ['ss', '(\\d{1,2})'],
  ['SSS', '(\\d{1,9})'],
  ['Z', '(Z|z|[+-]\\d{2}(?::?\\d{2})?)'],
];

/** A declared format compiled: its pattern and which token each group reads. */
interface CompiledFormat {
  readonly pattern: RegExp;
  readonly groups: string[];
}

const compiled = new Map<string, CompiledFormat>();

/** Thrown for a format with no year, month or day, or a token twice. */
export class DateFormatInvalid extends Error {
  override readonly name = 'DateFormatInvalid';
}

/**
 * Compile a declared format such as `DD/MM/YYYY HH:mm` or `YYYYMMDD`: tokens YYYY, MM, DD, HH,
 * mm, ss, SSS (fractions of a second) and Z (an offset); any other character stands for itself.
 */
export function compileDateFormat(format: string): CompiledFormat {
  const known = compiled.get(format);
  if (known) return known;
  let pattern = '^';
  const groups: string[] = [];
  for (let at = 0; at < format.length;) {
    const token = FORMAT_TOKENS.find(([t]) => format.startsWith(t, at));
    if (token) {
      if (groups.includes(token[0])) throw new DateFormatInvalid(`The date format '${format}' has ${token[0]} twice.`);
      groups.push(token[0]);
      pattern += token[1];
      at += token[0].length;
    } else {
      pattern += format[at].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      at++;
    }
  }
  for (const needed of ['YYYY', 'MM', 'DD']) {
    if (!groups.includes(needed))
      throw new DateFormatInvalid(
        `The date format '${format}' has no ${needed}; expected tokens YYYY, MM and DD (and optionally HH, mm, ss, SSS, Z).`,
      );
  }
  const result = { pattern: new RegExp(`${pattern}$`), groups };
  compiled.set(format, result);
  return result;
}

/** A date or date-time in a declared format (see compileDateFormat), or undefined. */
export function parseFormattedDateTime(cell: string, format: string): DateTime | undefined {
  const { pattern, groups } = compileDateFormat(format);
  const m = pattern.exec(cell.trim());
  if (m === null) return undefined;
  const field = (token: string): string | undefined => {
    const i = groups.indexOf(token);
    return i < 0 ? undefined : m[i + 1];
  };
  const offset = offsetOf(field('Z'));
  if (offset === undefined) return undefined;
  const hour = field('HH');
  return fromFields(
    Number(field('YYYY')),
    Number(field('MM')),
    Number(field('DD')),
    hour !== undefined ? Number(hour) : 0,
    Number(field('mm') ?? 0),
    Number(field('ss') ?? 0),
    fraction(field('SSS')),
    offset,
    hour !== undefined,
  );
}

/** A date or date-time cell: in the declared format when there is one, else ISO 8601. */
export function parseDateTime(cell: string, format?: string): DateTime | undefined {
  return format === undefined ? parseIsoDateTime(cell) : parseFormattedDateTime(cell, format);
}

/** Day of the year, 1-366, of a wall-clock date. */
function dayOfYear(t: DateTime): number {
  return (utcDay(t.year, t.month, t.day) - utcDay(t.year, 1, 1)) / MS_PER_DAY + 1;
}

/** Midnight UTC of a wall-clock date, in milliseconds (any year: see fromFields). */
function utcDay(year: number, month: number, day: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date.getTime();
}

/** One derived feature of a date-time. Day of week: Monday 0 to Sunday 6. */
export function datePart(t: DateTime, part: DatePart): number {
  switch (part) {
    case 'hour':
      return t.hour;
    case 'minute':
      return t.minute;
    case 'dow':
      return (new Date(utcDay(t.year, t.month, t.day)).getUTCDay() + 6) % 7;
    case 'dom':
      return t.day;
    case 'month':
      return t.month;
    case 'doy':
      return dayOfYear(t);
    case 'time':
      return t.instant / MS_PER_DAY;
    case 'hour_sin':
      return Math.sin((2 * Math.PI * (t.hour + t.minute / 60)) / 24);
    case 'hour_cos':
      return Math.cos((2 * Math.PI * (t.hour + t.minute / 60)) / 24);
    case 'doy_sin':
      return Math.sin((2 * Math.PI * (dayOfYear(t) - 1)) / 365.25);
    case 'doy_cos':
      return Math.cos((2 * Math.PI * (dayOfYear(t) - 1)) / 365.25);
  }
}

/** A derived feature as a split's cell: JavaScript's shortest round-trip form, '' when missing. */
export function derivedCell(value: number | undefined): string {
  return value === undefined ? '' : String(value);
}
