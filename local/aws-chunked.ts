/**
 * S3's aws-chunked body encoding, decoded on the way to the local S3 (s3rver stores a body as it
 * comes, so without this the framing would become the object's bytes: PLATFORM-NOTES' trap). A
 * body so sent (`Content-Encoding: aws-chunked`, or `x-amz-content-sha256: STREAMING-...`; AWS
 * CLI v2 and the SDKs send streams this way) is a sequence of chunks, `<hex size>[;chunk-signature=
 * ...]\r\n<bytes>\r\n`, ended by a chunk of size 0 and optional trailers (`x-amz-checksum-crc32:
 * <base64>\r\n`) and an empty line. The decoder passes on the bytes only; it checks the decoded
 * length against `x-amz-decoded-content-length` and a CRC32, SHA-1 or SHA-256 trailer against the
 * bytes, as S3 does (other checksum algorithms are passed without a check). Chunk signatures are
 * not checked: the request's seed signature is (local/sigv4-verify.ts says why that is enough on
 * loopback).
 */
import { createHash, type Hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';

/** A body that is not what its headers say (answered with this S3 error code, HTTP 400). */
export class ChunkedBodyError extends Error {
  constructor(
    readonly code: 'IncompleteBody' | 'BadDigest' | 'InvalidRequest',
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

/** Whether a request's body is aws-chunked (its headers say so). */
export function isAwsChunked(headers: IncomingHttpHeaders): boolean {
  const encoding = String(headers['content-encoding'] ?? '');
  const sha = String(headers['x-amz-content-sha256'] ?? '');
  return /(^|,)\s*aws-chunked\s*(,|$)/i.test(encoding) || sha.startsWith('STREAMING-');
}

/** The longest chunk-size line or trailer line accepted (a signature extension is 81 characters). */
const MAX_LINE = 4096;

/** A running checksum of the decoded bytes, for a trailer to be checked against. */
interface Digest {
  update(data: Buffer): void;
  base64(): string;
}

function digestFor(trailer: string): Digest | undefined {
  const hash = (algorithm: string): Digest => {
    const h: Hash = createHash(algorithm);
    return { update: (data) => h.update(data), base64: () => h.digest('base64') };
  };
  switch (trailer) {
    case 'x-amz-checksum-crc32': {
      let crc = 0;
      return {
        update: (data) => (crc = zlib.crc32(data, crc)),
        base64: () => {
          const out = Buffer.alloc(4);
          out.writeUInt32BE(crc >>> 0);
          return out.toString('base64');
        },
      };
    }
    case 'x-amz-checksum-sha1':
      return hash('sha1');
    case 'x-amz-checksum-sha256':
      return hash('sha256');
    default:
      return undefined;
  }
}

/** Decodes an aws-chunked body into its bytes (see the file comment). */
export class AwsChunkedDecoder extends Transform {
  private pending: Buffer = Buffer.alloc(0);
  private state: 'size' | 'data' | 'data-end' | 'trailer' | 'done' = 'size';
  /** Bytes of the current chunk still to come. */
  private left = 0;
  private decoded = 0;
  /** The trailers after the last chunk, by lower-case name. */
  readonly trailers: Record<string, string> = {};
  private readonly digest?: { name: string; digest: Digest };

  constructor(
    /** `x-amz-decoded-content-length`, when the request gave it. */
    private readonly decodedLength: number | undefined,
    /** `x-amz-trailer`: the trailer the body ends with, when the request names one. */
    trailer?: string,
  ) {
    super();
    const name = trailer?.trim().toLowerCase();
    const digest = name ? digestFor(name) : undefined;
    if (name && digest) this.digest = { name, digest };
  }

  /** The next CRLF-ended line of `pending`, consumed, or undefined until it has come whole. */
  private line(): string | undefined {
    const end = this.pending.indexOf('\r\n');
    if (end < 0) {
      if (this.pending.length > MAX_LINE) throw new ChunkedBodyError('InvalidRequest', 'An aws-chunked line is longer than 4096 bytes.');
      return undefined;
    }
    const text = this.pending.subarray(0, end).toString('latin1');
    this.pending = this.pending.subarray(end + 2);
    return text;
  }

  private pass(data: Buffer): void {
    this.decoded += data.length;
    if (this.decodedLength !== undefined && this.decoded > this.decodedLength)
      throw new ChunkedBodyError(
        'IncompleteBody',
        `The aws-chunked body holds more than its x-amz-decoded-content-length (${this.decodedLength}).`,
      );
    this.digest?.digest.update(data);
    this.push(data);
  }

  private consume(): void {
    for (;;) {
      switch (this.state) {
        case 'size': {
          const line = this.line();
          if (line === undefined) return;
          const hex = line.split(';')[0].trim();
          if (!/^[0-9a-fA-F]{1,16}$/.test(hex))
            throw new ChunkedBodyError('InvalidRequest', `'${line.slice(0, 40)}' is not an aws-chunked chunk size.`);
          this.left = parseInt(hex, 16);
          this.state = this.left === 0 ? 'trailer' : 'data';
          break;
        }
        case 'data': {
          if (this.pending.length === 0) return;
          const take = Math.min(this.left, this.pending.length);
          this.pass(this.pending.subarray(0, take));
          this.pending = this.pending.subarray(take);
          this.left -= take;
          if (this.left === 0) this.state = 'data-end';
          break;
        }
        case 'data-end': {
          if (this.pending.length < 2) return;
          if (this.pending[0] !== 0x0d || this.pending[1] !== 0x0a)
            throw new ChunkedBodyError('InvalidRequest', 'An aws-chunked chunk is longer than its size says.');
          this.pending = this.pending.subarray(2);
          this.state = 'size';
          break;
        }
        case 'trailer': {
          const line = this.line();
          if (line === undefined) return;
          if (line === '') {
            this.state = 'done';
            break;
          }
          const colon = line.indexOf(':');
          if (colon <= 0) throw new ChunkedBodyError('InvalidRequest', `'${line.slice(0, 40)}' is not an aws-chunked trailer.`);
          this.trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
          break;
        }
        case 'done':
          if (this.pending.toString('latin1').trim() !== '')
            throw new ChunkedBodyError('InvalidRequest', 'The aws-chunked body goes on after its last chunk.');
          this.pending = Buffer.alloc(0);
          return;
      }
    }
  }

  _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      this.consume();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  _flush(callback: TransformCallback): void {
    // A body may end right after its trailers, without the closing empty line.
    if (this.state === 'trailer' && this.pending.length === 0) this.state = 'done';
    if (this.state !== 'done') return callback(new ChunkedBodyError('IncompleteBody', 'The aws-chunked body ended before its last chunk.'));
    if (this.decodedLength !== undefined && this.decoded !== this.decodedLength)
      return callback(
        new ChunkedBodyError(
          'IncompleteBody',
          `The aws-chunked body holds ${this.decoded} bytes; its x-amz-decoded-content-length says ${this.decodedLength}.`,
        ),
      );
    if (this.digest) {
      const sent = this.trailers[this.digest.name];
      if (sent === undefined)
        return callback(new ChunkedBodyError('IncompleteBody', `The aws-chunked body lacks its ${this.digest.name} trailer.`));
      const computed = this.digest.digest.base64();
      if (sent !== computed)
        return callback(
          new ChunkedBodyError(
            'BadDigest',
            `The ${this.digest.name} you specified (${sent}) did not match the calculated checksum (${computed}).`,
          ),
        );
    }
    callback();
  }
}

/**
 * The headers a decoded body goes on with: its length, no aws-chunked encoding, no trailer, and a
 * payload hash that no longer names a streaming signature.
 */
export function decodedHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = { ...headers };
  const encoding = String(headers['content-encoding'] ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '' && e.toLowerCase() !== 'aws-chunked');
  if (encoding.length > 0) out['content-encoding'] = encoding.join(', ');
  else delete out['content-encoding'];
  const length = headers['x-amz-decoded-content-length'];
  delete out['transfer-encoding'];
  if (length !== undefined) out['content-length'] = String(length);
  else delete out['content-length'];
  delete out['x-amz-decoded-content-length'];
  delete out['x-amz-trailer'];
  out['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  return out;
}
