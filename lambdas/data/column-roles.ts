/**
 * What an inferred column is to a model beyond its type: a date-time column and the features
 * derived from it, a categorical column that is not a feature (an identifier unique to each row,
 * or free text), a column that spells a boolean. The scan's checks (./checks.ts) build the schema
 * and the profile from these.
 */
import { derivedName } from '../shared/datetime';
import type { ColumnProfile, ColumnSchema, ColumnType, ExclusionReason, NumericSketch } from '../shared/types';
import type { ColumnScan } from './column-scan';
import { quote } from './messages';

/** A categorical column is an identifier when at least this share of its non-empty values are distinct... */
export const IDENTIFIER_DISTINCT_SHARE = 0.95;
/** ...and it has at least this many non-empty values (fewer say too little). */
export const IDENTIFIER_MIN_VALUES = 20;
/** A categorical column is free text when its values average at least this many characters... */
export const FREE_TEXT_MIN_LENGTH = 40;
/** ...and at least this share of them are distinct. */
export const FREE_TEXT_DISTINCT_SHARE = 0.5;

/** Spellings of a boolean, [false, true], compared in lower case. */
const BOOLEAN_PAIRS: readonly [string, string][] = [
  ['false', 'true'],
  ['no', 'yes'],
  ['n', 'y'],
  ['f', 't'],
  ['0', '1'],
];

/** Why an inferred categorical feature column is not a feature, if it is not one. */
export function exclusionOf(column: ColumnScan): ExclusionReason | undefined {
  const counter = column.categories;
  if (counter === null) return undefined;
  const nonEmpty = counter.total;
  if (nonEmpty === 0) return undefined;
  const distinct = counter.distinct;
  const text = column.nonNumeric.count;
  if (text > 0 && column.textChars / text >= FREE_TEXT_MIN_LENGTH && distinct >= FREE_TEXT_DISTINCT_SHARE * nonEmpty) return 'free_text';
  if (nonEmpty >= IDENTIFIER_MIN_VALUES && distinct >= IDENTIFIER_DISTINCT_SHARE * nonEmpty) return 'identifier';
  return undefined;
}

/** The note in the validation report for a column left out of the features. */
export function exclusionMessage(name: string, file: string, reason: ExclusionReason, column: ColumnScan): string {
  const counter = column.categories;
  const nonEmpty = counter?.total ?? 0;
  const distinct = Math.min(nonEmpty, counter?.distinct ?? 0);
  if (reason === 'identifier')
    return `Column ${quote(name)} in ${file} has a different value in almost every row (${distinct} distinct in ${nonEmpty}): it is kept in the data but is not a feature, since a model would memorize it row by row. Declare it in schema.json to use it.`;
  const length = Math.round(column.textChars / Math.max(1, column.nonNumeric.count));
  return `Column ${quote(name)} in ${file} holds free text (${length} characters on average, ${distinct} distinct values in ${nonEmpty}): it is kept in the data but is not a feature. Declare it in schema.json to use it as a category.`;
}

/** The [false, true] spellings of a column whose non-empty values are exactly the two of a boolean pair. */
export function booleanOf(column: ColumnScan, type: ColumnType): [string, string] | undefined {
  let values: string[];
  if (type === 'categorical') {
    const counter = column.categories;
    if (counter === null || !counter.exact || counter.distinct !== 2) return undefined;
    values = [...counter.values()];
  } else if (type === 'numeric') {
    const sketch = column.numbers.driftSketch();
    if (sketch?.values === undefined) return undefined;
    values = Object.keys(sketch.values);
    if (values.length !== 2) return undefined;
  } else return undefined;
  const lower = values.map((v) => v.trim().toLowerCase());
  for (const [no, yes] of BOOLEAN_PAIRS) {
    const f = lower.indexOf(no);
    const t = lower.indexOf(yes);
    if (f >= 0 && t >= 0 && f !== t) return [values[f], values[t]];
  }
  return undefined;
}

/** Adds a property whatever its name (a column may be called `__proto__`). */
function define<T>(record: Record<string, T>, name: string, value: T): void {
  Object.defineProperty(record, name, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * A datetime column's profiles: the column itself as its time (days since 1970-01-01, see
 * lambdas/shared/datetime.ts), then each derived feature (`date.hour`...) with its drift sketch,
 * so that the drift monitor compares the features the model sees.
 */
export function addDatetimeProfiles(
  schema: ColumnSchema,
  column: ColumnScan,
  bins: number,
  columns: Record<string, ColumnProfile>,
  sketches: Record<string, NumericSketch>,
): void {
  const dates = column.dates;
  if (dates === null) return;
  const missing = column.missing.count;
  const time = dates.profile('time', missing, bins);
  define(columns, schema.name, time.profile);
  if (time.sketch) define(sketches, schema.name, time.sketch);
  for (const part of schema.parts ?? dates.defaultParts()) {
    const { profile, sketch } = dates.profile(part, missing, bins);
    define(columns, derivedName(schema.name, part), profile);
    if (sketch) define(sketches, derivedName(schema.name, part), sketch);
  }
}
