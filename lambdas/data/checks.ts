/**
 * The checks on what a scan read (checkTable): the file's shape, its columns against the schema
 * (given or inferred), each column's values, the target and the time column; then the dataset's
 * schema and profile. Violations come in the order of the checks here, after the reader's own.
 */
import type {
  ColumnProfile,
  ColumnSchema,
  ColumnType,
  DatasetProfile,
  DatasetSchema,
  FeatureType,
  NumericSketch,
  Task,
} from '../shared/types';
import type { SchemaInput } from '../shared/schema-file';
import { isBlank, numberLabel } from './cells';
import type { ColumnScan } from './column-scan';
import { addDatetimeProfiles, booleanOf, exclusionMessage, exclusionOf } from './column-roles';
import { derivedName } from '../shared/datetime';
import type { DataFormat } from './formats';
import { capitalize, nameList, plural, quote, rowList } from './messages';
import type { Detected, ReadOutcome } from './readers/outcome';
import { MAX_INFERRED_CLASSES, type ScanNote, type ScanOptions, type ScanResult, type TimeSplit, type Violation } from './scan-types';
import { SPLIT_SHARES } from './splits';
import type { ColumnLimitHit, TableScan } from './table-scan';

/** What the checks need besides the table: the file, its hash, and the scan's settings (see prepareScan). */
export interface CheckContext {
  readonly file: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly given: SchemaInput | undefined;
  readonly strict: boolean;
  /** What declared a strict schema, in messages (ScanOptions.declaredBy). */
  readonly declaredBy: string;
  readonly targetName: string;
  readonly task: Task | undefined;
  readonly minRows: number;
  /** The most columns a file may have (ScanOptions.maxColumns, resolved). */
  readonly maxColumns: number;
  /** The most characters a category value may have (ScanOptions.maxCategoryLength, resolved). */
  readonly maxCategoryLength: number;
  readonly maxNullShare: number;
  readonly knownClasses: ReadonlySet<string> | null;
  readonly profileOptions: Required<Pick<ScanOptions, 'maxCategories' | 'histogramBins'>>;
}

/** How messages point at a file's columns. */
interface Where {
  readonly file: string;
  readonly format: DataFormat;
  /** Where column names come from; only CSV has a header line to point at. */
  readonly names: string;
  readonly headerRows: number[];
  readonly atHeader: string;
}

/** The header's columns, the first occurrence of each name (duplicates are reported and otherwise ignored). */
interface Columns {
  readonly headerNames: string[];
  readonly firstIndex: ReadonlyMap<string, number>;
  readonly target: ColumnScan | undefined;
}

/** The checks on what was read, the schema (given or inferred) and the profile. */
export function checkTable(table: TableScan, read: Detected & ReadOutcome, ctx: CheckContext): ScanResult {
  const { sha256, bytes, given, minRows } = ctx;
  const { format, gzip } = read;
  const violations: Violation[] = [...read.violations];
  const parsed = read.complete;
  const where = whereOf(ctx.file, format, table.headerLine);

  // Past the column limit the readers stopped: nothing else about the file is known.
  if (table.columnLimit !== undefined) {
    violations.push(tooManyColumns(where, table.columnLimit, ctx.maxColumns));
    const schema: DatasetSchema = given
      ? { ...given, task: ctx.task ?? given.task ?? 'classification' }
      : { columns: [], target: ctx.targetName, task: ctx.task ?? 'classification' };
    return {
      sha256,
      bytes,
      format,
      gzip,
      rows: table.rows,
      header: [],
      schema,
      profile: { rows: 0, columns: {} },
      violations,
      accepted: false,
    };
  }

  // Blank lines only (or whitespace): nothing but a blank header.
  if (table.header === null || table.blank) {
    if (parsed && (table.rows === 0 || table.blank)) violations.push(emptyFile(where, minRows));
    const schema: DatasetSchema = given
      ? { ...given, task: ctx.task ?? given.task ?? 'classification' }
      : { columns: [], target: ctx.targetName, task: ctx.task ?? 'classification' };
    return { sha256, bytes, format, gzip, rows: 0, header: [], schema, profile: { rows: 0, columns: {} }, violations, accepted: false };
  }

  violations.push(...recordChecks(table, where));
  const columns = columnsOf(table, ctx.targetName, where, violations);
  if (given !== undefined) violations.push(...schemaColumnChecks(columns, given, ctx, where));
  if (parsed && table.rows < minRows) violations.push(tooFewRows(where, table.rows, minRows));

  const { types, task } = typesAndTask(table, columns.target, ctx);
  const declared = new Map((given?.columns ?? []).map((c) => [c.name, c]));
  for (const [name, index] of columns.firstIndex) {
    const column = table.columns[index];
    const type = types.get(column) as ColumnType;
    const facts = { name, column, type, isTarget: column === columns.target, declared: declared.get(name) };
    violations.push(...columnChecks(facts, { wellFormedRows: table.wellFormedRows, parsed, format }, ctx));
  }
  if (columns.target !== undefined && parsed) {
    const constant = constantTarget(columns.target, types.get(columns.target) as FeatureType, table.rows, ctx);
    if (constant !== undefined) violations.push(constant);
  }
  const timeSplit = timeColumnChecks(table, columns, ctx, where, violations);

  const notes: ScanNote[] = [];
  const schema = schemaOf(columns, table.columns, types, task, ctx, notes);
  violations.push(...derivedNameChecks(schema, columns, where));
  const profile = profileOf(columns, table.columns, table.rows, types, schema, ctx);
  return {
    sha256,
    bytes,
    format,
    gzip,
    rows: table.rows,
    header: columns.headerNames,
    schema,
    profile,
    violations,
    accepted: violations.length === 0,
    ...(timeSplit !== undefined ? { timeSplit } : {}),
    ...(notes.length > 0 ? { notes } : {}),
  };
}

