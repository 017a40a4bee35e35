/**
 * S3 and DynamoDB on the edge endpoint (local/aws-api.ts): a request the edge took (signed with
 * the home's credentials, local/edge-credentials.ts) is forwarded to the emulator (s3rver,
 * dynalite; local/emulators.ts) with its body streamed, and the emulator's status, headers and
 * body come back as they are. On the way:
 * - for S3, a key that would name a file outside the bucket's folder in s3rver's filesystem store
 *   (a `.` or `..` segment, an empty segment, a NUL) is refused with an S3 error, before s3rver
 *   sees it;
 * - for S3, an aws-chunked body is decoded (local/aws-chunked.ts), so the object is the exact bytes;
 * - the forwarded request is signed anew with the home's credentials (the emulators' ports take
 *   nothing else), for what is sent: a decoded body changes the signed headers, and a presigned
 *   URL's signature parameters are dropped for the Authorization header.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import { isIP } from 'node:net';
import { pipeline } from 'node:stream';
import { AwsChunkedDecoder, ChunkedBodyError, decodedHeaders, isAwsChunked } from './aws-chunked';
import { signedHeadersFor, UNSIGNED_PAYLOAD } from './sigv4-verify';

/** DynamoDB's limit on a request (dynalite's too): the most read of a DynamoDB body to hash it. */
export const DYNAMODB_MAX_REQUEST_BYTES = 16 * 1024 * 1024;

/** Hop-by-hop headers, which belong to one connection and are not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'expect']);

const xml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** S3's error document. */
export function s3ErrorXml(code: string, message: string, extra: Record<string, string> = {}): string {
  const fields = Object.entries(extra)
    .map(([name, value]) => `<${name}>${xml(value)}</${name}>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xml(code)}</Code><Message>${xml(message)}</Message>${fields}<RequestId>${randomUUID()}</RequestId></Error>`;
}

/** The bucket and key a path-style (or, for a named host, virtual-hosted) S3 request names. */
export function s3Target(rawUrl: string, host: string | undefined): { bucket?: string; key?: string } {
  const rawPath = rawUrl.split('?')[0];
  const hostname = (host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  // s3rver takes a host that is not an IP address or localhost as the bucket (virtual-hosted style).
  const virtual = hostname !== '' && isIP(hostname) === 0 && hostname !== 'localhost';
  const decode = (text: string): string => {
    try {
      return decodeURIComponent(text);
    } catch {
      return text; // s3rver answers what it cannot decode
    }
  };
  if (virtual) return { bucket: hostname, key: rawPath.length > 1 ? decode(rawPath.slice(1)) : undefined };
  const slash = rawPath.indexOf('/', 1);
  if (slash < 0) return { bucket: rawPath.length > 1 ? decode(rawPath.slice(1)) : undefined };
  return { bucket: decode(rawPath.slice(1, slash)), key: slash + 1 < rawPath.length ? decode(rawPath.slice(slash + 1)) : undefined };
}

/**
 * Why the local S3 refuses a bucket name or key, or undefined when it takes it. S3 itself takes
 * any key, but s3rver stores an object under a path made of the key's segments: `.` and `..`
 * segments would climb out of the bucket's folder (out of MLOOP_HOME), and empty segments (a
 * leading or doubled `/`) would fold two keys into one file. A trailing `/` (a folder marker) is
 * fine.
 */
export function s3PathProblem(bucket: string | undefined, key: string | undefined): string | undefined {
  if (bucket !== undefined && (bucket === '.' || bucket === '..' || /[/\\\0]/.test(bucket)))
    return `The bucket name '${bucket}' is not a bucket name: the local S3 keeps buckets as folders of MLOOP_HOME/s3.`;
  if (key === undefined) return undefined;
  if (key.includes('\0')) return `The object key '${key.replace(/\0/g, '\\0')}' holds a NUL character, which the local S3 cannot store.`;
  const segments = key.split('/');
  if (segments[segments.length - 1] === '') segments.pop(); // a folder marker
  const bad = segments.find((s) => s === '' || s === '.' || s === '..');
  if (bad === undefined) return undefined;
  const what = bad === '' ? 'an empty path segment (a leading or doubled /)' : `a '${bad}' path segment`;
  return `The object key '${key}' has ${what}: the local S3 stores objects as files under MLOOP_HOME/s3 and refuses keys that would name a file outside their bucket or fold into another key.`;
}

/** A presigned URL's signature parameters, which the forwarded request's own signature replaces. */
const PRESIGN_PARAMS = new Set([
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-signedheaders',
  'x-amz-signature',
  'x-amz-security-token',
]);

function withoutPresignParams(rawUrl: string): string {
  const query = rawUrl.indexOf('?');
  if (query < 0) return rawUrl;
  const kept = rawUrl
    .slice(query + 1)
    .split('&')
    .filter((pair) => {
      const name = pair.split('=', 1)[0];
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // kept as it is
      }
      return !PRESIGN_PARAMS.has(decoded.toLowerCase());
    });
  return kept.length > 0 ? `${rawUrl.slice(0, query)}?${kept.join('&')}` : rawUrl.slice(0, query);
}

function forwardedHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name, value]) => value !== undefined && !HOP_BY_HOP.has(name)));
}

