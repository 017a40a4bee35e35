/**
 * The pure core of dataset ingestion: one streaming pass over a CSV file computes its content
 * hash, checks it (against the model's schema when there is one, else against the schema it
 * infers), and profiles every column; a second pass writes deterministic train/validation/test
 * splits. No AWS calls here: the callers hand in byte streams and writable sinks.
 *
 * Memory stays flat as the file grows: rows are never kept, only per-column accumulators of
 * bounded size (see ./profile.ts) and the record csv-parse is working on.
 */
import { isAscii } from 'node:buffer';
import { createHash, hash } from 'node:crypto';
import { once } from 'node:events';
import { Parser, type Options as CsvOptions } from 'csv-parse';
import type { ColumnProfile, ColumnSchema, DatasetProfile, DatasetSchema, FeatureType, Task } from '../shared/types';
import { CategoryCounter, NumericStats, compareStrings } from './profile';

export type ViolationCheck =
  | 'empty_file'
  | 'too_few_rows'
  | 'missing_target'
  | 'missing_column'
  | 'extra_column'
  | 'duplicate_column'
  | 'type_mismatch'
  | 'non_finite'
  | 'constant_target'
  | 'malformed_row'
  | 'completeness'
  | 'encoding'
  | 'unknown_class';

export interface Violation {
  check: ViolationCheck;
  column?: string;
  /** How many rows, cells or columns. */
  count: number;
  /** Physical line numbers (1 = the header line) of the first records concerned, at most 5. */
  exampleRows: number[];
  /** One full sentence naming the file, the column and what was expected. */
  message: string;
}

export interface ScanOptions {
  /** Used in messages. */
  fileName: string;
  /** Target column; default: the existing schema's target, else a column named 'target'. */
  target?: string;
  /** The model's schema, fixed by its first dataset; when absent, one is inferred. */
  schema?: DatasetSchema;
  /** Force the task. */
  task?: Task;
  /** Default ','. */
  delimiter?: string;
  /** Default 10. */
  minRows?: number;
  /** Completeness threshold per feature column, default 0.5. */
  maxNullShare?: number;
  /** Top-k kept in a categorical profile, default 50. */
  maxCategories?: number;
  /** Default 10. */
  histogramBins?: number;
}

export interface ScanResult {
  sha256: string;
  bytes: number;
  /** Data records after the header (ragged ones included). */
  rows: number;
  header: string[];
  /** The schema of this dataset: the given one, or the one inferred. */
  schema: DatasetSchema;
  profile: DatasetProfile;
  /** Empty when accepted. */
  violations: Violation[];
  accepted: boolean;
}

export type SplitName = 'train' | 'validation' | 'test';
export const SPLITS: readonly SplitName[] = ['train', 'validation', 'test'];

export const SCAN_DEFAULTS = {
  delimiter: ',',
  minRows: 10,
  maxNullShare: 0.5,
  maxCategories: 50,
  histogramBins: 10,
  target: 'target',
} as const;

/** At most this many example rows per violation. */
export const MAX_EXAMPLE_ROWS = 5;
/** Categories kept in an inferred schema's column (the most frequent). */
export const MAX_SCHEMA_CATEGORIES = 1000;
/** A numeric target with at most this many distinct integer values is inferred as classification. */
export const MAX_INFERRED_CLASSES = 20;
/** Share of a column's non-empty values that must be numbers for it to be inferred numeric. */
export const NUMERIC_SHARE = 0.9;
/** A record larger than this is an error rather than a reason to buffer the rest of the file. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Cells
// ---------------------------------------------------------------------------------------------

/** The same grammar as the trainer's: ints, decimals, exponents; no hex, no NaN, no inf. */
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const NON_FINITE = /^[+-]?(?:nan|inf|infinity)$/i;

function isBlank(cell: string): boolean {
  return cell.length === 0 || cell.trim().length === 0;
}

/** The cell as a number: finite, Infinity for a non-finite spelling (NaN, inf, 1e999), NaN for text. */
function readNumber(cell: string): number {
  const text = cell.trim();
  if (NUMBER.test(text)) {
    const value = Number(text);
    return Number.isFinite(value) ? value : Infinity;
  }
  return NON_FINITE.test(text) ? Infinity : NaN;
}

