/**
 * File formats of dropped datasets: which format a file is (by its name, and gzip and Parquet by
 * their magic bytes), gzip decompression as a stream, and JSON Lines records (Parquet files are
 * read in ./parquet-file.ts). Each reader turns records into string cells, so that every format
 * feeds the same checks and profiles (./scan.ts).
 *
 * Pure code apart from zlib: the callers hand in bytes (a stream, or a random-access source for
 * Parquet).
 */
import { StringDecoder } from 'node:string_decoder';
import { createGunzip, type Gunzip } from 'node:zlib';

export type DataFormat = 'csv' | 'jsonl' | 'parquet';

export interface FileFormat {
  readonly format: DataFormat;
  /** Whether the name says gzip (.gz); the magic bytes decide in the end. */
  readonly gzip: boolean;
}

/** Extensions of each format (lower case, after any .gz). Anything else is read as CSV. */
export const FORMAT_EXTENSIONS: Readonly<Record<DataFormat, readonly string[]>> = {
  csv: ['.csv', '.tsv', '.txt'],
  jsonl: ['.jsonl', '.ndjson'],
  parquet: ['.parquet', '.pq'],
};

/** The format a file name says: `.csv`, `.jsonl`/`.ndjson`, `.parquet`, each optionally `.gz`. */
export function formatFromName(fileName: string): FileFormat {
  let name = fileName.toLowerCase();
  const gzip = name.endsWith('.gz');
  if (gzip) name = name.slice(0, -3);
  for (const format of ['jsonl', 'parquet', 'csv'] as const) {
    if (FORMAT_EXTENSIONS[format].some((ext) => name.endsWith(ext))) return { format, gzip };
  }
  return { format: 'csv', gzip };
}

/** gzip's magic bytes (RFC 1952): 1f 8b. */
export function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/** Parquet's magic bytes: "PAR1" at the start (and end) of the file. */
export function isParquet(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x41 && head[2] === 0x52 && head[3] === 0x31;
}

// ---------------------------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------------------------

/** Bytes read in order: a Node stream, an S3 body, an array of chunks. */
export type StreamSource = AsyncIterable<Buffer | Uint8Array | string>;

/** Bytes read by range (S3 ranged GETs, a buffer): what Parquet needs to read its footer first. */
export interface RandomAccessSource {
  readonly byteLength: number;
  /** Bytes [start, end). */
  read(start: number, end: number): Promise<Uint8Array>;
}

export type DatasetSource = StreamSource | RandomAccessSource;

export function isRandomAccess(source: DatasetSource): source is RandomAccessSource {
  return typeof (source as RandomAccessSource).read === 'function' && typeof (source as RandomAccessSource).byteLength === 'number';
}

/** A random-access source over bytes in memory. */
export function bufferSource(bytes: Uint8Array): RandomAccessSource {
  return { byteLength: bytes.byteLength, read: async (start, end) => bytes.subarray(start, end) };
}

/** Bytes read from a random-access source in order, `chunkSize` at a time (for hashing). */
export async function* rangeChunks(source: RandomAccessSource, chunkSize = 8 * 1024 * 1024): AsyncGenerator<Uint8Array> {
  for (let start = 0; start < source.byteLength; start += chunkSize) {
    yield await source.read(start, Math.min(source.byteLength, start + chunkSize));
  }
}

// ---------------------------------------------------------------------------------------------
// gzip
// ---------------------------------------------------------------------------------------------

/** Compressed bytes written to zlib at a time: bounds what one write can inflate to. */
const GZIP_SLICE = 32 * 1024;

/**
 * How far a gzip stream may inflate (issue 18: a few MB of gzip inflate to gigabytes, which the
 * scan then reads for minutes, up to the Lambda's timeout, with no reason given). Both are checked
 * while inflating, so a bomb stops at the first limit it crosses, not after inflating all of it.
 */
export interface GzipLimits {
  /** The most bytes a gzip file may inflate to. */
  readonly maxInflatedBytes: number;
  /** The most inflated bytes per compressed byte read so far, once more than `ratioFloor` bytes are inflated. */
  readonly maxRatio: number;
  /** Inflated bytes below which the ratio is not checked (a small file may be all one repeated value). */
  readonly ratioFloor: number;
}