/** The setting that raises the column limit, as messages name it. */
export const MAX_COLUMNS_SETTING =
  "the ingestion setting maxColumns (the stack's training.maxColumns prop; MAX_COLUMNS on the Ingest function)";

function tooManyColumns(where: Where, hit: ColumnLimitHit, maxColumns: number): Violation {
  const found =
    where.format === 'jsonl'
      ? `more than ${maxColumns} distinct keys (the key past the limit is on line ${hit.line})`
      : `${hit.columns} columns in ${where.names}${where.atHeader}`;
  return {
    check: 'too_many_columns',
    count: hit.columns,
    exampleRows: where.format === 'parquet' ? [] : [hit.line],
    message: `${where.file} has ${found}, over the column limit of ${maxColumns} (${MAX_COLUMNS_SETTING} raises it); the file was not read further. Expected at most ${maxColumns} columns.`,
  };
}

/** The setting that raises the category length limit, as messages name it. */
export const MAX_CATEGORY_LENGTH_SETTING =
  "the ingestion setting maxCategoryLength (the stack's training.maxCategoryLength prop; MAX_CATEGORY_LENGTH on the Ingest function)";

/**
 * Values longer than the limit in a column that is a category (a categorical feature or the
 * target): a free-text or excluded column may hold long text, since no category is made of it.
 */
function categoryTooLong({ name, column, type, isTarget, declared }: ColumnFacts, ctx: CheckContext): Violation | undefined {
  const e = column.tooLong;
  if (e.count === 0 || type !== 'categorical') return undefined;
  const excluded = isTarget ? undefined : declared !== undefined ? declared.excluded : exclusionOf(column);
  if (excluded !== undefined) return undefined;
  const label = isTarget ? 'Target column' : 'Column';
  return {
    check: 'category_too_long',
    column: name,
    count: e.count,
    exampleRows: e.rows,
    message: `${label} ${quote(name)} in ${ctx.file} has ${plural(e.count, 'category value')} longer than the limit of ${ctx.maxCategoryLength} characters (${rowList(e)}; the longest has ${column.longest}), such as ${quote(e.sample ?? '')}; expected categories of at most ${ctx.maxCategoryLength} characters (${MAX_CATEGORY_LENGTH_SETTING} raises it).`,
  };
}

function whereOf(file: string, format: DataFormat, headerLine: number): Where {
  return {
    file,
    format,
    names:
      format === 'csv' ? `the header of ${file}` : format === 'jsonl' ? `the keys of the objects in ${file}` : `the columns of ${file}`,
    headerRows: format === 'csv' ? [headerLine] : [],
    atHeader: format === 'csv' ? ` (line ${headerLine})` : '',
  };
}

