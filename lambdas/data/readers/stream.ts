/**
 * A dataset read as one byte stream, whatever its format: every byte hashed as stored, the format
 * detected by its magic bytes (gzip, Parquet) or its name, gzip undone as a stream, and the text
 * handed to the format's sink (./csv.ts, ./jsonl.ts); a Parquet file is held in memory and read
 * by ./parquet.ts. After a problem in the data the rest is still hashed.
 */
import {
  GzipDecoder,
  GzipLimitExceeded,
  type GzipLimits,
  bufferSource,
  formatFromName,
  gzipReason,
  isGzip,
  isParquet,
  toBuffer,
  type DataFormat,
  type StreamSource,
} from '../formats';
import type { RowGroupLimits } from '../parquet-file';
import type { TableScan } from '../table-scan';
import { CsvSink } from './csv';
import { JsonLinesSink } from './jsonl';
import { corrupt, type Detected, type ReadOutcome, type TextSink } from './outcome';
import { readParquet } from './parquet';

/** A Parquet file read from a stream (not by ranges) is held in memory: at most this many bytes. */
export const MAX_STREAMED_PARQUET_BYTES = 512 * 1024 * 1024;

/** A stream's non-empty chunks, in order, each handed to `onBytes` as it is read. */
interface Chunks {
  /** The next chunk, or null at the end. */
  next(): Promise<Buffer | null>;
  /** Read (and count) the rest. */
  drain(): Promise<void>;
}

function chunksOf(source: StreamSource, onBytes: (buf: Buffer) => void): Chunks {
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
  return {
    next,
    drain: async () => {
      while ((await next()) !== null);
    },
  };
}

/** The first chunks of a stream, at least 4 bytes however the source cuts them (unless it is shorter): the magic bytes. */
async function readHead(chunks: Chunks): Promise<{ head: Buffer[]; length: number }> {
  const head: Buffer[] = [];
  let length = 0;
  while (length < 4) {
    const buf = await chunks.next();
    if (buf === null) break;
    head.push(buf);
    length += buf.length;
  }
  return { head, length };
}

/** The format a file is read as: Parquet by its magic bytes, else the one given, else by the name; gzip by its magic bytes. */
function detect(first: Buffer, file: string, given: DataFormat | undefined): Detected {
  const named = given !== undefined ? { format: given, gzip: false } : formatFromName(file);
  const gzip = isGzip(first);
  return { format: !gzip && isParquet(first) ? 'parquet' : named.format, gzip };
}

/**
 * Read a byte stream: hash every byte as stored, sniff gzip and Parquet by their magic bytes,
 * gunzip as a stream, and hand the text to the format's sink. After a problem in the data the rest
 * is still hashed.
 */
export async function readStream(
  source: StreamSource,
  table: TableScan,
  /** gzipLimits: DEFAULT_GZIP_LIMITS unless given (tests lower them). */
  options: { file: string; format?: DataFormat; delimiter: string; gzipLimits?: GzipLimits; rowGroupLimits?: RowGroupLimits },
  onBytes: (buf: Buffer) => void,
): Promise<Detected & ReadOutcome> {
  const file = options.file;
  const chunks = chunksOf(source, onBytes);
  const { head, length } = await readHead(chunks);
  const { format, gzip } = detect(Buffer.concat(head), file, options.format);
  if (format === 'parquet')
    return { format, gzip, ...(await readParquetStream(chunks, head, length, gzip, table, file, options.rowGroupLimits)) };
  const sink: TextSink = format === 'jsonl' ? new JsonLinesSink(table, file) : new CsvSink(table, file, options.delimiter);
  return { format, gzip, ...(await readText(chunks, head, gzip ? new GzipDecoder(options.gzipLimits) : null, sink, file)) };
}

/** A Parquet file in a stream: held in memory (its footer comes first), up to MAX_STREAMED_PARQUET_BYTES. */
async function readParquetStream(
  chunks: Chunks,
  head: Buffer[],
  headLength: number,
  gzip: boolean,
  table: TableScan,
  file: string,
  rowGroupLimits?: RowGroupLimits,
): Promise<ReadOutcome> {
  if (gzip) {
    await chunks.drain();
    return {
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
  if (headLength === 0) return { violations: [], complete: true };
  const held = head;
  let size = headLength;
  for (let buf = await chunks.next(); buf !== null; buf = await chunks.next()) {
    size += buf.length;
    if (size > MAX_STREAMED_PARQUET_BYTES) {
      held.length = 0;
      await chunks.drain();
      return {
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
    held.push(buf);
  }
  return readParquet(table, bufferSource(Buffer.concat(held, size)), file, undefined, rowGroupLimits);
}

/** Text (gunzipped as a stream when it is gzip) into its format's sink; a corrupt gzip stream ends it. */
async function readText(chunks: Chunks, head: Buffer[], decoder: GzipDecoder | null, sink: TextSink, file: string): Promise<ReadOutcome> {
  const gzip = decoder !== null;
  let gzipError: Error | undefined;
  try {
    const feed = async (buf: Buffer): Promise<void> => {
      if (decoder === null) return sink.push(buf);
      if (gzipError !== undefined) return;
      for (const out of await decoder.push(buf)) await sink.push(out);
      gzipError = decoder.error;
    };
    for (const buf of head) await feed(buf);
    for (let buf = await chunks.next(); buf !== null; buf = await chunks.next()) await feed(buf);
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
  if (gzipError instanceof GzipLimitExceeded) {
    const expected = 'a gzip file within the limits (docs/limits.md): split the data into several files, or upload it uncompressed';
    return {
      violations: [...outcome.violations, corrupt(file, 'is refused as a gzip bomb', gzipError.message, expected)],
      complete: false,
    };
  }
  if (gzipError !== undefined) {
    const violation = corrupt(
      file,
      'is not a complete gzip stream',
      gzipReason(gzipError),
      'a whole gzip file (was it cut short while uploading?)',
    );
    return { violations: [...outcome.violations, violation], complete: false };
  }
  return outcome;
}
