/**
 * A file too big for one function, scanned as byte ranges in parallel (Parquet: as runs of whole
 * row groups) and merged exactly: partLayout reads what every part needs from the file's start,
 * scanPart and scanParquetPart scan one part, and PartMerger adds the parts up, in order, into the
 * result a single pass gives (./scan.ts). lambdas/data/parts.ts runs these in the state machine.
 */
import { checkTable, type CheckContext } from './checks';
import { Examples } from './column-scan';
import { toBuffer, type RandomAccessSource, type StreamSource } from './formats';
import { CsvSink, csvOutcome, csvTokenizer, type CsvSinkState } from './readers/csv';
import { JsonLinesSink, jsonLinesOutcome, type JsonLinesSinkState } from './readers/jsonl';
import { readParquet } from './readers/parquet';
import { prepareScan } from './scan';
import { SCAN_DEFAULTS, type ScanOptions, type ScanResult, type Violation } from './scan-types';
import type { TableScan, TableScanState } from './table-scan';

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

/** What reading a part of a Parquet file found besides the table: an unreadable row group. */
interface ParquetPartState {
  kind: 'parquet';
  violations: Violation[];
  complete: boolean;
}

type SinkState = CsvSinkState | JsonLinesSinkState | ParquetPartState;

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
  const tokenizer = csvTokenizer(delimiter, undefined, (record) => {
    header = record.fields();
    end = record.end;
    tokenizer.stop();
  });
  tokenizer.push(head);
  if (header === undefined || end >= head.length) return undefined;
  // The offset counts a byte-order mark; the line end is just before `end` either way.
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
  const read = await readParquet(table, source, options.fileName, { rowStart: part.start, rowEnd: part.end }, options.rowGroupLimits);
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
  private readonly context: (sha256: string, bytes: number) => CheckContext;
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
    return checkTable(this.table, { format, gzip: false, ...outcome }, this.context(sha256, bytes));
  }
}