function emptyFile({ file, format }: Where, minRows: number): Violation {
  const expected =
    format === 'csv'
      ? `a header line and at least ${plural(minRows, 'data row')}`
      : format === 'jsonl'
        ? `at least ${plural(minRows, 'line')}, each a JSON object`
        : `at least ${plural(minRows, 'row')}`;
  return { check: 'empty_file', count: 0, exampleRows: [], message: `${file} is empty; expected ${expected}.` };
}

/** The records' shape: ragged rows, mixed line ends, empty column names. */
function recordChecks(table: TableScan, { file, format, names, headerRows, atHeader }: Where): Violation[] {
  const violations: Violation[] = [];
  const headerNames = table.header ?? [];
  const ragged = table.ragged;
  if (ragged.count > 0) {
    violations.push({
      check: 'malformed_row',
      count: ragged.count,
      exampleRows: ragged.rows,
      message:
        `${file} has ${plural(ragged.count, 'row')} with a different number of fields than its header (${rowList(ragged)}); expected ${plural(headerNames.length, 'field')} in every row, as in the header.` +
        (table.raggedWithLineFeed > 0
          ? ' Some of them hold a line feed alone while the lines of the file end with CR LF: are its line endings mixed? Save it with one kind of line end.'
          : ''),
    });
  }
  if (table.carriageReturns.count > 0) {
    const e = table.carriageReturns;
    violations.push({
      check: 'malformed_row',
      count: e.count,
      exampleRows: e.rows,
      message: `${file} mixes line endings: ${plural(e.count, 'row')} end${e.count === 1 ? 's' : ''} with CR LF (${rowList(e)}) while its first line ends with LF alone; expected one kind of line end throughout (save the file with LF or with CRLF line ends).`,
    });
  }
  const empties = headerNames.map((name, i) => ({ name, i })).filter((c) => isBlank(c.name));
  if (empties.length > 0) {
    violations.push({
      check: 'malformed_row',
      count: empties.length,
      exampleRows: headerRows,
      message: `${capitalize(names)}${atHeader} ${format === 'csv' ? 'has' : 'have'} ${plural(empties.length, 'empty column name')} (${empties.length === 1 ? 'column' : 'columns'} ${empties.map((c) => c.i + 1).join(', ')}); expected a name for every column.`,
    });
  }
  return violations;
}

/** The header's columns by name; reports duplicate names and a missing target. */
function columnsOf(table: TableScan, targetName: string, { names, headerRows, atHeader }: Where, violations: Violation[]): Columns {
  const headerNames = table.header ?? [];
  // First occurrence of each name; duplicates are reported and otherwise ignored.
  const firstIndex = new Map<string, number>();
  const positions = new Map<string, number[]>();
  headerNames.forEach((name, i) => {
    if (!firstIndex.has(name)) firstIndex.set(name, i);
    positions.set(name, [...(positions.get(name) ?? []), i + 1]);
  });
  for (const [name, at] of positions) {
    if (at.length > 1) {
      violations.push({
        check: 'duplicate_column',
        column: name,
        count: at.length,
        exampleRows: headerRows,
        message: `Column ${quote(name)} appears ${at.length} times in ${names}${atHeader ? ` (columns ${at.join(', ')})` : ` (positions ${at.join(', ')})`}; expected each column name once.`,
      });
    }
  }

  const target = firstIndex.has(targetName) ? table.columns[firstIndex.get(targetName) as number] : undefined;
  if (target === undefined) {
    violations.push({
      check: 'missing_target',
      column: targetName,
      count: 1,
      exampleRows: headerRows,
      message: `Target column ${quote(targetName)} is not in ${names}; found the columns ${nameList(headerNames)}.`,
    });
  }
  return { headerNames, firstIndex, target };
}

/** The columns against the given schema's: missing ones, and ones it does not have. */
function schemaColumnChecks({ firstIndex }: Columns, given: SchemaInput, ctx: CheckContext, { file, headerRows }: Where): Violation[] {
  const violations: Violation[] = [];
  const { targetName } = ctx;
  const schemaNames = given.columns.map((c) => c.name);
  const schemaTypes = new Set(schemaNames);
  const source = ctx.strict ? ctx.declaredBy : "the model's schema";
  for (const name of schemaNames) {
    if (!firstIndex.has(name) && name !== targetName) {
      violations.push({
        check: 'missing_column',
        column: name,
        count: 1,
        exampleRows: headerRows,
        message: `Column ${quote(name)} of ${source} is missing from ${file}; expected the columns ${nameList(schemaNames)}.`,
      });
    }
  }
  for (const name of firstIndex.keys()) {
    if (!schemaTypes.has(name) && name !== given.target && name !== targetName && name !== given.timeColumn) {
      violations.push({
        check: 'extra_column',
        column: name,
        count: 1,
        exampleRows: headerRows,
        message: `Column ${quote(name)} in ${file} is not in ${source}; expected only the columns ${nameList(schemaNames)}.`,
      });
    }
  }
  return violations;
}

