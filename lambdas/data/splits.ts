/**
 * The splits of an accepted dataset: each row to train, validation or test (by a stable hash of
 * the row, or by time), written again as RFC 4180 CSV whatever the format read.
 */
import { once } from 'node:events';
import { readTime } from './cells';
import {
  LineReader,
  NESTED,
  bufferSource,
  cellOf,
  decodedChunks,
  formatFromName,
  isRandomAccess,
  jsonReason,
  rangeChunks,
  toBuffer,
  type DataFormat,
  type DatasetSource,
  type GzipLimits,
  type RandomAccessSource,
} from './formats';
import { nameList, quote } from './messages';
import { parquetLayout, readParquetRows, type RowGroupLimits } from './parquet-file';
import { csvTokenizer } from './readers/csv';
import type { CsvRecord } from './readers/csv-tokenizer';
import { SplitBuffers } from './split-buffers';
import { DEFAULT_SPLIT_HASH, type SplitHash } from '../shared/split-scheme';
import { lineCommas, murmur3Text, plainLineHash, plainLineMurmur3, rowHash } from './split-hash';
import { MAX_RECORD_BYTES, SCAN_DEFAULTS, type TimeSplit } from './scan-types';

/** Read once, not at every row: see the same in ./column-scan.ts. */
const hashLineSha1 = plainLineHash;
const hashLineMurmur3 = plainLineMurmur3;
const commasFound = lineCommas;

export type SplitName = 'train' | 'validation' | 'test';
export const SPLITS: readonly SplitName[] = ['train', 'validation', 'test'];

/** Shares of the rows in train and validation (test takes the rest), by hash or by time. */
export const SPLIT_SHARES = { train: 0.8, validation: 0.1 } as const;

/**
 * The split of a record, 80/10/10, by a stable hash of its cells (by `hash`, see
 * lambdas/shared/split-scheme.ts: of its CSV line or of the JSON array of its cells, either of
 * which no two different records share), so the same row always lands in the same split.
 */
export function splitOf(record: readonly string[], hash: SplitHash = DEFAULT_SPLIT_HASH): SplitName {
  return splitOfHash(hash === 'murmur3-csv' ? murmur3Text(csvText(record)) : rowHash(record));
}

/** A record's CSV line as csvLine writes it, without the line feed: what `murmur3-csv` hashes. */
function csvText(record: readonly string[]): string {
  const line = csvLine(record);
  return line.slice(0, line.length - 1);
}

/** The split of a row by the first 32 bits of its hash (./split-hash.ts). */
function splitOfHash(prefix: number): SplitName {
  const u = prefix / 0x1_0000_0000;
  return u < SPLIT_SHARES.train ? 'train' : u < SPLIT_SHARES.train + SPLIT_SHARES.validation ? 'validation' : 'test';
}

/** One RFC 4180 line: fields holding a comma, quote, CR or LF are quoted, quotes doubled; LF-terminated. */
export function csvLine(record: readonly string[]): string {
  if (record.length === 1 && record[0] === '') return '""\n'; // not a blank line, which readers skip
  return record.map(csvField).join(',') + '\n';
}

