/**
 * A dataset read as one byte stream, whatever its format: every byte hashed as stored, the format
 * detected by its magic bytes (gzip, Parquet) or its name, gzip undone as a stream, and the text
 * handed to the format's sink (./csv.ts, ./jsonl.ts); a Parquet file is held in memory and read
 * by ./parquet.ts. After a problem in the data the rest is still hashed.
 */
import {
  GzipDecoder,
  bufferSource,
  formatFromName,
  gzipReason,
  isGzip,
  isParquet,
  toBuffer,
  type DataFormat,
  type StreamSource,
} from '../formats';
import type { TableScan } from '../table-scan';
import { CsvSink } from './csv';
import { JsonLinesSink } from './jsonl';
import { corrupt, type Detected, type ReadOutcome, type TextSink } from './outcome';
import { readParquet } from './parquet';

/** A Parquet file read from a stream (not by ranges) is held in memory: at most this many bytes. */
export const MAX_STREAMED_PARQUET_BYTES = 512 * 1024 * 1024;

/**
 * Read a byte stream: hash every byte as stored, sniff gzip and Parquet by their magic bytes,
 * gunzip as a stream, and hand the text to the format's sink. After a problem in the data the rest
 * is still hashed.
 */
export async function readStream(
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