function tooFewRows({ file, format }: Where, rows: number, minRows: number): Violation {
  return {
    check: 'too_few_rows',
    count: rows,
    exampleRows: [],
    message:
      format === 'csv'
        ? `${file} has ${plural(rows, 'data row')} after its header; expected at least ${minRows}.`
        : `${file} has ${plural(rows, 'row')}; expected at least ${minRows}.`,
  };
}

/** Each column's type (given, else inferred) and the task (given, else by the target's values). */
function typesAndTask(
  table: TableScan,
  target: ColumnScan | undefined,
  ctx: CheckContext,
): { types: Map<ColumnScan, ColumnType>; task: Task } {
  const types = new Map<ColumnScan, ColumnType>();
  for (const column of table.columns) types.set(column, column.mode === 'infer' ? column.inferType() : column.mode);
  // A target of dates is a category to the task (its column tries no dates; see ColumnScan).
  if (target !== undefined && types.get(target) === 'datetime') types.set(target, 'categorical');

  let task: Task;
  const declaredTask = ctx.task ?? ctx.given?.task;
  if (declaredTask !== undefined) task = declaredTask;
  else if (target === undefined) task = 'classification';
  else if (types.get(target) === 'categorical') task = 'classification';
  else {
    const distinct = target.distinctNumbers ?? new Set<number>();
    task = distinct.size <= MAX_INFERRED_CLASSES && target.integersOnly ? 'classification' : 'regression';
  }
  // A regression target must be numbers: read as numeric, so that text in it is reported.
  if (task === 'regression' && target !== undefined && target.mode === 'infer') types.set(target, 'numeric');
  return { types, task };
}

/** A column of the header (its first occurrence), as the checks see it. */
interface ColumnFacts {
  readonly name: string;
  readonly column: ColumnScan;
  readonly type: ColumnType;
  readonly isTarget: boolean;
  /** Its column in the given schema, if any. */
  readonly declared: ColumnSchema | undefined;
}

