/**
 * The pure core of dataset ingestion: one streaming pass over a dataset file (CSV, JSON Lines or
 * Parquet, the text formats optionally gzip-compressed; see ./formats.ts) computes its content
 * hash, checks it (against the model's schema when there is one, else against the schema it
 * infers), and profiles every column; a second pass writes deterministic train/validation/test
 * splits, always as CSV. No AWS calls here: the callers hand in byte sources and writable sinks.
 *
 * Memory stays flat as the file grows: rows are never kept, only per-column accumulators of
 * bounded size (see ./profile.ts) and the record being parsed (a Parquet file: one row group).
 */
import { isAscii } from 'node:buffer';
import { createHash, hash } from 'node:crypto';
import { once } from 'node:events';
import { Parser, type Options as CsvOptions } from 'csv-parse';
import type { ColumnProfile, ColumnSchema, DatasetProfile, DatasetSchema, FeatureType, NumericSketch, Task } from '../shared/types';
import {
  GzipDecoder,
  LineReader,
  NESTED,
  bufferSource,
  cellOf,
  decodedChunks,
  formatFromName,
  gzipReason,
  isGzip,
  isParquet,
  isRandomAccess,
  jsonReason,
  parquetLayout,
  rangeChunks,
  readParquetRows,
  type DataFormat,
  type DatasetSource,
  type ParquetLayout,
  type RandomAccessSource,
  type StreamSource,
} from './formats';
import { CategoryCounter, NumericStats, compareStrings, type CategoryCounterState, type NumericStatsState } from './profile';
import type { SchemaInput } from '../shared/schema-file';

export type { DataFormat, DatasetSource, RandomAccessSource, StreamSource } from './formats';

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
  | 'unknown_class'
  /** A value outside the categories a declared schema (schema.json) lists for its column. */
  | 'category_domain'
  /** The file cannot be read as its format at all: a truncated gzip stream, a corrupt Parquet file. */
  | 'corrupt_file';

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
  /**
   * The model's schema (fixed by its first dataset, or declared in a schema.json); when absent,
   * one is inferred. A declared schema may leave the task (and the classes) to inference.
   */
  schema?: SchemaInput;
  /**
   * The schema was declared (schema.json), not inferred: also enforce each column's `nullable`
   * and, where it lists them, its `categories` (category_domain).
   */
  strictSchema?: boolean;
  /** What declared a strict schema, in messages. Default 'schema.json'. */
  declaredBy?: string;
  /** The file's format; default: by the file name's extension (gzip and Parquet also by their magic bytes). */
  format?: DataFormat;
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
  /** Of the file's bytes as stored (compressed ones for a gzip file). */
  sha256: string;
  bytes: number;
  /** The format the file was read as, and whether it was gzip-compressed. */
  format: DataFormat;
  gzip: boolean;
  /** Data records after the header (ragged ones and unparseable JSON lines included). */
  rows: number;
  header: string[];
  /** The schema of this dataset: the given one, or the one inferred. */
  schema: DatasetSchema;
  profile: DatasetProfile;
  /** Empty when accepted. */
  violations: Violation[];
  accepted: boolean;
  /** The cut points of a split by time (the schema's timeColumn), for writeSplits. */
  timeSplit?: TimeSplit;
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
/** Letters of the radix prefixes Number() accepts and the number grammar does not. */
const RADIX = /[xXbBoO]/;

function isBlank(cell: string): boolean {
  if (cell.length === 0) return true;
  // Fast path: a printable ASCII first character.
  const c = cell.charCodeAt(0);
  if (c > 0x20 && c < 0x7f) return false;
  return cell.trim().length === 0;
}

