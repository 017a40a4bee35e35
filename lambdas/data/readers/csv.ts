/**
 * CSV into a table (CsvSink): records from the tokenizer (./csv-tokenizer.ts) with their physical
 * line numbers, UTF-8 validation, and a part of a file's stop after its last record.
 */
import { MAX_RECORD_BYTES, type Violation } from '../scan-types';
import type { TableScan } from '../table-scan';
import { ChunkLines, Utf8Validator } from '../text-tracking';
import { CsvTokenizer, type CsvRecord } from './csv-tokenizer';
import { encodingViolation, type ReadOutcome, type TextSink } from './outcome';

/** The tokenizer with the scan's options: a record over MAX_RECORD_BYTES is an error, not a reason to buffer the file. */
export function csvTokenizer(
  delimiter: string,
  recordDelimiter: string | undefined,
  onRecord: (record: CsvRecord) => void,
  linesFirst = false,
): CsvTokenizer {
  return new CsvTokenizer({ delimiter, recordDelimiter, maxRecordBytes: MAX_RECORD_BYTES, linesFirst }, onRecord);
}

/** What a CSV sink found besides the table, as JSON (see PartScan); offsets absolute, lines the part's own. */
export interface CsvSinkState {
  kind: 'csv';
  invalidAt: number | null;
  invalidLine?: number;
  parseError?: { line: number; reason: string };
}

/** Where a CSV sink stops: a part of a file ends with its last record that starts before `stopAt`. */
export interface CsvSinkLimits {
  /** Offset in the file of the first byte pushed. */
  base: number;
  /** Records starting at or past this many bytes after the first pushed one belong to the next part. */
  stopAt?: number;
  recordDelimiter?: string;
}

/** CSV into a table, with physical line numbers and UTF-8 validation. */
export class CsvSink implements TextSink {
  /** Line breaks of the latest chunk only (the tokenizer numbers the records): the line of an invalid byte, and of a part's end. */
  private readonly lines = new ChunkLines();
  private readonly utf8 = new Utf8Validator();
  private readonly tokenizer: CsvTokenizer;
  private offset = 0;
  private recordEnd = 0;
  private internalError: unknown;
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
    this.tokenizer = csvTokenizer(delimiter, limits.recordDelimiter, (record) => {
      try {
        this.recordEnd = record.end;
        if (record.end >= stopAt) {
          this.done = true;
          this.tokenizer.stop();
        }
        if (table.header === null) table.setHeader(record.fields(), record.line);
        else table.csvRecord(record);
        // Past the column limit nothing more is read (the rest is still hashed and checked for UTF-8).
        if (table.columnLimit !== undefined) this.tokenizer.stop();
      } catch (error) {
        this.internalError ??= error;
        this.tokenizer.stop();
      }
    });
  }

  async push(buf: Buffer): Promise<void> {
    const { lines, utf8 } = this;
    // (The line breaks before this chunk as the tokenizer counted them, while it reads.)
    lines.push(buf, this.offset, this.tokenizer.lineBreaksPushed());
    utf8.push(buf, this.offset);
    if (utf8.invalidAt !== null && this.invalidLine === undefined) this.invalidLine = lines.lineOf(utf8.invalidAt);
    this.offset += buf.length;
    // After a parse error the tokenizer stops; the rest is still hashed and checked for UTF-8.
    this.tokenizer.push(buf);
    if (this.internalError !== undefined) throw this.internalError;
  }

  /** Bytes pushed (relative to the first). */
  get pushed(): number {
    return this.offset;
  }

  /** Where the last record read ends, relative to the first byte pushed. */
  get lastRecordEnd(): number {
    return this.recordEnd;
  }

  /** Line breaks before `offset` (relative), for an offset in the latest chunk pushed. */
  lineBreaksBefore(offset: number): number {
    return this.lines.lineOf(offset) - 1;
  }

  /** Whether the tokenizer has stopped at an error. */
  get failed(): boolean {
    return this.tokenizer.error !== undefined;
  }

  state(end: number): CsvSinkState {
    const { invalidAt } = this.utf8;
    // A byte past the part's end was only pushed to finish its last record: the next part checks it.
    const own = invalidAt !== null && invalidAt < end;
    const error = this.tokenizer.error;
    return {
      kind: 'csv',
      invalidAt: own ? this.limits.base + (invalidAt as number) : null,
      ...(own && this.invalidLine !== undefined ? { invalidLine: this.invalidLine } : {}),
      ...(error !== undefined ? { parseError: { line: error.line, reason: error.reason } } : {}),
    };
  }

  async end(): Promise<void> {
    this.utf8.end();
    if (this.utf8.invalidAt !== null && this.invalidLine === undefined) this.invalidLine = this.lines.lineOf(this.utf8.invalidAt);
    this.tokenizer.end();
    if (this.internalError !== undefined) throw this.internalError;
  }

  destroy(): void {
    this.tokenizer.stop();
  }

  outcome(gzip: boolean): ReadOutcome {
    return csvOutcome(this.file, this.state(Infinity), gzip);
  }
}

export function csvOutcome(file: string, state: CsvSinkState, gzip: boolean): ReadOutcome {
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