/** One column's values: nested ones, non-numbers and non-finite numbers, domain, classes, completeness. */
function columnChecks(
  { name, column, type, isTarget, declared }: ColumnFacts,
  { wellFormedRows, parsed, format }: { wellFormedRows: number; parsed: boolean; format: DataFormat },
  ctx: CheckContext,
): Violation[] {
  const violations: Violation[] = [];
  const { file, knownClasses, maxNullShare } = ctx;
  const label = isTarget ? 'Target column' : 'Column';
  const tooLong = categoryTooLong({ name, column, type, isTarget, declared }, ctx);
  if (tooLong !== undefined) violations.push(tooLong);
  if (column.nested.count > 0) {
    const e = column.nested;
    // Parquet says what a nested column is in its schema, and the rule is docs/data.md's.
    const message =
      format === 'parquet'
        ? `${label} ${quote(name)} in ${file} is a nested or binary Parquet column (${plural(e.count, 'value')} without a cell, ${rowList(e)}): nested Parquet columns (LIST, MAP, STRUCT, repeated fields) and raw bytes are not features; expected one number, string, boolean, date or time per row (drop the column, or flatten it into columns of their own, before ingesting).`
        : `${label} ${quote(name)} in ${file} has ${plural(e.count, 'nested or binary value')} (${rowList(e)}), such as an object, an array or raw bytes; expected a number, a string, a boolean or null in every row.`;
    violations.push({ check: 'type_mismatch', column: name, count: e.count, exampleRows: e.rows, message });
  }
  // The time column the rows are split by has its own checks (timeColumnChecks).
  if (type === 'datetime' && name !== ctx.given?.timeColumn) violations.push(...dateChecks(name, column, label, declared, ctx));
  if (type === 'numeric') {
    let why = ctx.strict ? `as ${ctx.declaredBy} declares` : "as in the model's schema";
    if (column.mode === 'infer') {
      const nonEmpty = column.numbers.count + column.nonFinite.count + column.nonNumeric.count;
      const share = Math.floor((100 * column.numbers.count) / Math.max(1, nonEmpty));
      why =
        column.inferType() === 'numeric' ? `as in the rest of the column (${share}% of its values are numbers)` : 'for a regression target';
    }
    if (column.nonNumeric.count > 0) {
      const e = column.nonNumeric;
      violations.push({
        check: 'type_mismatch',
        column: name,
        count: e.count,
        exampleRows: e.rows,
        message: `${label} ${quote(name)} in ${file} has ${plural(e.count, 'non-numeric value')} (${rowList(e)}), such as ${quote(e.sample ?? '')}; expected numbers ${why}.`,
      });
    }
    if (column.nonFinite.count > 0) {
      const e = column.nonFinite;
      violations.push({
        check: 'non_finite',
        column: name,
        count: e.count,
        exampleRows: e.rows,
        message: `${label} ${quote(name)} in ${file} has ${plural(e.count, 'non-finite value')} (${rowList(e)}), such as ${quote(e.sample ?? '')}; expected finite numbers, with an empty cell for a missing value.`,
      });
    }
  }
  if (column.outOfDomain.count > 0) {
    const e = column.outOfDomain;
    const domain = declared?.categories ?? [];
    violations.push({
      check: 'category_domain',
      column: name,
      count: e.count,
      exampleRows: e.rows,
      message: `Column ${quote(name)} in ${file} has ${plural(e.count, 'value')} outside the categories ${ctx.declaredBy} declares (${rowList(e)}), such as ${quote(e.sample ?? '')}; expected one of ${nameList(domain)}.`,
    });
  }
  if (isTarget && column.unknownClass.count > 0 && knownClasses !== null) {
    const e = column.unknownClass;
    violations.push({
      check: 'unknown_class',
      column: name,
      count: e.count,
      exampleRows: e.rows,
      message: `Target column ${quote(name)} in ${file} has ${plural(e.count, 'value')} that ${e.count === 1 ? 'is' : 'are'} not a class of the model (${rowList(e)}), such as ${quote(e.sample ?? '')}; expected one of the classes in the model's schema: ${nameList([...knownClasses])}.`,
    });
  }
  const e = column.missing;
  if (isTarget) {
    if (e.count > 0) {
      violations.push({
        check: 'completeness',
        column: name,
        count: e.count,
        exampleRows: e.rows,
        message: `Target column ${quote(name)} in ${file} is empty in ${plural(e.count, 'row')} (${rowList(e)}); expected a value in every row, since a row without a target cannot be trained on.`,
      });
    }
  } else if (ctx.strict && declared?.nullable === false && e.count > 0) {
    violations.push({
      check: 'completeness',
      column: name,
      count: e.count,
      exampleRows: e.rows,
      message: `Column ${quote(name)} in ${file} is empty in ${plural(e.count, 'row')} (${rowList(e)}); expected a value in every row, as ${ctx.declaredBy} declares it not nullable.`,
    });
  } else if (parsed && wellFormedRows > 0 && e.count / wellFormedRows > maxNullShare) {
    const share = Math.round((100 * e.count) / wellFormedRows);
    violations.push({
      check: 'completeness',
      column: name,
      count: e.count,
      exampleRows: e.rows,
      message: `Column ${quote(name)} in ${file} is empty in ${e.count} of ${plural(wellFormedRows, 'row')} (${share}%; ${rowList(e)}); expected at most ${Math.round(100 * maxNullShare)}% empty cells.`,
    });
  }
  return violations;
}

/** A column named like a feature derived from a datetime column (`date.hour` beside `date`). */
function derivedNameChecks(schema: DatasetSchema, { firstIndex }: Columns, { file, headerRows }: Where): Violation[] {
  const violations: Violation[] = [];
  for (const column of schema.columns) {
    if (column.type !== 'datetime') continue;
    for (const part of column.parts ?? []) {
      const name = derivedName(column.name, part);
      if (!firstIndex.has(name)) continue;
      violations.push({
        check: 'duplicate_column',
        column: name,
        count: 1,
        exampleRows: headerRows,
        message: `Column ${quote(name)} in ${file} has the name of the ${part} feature derived from the datetime column ${quote(column.name)}; expected no column named ${quote(`${column.name}.<part>`)} beside a datetime column (rename it).`,
      });
    }
  }
  return violations;
}