/** What the forwarded request is signed with: the home's credentials, and the region the client signed for. */
export interface ForwardSigning {
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly region: string;
  /** The payload hash of the request as the edge took it (declared, or the hash of the body it read). */
  readonly payloadHash: string;
}

/**
 * Forward a request to an emulator at `endpoint` and answer with its answer. For `s3`, the key is
 * checked and an aws-chunked body decoded first; the request is signed anew (see the file comment).
 */
export function forwardToEmulator(
  service: 's3' | 'dynamodb',
  endpoint: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  signing: ForwardSigning,
): void {
  const s3Error = (status: number, code: string, message: string, extra: Record<string, string> = {}) => {
    if (res.headersSent) return void res.destroy();
    const body = s3ErrorXml(code, message, extra);
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    req.resume(); // let the client finish sending (a refused PUT's body)
  };
  let url = req.url ?? '/';
  let headers = req.headers;
  let decoder: AwsChunkedDecoder | undefined;
  if (service === 's3') {
    const { bucket, key } = s3Target(url, headers.host);
    const problem = s3PathProblem(bucket, key);
    if (problem) return s3Error(400, 'InvalidArgument', problem, { ...(key !== undefined ? { Key: key } : {}) });
    url = withoutPresignParams(url);
    if (isAwsChunked(headers) && req.method !== 'GET' && req.method !== 'HEAD') {
      const decodedLength = headers['x-amz-decoded-content-length'];
      const length = decodedLength === undefined ? undefined : Number(decodedLength);
      if (length !== undefined && !(Number.isInteger(length) && length >= 0))
        return s3Error(400, 'InvalidArgument', `x-amz-decoded-content-length '${String(decodedLength)}' is not a byte count.`);
      const trailer = headers['x-amz-trailer'];
      decoder = new AwsChunkedDecoder(length, typeof trailer === 'string' ? trailer : undefined);
      headers = decodedHeaders(headers);
    }
  }
  const target = new URL(endpoint);
  // Signed for the host header it is sent with (the client's: s3rver reads a bucket from a virtual host).
  const { authorization: _clientSignature, ...unsigned } = headers;
  const sent = { ...unsigned, host: headers.host ?? target.host };
  const signature = signedHeadersFor({ method: req.method ?? 'GET', url, headers: { host: sent.host } }, signing.credentials, {
    region: signing.region,
    service,
    payloadHash: decoder ? UNSIGNED_PAYLOAD : signing.payloadHash,
    now: Date.now(),
  });
  headers = { ...sent, ...signature };
  let answered = false;
  /** Answer a failure once: the body's (a 400 naming what is wrong with it) or the emulator's (502). */
  const fail = (error: Error, fromBody: boolean) => {
    if (answered) return;
    answered = true;
    if (error instanceof ChunkedBodyError) return s3Error(400, error.code, error.message);
    if (fromBody) return s3Error(400, 'IncompleteBody', `The request body did not arrive whole: ${error.message}`);
    if (service === 's3') return s3Error(502, 'InternalError', `The local S3 (${endpoint}) did not answer: ${error.message}`);
    if (res.headersSent) return void res.destroy();
    const text = JSON.stringify({
      __type: 'InternalFailure',
      message: `The local DynamoDB (${endpoint}) did not answer: ${error.message}`,
    });
    res.writeHead(502, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  let bodyError: Error | undefined;
  // Registered before pipeline's own listeners, so a bad body is known before the upstream is torn down.
  for (const stream of [req, decoder]) stream?.once('error', (error: Error) => (bodyError ??= error));
  const upstream = http.request(
    { host: target.hostname, port: target.port, method: req.method, path: url, headers: forwardedHeaders(headers) },
    (answer) => {
      if (answered) return void answer.resume();
      answered = true;
      res.writeHead(answer.statusCode ?? 502, forwardedHeaders(answer.headers));
      pipeline(answer, res, () => undefined); // a client that goes away ends it; nothing to answer then
    },
  );
  upstream.on('error', (error) => fail(bodyError ?? error, bodyError !== undefined));
  const done = (error: NodeJS.ErrnoException | null) => {
    if (error) fail(bodyError ?? error, true);
  };
  if (decoder) pipeline(req, decoder, upstream, done);
  else pipeline(req, upstream, done);
}