/**
 * 16 GiB inflated (about 4 minutes of scanning at the rate measured for issue 18, well inside the
 * Lambda's 15); a ratio of 200, above what real tables reach (CSV and JSON Lines of plausible rows
 * compress 3 to 20 times, a column of one repeated value about 100), counted from 64 MiB inflated.
 */
export const DEFAULT_GZIP_LIMITS: GzipLimits = { maxInflatedBytes: 16 * 1024 ** 3, maxRatio: 200, ratioFloor: 64 * 1024 ** 2 };

/** The settings that raise each gzip limit, as messages name them (lib/data.ts DatasetIngestionOptions). */
export const GZIP_SETTINGS = {
  maxInflatedBytes:
    "the ingestion setting maxGzipInflatedBytes (the stack's training.maxGzipInflatedBytes prop; MAX_GZIP_INFLATED_BYTES on the Ingest function)",
  maxRatio: "the ingestion setting maxGzipRatio (the stack's training.maxGzipRatio prop; MAX_GZIP_RATIO on the Ingest function)",
} as const;

/** A gzip stream went past one of its GzipLimits: the message names the limit and its value. */
export class GzipLimitExceeded extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GzipLimitExceeded';
  }
}

/**
 * Streaming gunzip driven by the caller: push compressed chunks, get the inflated bytes back. The
 * memory held is zlib's window and the output of one slice of input. After an error (corrupt data,
 * a stream cut short, which shows at end(), or a GzipLimits crossed), `error` is set and nothing
 * more comes out.
 */
export class GzipDecoder {
  private readonly zlib: Gunzip = createGunzip();
  private out: Buffer[] = [];
  private compressed = 0;
  private inflated = 0;
  error: Error | undefined;

  constructor(private readonly limits: GzipLimits = DEFAULT_GZIP_LIMITS) {
    this.zlib.on('data', (chunk: Buffer) => {
      this.inflated += chunk.length;
      const over = this.overLimit();
      if (over === undefined) this.out.push(chunk);
      else if (this.error === undefined) {
        this.error = over;
        this.out = [];
        this.zlib.destroy();
      }
    });
    this.zlib.on('error', (error: Error) => {
      this.error ??= error;
    });
  }

  private overLimit(): GzipLimitExceeded | undefined {
    const { maxInflatedBytes, maxRatio, ratioFloor } = this.limits;
    if (this.inflated > maxInflatedBytes)
      return new GzipLimitExceeded(
        `it inflates to more than ${maxInflatedBytes.toLocaleString('en-US')} bytes, the most a gzip file may inflate to (${GZIP_SETTINGS.maxInflatedBytes} raises it)`,
      );
    if (this.inflated > ratioFloor && this.inflated > maxRatio * this.compressed)
      return new GzipLimitExceeded(
        `its first ${this.compressed.toLocaleString('en-US')} compressed bytes inflate to ${this.inflated.toLocaleString('en-US')}, ` +
          `more than ${maxRatio} times as many, the most a gzip file may inflate by (a gzip bomb? ${GZIP_SETTINGS.maxRatio} raises it)`,
      );
    return undefined;
  }

  async push(chunk: Buffer): Promise<Buffer[]> {
    for (let at = 0; at < chunk.length && this.error === undefined; at += GZIP_SLICE) {
      const slice = chunk.subarray(at, at + GZIP_SLICE);
      this.compressed += slice.length;
      // On corrupt data zlib errors and is destroyed without calling back the write.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.zlib.removeListener('error', done);
          this.zlib.removeListener('close', done);
          resolve();
        };
        this.zlib.once('error', done);
        this.zlib.once('close', done);
        this.zlib.write(slice, done);
      });
    }
    return this.error === undefined ? this.out.splice(0) : [];
  }

  async end(): Promise<Buffer[]> {
    if (this.error === undefined) {
      await new Promise<void>((resolve) => {
        this.zlib.once('end', resolve);
        this.zlib.once('error', () => resolve());
        this.zlib.once('close', () => resolve());
        this.zlib.end();
      });
    }
    return this.error === undefined ? this.out.splice(0) : [];
  }

  destroy(): void {
    this.zlib.destroy();
  }
}

/** A stream's chunk as a Buffer (a view of a Uint8Array's bytes, not a copy). */
export function toBuffer(chunk: Buffer | Uint8Array | string): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * The bytes of a stream, gunzipped when they start with gzip's magic bytes. Throws on a corrupt or
 * truncated gzip stream (for readers of files already checked by the scan).
 */
