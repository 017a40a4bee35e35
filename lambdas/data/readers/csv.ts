/**
 * CSV through csv-parse: the record parser and its options (shared with the splits), and the sink
 * that feeds a table with physical line numbers and UTF-8 validation.
 */
import { Parser, type Options as CsvOptions } from 'csv-parse';
import { MAX_RECORD_BYTES, type Violation } from '../scan-types';
import type { TableScan } from '../table-scan';
import { LineTracker, Utf8Validator } from '../text-tracking';
import { encodingViolation, type ReadOutcome, type TextSink } from './outcome';

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
export class RecordParser extends Parser {
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
export function writeChunk(parser: Parser, buf: Buffer): Promise<unknown> {
  return new Promise((resolve) => parser.write(buf, (error) => resolve(error ?? undefined)));
}

/** End the input; resolves once the last record is handled, with the parse error if any. */
export function endParser(parser: Parser): Promise<unknown> {
  return new Promise((resolve) => {
    parser.once('error', resolve);
    parser.once('finish', () => resolve(undefined));
    parser.end();
  });
}

export function csvOptions(delimiter: string, recordDelimiter?: string): CsvOptions {
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

/** CSV through csv-parse, with physical line numbers and UTF-8 validation. */
export class CsvSink implements TextSink {
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
