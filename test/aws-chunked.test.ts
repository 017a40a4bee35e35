/**
 * The aws-chunked decoder (local/aws-chunked.ts): the bytes of a body however its framing arrives
 * cut, and a clear S3 error for a body that is not what its headers say.
 */
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import * as zlib from 'node:zlib';
import { AwsChunkedDecoder, decodedHeaders, isAwsChunked } from '../local/aws-chunked';

const crc32 = (data: Buffer): string => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(zlib.crc32(data));
  return out.toString('base64');
};

/** `data` framed as the SDK frames it: chunks of `size`, a signature extension when `signed`, a CRC32 trailer. */
function encode(data: Buffer, size: number, options: { signed?: boolean; trailer?: string } = {}): Buffer {
  const ext = options.signed ? `;chunk-signature=${'a'.repeat(64)}` : '';
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) {
    const chunk = data.subarray(at, at + size);
    parts.push(Buffer.from(`${chunk.length.toString(16)}${ext}\r\n`), chunk, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`0${ext}\r\n`));
  if (options.trailer !== undefined) parts.push(Buffer.from(`x-amz-checksum-crc32:${options.trailer}\r\n`));
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

const decode = (pieces: Buffer[], length?: number, trailer?: string): Promise<Buffer> =>
  buffer(Readable.from(pieces).pipe(new AwsChunkedDecoder(length, trailer)));

const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 37) % 256));

test('decodes the exact bytes however the framing is cut into pieces', async () => {
  const body = encode(data, 300, { trailer: crc32(data) });
  for (let cut = 0; cut <= body.length; cut += 7) {
    expect((await decode([body.subarray(0, cut), body.subarray(cut)], data.length, 'x-amz-checksum-crc32')).equals(data)).toBe(true);
  }
  const bytewise = [...body].map((b) => Buffer.from([b]));
  expect((await decode(bytewise, data.length, 'x-amz-checksum-crc32')).equals(data)).toBe(true);
});

test('decodes signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) and an empty body', async () => {
  expect((await decode([encode(data, 64, { signed: true })], data.length)).equals(data)).toBe(true);
  expect((await decode([encode(Buffer.alloc(0), 64)], 0)).length).toBe(0);
});

test('refuses a body whose CRC32 trailer does not match, or lacks the trailer it announced, naming the checksum', async () => {
  await expect(
    decode([encode(data, 300, { trailer: crc32(Buffer.from('other')) })], data.length, 'x-amz-checksum-crc32'),
  ).rejects.toMatchObject({
    code: 'BadDigest',
    message: `The x-amz-checksum-crc32 you specified (${crc32(Buffer.from('other'))}) did not match the calculated checksum (${crc32(data)}).`,
  });
  await expect(decode([encode(data, 300)], data.length, 'x-amz-checksum-crc32')).rejects.toMatchObject({
    code: 'IncompleteBody',
    message: 'The aws-chunked body lacks its x-amz-checksum-crc32 trailer.',
  });
});

test('refuses a body cut short, longer or shorter than its decoded length, or not framed at all', async () => {
  const body = encode(data, 300);
  await expect(decode([body.subarray(0, 500)], data.length)).rejects.toMatchObject({
    code: 'IncompleteBody',
    message: 'The aws-chunked body ended before its last chunk.',
  });
  await expect(decode([body], data.length + 1)).rejects.toMatchObject({
    message: `The aws-chunked body holds ${data.length} bytes; its x-amz-decoded-content-length says ${data.length + 1}.`,
  });
  await expect(decode([body], data.length - 1)).rejects.toMatchObject({ code: 'IncompleteBody' });
  await expect(decode([Buffer.from('hello world\r\n')], 11)).rejects.toMatchObject({
    code: 'InvalidRequest',
    message: "'hello world' is not an aws-chunked chunk size.",
  });
});

test('knows an aws-chunked request by its headers, and forwards the decoded body with plain ones', () => {
  expect(isAwsChunked({ 'content-encoding': 'aws-chunked' })).toBe(true);
  expect(isAwsChunked({ 'content-encoding': 'gzip, aws-chunked' })).toBe(true);
  expect(isAwsChunked({ 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' })).toBe(true);
  expect(isAwsChunked({ 'content-encoding': 'gzip', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' })).toBe(false);
  expect(
    decodedHeaders({
      'content-encoding': 'gzip,aws-chunked',
      'content-length': '1200',
      'transfer-encoding': 'chunked',
      'x-amz-decoded-content-length': '1000',
      'x-amz-trailer': 'x-amz-checksum-crc32',
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'x-amz-meta-mloop-target': 'churned',
    }),
  ).toEqual({
    'content-encoding': 'gzip',
    'content-length': '1000',
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    'x-amz-meta-mloop-target': 'churned',
  });
});