/** A datetime column's values that are not dates. */
function dateChecks(name: string, column: ColumnScan, label: string, declared: ColumnSchema | undefined, ctx: CheckContext): Violation[] {
  const dates = column.dates;
  if (dates === null) return [];
  const e = column.nonDate;
  const nonEmpty = column.numbers.count + column.nonFinite.count + column.nonNumeric.count;
  // Read as dates, every non-empty cell is a date or not; inferred, numbers are not dates either.
  const count = column.mode === 'datetime' ? e.count : nonEmpty - dates.count;
  if (count === 0) return [];
  const format = declared?.format;
  const source = ctx.strict ? ctx.declaredBy : "the model's schema";
  const why =
    column.mode === 'infer'
      ? `as in the rest of the column (${Math.floor((100 * dates.count) / Math.max(1, nonEmpty))}% of its values are dates)`
      : `as ${source} declares`;
  const expected =
    format !== undefined
      ? `dates in the format ${quote(format)}`
      : 'ISO 8601 dates or date-times (2024-05-01, 2024-05-01T12:30, 2024-05-01 12:30:00+02:00; UTC when no zone is given)';
  const examples = e.rows.length > 0 ? ` (${rowList(e)}), such as ${quote(e.sample ?? '')}` : '';
  return [
    {
      check: 'type_mismatch',
      column: name,
      count,
      exampleRows: e.rows,
      message: `${label} ${quote(name)} in ${ctx.file} has ${plural(count, 'value')} that ${count === 1 ? 'is' : 'are'} not a date${examples}; expected ${expected} ${why}.`,
    },
  ];
}

/** A target with one value in every row: nothing to learn. */
function constantTarget(target: ColumnScan, type: FeatureType, rows: number, { file, targetName }: CheckContext): Violation | undefined {
  let single: string | undefined;
  if (type === 'numeric') {
    if (target.numbers.count > 0 && target.numbers.min === target.numbers.max) single = numberLabel(target.numbers.min);
  } else if (target.categories !== null && target.categories.distinct === 1) {
    single = target.categories.top(1)[0][0];
  }
  if (single === undefined) return undefined;
  return {
    check: 'constant_target',
    column: targetName,
    count: rows,
    exampleRows: [],
    message: `Target column ${quote(targetName)} in ${file} has the single value ${quote(single)} in every row; expected at least two distinct values to learn from.`,
  };
}

/** The time column the splits go by: present, a time in every row; answers the split's cut points. */
function timeColumnChecks(
  table: TableScan,
  { headerNames, firstIndex }: Columns,
  ctx: CheckContext,
  { file, headerRows }: Where,
  violations: Violation[],
): TimeSplit | undefined {
  const timeColumn = ctx.given?.timeColumn;
  if (timeColumn === undefined || table.time === null) return undefined;
  const time = table.time;
  const source = ctx.strict ? ctx.declaredBy : "the model's schema";
  if (!firstIndex.has(timeColumn)) {
    violations.push({
      check: 'missing_column',
      column: timeColumn,
      count: 1,
      exampleRows: headerRows,
      message: `Time column ${quote(timeColumn)} of ${source} is missing from ${file}; expected a column of times, which the rows are split by; found the columns ${nameList(headerNames)}.`,
    });
    return undefined;
  }
  if (time.bad.count > 0) {
    const e = time.bad;
    violations.push({
      check: 'type_mismatch',
      column: timeColumn,
      count: e.count,
      exampleRows: e.rows,
      message: `Time column ${quote(timeColumn)} in ${file} has ${plural(e.count, 'value')} that ${e.count === 1 ? 'is' : 'are'} not a time (${rowList(e)}), such as ${quote(e.sample ?? '')}; expected an ISO 8601 date or date-time (2024-05-01, 2024-05-01T12:30:00Z; UTC when no zone is given) or a number.`,
    });
  }
  if (time.missing.count > 0) {
    const e = time.missing;
    violations.push({
      check: 'completeness',
      column: timeColumn,
      count: e.count,
      exampleRows: e.rows,
      message: `Time column ${quote(timeColumn)} in ${file} is empty in ${plural(e.count, 'row')} (${rowList(e)}); expected a time in every row, since the rows are split by it.`,
    });
  }
  if (time.stats.count === 0) return undefined;
  return {
    column: timeColumn,
    cutoffs: [time.stats.quantile(SPLIT_SHARES.train), time.stats.quantile(SPLIT_SHARES.train + SPLIT_SHARES.validation)],
  };
}