/** The cell as a number: finite, Infinity for a non-finite spelling (NaN, inf, 1e999), NaN for text. */
function readNumber(cell: string): number {
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
function numberLabel(value: number): string {
  return Number.isInteger(value) && Math.abs(value) < 1e21 ? value.toFixed(0) : String(value);
}

/** ISO 8601 dates and date-times: 2024-05-01, 2024-05-01T12:30, 2024-05-01 12:30:00.5+02:00. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A time cell as a number: a number as it is (epoch seconds or milliseconds, a day index...), an
 * ISO 8601 date or date-time as epoch milliseconds, in UTC when it names no zone (so that a time
 * means the same on every machine). Undefined for anything else.
 */
export function readTime(cell: string): number | undefined {
  const text = cell.trim();
  const number = readNumber(text);
  if (Number.isFinite(number)) return number;
  const match = ISO_TIME.exec(text);
  if (!match) return undefined;
  const zoned = match[1] !== undefined || text.length === 10 ? text : `${text}Z`;
  const ms = Date.parse(zoned.replace(' ', 'T'));
  return Number.isFinite(ms) ? ms : undefined;
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

  toJSON(): ExamplesState {
    return this.sample === undefined
      ? { count: this.count, rows: [...this.rows] }
      : { count: this.count, rows: [...this.rows], sample: this.sample };
  }

  /** Add a later part's examples, its line numbers shifted by the lines before the part. */
  merge(other: ExamplesState, lineOffset: number): void {
    this.count += other.count;
    for (const row of other.rows) if (this.rows.length < MAX_EXAMPLE_ROWS) this.rows.push(row + lineOffset);
    if (this.sample === undefined && other.sample !== undefined) this.sample = other.sample;
  }
}

interface ExamplesState {
  count: number;
  rows: number[];
  sample?: string;
}

/** A column's accumulators as JSON: a part's share of the scan (see PartScan). */
interface ColumnScanState {
  name: string;
  missing: ExamplesState;
  nonNumeric: ExamplesState;
  nonFinite: ExamplesState;
  unknownClass: ExamplesState;
  outOfDomain: ExamplesState;
  nested: ExamplesState;
  numbers: NumericStatsState;
  categories: CategoryCounterState | null;
  distinctNumbers: number[] | null;
  integersOnly: boolean;
  numbersAsOther: boolean;
}

/** A table's accumulators as JSON (see PartScan). */
interface TableScanState {
  header: string[] | null;
  headerLine: number;
  columns: ColumnScanState[];
  rows: number;
  wellFormedRows: number;
  ragged: ExamplesState;
  raggedWithLineFeed: number;
  carriageReturns: ExamplesState;
  blank: boolean;
  firstLines: number[];
  time?: TimeScanState;
}

/** The time column's values (DatasetSchema.timeColumn), for the checks and the split's cut points. */
class TimeScan {
  readonly stats = new NumericStats();
  readonly bad = new Examples();
  readonly missing = new Examples();

  add(cell: string | typeof NESTED, row: number): void {
    if (cell === NESTED) {
      this.bad.note(row, '(a nested value)');
      return;
    }
    if (isBlank(cell)) {
      this.missing.note(row);
      return;
    }
    const time = readTime(cell);
    if (time === undefined) this.bad.note(row, cell);
    else this.stats.add(time);
  }

  toJSON(): TimeScanState {
    return { stats: this.stats.toJSON(), bad: this.bad.toJSON(), missing: this.missing.toJSON() };
  }

  merge(other: TimeScanState, lineOffset: number): void {
    this.stats.merge(NumericStats.fromJSON(other.stats));
    this.bad.merge(other.bad, lineOffset);
    this.missing.merge(other.missing, lineOffset);
  }
}

interface TimeScanState {
  stats: NumericStatsState;
  bad: ExamplesState;
  missing: ExamplesState;
}

/** Shares of the rows in train and validation (test takes the rest), by hash or by time. */
const SPLIT_SHARES = { train: 0.8, validation: 0.1 } as const;

/** How a time-split dataset's rows go to splits: by their time against two cut points. */
export interface TimeSplit {
  readonly column: string;
  /** Times below the first are train, below the second validation, the rest test. */
  readonly cutoffs: [number, number];
}

/** How a column is read: as the given schema says, or both ways until the type is inferred. */
type ReadMode = FeatureType | 'infer';

class ColumnScan {
  readonly missing = new Examples();
  readonly nonNumeric = new Examples();
  readonly nonFinite = new Examples();
  /** Target values outside the model's classes (a classification schema's target only). */
  readonly unknownClass = new Examples();
  /** Values outside a declared categorical domain. */
  readonly outOfDomain = new Examples();
  /** Values with no cell: a JSON object or array, Parquet bytes or a nested group. */
  readonly nested = new Examples();
  readonly numbers = new NumericStats();
  readonly categories: CategoryCounter | null;
  /** Distinct numbers of an inferred target, up to MAX_INFERRED_CLASSES + 1, for the task. */
  readonly distinctNumbers: Set<number> | null;
  integersOnly = true;
  /** Numbers are tallied as "other" categories from now on (see add). */
  private numbersAsOther = false;

  constructor(
    readonly name: string,
    readonly mode: ReadMode,
    inferTask: boolean,
    private readonly classes: ReadonlySet<string> | null = null,
    private readonly domain: ReadonlySet<string> | null = null,
  ) {
    this.categories = mode === 'numeric' ? null : new CategoryCounter();
    this.distinctNumbers = inferTask ? new Set<number>() : null;
  }

  add(cell: string, row: number): void {
    if (isBlank(cell)) {
      this.missing.note(row);
      return;
    }
    if (this.domain !== null && !this.domain.has(cell)) this.outOfDomain.note(row, cell);
    if (this.classes !== null && !this.classes.has(cell)) {
      // The trainer matches a label as it is, or as a canonical number ('1.0' is class '1').
      const number = readNumber(cell);
      if (!Number.isFinite(number) || !this.classes.has(numberLabel(number))) this.unknownClass.note(row, cell);
    }
    const categories = this.categories;
    if (this.mode === 'categorical') {
      (categories as CategoryCounter).add(cell);
      return;
    }
    const value = readNumber(cell);
    if (categories !== null) {
      // A column being inferred is counted both ways. Once its distinct values overflow the exact
      // map while it is mostly numbers, its numbers are no longer counted as categories (only
      // tallied under "other"): the costliest part of the scan for a high-cardinality numeric
      // column, and only needed if the column turned out categorical after all, in which case its
      // categories are those of its text values and of the numbers seen until then.
      if (this.numbersAsOther && Number.isFinite(value)) categories.addOther();
      else {
        categories.add(cell);
        if (!categories.exact && !this.numbersAsOther && this.inferType() === 'numeric') this.numbersAsOther = true;
      }
    }
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

  toJSON(): ColumnScanState {
    return {
      name: this.name,
      missing: this.missing.toJSON(),
      nonNumeric: this.nonNumeric.toJSON(),
      nonFinite: this.nonFinite.toJSON(),
      unknownClass: this.unknownClass.toJSON(),
      outOfDomain: this.outOfDomain.toJSON(),
      nested: this.nested.toJSON(),
      numbers: this.numbers.toJSON(),
      categories: this.categories === null ? null : this.categories.toJSON(),
      distinctNumbers: this.distinctNumbers === null ? null : [...this.distinctNumbers],
      integersOnly: this.integersOnly,
      numbersAsOther: this.numbersAsOther,
    };
  }

  /** Add the same column's accumulators from a later part of the file. */
  merge(other: ColumnScanState, lineOffset: number): void {
    this.missing.merge(other.missing, lineOffset);
    this.nonNumeric.merge(other.nonNumeric, lineOffset);
    this.nonFinite.merge(other.nonFinite, lineOffset);
    this.unknownClass.merge(other.unknownClass, lineOffset);
    this.outOfDomain.merge(other.outOfDomain, lineOffset);
    this.nested.merge(other.nested, lineOffset);
    this.numbers.merge(NumericStats.fromJSON(other.numbers));
    if (this.categories !== null && other.categories !== null) this.categories.merge(CategoryCounter.fromJSON(other.categories));
    const distinct = this.distinctNumbers;
    if (distinct !== null && other.distinctNumbers !== null) {
      for (const value of other.distinctNumbers) if (distinct.size <= MAX_INFERRED_CLASSES) distinct.add(value);
    }
    this.integersOnly &&= other.integersOnly;
    this.numbersAsOther ||= other.numbersAsOther;
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

function csvOptions(delimiter: string, recordDelimiter?: string): CsvOptions {
  return {
    bom: true,
    delimiter,
    // A part of a file (see scanPart) ends its records as the file's header line does, where a
    // whole file lets csv-parse find out from its first line.
    ...(recordDelimiter !== undefined ? { record_delimiter: recordDelimiter } : {}),
    relax_column_count: true,
    skip_empty_lines: true,
    max_record_size: MAX_RECORD_BYTES,
  };
}

/** A Parquet file read from a stream (not by ranges) is held in memory: at most this many bytes. */
export const MAX_STREAMED_PARQUET_BYTES = 512 * 1024 * 1024;

interface TableSettings {
  readonly targetName: string;
  readonly givenTypes: ReadonlyMap<string, FeatureType>;
  readonly inferTask: boolean;
  readonly knownClasses: ReadonlySet<string> | null;
  /** Categorical domains enforced per column (a declared schema's categories). */
  readonly domains: ReadonlyMap<string, ReadonlySet<string>>;
  /** The column of times the splits go by, if any (DatasetSchema.timeColumn). */
  readonly timeColumn?: string;
}

/**
 * The table being read, whatever the format: its header, one accumulator per column and the row
 * counts. CSV hands it records by position; JSON Lines objects by key (a key first seen on a later
 * line becomes a column that is empty in the rows before); Parquet rows of cells.
 */
class TableScan {
  header: string[] | null = null;
  /** The header's line (CSV), the first object's line (JSON Lines), 0 (Parquet: no lines). */
  headerLine = 1;
  columns: ColumnScan[] = [];
  rows = 0;
  wellFormedRows = 0;
  readonly ragged = new Examples();
  /** Ragged CSV records holding a line feed: lone LFs in a file whose records end with CRLF. */
  raggedWithLineFeed = 0;
  /** CSV records whose last field ends with CR: CRLF lines in a file whose records end with LF. */
  readonly carriageReturns = new Examples();
  /** Whether the header and every record so far are blank (whitespace only). */
  blank = true;
  /** Line numbers of the first well-formed rows (for a column that appears later). */
  private readonly firstLines: number[] = [];
  private readonly index = new Map<string, number>();
  /** The time column's values, when the splits go by time. */
  readonly time: TimeScan | null;
  /** Its position in the header (-1: not seen yet). */
  private timeIndex = -1;

  constructor(private readonly settings: TableSettings) {
    this.time = settings.timeColumn !== undefined ? new TimeScan() : null;
  }

  private column(name: string): ColumnScan {
    const s = this.settings;
    const mode: ReadMode = s.givenTypes.get(name) ?? 'infer';
    const isTarget = name === s.targetName;
    return new ColumnScan(
      name,
      mode,
      s.inferTask && isTarget && mode === 'infer',
      isTarget ? s.knownClasses : null,
      s.domains.get(name) ?? null,
    );
  }

  setHeader(names: string[], line: number): void {
    this.blank = names.every(isBlank);
    this.header = names;
    this.headerLine = line;
    this.columns = names.map((name) => this.column(name));
    this.timeIndex = this.settings.timeColumn !== undefined ? names.indexOf(this.settings.timeColumn) : -1;
  }

  /** A CSV record: its fields by position; a record of another length is ragged. */
  record(record: string[], line: number): void {
    this.rows++;
    if (this.blank) this.blank = record.every(isBlank);
    const columns = this.columns;
    if (record.length !== columns.length) {
      this.ragged.note(line);
      if (record.some((field) => field.includes('\n'))) this.raggedWithLineFeed++;
      return;
    }
    this.wellFormedRows++;
    const last = record[record.length - 1];
    if (last.charCodeAt(last.length - 1) === 13) this.carriageReturns.note(line);
    for (let i = 0; i < columns.length; i++) columns[i].add(record[i], line);
    if (this.timeIndex >= 0) (this.time as TimeScan).add(record[this.timeIndex], line);
  }

  /** A row of cells in header order (Parquet, JSON Lines); NESTED marks a value with no cell. */
  cells(cells: (string | typeof NESTED)[], line: number): void {
    this.rows++;
    this.wellFormedRows++;
    this.blank = false;
    if (this.firstLines.length < MAX_EXAMPLE_ROWS) this.firstLines.push(line);
    const columns = this.columns;
    for (let i = 0; i < columns.length; i++) {
      const cell = cells[i];
      if (cell === NESTED) columns[i].nested.note(line);
      else columns[i].add(cell ?? '', line);
    }
    if (this.timeIndex >= 0) (this.time as TimeScan).add(cells[this.timeIndex] ?? '', line);
  }

  /** A JSON object: its values by key. */
  object(value: Record<string, unknown>, line: number): void {
    if (this.header === null) this.setHeader([], line);
    const cells = new Array<string | typeof NESTED>(this.columns.length).fill('');
    for (const key of Object.keys(value)) {
      let i = this.index.get(key);
      if (i === undefined) i = this.addColumn(key);
      cells[i] = cellOf(value[key]);
    }
    this.cells(cells, line);
  }

  toJSON(): TableScanState {
    return {
      header: this.header === null ? null : [...this.header],
      headerLine: this.headerLine,
      columns: this.columns.map((c) => c.toJSON()),
      rows: this.rows,
      wellFormedRows: this.wellFormedRows,
      ragged: this.ragged.toJSON(),
      raggedWithLineFeed: this.raggedWithLineFeed,
      carriageReturns: this.carriageReturns.toJSON(),
      blank: this.blank,
      firstLines: [...this.firstLines],
      ...(this.time !== null ? { time: this.time.toJSON() } : {}),
    };
  }

  /**
   * Add a later part of the same file, its line numbers shifted by the lines before it. CSV parts
   * share the header, so columns match by position; JSON Lines columns match by name, and a column
   * one side never saw is missing in all of that side's rows, as in a single pass.
   */
  merge(part: TableScanState, lineOffset: number, byName: boolean): void {
    if (this.header === null) {
      if (part.header !== null) this.setHeader(byName ? [] : [...part.header], part.headerLine + lineOffset);
    }
    const matched = new Set<number>();
    part.columns.forEach((state, position) => {
      let i = byName ? this.index.get(state.name) : position;
      if (i === undefined) i = this.addColumn(state.name);
      if (i >= this.columns.length) return;
      matched.add(i);
      this.columns[i].merge(state, lineOffset);
    });
    const noteAllMissing = (missing: Examples): void => {
      for (let r = 0; r < Math.min(part.wellFormedRows, part.firstLines.length); r++) missing.note(part.firstLines[r] + lineOffset);
      missing.count += Math.max(0, part.wellFormedRows - part.firstLines.length);
    };
    if (byName) {
      // Columns this part never saw: missing in every one of its rows.
      for (let i = 0; i < this.columns.length; i++) if (!matched.has(i)) noteAllMissing(this.columns[i].missing);
    }
    if (this.time !== null) {
      if (part.time !== undefined && part.columns.some((c) => c.name === this.settings.timeColumn)) this.time.merge(part.time, lineOffset);
      else if (byName) noteAllMissing(this.time.missing);
    }
    this.rows += part.rows;
    this.wellFormedRows += part.wellFormedRows;
    this.ragged.merge(part.ragged, lineOffset);
    this.raggedWithLineFeed += part.raggedWithLineFeed;
    this.carriageReturns.merge(part.carriageReturns, lineOffset);
    this.blank &&= part.blank;
    for (const line of part.firstLines) if (this.firstLines.length < MAX_EXAMPLE_ROWS) this.firstLines.push(line + lineOffset);
  }

  /** A column first seen after `wellFormedRows` rows, which are missing it. */
  private addColumn(name: string): number {
    const column = this.column(name);
    const before = this.wellFormedRows;
    for (let r = 0; r < Math.min(before, this.firstLines.length); r++) column.missing.note(this.firstLines[r]);
    column.missing.count += Math.max(0, before - this.firstLines.length);
    const i = this.columns.length;
    this.columns.push(column);
    (this.header as string[]).push(name);
    this.index.set(name, i);
    if (name === this.settings.timeColumn) {
      // The rows before were missing the time too.
      this.timeIndex = i;
      (this.time as TimeScan).missing.merge(column.missing.toJSON(), 0);
    }
    return i;
  }
}

/** What reading a file found besides its table. */
interface ReadOutcome {
  /** Problems of the file as a whole, in order: encoding, parse errors, corrupt streams, bad lines. */
  readonly violations: Violation[];
  /** Whether every record was read: false after a parse error or a corrupt stream. */
  readonly complete: boolean;
}

function corrupt(file: string, what: string, reason: string, expected: string): Violation {
  return { check: 'corrupt_file', count: 1, exampleRows: [], message: `${file} ${what} (${reason}); expected ${expected}.` };
}

function encodingViolation(file: string, invalidAt: number, line: number, gzip: boolean): Violation {
  const where = gzip ? `byte offset ${invalidAt} of the decompressed data` : `byte offset ${invalidAt}`;
  return {
    check: 'encoding',
    count: 1,
    exampleRows: [line],
    message: `${file} is not valid UTF-8: the byte sequence at ${where} (line ${line}) is invalid; expected UTF-8 text (save the file as UTF-8).`,
  };
}

/** Decompressed text goes to a sink that parses it. */
interface TextSink {
  push(buf: Buffer): Promise<void>;
  /** The end of the text (not called when the text was cut short by a corrupt gzip stream). */
  end(): Promise<void>;
  destroy(): void;
  outcome(gzip: boolean): ReadOutcome;
}

/** What a CSV sink found besides the table, as JSON (see PartScan); offsets absolute, lines the part's own. */
interface CsvSinkState {
  kind: 'csv';
  invalidAt: number | null;
  invalidLine?: number;
  parseError?: { line: number; reason: string };
}

/** What a JSON Lines sink found besides the table, as JSON (see PartScan). */
interface JsonLinesSinkState {
  kind: 'jsonl';
  invalidAt: number | null;
  invalidLine?: number;
  invalid: ExamplesState;
  notObjects: ExamplesState;
  tooLong?: number;
}

/** What reading a part of a Parquet file found besides the table: an unreadable row group. */
interface ParquetPartState {
  kind: 'parquet';
  violations: Violation[];
  complete: boolean;
}

type SinkState = CsvSinkState | JsonLinesSinkState | ParquetPartState;

/** Where a CSV sink stops: a part of a file ends with its last record that starts before `stopAt`. */
interface CsvSinkLimits {
  /** Offset in the file of the first byte pushed. */
  base: number;
  /** Records starting at or past this many bytes after the first pushed one belong to the next part. */
  stopAt?: number;
  recordDelimiter?: string;
}

/** CSV through csv-parse, with physical line numbers and UTF-8 validation. */
class CsvSink implements TextSink {
  private readonly lines = new LineTracker();
  private readonly utf8 = new Utf8Validator();
  private readonly parser: RecordParser;
  private offset = 0;
  private recordStart = 0;
  private internalError: unknown;
  private parseError: unknown;
  private errorLine = 1;
  private invalidLine: number | undefined;
  /** A part's last record was read (see CsvSinkLimits.stopAt): later records are not this part's. */
  done = false;

  constructor(
    table: TableScan,
    private readonly file: string,
    delimiter: string,
    private readonly limits: CsvSinkLimits = { base: 0 },
  ) {
    const stopAt = limits.stopAt ?? Infinity;
    this.parser = new RecordParser(csvOptions(delimiter, limits.recordDelimiter), (record, end) => {
      if (this.done) return;
      try {
        const line = this.lines.recordLine(this.recordStart);
        this.recordStart = end;
        if (end >= stopAt) this.done = true;
        if (table.header === null) table.setHeader(record, line);
        else table.record(record, line);
      } catch (error) {
        this.internalError ??= error;
      }
    });
    this.parser.on('error', () => undefined); // reported through the write and end callbacks
    this.parser.resume();
  }

  async push(buf: Buffer): Promise<void> {
    const { lines, utf8 } = this;
    lines.push(buf, this.offset);
    utf8.push(buf, this.offset);
    // The line now: the tracker forgets the breaks before the records the parser has passed.
    if (utf8.invalidAt !== null && this.invalidLine === undefined) this.invalidLine = lines.lineOf(utf8.invalidAt);
    this.offset += buf.length;
    // After a parse error the parser stops; the rest is still hashed and checked for UTF-8.
    if (this.parseError === undefined && !this.done) {
      const error = await writeChunk(this.parser, buf);
      // An error after a part's last record is in the next part's bytes: not this part's.
      if (error !== undefined && !this.done) {
        this.parseError = error;
        this.errorLine = lines.recordLine(this.recordStart);
        lines.release();
      }
    }
    if (this.internalError !== undefined) throw this.internalError;
  }

  /** Bytes pushed (relative to the first). */
  get pushed(): number {
    return this.offset;
  }

  /** Where the last record read ends, relative to the first byte pushed. */
  get lastRecordEnd(): number {
    return this.recordStart;
  }

  /** Line breaks before `offset` (relative), for an offset at or after the last record's start. */
  lineBreaksBefore(offset: number): number {
    return this.lines.lineOf(offset) - 1;
  }

  /** Whether the parser has stopped at an error. */
  get failed(): boolean {
    return this.parseError !== undefined;
  }

  state(end: number): CsvSinkState {
    const { invalidAt } = this.utf8;
    // A byte past the part's end was only pushed to finish its last record: the next part checks it.
    const own = invalidAt !== null && invalidAt < end;
    return {
      kind: 'csv',
      invalidAt: own ? this.limits.base + (invalidAt as number) : null,
      ...(own && this.invalidLine !== undefined ? { invalidLine: this.invalidLine } : {}),
      ...(this.parseError !== undefined ? { parseError: { line: this.errorLine, reason: csvReason(this.parseError) } } : {}),
    };
  }

  async end(): Promise<void> {
    this.utf8.end();
    if (this.utf8.invalidAt !== null && this.invalidLine === undefined) this.invalidLine = this.lines.lineOf(this.utf8.invalidAt);
    if (this.parseError === undefined) {
      this.parseError = await endParser(this.parser);
      if (this.parseError !== undefined) this.errorLine = this.lines.recordLine(this.recordStart);
    }
    if (this.internalError !== undefined) throw this.internalError;
  }

  destroy(): void {
    this.parser.destroy();
  }

  outcome(gzip: boolean): ReadOutcome {
    return csvOutcome(this.file, this.state(Infinity), gzip);
  }
}

function csvOutcome(file: string, state: CsvSinkState, gzip: boolean): ReadOutcome {
  const violations: Violation[] = [];
  if (state.invalidAt !== null) violations.push(encodingViolation(file, state.invalidAt, state.invalidLine ?? 1, gzip));
  if (state.parseError !== undefined) {
    const { line, reason } = state.parseError;
    violations.push({
      check: 'malformed_row',
      count: 1,
      exampleRows: [line],
      message: `${file} cannot be parsed as CSV from the row starting on line ${line} (${reason}); expected RFC 4180 quoting, where a field holding the delimiter, a quote or a line break is quoted and a quote inside it is doubled.`,
    });
  }
  return { violations, complete: state.parseError === undefined };
}

function countNewlines(buf: Buffer, end: number): number {
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1 && i < end; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

/** JSON Lines: one JSON object per line; blank lines are skipped. */
class JsonLinesSink implements TextSink {
  private readonly utf8 = new Utf8Validator();
  private readonly reader: LineReader;
  private offset = 0;
  /** Line feeds pushed so far. */
  newlines = 0;
  private invalidLine: number | undefined;
  private readonly invalid = new Examples();
  private readonly notObjects = new Examples();

  constructor(
    private readonly table: TableScan,
    private readonly file: string,
    /** Offset in the file of the first byte pushed. */
    private readonly base = 0,
  ) {
    this.reader = new LineReader((text, line) => this.line(text, line), MAX_RECORD_BYTES);
  }

  private line(text: string, line: number): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      this.table.rows++;
      this.invalid.note(line, jsonReason(error));
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.table.rows++;
      this.notObjects.note(line, text);
      return;
    }
    this.table.object(value as Record<string, unknown>, line);
  }

  async push(buf: Buffer): Promise<void> {
    this.utf8.push(buf, this.offset);
    if (this.utf8.invalidAt !== null && this.invalidLine === undefined) {
      this.invalidLine = this.newlines + countNewlines(buf, this.utf8.invalidAt - this.offset) + 1;
    }
    this.newlines += countNewlines(buf, buf.length);
    this.offset += buf.length;
    this.reader.push(buf);
  }

  async end(): Promise<void> {
    this.utf8.end();
    // A sequence cut short by the end of the file: no line break can follow it.
    if (this.utf8.invalidAt !== null && this.invalidLine === undefined) this.invalidLine = this.newlines + 1;
    this.reader.end();
  }

  destroy(): void {}

  state(): JsonLinesSinkState {
    const { invalidAt } = this.utf8;
    return {
      kind: 'jsonl',
      invalidAt: invalidAt === null ? null : this.base + invalidAt,
      ...(invalidAt !== null && this.invalidLine !== undefined ? { invalidLine: this.invalidLine } : {}),
      invalid: this.invalid.toJSON(),
      notObjects: this.notObjects.toJSON(),
      ...(this.reader.tooLong !== undefined ? { tooLong: this.reader.tooLong } : {}),
    };
  }

  outcome(gzip: boolean): ReadOutcome {
    return jsonLinesOutcome(this.file, this.state(), gzip);
  }
}

function jsonLinesOutcome(file: string, state: JsonLinesSinkState, gzip: boolean): ReadOutcome {
  const violations: Violation[] = [];
  if (state.invalidAt !== null) violations.push(encodingViolation(file, state.invalidAt, state.invalidLine ?? 1, gzip));
  if (state.invalid.count > 0) {
    const e = state.invalid;
    const lines = rowList(e).replace(/^rows?/, e.rows.length === 1 ? 'line' : 'lines');
    violations.push({
      check: 'malformed_row',
      count: e.count,
      exampleRows: e.rows,
      message: `${file} has ${plural(e.count, 'line')} that ${e.count === 1 ? 'is' : 'are'} not valid JSON (${lines}); line ${e.rows[0]}: ${e.sample}; expected one JSON object per line.`,
    });
  }
  if (state.notObjects.count > 0) {
    const e = state.notObjects;
    const lines = rowList(e).replace(/^rows?/, e.rows.length === 1 ? 'line' : 'lines');
    violations.push({
      check: 'malformed_row',
      count: e.count,
      exampleRows: e.rows,
      message: `${file} has ${plural(e.count, 'line')} that ${e.count === 1 ? 'is' : 'are'} JSON but not an object (${lines}), such as ${quote(e.sample ?? '')}; expected one JSON object per line, with the columns as keys.`,
    });
  }
  if (state.tooLong !== undefined) {
    const line = state.tooLong;
    violations.push({
      check: 'malformed_row',
      count: 1,
      exampleRows: [line],
      message: `${file} has a line longer than ${MAX_RECORD_BYTES / (1024 * 1024)} MiB (line ${line}); expected one JSON object per line, each shorter than that.`,
    });
  }
  return { violations, complete: state.tooLong === undefined };
}

/** Parquet rows into the table, one row group at a time. A failed read of the source throws. */
async function readParquet(
  table: TableScan,
  source: RandomAccessSource,
  file: string,
  range?: { rowStart: number; rowEnd: number },
): Promise<ReadOutcome> {
  let sourceError: unknown;
  const guarded: RandomAccessSource = {
    byteLength: source.byteLength,
    read: async (start, end) => {
      try {
        return await source.read(start, end);
      } catch (error) {
        sourceError ??= error;
        throw error;
      }
    },
  };
  const expected = 'a Parquet file written whole (magic bytes, row groups, footer)';
  let layout: ParquetLayout;
  try {
    layout = await parquetLayout(guarded);
  } catch (error) {
    if (sourceError !== undefined) throw sourceError;
    return { violations: [corrupt(file, 'is not a readable Parquet file', jsonReason(error), expected)], complete: false };
  }
  table.setHeader(layout.columns, 0);
  try {
    await readParquetRows(
      guarded,
      layout,
      (rows, first) => {
        for (let i = 0; i < rows.length; i++) table.cells(rows[i].map(cellOf), first + i + 1);
      },
      range,
    );
  } catch (error) {
    if (sourceError !== undefined) throw sourceError;
    const reason = jsonReason(error);
    const before = (range?.rowStart ?? 0) + table.rows;
    return {
      violations: [corrupt(file, `has a Parquet row group that cannot be read after ${plural(before, 'row')}`, reason, expected)],
      complete: false,
    };
  }
  return { violations: [], complete: true };
}

/** The format and compression a file is read as. */
interface Detected {
  readonly format: DataFormat;
  readonly gzip: boolean;
}

/**
 * Read a byte stream: hash every byte as stored, sniff gzip and Parquet by their magic bytes,
 * gunzip as a stream, and hand the text to the format's sink. After a problem in the data the rest
 * is still hashed.
 */
async function readStream(
  source: StreamSource,
  table: TableScan,
  options: { file: string; format?: DataFormat; delimiter: string },
  onBytes: (buf: Buffer) => void,
): Promise<Detected & ReadOutcome> {
  const file = options.file;
  const iterator = source[Symbol.asyncIterator]();
  const next = async (): Promise<Buffer | null> => {
    for (;;) {
      const item = await iterator.next();
      if (item.done) return null;
      const buf = toBuffer(item.value);
      if (buf.length === 0) continue;
      onBytes(buf);
      return buf;
    }
  };
  const drain = async (): Promise<void> => {
    while ((await next()) !== null);
  };

  // The magic bytes: the first 4 bytes, however the source cuts its chunks.
  const head: Buffer[] = [];
  let headLength = 0;
  for (let buf = headLength < 4 ? await next() : null; buf !== null; buf = headLength < 4 ? await next() : null) {
    head.push(buf);
    headLength += buf.length;
  }
  const first = Buffer.concat(head);
  const named = options.format !== undefined ? { format: options.format, gzip: false } : formatFromName(file);
  const gzip = isGzip(first);
  const format: DataFormat = !gzip && isParquet(first) ? 'parquet' : named.format;

  if (format === 'parquet') {
    if (gzip) {
      await drain();
      return {
        format,
        gzip,
        violations: [
          corrupt(
            file,
            'is a gzip-compressed Parquet file',
            'not supported',
            'a Parquet file as written, since Parquet compresses its own pages',
          ),
        ],
        complete: false,
      };
    }
    if (headLength === 0) return { format, gzip, violations: [], complete: true };
    // Parquet needs random access (its footer comes first): held in memory, up to a limit.
    const chunks = head;
    let size = headLength;
    for (let buf = await next(); buf !== null; buf = await next()) {
      size += buf.length;
      if (size > MAX_STREAMED_PARQUET_BYTES) {
        chunks.length = 0;
        await drain();
        return {
          format,
          gzip,
          violations: [
            corrupt(
              file,
              `is a Parquet file of more than ${MAX_STREAMED_PARQUET_BYTES / (1024 * 1024)} MiB read as a stream`,
              'too large to hold in memory',
              'a name ending in .parquet, so that it is read by byte ranges',
            ),
          ],
          complete: false,
        };
      }
      chunks.push(buf);
    }
    return { format, gzip, ...(await readParquet(table, bufferSource(Buffer.concat(chunks, size)), file)) };
  }

  const sink: TextSink = format === 'jsonl' ? new JsonLinesSink(table, file) : new CsvSink(table, file, options.delimiter);
  const decoder = gzip ? new GzipDecoder() : null;
  let gzipError: Error | undefined;
  try {
    const feed = async (buf: Buffer): Promise<void> => {
      if (decoder === null) return sink.push(buf);
      if (gzipError !== undefined) return;
      for (const out of await decoder.push(buf)) await sink.push(out);
      gzipError = decoder.error;
    };
    for (const buf of head) await feed(buf);
    for (let buf = await next(); buf !== null; buf = await next()) await feed(buf);
    if (decoder !== null && gzipError === undefined) {
      for (const out of await decoder.end()) await sink.push(out);
      gzipError = decoder.error;
    }
    if (gzipError === undefined) await sink.end();
  } finally {
    sink.destroy();
    decoder?.destroy();
  }
  const outcome = sink.outcome(gzip);
  if (gzipError !== undefined) {
    const violation = corrupt(
      file,
      'is not a complete gzip stream',
      gzipReason(gzipError),
      'a whole gzip file (was it cut short while uploading?)',
    );
    return { format, gzip, violations: [...outcome.violations, violation], complete: false };
  }
  return { format, gzip, ...outcome };
}

/**
 * Hash, parse, check and profile a dataset file in one streaming pass: CSV, JSON Lines or Parquet,
 * the text formats optionally gzip-compressed. A stream source is read in order (a Parquet file in
 * a stream is held in memory, up to MAX_STREAMED_PARQUET_BYTES); a random-access source (ranged
 * reads) is hashed in order and, for Parquet, parsed one row group at a time. Problems with the
 * data are returned as violations, never thrown; only an error of the source itself (a failed
 * read) throws.
 */
export async function scanDataset(source: DatasetSource, options: ScanOptions): Promise<ScanResult> {
  const file = options.fileName;
  const { table, delimiter, context } = prepareScan(options);

  const contentHash = createHash('sha256');
  let bytes = 0;
  const onBytes = (buf: Buffer | Uint8Array): void => {
    contentHash.update(buf);
    bytes += buf.length;
  };

  let read: Detected & ReadOutcome;
  if (isRandomAccess(source)) {
    for await (const chunk of rangeChunks(source)) onBytes(chunk);
    const named = options.format ?? formatFromName(file).format;
    const head = source.byteLength >= 4 ? await source.read(0, 4) : new Uint8Array(0);
    if (named === 'parquet' || isParquet(head)) {
      read = {
        format: 'parquet',
        gzip: false,
        ...(source.byteLength === 0 ? { violations: [], complete: true } : await readParquet(table, source, file)),
      };
    } else {
      read = await readStream(rangeChunks(source), table, { file, format: options.format, delimiter }, () => undefined);
    }
  } else {
    read = await readStream(source, table, { file, format: options.format, delimiter }, onBytes);
  }

  return evaluate(table, read, context(contentHash.digest('hex'), bytes));
}

/** The table a scan fills, and the settings its checks need, from the scan's options. */
function prepareScan(options: ScanOptions): {
  table: TableScan;
  delimiter: string;
  context: (sha256: string, bytes: number) => EvaluateContext;
} {
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
  const declaredTask = options.task ?? given?.task;
  const inferTask = declaredTask === undefined;
  // A later dataset of a classification model must keep to the classes its schema fixed.
  const knownClasses =
    given !== undefined && declaredTask === 'classification' && given.classes && given.classes.length > 0 ? new Set(given.classes) : null;
  const domains = new Map<string, ReadonlySet<string>>();
  if (options.strictSchema && given !== undefined) {
    for (const c of given.columns) {
      if (c.type === 'categorical' && c.categories && c.categories.length > 0 && c.name !== targetName)
        domains.set(c.name, new Set(c.categories));
    }
  }
  const timeColumn = given?.timeColumn;
  const table = new TableScan({
    targetName,
    givenTypes,
    inferTask,
    knownClasses,
    domains,
    ...(timeColumn !== undefined ? { timeColumn } : {}),
  });
  const context = (sha256: string, bytes: number): EvaluateContext => ({
    file,
    sha256,
    bytes,
    given,
    strict: options.strictSchema === true,
    declaredBy: options.declaredBy ?? 'schema.json',
    targetName,
    task: options.task,
    minRows,
    maxNullShare,
    knownClasses,
    profileOptions,
  });
  return { table, delimiter, context };
}

// ---------------------------------------------------------------------------------------------
// Parts: a file too big for one function scanned as byte ranges in parallel, merged exactly
// ---------------------------------------------------------------------------------------------

/** What every part of a file needs to know from its beginning (see partLayout). */
export interface PartLayout {
  /** Parquet parts are ranges of rows, whole row groups; the text formats' are byte ranges. */
  readonly format: 'csv' | 'jsonl' | 'parquet';
  /** CSV: the header's fields, for the parts after the first. */
  readonly header?: string[];
  /** CSV: how the header line ends ('\n' or '\r\n'); every part's parser expects the same. */
  readonly recordDelimiter?: string;
  /** CSV: the field delimiter. */
  readonly delimiter?: string;
}

/**
 * One part's share of a scan, as JSON. A part holds the records that start in its nominal byte
 * range: it starts after the first line feed at or after its range's first byte (the first part
 * at 0), and ends with the last record that starts in the range, even past it (a record whose
 * quoted field holds the line feed the next part started after). PartMerger checks that each part
 * starts where the one before it ends, which tells such a misplaced start.
 */
export interface PartScan {
  readonly index: number;
  readonly format: 'csv' | 'jsonl' | 'parquet';
  /** Where the part's first record starts and where its last one ends (bytes of the file; rows of a Parquet file). */
  readonly start: number;
  readonly end: number;
  /** Line breaks in [start, end): the lines of the next part come after these. */
  readonly lines: number;
  readonly table: TableScanState;
  readonly sink: SinkState;
}

export interface PartOptions {
  readonly index: number;
  /** The part's nominal byte range [start, end) in a file of `size` bytes. */
  readonly start: number;
  readonly end: number;
  readonly size: number;
  /**
   * The offset in the file of the source's first byte: `start - 1` (the byte before the range,
   * to tell whether the range starts right after a line feed), or 0 for the first part.
   */
  readonly from: number;
  /**
   * The source starts at a record's first byte (`from === start`): a part scanned again from
   * where the part before it ended (see PartMerger.addOrRescan), not searched for a line feed.
   */
  readonly aligned?: boolean;
  readonly layout: PartLayout;
}

/**
 * The layout of a file to cut into parts, from its first bytes (at least its header line): the
 * CSV header and line end, or undefined when the file cannot be cut (CR-only line ends, a header
 * longer than `head`, no line after the header).
 */
export async function partLayout(
  head: Buffer,
  format: 'csv' | 'jsonl',
  delimiter = SCAN_DEFAULTS.delimiter as string,
): Promise<PartLayout | undefined> {
  if (format === 'jsonl') return head.includes(10) ? { format } : undefined;
  let header: string[] | undefined;
  let end = 0;
  const parser = new RecordParser(csvOptions(delimiter), (record, at) => {
    if (header === undefined) {
      header = record;
      end = at;
    }
  });
  parser.on('error', () => undefined);
  parser.resume();
  await writeChunk(parser, head);
  parser.destroy();
  if (header === undefined || end >= head.length) return undefined;
  // csv-parse's offset counts the BOM it drops; the line end is just before `end` either way.
  if (head[end - 1] !== 10) return undefined;
  return { format, header, recordDelimiter: head[end - 2] === 13 ? '\r\n' : '\n', delimiter };
}

/**
 * Scan one part of a file (see PartScan) from a stream of the file's bytes starting at
 * `part.from`; reading stops once the part's last record is read. Line numbers in the result are
 * the part's own (1 = its first line); PartMerger shifts them.
 */
export async function scanPart(source: StreamSource, options: ScanOptions, part: PartOptions): Promise<PartScan> {
  const { table, delimiter } = prepareScan(options);
  const { layout } = part;
  if (layout.format === 'parquet') throw new Error('A Parquet part is read by row groups: scanParquetPart.');
  const iterator = source[Symbol.asyncIterator]();
  let position = part.from;
  let held: Buffer | null = null;
  const next = async (): Promise<Buffer | null> => {
    if (held !== null) {
      const buf = held;
      held = null;
      return buf;
    }
    for (;;) {
      const item = await iterator.next();
      if (item.done) return null;
      const buf = toBuffer(item.value);
      if (buf.length === 0) continue;
      position += buf.length;
      return buf;
    }
  };
  // The next byte `next` hands out is at `position - held.length`.
  const at = (): number => position - (held?.length ?? 0);
  const stop = async (): Promise<void> => {
    await iterator.return?.();
  };

  try {
    // The part's first record: right after the first line feed at or after its start's byte before.
    let start = part.aligned ? part.from : 0;
    if (part.start > 0 && !part.aligned) {
      start = part.size;
      for (let buf = await next(); buf !== null; buf = await next()) {
        const lf = buf.indexOf(10);
        if (lf === -1) continue;
        held = lf + 1 < buf.length ? buf.subarray(lf + 1) : null;
        start = at();
        break;
      }
    }
    if (layout.format === 'csv' && part.index > 0) table.setHeader([...(layout.header ?? [])], 1);
    if (start >= part.end) {
      // No record starts in the range: an empty part where the next one starts.
      const sink =
        layout.format === 'csv'
          ? new CsvSink(table, options.fileName, delimiter, { base: start })
          : new JsonLinesSink(table, options.fileName, start);
      return {
        index: part.index,
        format: layout.format,
        start,
        end: start,
        lines: 0,
        table: table.toJSON(),
        sink: sink instanceof CsvSink ? sink.state(0) : sink.state(),
      };
    }

    if (layout.format === 'jsonl') {
      // A line feed always ends a JSON line: cut right after the first one at or after end - 1.
      const sink = new JsonLinesSink(table, options.fileName, start);
      let pushed = 0;
      for (let buf = await next(); buf !== null; buf = await next()) {
        const first = at() - buf.length;
        const from = Math.max(0, part.end - 1 - first);
        const lf = from < buf.length ? buf.indexOf(10, from) : -1;
        if (lf === -1) {
          await sink.push(buf);
          pushed += buf.length;
          continue;
        }
        await sink.push(buf.subarray(0, lf + 1));
        pushed += lf + 1;
        break;
      }
      await sink.end();
      const end = start + pushed;
      return { index: part.index, format: 'jsonl', start, end, lines: sink.newlines, table: table.toJSON(), sink: sink.state() };
    }

    const sink = new CsvSink(table, options.fileName, layout.delimiter ?? delimiter, {
      base: start,
      stopAt: part.end - start,
      recordDelimiter: layout.recordDelimiter,
    });
    let eof = true;
    for (let buf = await next(); buf !== null; buf = await next()) {
      await sink.push(buf);
      // Past an error the parser reads no more; the rest of the range is still checked for UTF-8.
      if (sink.done || (sink.failed && at() >= part.end)) {
        eof = false;
        break;
      }
    }
    if (eof) await sink.end();
    sink.destroy();
    const end = sink.done ? start + sink.lastRecordEnd : eof ? start + sink.pushed : Math.min(at(), part.size);
    const lines = sink.lineBreaksBefore(end - start);
    return { index: part.index, format: 'csv', start, end, lines, table: table.toJSON(), sink: sink.state(end - start) };
  } finally {
    await stop();
  }
}

/**
 * Scan the row groups of a Parquet file that start in the rows [part.start, part.end) (a part's
 * nominal range: whole row groups, see lambdas/data/parts.ts). Row numbers are the file's.
 */
export async function scanParquetPart(
  source: RandomAccessSource,
  options: ScanOptions,
  part: { index: number; start: number; end: number },
): Promise<PartScan> {
  const { table } = prepareScan(options);
  const read = await readParquet(table, source, options.fileName, { rowStart: part.start, rowEnd: part.end });
  return {
    index: part.index,
    format: 'parquet',
    start: part.start,
    end: part.end,
    // Parquet rows are numbered by their position in the file already.
    lines: 0,
    table: table.toJSON(),
    sink: { kind: 'parquet', violations: read.violations, complete: read.complete },
  };
}

/**
 * Adds up the parts of a file, in order, into the result a single pass over the file gives: the
 * same counts, checks, messages and line numbers, and the same profile within the sketches' stated
 * error (exactly, where the sketches are exact: at most 1,024 values of a numeric column, 8,192
 * distinct values of a categorical one). As in a single pass, nothing after a part that stopped
 * at a parse error counts, except for the UTF-8 check.
 */
export class PartMerger {
  private readonly table: TableScan;
  private readonly context: (sha256: string, bytes: number) => EvaluateContext;
  private lineOffset = 0;
  private complete = true;
  private format: 'csv' | 'jsonl' | 'parquet' | undefined;
  private sink: SinkState | undefined;
  private readonly file: string;
  /** Where the next part must start: where the parts so far end. */
  expectedStart = 0;
  parts = 0;

  constructor(options: ScanOptions) {
    ({ table: this.table, context: this.context } = prepareScan(options));
    this.file = options.fileName;
  }

  /**
   * Add the next part; when it does not start where the parts before it end (its range started
   * inside a quoted field that holds a line feed), `rescan` scans it again from there
   * (PartOptions.aligned). Resolves with whether it did.
   */
  async addOrRescan(part: PartScan, rescan: (start: number) => Promise<PartScan>): Promise<boolean> {
    if (part.start === this.expectedStart) {
      this.add(part);
      return false;
    }
    this.add(await rescan(this.expectedStart));
    return true;
  }

  /** Add the next part; it must start where the parts before it end (expectedStart). */
  add(part: PartScan): void {
    if (part.start !== this.expectedStart) {
      throw new Error(
        `Part ${part.index} starts at byte ${part.start}, not at byte ${this.expectedStart} where the parts before it end; it must be scanned again from there.`,
      );
    }
    this.format ??= part.format;
    const offset = this.lineOffset;
    if (this.complete) this.table.merge(part.table, offset, part.format === 'jsonl');
    const shifted = (line: number | undefined): number | undefined => (line === undefined ? undefined : line + offset);
    const sink = part.sink;
    if (this.sink === undefined) {
      this.sink =
        sink.kind === 'csv'
          ? { kind: 'csv', invalidAt: null }
          : sink.kind === 'parquet'
            ? { kind: 'parquet', violations: [], complete: true }
            : { kind: 'jsonl', invalidAt: null, invalid: { count: 0, rows: [] }, notObjects: { count: 0, rows: [] } };
    }
    const merged = this.sink;
    if (merged.kind === 'parquet' || sink.kind === 'parquet') {
      // Row groups: nothing after an unreadable one counts, as in one pass.
      if (this.complete && merged.kind === 'parquet' && sink.kind === 'parquet' && !sink.complete) {
        merged.violations = sink.violations;
        merged.complete = false;
        this.complete = false;
      }
    } else if (merged.invalidAt === null && sink.invalidAt !== null) {
      merged.invalidAt = sink.invalidAt;
      merged.invalidLine = shifted(sink.invalidLine);
    }
    if (this.complete) {
      if (merged.kind === 'csv' && sink.kind === 'csv' && sink.parseError !== undefined) {
        merged.parseError = { line: sink.parseError.line + offset, reason: sink.parseError.reason };
        this.complete = false;
      }
      if (merged.kind === 'jsonl' && sink.kind === 'jsonl') {
        const invalid = new Examples();
        invalid.merge(merged.invalid, 0);
        invalid.merge(sink.invalid, offset);
        const notObjects = new Examples();
        notObjects.merge(merged.notObjects, 0);
        notObjects.merge(sink.notObjects, offset);
        merged.invalid = invalid.toJSON();
        merged.notObjects = notObjects.toJSON();
        if (sink.tooLong !== undefined) {
          merged.tooLong = sink.tooLong + offset;
          this.complete = false;
        }
      }
    }
    this.lineOffset += part.lines;
    this.expectedStart = part.end;
    this.parts++;
  }

  /** The scan's result, with the content hash of the whole file (hashed in one pass elsewhere). */
  result(sha256: string, bytes: number): ScanResult {
    const format = this.format ?? 'csv';
    const sink = this.sink ?? { kind: 'csv', invalidAt: null };
    const outcome =
      sink.kind === 'csv'
        ? csvOutcome(this.file, sink, false)
        : sink.kind === 'parquet'
          ? { violations: sink.violations, complete: sink.complete }
          : jsonLinesOutcome(this.file, sink, false);
    return evaluate(this.table, { format, gzip: false, ...outcome }, this.context(sha256, bytes));
  }
}

interface EvaluateContext {
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
function evaluate(table: TableScan, read: Detected & ReadOutcome, ctx: EvaluateContext): ScanResult {
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

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
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
  return u < SPLIT_SHARES.train ? 'train' : u < SPLIT_SHARES.train + SPLIT_SHARES.validation ? 'validation' : 'test';
}

/** One RFC 4180 line: fields holding a comma, quote, CR or LF are quoted, quotes doubled; LF-terminated. */
export function csvLine(record: readonly string[]): string {
  if (record.length === 1 && record[0] === '') return '""\n'; // not a blank line, which readers skip
  return record.map((field) => (/[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field)).join(',') + '\n';
}

/** Bytes buffered per split before a write to its sink. */
const SINK_BATCH = 64 * 1024;

export interface SplitOptions {
  /** CSV's delimiter, default ','. */
  delimiter?: string;
  /** The format, as the scan found it (ScanResult.format); default: by `fileName`, else CSV. */
  format?: DataFormat;
  /** For the default format. */
  fileName?: string;
  /**
   * The columns, in order (ScanResult.header): JSON Lines objects are written in this order,
   * with an empty cell for a missing key. Default: the keys of the first object.
   */
  header?: string[];
  /**
   * CSV: the source is a part of a file after its header line (PartScan): these fields are
   * written as the header, and every record of the source is data.
   */
  partHeader?: string[];
  /** CSV: the file's line end (PartLayout.recordDelimiter), for a part. */
  recordDelimiter?: string;
  /** Split by time (ScanResult.timeSplit) instead of by a hash of each row. */
  timeSplit?: TimeSplit;
  /** Parquet: only the row groups that start in these rows (a part, see scanParquetPart). */
  rowRange?: { rowStart: number; rowEnd: number };
}

/**
 * Re-read a file (CSV, JSON Lines or Parquet; gzip-compressed text is gunzipped) and write its
 * header and each record, as comma-separated RFC 4180 CSV with LF line ends, to the sink of the
 * record's split: the trainer reads CSV whatever the format dropped. Honours backpressure (each
 * source chunk's rows are written before the next chunk is read, waiting for 'drain' where a sink
 * asks), ends the sinks (waiting for them to finish) and returns the rows written per split. On
 * an error (a parse error, a sink's error) it rejects and destroys the sinks.
 */
export async function writeSplits(
  source: DatasetSource,
  options: SplitOptions,
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

  const timeSplit = options.timeSplit;
  let timeIndex = -1;
  const splitByTime = (record: string[]): SplitName => {
    const time = readTime(record[timeIndex] ?? '');
    // The scan rejects a dataset with a missing or unreadable time; this is a different file.
    if (time === undefined)
      throw new Error(`A row has ${quote(record[timeIndex] ?? '')} in the time column ${quote(timeSplit!.column)}: not a time.`);
    return time < timeSplit!.cutoffs[0] ? 'train' : time < timeSplit!.cutoffs[1] ? 'validation' : 'test';
  };
  const emit = (record: string[]): void => {
    const line = csvLine(record);
    if (header) {
      header = false;
      if (timeSplit !== undefined) {
        timeIndex = record.indexOf(timeSplit.column);
        if (timeIndex < 0) throw new Error(`The time column ${quote(timeSplit.column)} is not among the columns ${nameList(record)}.`);
      }
      for (const name of SPLITS) pending[name] += line;
      return;
    }
    const name = timeSplit !== undefined ? splitByTime(record) : splitOf(record);
    counts[name]++;
    pending[name] += line;
  };

  const flush = async (name: SplitName): Promise<void> => {
    const data = pending[name];
    pending[name] = '';
    if (data.length > 0 && !sinks[name].write(data)) await once(sinks[name], 'drain');
    if (sinkError !== undefined) throw sinkError;
  };
  const flushFull = async (): Promise<void> => {
    for (const name of SPLITS) if (pending[name].length >= SINK_BATCH) await flush(name);
  };

  const format: DataFormat = options.format ?? (options.fileName !== undefined ? formatFromName(options.fileName).format : 'csv');
  const parser =
    format === 'csv'
      ? new RecordParser(csvOptions(options.delimiter ?? SCAN_DEFAULTS.delimiter, options.recordDelimiter), (record) => emit(record))
      : null;
  if (parser !== null && options.partHeader !== undefined) emit(options.partHeader);
  if (parser !== null) {
    parser.on('error', () => undefined); // reported through the write and end callbacks
    parser.resume();
  }

  try {
    if (format === 'parquet') {
      let file: RandomAccessSource;
      if (isRandomAccess(source)) file = source;
      else {
        const chunks: Buffer[] = [];
        for await (const chunk of source) chunks.push(toBuffer(chunk));
        file = bufferSource(Buffer.concat(chunks));
      }
      const layout = await parquetLayout(file);
      emit(layout.columns);
      await readParquetRows(
        file,
        layout,
        async (rows) => {
          for (const row of rows) emit(row.map((value) => cellText(value)));
          await flushFull();
        },
        options.rowRange,
      );
    } else {
      const stream = isRandomAccess(source) ? rangeChunks(source) : source;
      let lineError: Error | undefined;
      let columns = options.header;
      const lines =
        format === 'jsonl'
          ? new LineReader((text, line) => {
              if (lineError !== undefined) return;
              let value: unknown;
              try {
                value = JSON.parse(text);
              } catch (error) {
                lineError = new Error(`Line ${line} is not valid JSON: ${jsonReason(error)}.`);
                return;
              }
              if (value === null || typeof value !== 'object' || Array.isArray(value)) {
                lineError = new Error(`Line ${line} is not a JSON object.`);
                return;
              }
              const object = value as Record<string, unknown>;
              if (columns === undefined) columns = Object.keys(object);
              if (header) emit(columns);
              emit(columns.map((key) => (Object.hasOwn(object, key) ? cellText(object[key]) : '')));
            }, MAX_RECORD_BYTES)
          : null;
      for await (const buf of decodedChunks(stream)) {
        if (parser !== null) {
          const error = await writeChunk(parser, buf);
          if (error !== undefined) throw error;
        } else if (lines !== null) {
          lines.push(buf);
          if (lineError !== undefined) throw lineError;
          if (lines.tooLong !== undefined) throw new Error(`Line ${lines.tooLong} is longer than ${MAX_RECORD_BYTES} bytes.`);
        }
        await flushFull();
      }
      if (parser !== null) {
        const error = await endParser(parser);
        if (error !== undefined) throw error;
      } else if (lines !== null) {
        lines.end();
        if (lineError !== undefined) throw lineError;
        if (header && columns !== undefined) emit(columns);
      }
    }
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
    parser?.destroy();
    for (const name of SPLITS) sinks[name].removeListener('error', onSinkError);
  }
  return counts;
}

/** A JSON or Parquet value as a split's cell (nested values, rejected by the scan, as JSON). */
function cellText(value: unknown): string {
  const cell = cellOf(value);
  return cell === NESTED ? (JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? '') : cell;
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
