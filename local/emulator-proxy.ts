/**
 * S3 and DynamoDB on the edge endpoint (local/aws-api.ts): a request is forwarded to the emulator
 * (s3rver, dynalite; local/emulators.ts) with its body streamed, and the emulator's status,
 * headers and body come back as they are. For S3, three things happen on the way:
 * - a key that would name a file outside the bucket's folder in s3rver's filesystem store (a `.`
 *   or `..` segment, an empty segment, a NUL) is refused with an S3 error, before s3rver sees it;
 * - any credentials are accepted: s3rver knows one access key (S3RVER) and does not check SigV4
 *   signatures, so the access key id of the request is swapped for it;
 * - an aws-chunked body is decoded (local/aws-chunked.ts), so the object is the exact bytes.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import { isIP } from 'node:net';
import { pipeline } from 'node:stream';
import { AwsChunkedDecoder, ChunkedBodyError, decodedHeaders, isAwsChunked } from './aws-chunked';

/** The access key s3rver knows (its built-in account). */
const S3RVER_KEY = 'S3RVER';

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

/** `headers` with the request's access key id (SigV4 or SigV2, header or presigned query) made s3rver's. */
function s3rverCredentials(rawUrl: string, headers: http.IncomingHttpHeaders): { url: string; headers: http.IncomingHttpHeaders } {
  const out = { ...headers };
  const authorization = headers.authorization;
  if (authorization) {
    out.authorization = authorization.replace(/(Credential=)[^/,\s]+/, `$1${S3RVER_KEY}`).replace(/^AWS [^:\s]+:/, `AWS ${S3RVER_KEY}:`);
  }
  const query = rawUrl.indexOf('?');
  if (query < 0) return { url: rawUrl, headers: out };
  const params = rawUrl
    .slice(query + 1)
    .split('&')
    .map((pair) => {
      const [name] = pair.split('=', 1);
      if (name === 'X-Amz-Credential') return pair.replace(/=[^%/]*(%2F|\/)/i, `=${S3RVER_KEY}$1`);
      if (name === 'AWSAccessKeyId') return `AWSAccessKeyId=${S3RVER_KEY}`;
      return pair;
    });
  return { url: `${rawUrl.slice(0, query)}?${params.join('&')}`, headers: out };
}

function forwardedHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name, value]) => value !== undefined && !HOP_BY_HOP.has(name)));
}

/**
 * Forward a request to an emulator at `endpoint` and answer with its answer. For `s3`, the key is
 * checked, the credentials swapped and an aws-chunked body decoded first (see the file comment).
 */
export function forwardToEmulator(service: 's3' | 'dynamodb', endpoint: string, req: http.IncomingMessage, res: http.ServerResponse): void {
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
    ({ url, headers } = s3rverCredentials(url, headers));
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