/** A class label for a number: integers without a decimal point ('1', not '1.0'). */
function numberLabel(value: number): string {
  return Number.isInteger(value) && Math.abs(value) < 1e21 ? value.toFixed(0) : String(value);
}

function toBuffer(chunk: Buffer | Uint8Array | string): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

// ---------------------------------------------------------------------------------------------
// Byte-level trackers: line numbers and UTF-8
// ---------------------------------------------------------------------------------------------

/**
 * Maps byte offsets to physical line numbers. csv-parse reports each record's end offset; the
 * tracker keeps the line breaks (CRLF, LF or CR) not yet passed by a record, so its memory is
 * bounded by one record and one chunk. (csv-parse's own `lines` counts a CRLF inside a quoted
 * field twice, hence this.)
 */
class LineTracker {
  private starts: number[] = [];
  private ends: number[] = [];
  private head = 0;
  private passed = 0;
  private pendingCR = false;
  private counting = false;

  /**
   * Stop tracking records (after a parse error): from now on each chunk's line breaks replace the
   * previous ones, so lineOf() works within the latest chunk and memory stays bounded.
   */
  release(): void {
    this.counting = true;
  }

  push(buf: Buffer, base: number): void {
    if (this.counting) {
      this.passed += this.ends.length - this.head;
      this.starts = [];
      this.ends = [];
      this.head = 0;
    }
    const carryCR = this.pendingCR;
    this.pendingCR = buf.length > 0 && buf[buf.length - 1] === 13;
    let lf = buf.indexOf(10);
    let cr = buf.indexOf(13);
    while (lf !== -1 || cr !== -1) {
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        if (lf === cr + 1) {
          this.add(base + cr, base + cr + 2);
          lf = buf.indexOf(10, lf + 1);
        } else {
          this.add(base + cr, base + cr + 1);
        }
        cr = buf.indexOf(13, cr + 1);
      } else {
        if (lf === 0 && carryCR) {
          // The LF of a CRLF split across chunks: the same line break.
          const last = this.ends.length - 1;
          if (last >= this.head && this.ends[last] === base) this.ends[last] = base + 1;
        } else {
          this.add(base + lf, base + lf + 1);
        }
        lf = buf.indexOf(10, lf + 1);
      }
    }
  }

  private add(start: number, end: number): void {
    this.starts.push(start);
    this.ends.push(end);
  }

  /**
   * The line on which a record starting at byte `start` begins (skipping blank lines there), and
   * forget the line breaks before it. Calls must come with non-decreasing offsets.
   */
  recordLine(start: number): number {
    const { starts, ends } = this;
    while (this.head < ends.length && ends[this.head] <= start) {
      this.head++;
      this.passed++;
    }
    let at = start;
    while (this.head < ends.length && starts[this.head] === at) {
      at = ends[this.head];
      this.head++;
      this.passed++;
    }
    if (this.head > 1024 && this.head * 2 > ends.length) {
      this.starts = starts.slice(this.head);
      this.ends = ends.slice(this.head);
      this.head = 0;
    }
    return this.passed + 1;
  }

  /** The line of any byte at or after the last record start, without forgetting anything. */
  lineOf(offset: number): number {
    let line = this.passed + 1;
    for (let i = this.head; i < this.ends.length && this.ends[i] <= offset; i++) line++;
    return line;
  }
}

/** A streaming UTF-8 validator that remembers where the first invalid sequence starts. */
class Utf8Validator {
  private need = 0;
  private lower = 0x80;
  private upper = 0xbf;
  private sequenceStart = 0;
  invalidAt: number | null = null;

  push(buf: Buffer, base: number): void {
    if (this.invalidAt !== null || (this.need === 0 && isAscii(buf))) return;
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i];
      if (this.need === 0) {
        if (b < 0x80) continue;
        this.sequenceStart = base + i;
        if (b >= 0xc2 && b <= 0xdf) {
          this.need = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
          this.need = 2;
          if (b === 0xe0) this.lower = 0xa0;
          else if (b === 0xed) this.upper = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
          this.need = 3;
          if (b === 0xf0) this.lower = 0x90;
          else if (b === 0xf4) this.upper = 0x8f;
        } else {
          this.invalidAt = base + i;
          return;
        }
      } else {
        if (b < this.lower || b > this.upper) {
          this.invalidAt = this.sequenceStart;
          return;
        }
        this.lower = 0x80;
        this.upper = 0xbf;
        this.need--;
      }
    }
  }

  end(): void {
    if (this.invalidAt === null && this.need > 0) this.invalidAt = this.sequenceStart;
  }
}