/** One field as csvLine writes it: quoted when it holds a quote, a comma or a line break. */
export function csvField(field: string): string {
  return /[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
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
  /** The row hash of a split by hash: the model's scheme (IngestRun.splitHash); default DEFAULT_SPLIT_HASH. */
  splitHash?: SplitHash;
  /** Parquet: only the row groups that start in these rows (a part, see scanParquetPart). */
  rowRange?: { rowStart: number; rowEnd: number };
  /** Columns added to each row, and counts kept of the train rows (SplitFeatures in ./split-features.ts). */
  features?: RowFeatures;
  /** As the scan read the file (ScanOptions.gzipLimits): a file the scan accepted is read again within the same limits. */
  gzipLimits?: GzipLimits;
  /** As the scan read the file (ScanOptions.rowGroupLimits). */
  rowGroupLimits?: RowGroupLimits;
}

/** What the splits add to the rows: the header as written, and each row as written given its split. */
export interface RowFeatures {
  header(header: readonly string[]): string[];
  row(record: string[], split: SplitName): string[];
  /** For a comma-separated CSV line copied as it stands (no quotes, ASCII): what to append to it (each added cell after a comma; '' for none). */
  lineSuffix(
    line: {
      readonly text: string;
      readonly textStart: number;
      readonly textEnd: number;
      /** The offsets of its commas, where already found (lineCommas of ./split-hash.ts). */
      readonly commas?: { readonly at: Int32Array; readonly count: number };
    },
    split: SplitName,
  ): string;
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
  const pending = new SplitBuffers(SPLITS);
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
  const features = options.features;
  const splitHash = options.splitHash ?? DEFAULT_SPLIT_HASH;
  const murmur = splitHash === 'murmur3-csv';
  const emit = (record: string[]): void => {
    if (header) {
      header = false;
      if (timeSplit !== undefined) {
        timeIndex = record.indexOf(timeSplit.column);
        if (timeIndex < 0) throw new Error(`The time column ${quote(timeSplit.column)} is not among the columns ${nameList(record)}.`);
      }
      const line = csvLine(features ? features.header(record) : record);
      for (const name of SPLITS) pending.text(name, line);
      return;
    }
    // The split goes by the row as read, so that derived columns never move a row.
    const name = timeSplit !== undefined ? splitByTime(record) : splitOf(record, splitHash);
    counts[name]++;
    pending.text(name, csvLine(features ? features.row(record, name) : record));
  };

  // (The run of lines not copied yet is copied first: its bytes are the source chunk's.)
  const flush = async (name: SplitName): Promise<void> => {
    pending.flushRun();
    const data = pending.size(name) > 0 ? pending.take(name) : null;
    if (data !== null && !sinks[name].write(data)) await once(sinks[name], 'drain');
    if (sinkError !== undefined) throw sinkError;
  };
  const flushFull = async (): Promise<void> => {
    pending.flushRun();
    for (const name of SPLITS) if (pending.size(name) >= SINK_BATCH) await flush(name);
  };

  const format: DataFormat = options.format ?? (options.fileName !== undefined ? formatFromName(options.fileName).format : 'csv');
  /**
   * A CSV record as it was written, when that is its line in the split too (comma-separated, no
   * quotes, no line break in a cell): the line is copied and hashed as it stands, with no string
   * per cell. False when the record needs emit().
   */
  const commas = (options.delimiter ?? SCAN_DEFAULTS.delimiter) === ',';
  // One line object, refilled for each plain line (an object per row was 80 MB of garbage per 100 MB).
  const plainLine = { text: '', textStart: 0, textEnd: 0, commas: commasFound };
  const lineAt = (text: string, textStart: number, textEnd: number): typeof plainLine => {
    plainLine.text = text;
    plainLine.textStart = textStart;
    plainLine.textEnd = textEnd;
    return plainLine;
  };
  const emitPlain = (record: CsvRecord): boolean => {
    if (!commas || !record.plain || header || timeSplit !== undefined) return false;
    const { text, textStart, textEnd, bytes } = record;
    // (A plain line of an ASCII chunk: its text is its bytes, one character per byte.)
    if (record.wide || bytes === null || record.utf16) return false;
    // (sha1-json: -1 where a cell holds what JSON escapes; the caller then hashes the cells.)
    const prefix = murmur ? hashLineMurmur3(bytes, textStart, textEnd) : hashLineSha1(bytes, textStart, textEnd);
    if (prefix < 0) return false;
    const name = splitOfHash(prefix);
    counts[name]++;
    // Copied from the file's bytes (the same as its text: ASCII).
    pending.line(name, bytes, textStart, textEnd, features ? features.lineSuffix(lineAt(text, textStart, textEnd), name) : '');
    return true;
  };
  let emitError: unknown;
  const parser =
    format === 'csv'
      ? csvTokenizer(
          options.delimiter ?? SCAN_DEFAULTS.delimiter,
          options.recordDelimiter,
          (record) => {
            try {
              if (!emitPlain(record)) emit(record.fields());
            } catch (error) {
              emitError ??= error;
              parser?.stop();
            }
          },
          true,
        )
      : null;
  const parsed = (): void => {
    if (emitError !== undefined) throw emitError;
    const error = parser?.error;
    if (error !== undefined) throw new Error(`${error.reason}, in the row starting on line ${error.line}.`);
  };
  if (parser !== null && options.partHeader !== undefined) emit(options.partHeader);

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
          // A nested column's cells (NESTED) are rejected by the scan; the split has them empty.
          for (const row of rows) emit(row.map((cell) => (cell === NESTED ? '' : cell)));
          await flushFull();
        },
        options.rowRange,
        options.rowGroupLimits,
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
      for await (const buf of decodedChunks(stream, options.gzipLimits)) {
        if (parser !== null) {
          parser.push(buf);
          parsed();
        } else if (lines !== null) {
          lines.push(buf);
          if (lineError !== undefined) throw lineError;
          if (lines.tooLong !== undefined) throw new Error(`Line ${lines.tooLong} is longer than ${MAX_RECORD_BYTES} bytes.`);
        }
        await flushFull();
      }
      if (parser !== null) {
        parser.end();
        parsed();
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
    parser?.stop();
    for (const name of SPLITS) sinks[name].removeListener('error', onSinkError);
  }
  return counts;
}

/** A JSON value as a split's cell (nested values, rejected by the scan, as JSON). */
function cellText(value: unknown): string {
  const cell = cellOf(value);
  return cell === NESTED ? (JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? '') : cell;
}