/** The dataset's schema: the given one (its task and classes inferred where it leaves them out), else the one inferred. */
function schemaOf(
  { firstIndex, target }: Columns,
  columns: readonly ColumnScan[],
  types: ReadonlyMap<ColumnScan, ColumnType>,
  task: Task,
  ctx: CheckContext,
  notes: ScanNote[],
): DatasetSchema {
  const { targetName } = ctx;
  let given = ctx.given;
  if (given !== undefined) {
    // A declared datetime column derives the parts its values have (a time of day or not).
    const declared = given;
    const withParts = declared.columns.map((c) => {
      if (c.type !== 'datetime' || c.parts !== undefined || !firstIndex.has(c.name)) return c;
      const dates = columns[firstIndex.get(c.name) as number].dates;
      return dates === null ? c : { ...c, parts: dates.defaultParts() };
    });
    if (withParts.some((c, i) => c !== declared.columns[i])) given = { ...declared, columns: withParts };
  }
  if (given !== undefined && given.task !== undefined) return given as DatasetSchema;
  if (given !== undefined) {
    // A declared schema that leaves the task (and the classes) to the data.
    const classes =
      given.classes ??
      (task === 'classification' && target !== undefined ? target.classLabels(types.get(target) as FeatureType) : undefined);
    return classes !== undefined && task === 'classification' ? { ...given, task, classes } : { ...given, task };
  }
  const schemaColumns: ColumnSchema[] = [...firstIndex.values()].map((index) => {
    const column = columns[index];
    const type = types.get(column) as ColumnType;
    const base = { name: column.name, type, nullable: column.missing.count > 0 };
    if (type === 'datetime') return { ...base, parts: (column.dates as NonNullable<ColumnScan['dates']>).defaultParts() };
    const isTarget = column === target;
    const excluded = isTarget || type !== 'categorical' ? undefined : exclusionOf(column);
    if (excluded !== undefined) {
      notes.push({
        check: 'excluded_column',
        column: column.name,
        reason: excluded,
        message: exclusionMessage(column.name, ctx.file, excluded, column),
      });
      return { ...base, excluded };
    }
    const boolean = isTarget ? undefined : booleanOf(column, type);
    const withBoolean = boolean !== undefined ? { ...base, boolean } : base;
    return type === 'categorical' ? { ...withBoolean, categories: column.schemaCategories() } : withBoolean;
  });
  return task === 'classification' && target !== undefined
    ? { columns: schemaColumns, target: targetName, task, classes: target.classLabels(types.get(target) as FeatureType) }
    : { columns: schemaColumns, target: targetName, task };
}

/** Each column's profile, and the drift tests' sketch of each numeric column (lambdas/shared/stats/grid.ts). */
function profileOf(
  { firstIndex }: Columns,
  columns: readonly ColumnScan[],
  rows: number,
  types: ReadonlyMap<ColumnScan, ColumnType>,
  schema: DatasetSchema,
  ctx: CheckContext,
): DatasetProfile {
  const profileColumns: Record<string, ColumnProfile> = {};
  let sketches: Record<string, NumericSketch> | undefined;
  const schemaColumns = new Map(schema.columns.map((c) => [c.name, c]));
  for (const [name, index] of firstIndex) {
    const column = columns[index];
    const declared = schemaColumns.get(name);
    if (types.get(column) === 'datetime' && declared !== undefined) {
      addDatetimeProfiles(declared, column, ctx.profileOptions.histogramBins, profileColumns, (sketches ??= {}));
      continue;
    }
    const value = column.profile(types.get(column) as FeatureType, column.missing.count, ctx.profileOptions);
    Object.defineProperty(profileColumns, name, { value, enumerable: true, writable: true, configurable: true });
    const sketch = value.kind === 'numeric' ? column.numbers.driftSketch() : undefined;
    if (sketch) Object.defineProperty((sketches ??= {}), name, { value: sketch, enumerable: true, writable: true, configurable: true });
  }
  return sketches ? { rows, columns: profileColumns, sketches } : { rows, columns: profileColumns };
}