// ---------------------------------------------------------------------------------------------
// Columns
// ---------------------------------------------------------------------------------------------

/** A count of rows with up to MAX_EXAMPLE_ROWS of their line numbers and the first value. */
class Examples {
  count = 0;
  readonly rows: number[] = [];
  sample: string | undefined;

  note(row: number, sample?: string): void {
    this.count++;
    if (this.rows.length < MAX_EXAMPLE_ROWS) this.rows.push(row);
    if (this.sample === undefined && sample !== undefined) this.sample = sample;
  }
}

/** How a column is read: as the given schema says, or both ways until the type is inferred. */
type ReadMode = FeatureType | 'infer';

class ColumnScan {
  readonly missing = new Examples();
  readonly nonNumeric = new Examples();
  readonly nonFinite = new Examples();
  /** Target values outside the model's classes (a classification schema's target only). */
  readonly unknownClass = new Examples();
  readonly numbers = new NumericStats();
  readonly categories: CategoryCounter | null;
  /** Distinct numbers of an inferred target, up to MAX_INFERRED_CLASSES + 1, for the task. */
  readonly distinctNumbers: Set<number> | null;
  integersOnly = true;

  constructor(
    readonly name: string,
    readonly mode: ReadMode,
    inferTask: boolean,
    private readonly classes: ReadonlySet<string> | null = null,
  ) {
    this.categories = mode === 'numeric' ? null : new CategoryCounter();
    this.distinctNumbers = inferTask ? new Set<number>() : null;
  }

  add(cell: string, row: number): void {
    if (isBlank(cell)) {
      this.missing.note(row);
      return;
    }
    if (this.categories !== null) this.categories.add(cell);
    if (this.classes !== null && !this.classes.has(cell)) {
      // The trainer matches a label as it is, or as a canonical number ('1.0' is class '1').
      const number = readNumber(cell);
      if (!Number.isFinite(number) || !this.classes.has(numberLabel(number))) this.unknownClass.note(row, cell);
    }
    if (this.mode === 'categorical') return;
    const value = readNumber(cell);
    if (Number.isFinite(value)) {
      this.numbers.add(value);
      if (!Number.isInteger(value)) this.integersOnly = false;
      const distinct = this.distinctNumbers;
      if (distinct !== null && distinct.size <= MAX_INFERRED_CLASSES) distinct.add(value);
    } else if (value === Infinity) {
      this.nonFinite.note(row, cell);
    } else {
      this.nonNumeric.note(row, cell);
    }
  }

  /** The type by the inference rule: numeric when at least 90% of the non-empty values are numbers. */
  inferType(): FeatureType {
    const numeric = this.numbers.count + this.nonFinite.count;
    const nonEmpty = numeric + this.nonNumeric.count;
    return this.numbers.count > 0 && numeric >= NUMERIC_SHARE * nonEmpty ? 'numeric' : 'categorical';
  }

  /** The most frequent values (up to MAX_SCHEMA_CATEGORIES), sorted. */
  schemaCategories(): string[] {
    if (this.categories === null) return [];
    return this.categories
      .top(MAX_SCHEMA_CATEGORIES)
      .map(([value]) => value)
      .sort(compareStrings);
  }

  /** Class labels: numbers in canonical form sorted by value (2 before 10), else text sorted. */
  classLabels(type: FeatureType): string[] {
    if (this.categories === null) return [];
    const values = this.categories.top(MAX_SCHEMA_CATEGORIES).map(([value]) => value);
    if (type === 'categorical') return values.sort(compareStrings);
    const numbers = new Map<string, number>();
    for (const value of values) {
      const number = readNumber(value);
      if (Number.isFinite(number)) numbers.set(numberLabel(number), number);
    }
    return [...numbers.entries()].sort((a, b) => a[1] - b[1]).map(([label]) => label);
  }

