/**
 * The checks on what a scan read (checkTable): the file's shape, its columns against the schema
 * (given or inferred), each column's values, the target and the time column; then the dataset's
 * schema and profile. Violations come in the order of the checks here, after the reader's own.
 */
import type { ColumnProfile, ColumnSchema, DatasetSchema, FeatureType, NumericSketch, Task } from '../shared/types';
import { isBlank, numberLabel } from './cells';
import type { ColumnScan } from './column-scan';
import { capitalize, nameList, plural, quote, rowList } from './messages';
import type { Detected, ReadOutcome } from './readers/outcome';
import type { SchemaInput } from '../shared/schema-file';
import { MAX_INFERRED_CLASSES, type ScanOptions, type ScanResult, type TimeSplit, type Violation } from './scan-types';
import { SPLIT_SHARES } from './splits';
import type { TableScan } from './table-scan';

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
  readonly maxNullShare: number;
  readonly knownClasses: ReadonlySet<string> | null;
  readonly profileOptions: Required<Pick<ScanOptions, 'maxCategories' | 'histogramBins'>>;
}

/** The checks on what was read, the schema (given or inferred) and the profile. */
export function checkTable(table: TableScan, read: Detected & ReadOutcome, ctx: CheckContext): ScanResult {
  const { file, sha256, bytes, given, targetName, minRows, maxNullShare, knownClasses } = ctx;
  const { format, gzip } = read;
  const violations: Violation[] = [...read.violations];
  const { header, headerLine, columns, rows, wellFormedRows, ragged } = table;
  const headerNames: string[] = header ?? [];
  const parsed = read.complete;
  // Where column names come from, for messages; only CSV has a header line to point at.
  const names =
    format === 'csv' ? `the header of ${file}` : format === 'jsonl' ? `the keys of the objects in ${file}` : `the columns of ${file}`;
  const headerRows = format === 'csv' ? [headerLine] : [];
  const atHeader = format === 'csv' ? ` (line ${headerLine})` : '';

  // Blank lines only (or whitespace): nothing but a blank header.
  const blank = header === null || table.blank;
  if (blank) {
    if (parsed && (rows === 0 || table.blank)) {
      const expected =
        format === 'csv'
          ? `a header line and at least ${plural(minRows, 'data row')}`
          : format === 'jsonl'
            ? `at least ${plural(minRows, 'line')}, each a JSON object`
            : `at least ${plural(minRows, 'row')}`;
      violations.push({ check: 'empty_file', count: 0, exampleRows: [], message: `${file} is empty; expected ${expected}.` });
    }
    const schema: DatasetSchema = given
      ? { ...given, task: ctx.task ?? given.task ?? 'classification' }
      : { columns: [], target: targetName, task: ctx.task ?? 'classification' };
    return { sha256, bytes, format, gzip, rows: 0, header: [], schema, profile: { rows: 0, columns: {} }, violations, accepted: false };
  }

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

  const target = firstIndex.has(targetName) ? columns[firstIndex.get(targetName) as number] : undefined;
  if (target === undefined) {
    violations.push({
      check: 'missing_target',
      column: targetName,
      count: 1,
      exampleRows: headerRows,
      message: `Target column ${quote(targetName)} is not in ${names}; found the columns ${nameList(headerNames)}.`,
    });
  }

  if (given !== undefined) {
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
  }

  if (parsed && rows < minRows) {
    violations.push({
      check: 'too_few_rows',
      count: rows,
      exampleRows: [],
      message:
        format === 'csv'
          ? `${file} has ${plural(rows, 'data row')} after its header; expected at least ${minRows}.`
          : `${file} has ${plural(rows, 'row')}; expected at least ${minRows}.`,
    });
  }

  // ---- Types and task -----------------------------------------------------------------------
  const types = new Map<ColumnScan, FeatureType>();
  for (const column of columns) types.set(column, column.mode === 'infer' ? column.inferType() : column.mode);

  let task: Task;
  const declaredTask = ctx.task ?? given?.task;
  if (declaredTask !== undefined) task = declaredTask;
  else if (target === undefined) task = 'classification';
  else if (types.get(target) === 'categorical') task = 'classification';
  else {
    const distinct = target.distinctNumbers ?? new Set<number>();
    task = distinct.size <= MAX_INFERRED_CLASSES && target.integersOnly ? 'classification' : 'regression';
  }
  // A regression target must be numbers: read as numeric, so that text in it is reported.
  if (task === 'regression' && target !== undefined && target.mode === 'infer') types.set(target, 'numeric');

  // ---- Column checks ------------------------------------------------------------------------
  const declared = new Map((given?.columns ?? []).map((c) => [c.name, c]));
  for (const [name, index] of firstIndex) {
    const column = columns[index];
    const type = types.get(column) as FeatureType;
    const isTarget = column === target;
    const label = isTarget ? 'Target column' : 'Column';
    if (column.nested.count > 0) {
      const e = column.nested;
      violations.push({
        check: 'type_mismatch',
        column: name,
        count: e.count,
        exampleRows: e.rows,
        message: `${label} ${quote(name)} in ${file} has ${plural(e.count, 'nested or binary value')} (${rowList(e)}), such as an object, an array or raw bytes; expected a number, a string, a boolean or null in every row.`,
      });
    }
    if (type === 'numeric') {
      let why = ctx.strict ? `as ${ctx.declaredBy} declares` : "as in the model's schema";
      if (column.mode === 'infer') {
        const nonEmpty = column.numbers.count + column.nonFinite.count + column.nonNumeric.count;
        const share = Math.floor((100 * column.numbers.count) / Math.max(1, nonEmpty));
        why =
          column.inferType() === 'numeric'
            ? `as in the rest of the column (${share}% of its values are numbers)`
            : 'for a regression target';
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
      const domain = declared.get(name)?.categories ?? [];
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
    } else if (ctx.strict && declared.get(name)?.nullable === false && e.count > 0) {
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
  }

  if (target !== undefined && parsed) {
    const type = types.get(target) as FeatureType;
    let single: string | undefined;
    if (type === 'numeric') {
      if (target.numbers.count > 0 && target.numbers.min === target.numbers.max) single = numberLabel(target.numbers.min);
    } else if (target.categories !== null && target.categories.distinct === 1) {
      single = target.categories.top(1)[0][0];
    }
    if (single !== undefined) {
      violations.push({
        check: 'constant_target',
        column: targetName,
        count: rows,
        exampleRows: [],
        message: `Target column ${quote(targetName)} in ${file} has the single value ${quote(single)} in every row; expected at least two distinct values to learn from.`,
      });
    }
  }

  // ---- The time column the splits go by ----------------------------------------------------
  let timeSplit: TimeSplit | undefined;
  const timeColumn = given?.timeColumn;
  if (timeColumn !== undefined && table.time !== null) {
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
    } else {
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
      if (time.stats.count > 0) {
        timeSplit = {
          column: timeColumn,
          cutoffs: [time.stats.quantile(SPLIT_SHARES.train), time.stats.quantile(SPLIT_SHARES.train + SPLIT_SHARES.validation)],
        };
      }
    }
  }

  // ---- Schema and profile -------------------------------------------------------------------
  let schema: DatasetSchema;
  if (given !== undefined && given.task !== undefined) {
    schema = given as DatasetSchema;
  } else if (given !== undefined) {
    // A declared schema that leaves the task (and the classes) to the data.
    const classes =
      given.classes ??
      (task === 'classification' && target !== undefined ? target.classLabels(types.get(target) as FeatureType) : undefined);
    schema = classes !== undefined && task === 'classification' ? { ...given, task, classes } : { ...given, task };
  } else {
    const schemaColumns: ColumnSchema[] = [...firstIndex.values()].map((index) => {
      const column = columns[index];
      const type = types.get(column) as FeatureType;
      const base = { name: column.name, type, nullable: column.missing.count > 0 };
      return type === 'categorical' ? { ...base, categories: column.schemaCategories() } : base;
    });
    const taskOf: Task = task;
    schema =
      taskOf === 'classification' && target !== undefined
        ? { columns: schemaColumns, target: targetName, task: taskOf, classes: target.classLabels(types.get(target) as FeatureType) }
        : { columns: schemaColumns, target: targetName, task: taskOf };
  }

  const profileColumns: Record<string, ColumnProfile> = {};
  let sketches: Record<string, NumericSketch> | undefined;
  for (const [name, index] of firstIndex) {
    const column = columns[index];
    const value = column.profile(types.get(column) as FeatureType, column.missing.count, ctx.profileOptions);
    Object.defineProperty(profileColumns, name, { value, enumerable: true, writable: true, configurable: true });
    // The drift tests' sketch of a numeric column (lambdas/shared/stats/grid.ts).
    const sketch = value.kind === 'numeric' ? column.numbers.driftSketch() : undefined;
    if (sketch) Object.defineProperty((sketches ??= {}), name, { value: sketch, enumerable: true, writable: true, configurable: true });
  }

  return {
    sha256,
    bytes,
    format,
    gzip,
    rows,
    header: headerNames,
    schema,
    profile: sketches ? { rows, columns: profileColumns, sketches } : { rows, columns: profileColumns },
    violations,
    accepted: violations.length === 0,
    ...(timeSplit !== undefined ? { timeSplit } : {}),
  };
}