export async function* decodedChunks(source: StreamSource, limits: GzipLimits = DEFAULT_GZIP_LIMITS): AsyncGenerator<Buffer> {
  let head: Buffer[] = [];
  let headLength = 0;
  // undefined until the first two bytes are known; null: not gzip.
  let decoder: GzipDecoder | null | undefined;
  const check = (d: GzipDecoder): void => {
    if (d.error instanceof GzipLimitExceeded) throw new GzipLimitExceeded(`Refused a gzip stream: ${d.error.message}.`);
    if (d.error !== undefined) throw new Error(`Not a complete gzip stream: ${gzipReason(d.error)}.`);
  };
  try {
    for await (const chunk of source) {
      let buf = toBuffer(chunk);
      if (buf.length === 0) continue;
      if (decoder === undefined) {
        head.push(buf);
        headLength += buf.length;
        if (headLength < 2) continue;
        buf = Buffer.concat(head);
        head = [];
        decoder = isGzip(buf) ? new GzipDecoder(limits) : null;
      }
      if (decoder === null) {
        yield buf;
        continue;
      }
      const out = await decoder.push(buf);
      check(decoder);
      yield* out;
    }
    if (decoder === undefined && headLength > 0) yield Buffer.concat(head);
    if (decoder) {
      const out = await decoder.end();
      check(decoder);
      yield* out;
    }
  } finally {
    decoder?.destroy();
  }
}

/** A zlib error as a reason: "unexpected end of file" for a truncated stream. */
export function gzipReason(error: Error): string {
  return error.message.replace(/[.\s]+$/, '');
}

// ---------------------------------------------------------------------------------------------
// Cells
// ---------------------------------------------------------------------------------------------

/** A value that cannot be a cell: an object, an array, binary bytes. */
export const NESTED = Symbol('nested');

/**
 * A JSON value as a CSV cell: null and undefined are empty (missing), numbers in JavaScript's
 * shortest round-trip form (NaN and Infinity spelled so, which the checks report as non-finite),
 * bigints in full, booleans as true/false, dates in ISO 8601. Objects, arrays and binary values
 * have no cell: NESTED. (Parquet values have rules of their own: ./parquet-cells.ts.)
 */
export function cellOf(value: unknown): string | typeof NESTED {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'bigint':
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return '';
    default:
      if (value === null) return '';
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? '' : value.toISOString();
      return NESTED;
  }
}

// ---------------------------------------------------------------------------------------------
// JSON Lines
// ---------------------------------------------------------------------------------------------

/**
 * Splits UTF-8 bytes into lines (LF or CRLF) and hands each non-blank one to `onLine` with its
 * physical line number (1 = the first line). A byte-order mark at the start is skipped. A line
 * longer than `maxLineBytes` (in UTF-16 units, about bytes) stops the reader: `tooLong` is set to its
 * line number and nothing more is handed on.
 */
export class LineReader {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private line = 0;
  private first = true;
  tooLong: number | undefined;

  constructor(
    private readonly onLine: (text: string, line: number) => void,
    private readonly maxLineBytes: number,
  ) {}

  push(buf: Buffer): void {
    if (this.tooLong !== undefined) return;
    this.feed(this.decoder.write(buf), false);
  }

  end(): void {
    if (this.tooLong !== undefined) return;
    this.feed(this.decoder.end(), true);
  }

  private feed(text: string, last: boolean): void {
    let data = this.partial + text;
    if (this.first && data.length > 0) {
      this.first = false;
      if (data.charCodeAt(0) === 0xfeff) data = data.slice(1);
    }
    let start = 0;
    let nl = data.indexOf('\n');
    while (nl !== -1) {
      this.emit(data.slice(start, nl));
      start = nl + 1;
      nl = data.indexOf('\n', start);
    }
    this.partial = start === 0 ? data : data.slice(start);
    if (this.partial.length > this.maxLineBytes) {
      this.tooLong = this.line + 1;
      this.partial = '';
      return;
    }
    if (last) {
      if (this.partial.length > 0) this.emit(this.partial);
      this.partial = '';
    }
  }

  private emit(raw: string): void {
    this.line++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim().length === 0) return;
    this.onLine(text, this.line);
  }
}

/** JSON.parse's complaint, shortened: "Unexpected token } in JSON at position 12". */
export function jsonReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/[.\s]+$/, '').slice(0, 200);
}