  profile(type: FeatureType, missing: number, options: Required<Pick<ScanOptions, 'maxCategories' | 'histogramBins'>>): ColumnProfile {
    if (type === 'numeric') return this.numbers.profile(missing, options.histogramBins);
    return (this.categories ?? new CategoryCounter()).profile(missing, options.maxCategories);
  }
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

function plural(n: number, word: string, words = `${word}s`): string {
  return `${n} ${n === 1 ? word : words}`;
}

function rowList(e: { count: number; rows: number[] }): string {
  const list = e.rows.join(', ');
  const label = e.rows.length === 1 ? 'row' : 'rows';
  return e.count > e.rows.length ? `${label} ${list} and ${e.count - e.rows.length} more` : `${label} ${list}`;
}

function quote(value: string, max = 40): string {
  const shown = value.length > max ? `${value.slice(0, max)}...` : value;
  return `'${shown.replace(/\r?\n|\r/g, '\\n')}'`;
}

function nameList(names: readonly string[], max = 20): string {
  const shown = names.slice(0, max).map((n) => quote(n, 60));
  return names.length > max ? `${shown.join(', ')} and ${names.length - max} more` : shown.join(', ');
}

/** One message for all violations, for an error: the first few sentences. */
export function describeViolations(violations: readonly Violation[], max = 3): string {
  const head = violations.slice(0, max).map((v) => v.message);
  return head.join(' ') + (violations.length > max ? ` (and ${violations.length - max} more)` : '');
}

// ---------------------------------------------------------------------------------------------
// The scan
// ---------------------------------------------------------------------------------------------

/** csv-parse's reason without its own line number (which can be off; ours is the record's start). */
function csvReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+(?:at|on) line \d+/g, '').replace(/[.\s]+$/, '');
}

/**
 * csv-parse's streaming parser with each record handed to a callback synchronously, with the byte
 * offset where it ends (`info.bytes` while the record is pushed), instead of being queued on the
 * readable side. (csv-parse's `on_record` and `info` options would give the same, but build a
 * context object per record that costs a fifth of the scan.)
 */
class RecordParser extends Parser {
  constructor(
    options: CsvOptions,
    private readonly handle: (record: string[], end: number) => void,
  ) {
    super(options);
  }

  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null) return super.push(null, encoding);
    this.handle(chunk as string[], this.info.bytes);
    return true;
  }
}

/** Write a chunk; resolves with the parse error it caused, if any (the parser stops after one). */
function writeChunk(parser: Parser, buf: Buffer): Promise<unknown> {
  return new Promise((resolve) => parser.write(buf, (error) => resolve(error ?? undefined)));
}

/** End the input; resolves once the last record is handled, with the parse error if any. */
function endParser(parser: Parser): Promise<unknown> {
  return new Promise((resolve) => {
    parser.once('error', resolve);
    parser.once('finish', () => resolve(undefined));
    parser.end();
  });
}

function csvOptions(delimiter: string): CsvOptions {
  return {
    bom: true,
    delimiter,
    relax_column_count: true,
    skip_empty_lines: true,
    max_record_size: MAX_RECORD_BYTES,
  };
}

/**
 * Hash, parse, check and profile a CSV file in one streaming pass. Problems with the data are
 * returned as violations, never thrown; only an error of the source itself (a failed read) throws.
 */
export async function scanDataset(source: AsyncIterable<Buffer | Uint8Array | string>, options: ScanOptions): Promise<ScanResult> {
  const file = options.fileName;
  const given = options.schema;
  const targetName = options.target ?? given?.target ?? SCAN_DEFAULTS.target;
  const delimiter = options.delimiter ?? SCAN_DEFAULTS.delimiter;
  const minRows = options.minRows ?? SCAN_DEFAULTS.minRows;
  const maxNullShare = options.maxNullShare ?? SCAN_DEFAULTS.maxNullShare;
  const profileOptions = {
    maxCategories: options.maxCategories ?? SCAN_DEFAULTS.maxCategories,
    histogramBins: options.histogramBins ?? SCAN_DEFAULTS.histogramBins,
  };
  const givenTypes = new Map<string, FeatureType>((given?.columns ?? []).map((c) => [c.name, c.type]));
  const inferTask = options.task === undefined && given?.task === undefined;
  // A later dataset of a classification model must keep to the classes its schema fixed.
  const knownClasses =
    given !== undefined && (options.task ?? given.task) === 'classification' && given.classes && given.classes.length > 0
      ? new Set(given.classes)
      : null;

  const contentHash = createHash('sha256');
  const lines = new LineTracker();
  const utf8 = new Utf8Validator();
  let bytes = 0;
  // In an object: TypeScript would narrow a `let` assigned only inside the callbacks to null.
  const state: { header: string[] | null; headerLine: number } = { header: null, headerLine: 1 };
  let columns: ColumnScan[] = [];
  let rows = 0;
  let wellFormedRows = 0;
  const ragged = new Examples();
  let recordStart = 0;
  let internalError: unknown;

  const onHeader = (record: string[]): void => {
    state.header = record;
    columns = record.map((name) => {
      const mode: ReadMode = givenTypes.get(name) ?? 'infer';
      const isTarget = name === targetName;
      return new ColumnScan(name, mode, inferTask && isTarget && mode === 'infer', isTarget ? knownClasses : null);
    });
  };

  const onRecord = (record: string[], end: number): void => {
    const line = lines.recordLine(recordStart);
    recordStart = end;
    if (state.header === null) {
      state.headerLine = line;
      onHeader(record);
      return;
    }
    rows++;
    if (record.length !== columns.length) {
      ragged.note(line);
      return;
    }
    wellFormedRows++;
    for (let i = 0; i < columns.length; i++) columns[i].add(record[i], line);
  };

  const parser = new RecordParser(csvOptions(delimiter), (record, end) => {
    try {
      onRecord(record, end);
    } catch (error) {
      internalError ??= error;
    }
  });
  parser.on('error', () => undefined); // reported through the write and end callbacks
  parser.resume();

  let parseError: unknown;
  let invalidLine: number | undefined;
  let errorLine = 1;
  try {
    for await (const chunk of source) {
      const buf = toBuffer(chunk);
      if (buf.length === 0) continue;
      contentHash.update(buf);
      lines.push(buf, bytes);
      utf8.push(buf, bytes);
      // The line now: the tracker forgets the breaks before the records the parser has passed.
      if (utf8.invalidAt !== null && invalidLine === undefined) invalidLine = lines.lineOf(utf8.invalidAt);
      bytes += buf.length;
      // After a parse error the parser stops; the rest is still hashed and checked for UTF-8.
      if (parseError === undefined) {
        parseError = await writeChunk(parser, buf);
        if (parseError !== undefined) {
          errorLine = lines.recordLine(recordStart);
          lines.release();
        }
      }
      if (internalError !== undefined) throw internalError;
    }
    utf8.end();
    if (utf8.invalidAt !== null && invalidLine === undefined) invalidLine = lines.lineOf(utf8.invalidAt);
    if (parseError === undefined) {
      parseError = await endParser(parser);
      if (parseError !== undefined) errorLine = lines.recordLine(recordStart);
    }
    if (internalError !== undefined) throw internalError;
  } finally {
    parser.destroy();
  }

  // ---- Checks -------------------------------------------------------------------------------
  const violations: Violation[] = [];
  const sha256 = contentHash.digest('hex');
  const { header, headerLine } = state;
  const headerNames: string[] = header ?? [];
  const parsed = parseError === undefined;

  if (utf8.invalidAt !== null) {
    const line = invalidLine ?? 1;
    violations.push({
      check: 'encoding',
      count: 1,
      exampleRows: [line],
      message: `${file} is not valid UTF-8: the byte sequence at byte offset ${utf8.invalidAt} (line ${line}) is invalid; expected UTF-8 text (save the file as UTF-8).`,
    });
  }
  if (!parsed) {
    const line = errorLine;
    violations.push({
      check: 'malformed_row',
      count: 1,
      exampleRows: [line],
      message: `${file} cannot be parsed as CSV from the row starting on line ${line} (${csvReason(parseError)}); expected RFC 4180 quoting, where a field holding the delimiter, a quote or a line break is quoted and a quote inside it is doubled.`,
    });
  }
  // Blank lines only (or whitespace): nothing but a blank header.
  const blank = header === null || (rows === 0 && header.every(isBlank));
  if (blank) {
    if (parsed) {
      violations.push({
        check: 'empty_file',
        count: 0,
        exampleRows: [],
        message: `${file} is empty; expected a header line and at least ${plural(minRows, 'data row')}.`,
      });
    }
    const schema: DatasetSchema = given ?? { columns: [], target: targetName, task: options.task ?? 'classification' };
    return { sha256, bytes, rows: 0, header: [], schema, profile: { rows: 0, columns: {} }, violations, accepted: false };
  }

  if (ragged.count > 0) {
    violations.push({
      check: 'malformed_row',
      count: ragged.count,
      exampleRows: ragged.rows,
      message: `${file} has ${plural(ragged.count, 'row')} with a different number of fields than its header (${rowList(ragged)}); expected ${plural(headerNames.length, 'field')} in every row, as in the header.`,
    });
  }
  const empties = headerNames.map((name, i) => ({ name, i })).filter((c) => isBlank(c.name));
  if (empties.length > 0) {
    violations.push({
      check: 'malformed_row',
      count: empties.length,
      exampleRows: [headerLine],
      message: `The header of ${file} (line ${headerLine}) has ${plural(empties.length, 'empty column name')} (${empties.length === 1 ? 'column' : 'columns'} ${empties.map((c) => c.i + 1).join(', ')}); expected a name for every column.`,
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
        exampleRows: [headerLine],
        message: `Column ${quote(name)} appears ${at.length} times in the header of ${file} (columns ${at.join(', ')}); expected each column name once.`,
      });
    }
  }

  const target = firstIndex.has(targetName) ? columns[firstIndex.get(targetName) as number] : undefined;
  if (target === undefined) {
    violations.push({
      check: 'missing_target',
      column: targetName,
      count: 1,
      exampleRows: [headerLine],
      message: `Target column ${quote(targetName)} is not in the header of ${file}; found the columns ${nameList(headerNames)}.`,
    });
  }

  if (given !== undefined) {
    const schemaNames = given.columns.map((c) => c.name);
    for (const name of schemaNames) {
      if (!firstIndex.has(name) && name !== targetName) {
        violations.push({
          check: 'missing_column',
          column: name,
          count: 1,
          exampleRows: [headerLine],
          message: `Column ${quote(name)} of the model's schema is missing from ${file}; expected the columns ${nameList(schemaNames)}.`,
        });
      }
    }
    for (const name of firstIndex.keys()) {
      if (!givenTypes.has(name) && name !== given.target && name !== targetName) {
        violations.push({
          check: 'extra_column',
          column: name,
          count: 1,
          exampleRows: [headerLine],
          message: `Column ${quote(name)} in ${file} is not in the model's schema; expected only the columns ${nameList(schemaNames)}.`,
        });
      }
    }
  }

  if (parsed && rows < minRows) {
    violations.push({
      check: 'too_few_rows',
      count: rows,
      exampleRows: [],
      message: `${file} has ${plural(rows, 'data row')} after its header; expected at least ${minRows}.`,
    });
  }

  // ---- Types and task -----------------------------------------------------------------------
  const types = new Map<ColumnScan, FeatureType>();
  for (const column of columns) types.set(column, column.mode === 'infer' ? column.inferType() : column.mode);

  let task: Task;
  if (options.task !== undefined) task = options.task;
  else if (given !== undefined) task = given.task;
  else if (target === undefined) task = 'classification';
  else if (types.get(target) === 'categorical') task = 'classification';
  else {
    const distinct = target.distinctNumbers ?? new Set<number>();
    task = distinct.size <= MAX_INFERRED_CLASSES && target.integersOnly ? 'classification' : 'regression';
  }
  // A regression target must be numbers: read as numeric, so that text in it is reported.
  if (task === 'regression' && target !== undefined && target.mode === 'infer') types.set(target, 'numeric');

  // ---- Column checks ------------------------------------------------------------------------
  for (const [name, index] of firstIndex) {
    const column = columns[index];
    const type = types.get(column) as FeatureType;
    const isTarget = column === target;
    const label = isTarget ? 'Target column' : 'Column';
    if (type === 'numeric') {
      let why = "as in the model's schema";
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

  // ---- Schema and profile -------------------------------------------------------------------
  let schema: DatasetSchema;
  if (given !== undefined) {
    schema = given;
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
  for (const [name, index] of firstIndex) {
    const column = columns[index];
    const value = column.profile(types.get(column) as FeatureType, column.missing.count, profileOptions);
    Object.defineProperty(profileColumns, name, { value, enumerable: true, writable: true, configurable: true });
  }

  return {
    sha256,
    bytes,
    rows,
    header: headerNames,
    schema,
    profile: { rows, columns: profileColumns },
    violations,
    accepted: violations.length === 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Splits
// ---------------------------------------------------------------------------------------------

/**
 * The split of a record, 80/10/10, by a stable hash of its cells (sha1 of their JSON array, which
 * no two different records share), so the same row always lands in the same split.
 */
export function splitOf(record: string[]): SplitName {
  const digest = hash('sha1', JSON.stringify(record), 'buffer');
  const u = digest.readUInt32BE(0) / 0x1_0000_0000;
  return u < 0.8 ? 'train' : u < 0.9 ? 'validation' : 'test';
}

/** One RFC 4180 line: fields holding a comma, quote, CR or LF are quoted, quotes doubled; LF-terminated. */
export function csvLine(record: readonly string[]): string {
  if (record.length === 1 && record[0] === '') return '""\n'; // not a blank line, which readers skip
  return (
    record.map((field) => (/[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field)).join(',') + '\n'
  );
}

/** Bytes buffered per split before a write to its sink. */
const SINK_BATCH = 64 * 1024;

/**
 * Re-parse a file and write its header and each record, as comma-separated RFC 4180 CSV with LF
 * line ends, to the sink of the record's split. Honours backpressure (each source chunk's rows are
 * written before the next chunk is read, waiting for 'drain' where a sink asks), ends the sinks
 * (waiting for them to finish) and returns the rows written per split. On an error (a parse error,
 * a sink's error) it rejects and destroys the sinks.
 */
export async function writeSplits(
  source: AsyncIterable<Buffer | Uint8Array | string>,
  options: { delimiter?: string },
  sinks: Record<SplitName, NodeJS.WritableStream>,
): Promise<Record<SplitName, number>> {
  const counts: Record<SplitName, number> = { train: 0, validation: 0, test: 0 };
  const pending: Record<SplitName, string> = { train: '', validation: '', test: '' };
  let header = true;
  let sinkError: unknown;
  const onSinkError = (error: unknown): void => {
    sinkError ??= error;
  };
  for (const name of SPLITS) sinks[name].on('error', onSinkError);

  const parser = new RecordParser(csvOptions(options.delimiter ?? SCAN_DEFAULTS.delimiter), (record) => {
    const line = csvLine(record);
    if (header) {
      header = false;
      for (const name of SPLITS) pending[name] += line;
      return;
    }
    const name = splitOf(record);
    counts[name]++;
    pending[name] += line;
  });
  parser.on('error', () => undefined); // reported through the write and end callbacks
  parser.resume();

  const flush = async (name: SplitName): Promise<void> => {
    const data = pending[name];
    pending[name] = '';
    if (data.length > 0 && !sinks[name].write(data)) await once(sinks[name], 'drain');
    if (sinkError !== undefined) throw sinkError;
  };

  try {
    for await (const chunk of source) {
      const buf = toBuffer(chunk);
      if (buf.length === 0) continue;
      const error = await writeChunk(parser, buf);
      if (error !== undefined) throw error;
      for (const name of SPLITS) if (pending[name].length >= SINK_BATCH) await flush(name);
    }
    const error = await endParser(parser);
    if (error !== undefined) throw error;
    for (const name of SPLITS) await flush(name);
    await Promise.all(
      SPLITS.map(
        (name) =>
          new Promise<void>((resolve, reject) => {
            const sink = sinks[name];
            sink.once('error', reject);
            sink.end(() => resolve());
          }),
      ),
    );
  } catch (error) {
    // Destroyed without an error, so that no 'error' event can go unhandled; a reader of a sink
    // (an upload) sees a premature close and fails too.
    for (const name of SPLITS) (sinks[name] as NodeJS.WritableStream & { destroy?: () => void }).destroy?.();
    throw error;
  } finally {
    parser.destroy();
    for (const name of SPLITS) sinks[name].removeListener('error', onSinkError);
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------
// Schema hash
// ---------------------------------------------------------------------------------------------

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => compareStrings(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** sha256 (hex) of the canonical JSON (sorted keys) of the columns' names and types, the target and the task. */
export function schemaHash(schema: DatasetSchema): string {
  const canonical = canonicalJson({
    columns: schema.columns.map((c) => ({ name: c.name, type: c.type })),
    target: schema.target,
    task: schema.task,
  });
  return createHash('sha256').update(canonical).digest('hex');
}
