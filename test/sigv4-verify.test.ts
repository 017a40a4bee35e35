/**
 * The SigV4 verifier (local/sigv4-verify.ts) against signatures made by @smithy/signature-v4 (the
 * AWS SDK's signer) for S3 (path not double-encoded, x-amz-content-sha256, presigned URLs) and for
 * JSON, REST-JSON and query services (double-encoded, normalized path; body hashed); and what it
 * refuses: another secret, any signed part changed, a skewed clock, an expired URL, SigV2.
 */
import { createHash } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  canonicalUri,
  declaredPayloadHash,
  EMPTY_PAYLOAD_HASH,
  isProblem,
  parseSignature,
  signedHeadersFor,
  UNSIGNED_PAYLOAD,
  verifySignature,
  type RequestToVerify,
  type SignatureProblem,
  type SigV4Signature,
} from '../local/sigv4-verify';
import { Sha256 } from '@aws-crypto/sha256-js';

const CREDENTIALS = { accessKeyId: 'MLLOABCDEFGHIJKLMNOP', secretAccessKey: 'home-secret-0123456789abcdefghijklmnopqrstu' };
const NOW = Date.UTC(2026, 11, 4, 16, 30, 0);
const HOST = '127.0.0.1:4566';

interface Plain {
  method: string;
  path: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  body?: string;
}

/** The raw request target as an HTTP client sends it: the (already encoded) path and the query, encoded. */
function target(request: Plain): string {
  const pairs = Object.entries(request.query ?? {}).flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value]).map((v) => `${encodeURIComponent(name)}=${encodeURIComponent(v)}`),
  );
  return pairs.length ? `${request.path}?${pairs.join('&')}` : request.path;
}

function signer(service: string, options: { s3?: boolean; secret?: string } = {}) {
  return new SignatureV4({
    service,
    region: 'us-east-1',
    credentials: { ...CREDENTIALS, secretAccessKey: options.secret ?? CREDENTIALS.secretAccessKey },
    sha256: Sha256,
    uriEscapePath: !options.s3,
    applyChecksum: options.s3 === true,
  });
}

/** The request as @smithy/signature-v4 takes it, sent to the edge's address. */
function toSign(request: Plain) {
  return {
    method: request.method,
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 4566,
    path: request.path,
    query: request.query ?? {},
    headers: { host: HOST, ...request.headers },
  };
}

async function signed(
  service: string,
  request: Plain,
  options: { s3?: boolean; secret?: string; at?: number } = {},
): Promise<RequestToVerify & { body?: string }> {
  const out = await signer(service, options).sign({ ...toSign(request), body: request.body }, { signingDate: new Date(options.at ?? NOW) });
  const headers = Object.fromEntries(Object.entries(out.headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { method: request.method, url: target({ ...request, query: out.query as Record<string, string> }), headers, body: request.body };
}

async function presigned(
  service: string,
  request: Plain,
  expiresIn: number,
  options: { s3?: boolean; at?: number } = {},
): Promise<RequestToVerify> {
  const out = await signer(service, options).presign(toSign(request), { signingDate: new Date(options.at ?? NOW), expiresIn });
  return { method: request.method, url: target({ ...request, query: out.query as Record<string, string> }), headers: { host: HOST } };
}

/** Verify as the local runtime does: the declared payload hash, else the body's. */
function check(
  request: RequestToVerify & { body?: string },
  options: { now?: number; secret?: string } = {},
): SignatureProblem | SigV4Signature {
  const signature = parseSignature(request);
  if (isProblem(signature)) return signature;
  const payloadHash =
    declaredPayloadHash(request, signature) ??
    createHash('sha256')
      .update(request.body ?? '')
      .digest('hex');
  return verifySignature(request, signature, payloadHash, options.secret ?? CREDENTIALS.secretAccessKey, options.now ?? NOW) ?? signature;
}

const kind = (outcome: SignatureProblem | SigV4Signature) => (isProblem(outcome) ? outcome.kind : 'ok');

describe('signatures made by the AWS SDK signer verify', () => {
  test('S3: keys with spaces, colons, unicode, doubled slashes and dot segments, signed as they are', async () => {
    for (const key of ['data/train.csv', 'a b/c:d+e=f', 'ünï/cødé', 'x//y/./z/../w', "it's (1)*!", 'tilde~/%41']) {
      const path = `/bucket/${key
        .split('/')
        .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
        .join('/')}`;
      const get = await signed('s3', { method: 'GET', path }, { s3: true });
      expect(get.headers['x-amz-content-sha256']).toBe(EMPTY_PAYLOAD_HASH);
      expect([key, kind(check(get))]).toEqual([key, 'ok']);
    }
  });

  test('S3: a query with repeated, empty and encoded parameters; PUT bodies by hash, UNSIGNED-PAYLOAD and STREAMING-*', async () => {
    const list = await signed(
      's3',
      {
        method: 'GET',
        path: '/bucket',
        query: { 'list-type': '2', prefix: 'a b/ü', delimiter: '/', 'continuation-token': '', z: ['2', '1'] },
      },
      { s3: true },
    );
    expect(kind(check(list))).toBe('ok');
    const put = await signed(
      's3',
      { method: 'PUT', path: '/bucket/k', headers: { 'content-type': 'text/csv', 'content-length': '3' }, body: 'a,b' },
      { s3: true },
    );
    expect(put.headers['x-amz-content-sha256']).toBe(createHash('sha256').update('a,b').digest('hex'));
    expect(kind(check(put))).toBe('ok');
    for (const declared of [UNSIGNED_PAYLOAD, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER']) {
      const streamed = await signed(
        's3',
        { method: 'PUT', path: '/bucket/k', headers: { 'x-amz-content-sha256': declared } },
        { s3: true },
      );
      expect([declared, kind(check({ ...streamed, body: 'anything' }))]).toEqual([declared, 'ok']);
    }
  });

  test('S3 presigned GET and PUT (UNSIGNED-PAYLOAD), until X-Amz-Expires', async () => {
    for (const method of ['GET', 'PUT']) {
      const url = await presigned('s3', { method, path: '/bucket/a%20b', headers: { 'x-amz-content-sha256': UNSIGNED_PAYLOAD } }, 600, {
        s3: true,
      });
      expect(url.url).toContain('X-Amz-Signature=');
      expect(kind(check(url, { now: NOW + 599_000 }))).toBe('ok');
      expect(kind(check(url, { now: NOW + 601_000 }))).toBe('expired');
      expect(kind(check(url, { now: NOW - 16 * 60_000 }))).toBe('skewed');
    }
  });

  test('JSON services (DynamoDB, Step Functions): the body is hashed', async () => {
    for (const [service, target_] of [
      ['dynamodb', 'DynamoDB_20120810.GetItem'],
      ['states', 'AWSStepFunctions.ListExecutions'],
    ]) {
      const body = JSON.stringify({ TableName: 't', Key: { pk: { S: 'ü x' } } });
      const request = await signed(service, {
        method: 'POST',
        path: '/',
        headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': target_ },
        body,
      });
      expect(request.headers['x-amz-content-sha256']).toBeUndefined();
      expect(kind(check(request))).toBe('ok');
      expect(kind(check({ ...request, body: body.replace('t', 'u') }))).toBe('mismatch');
    }
  });

  test('REST-JSON (Lambda Invoke by ARN) and execute-api: the path is normalized and encoded twice', async () => {
    const arn = encodeURIComponent('arn:aws:lambda:us-east-1:000000000000:function:models');
    const invoke = await signed('lambda', { method: 'POST', path: `/2015-03-31/functions/${arn}/invocations`, body: '{}' });
    expect(kind(check(invoke))).toBe('ok');
    const api = await signed('execute-api', { method: 'GET', path: '/restapis/abc/v1/_user_request_/v1/models/a%20b/./x/../health' });
    expect(kind(check(api))).toBe('ok');
    expect(canonicalUri('/a%20b/./x/../c//d/', 'lambda')).toBe('/a%2520b/c/d/');
    expect(canonicalUri('/a%20b/./x/../c//d/', 's3')).toBe('/a%20b/./x/../c//d/');
  });

  test('query protocol (SNS, CloudFormation): the form body is hashed', async () => {
    const body = 'Action=DescribeStacks&StackName=Mloop&Version=2010-05-15';
    const request = await signed('cloudformation', {
      method: 'POST',
      path: '/',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body,
    });
    expect(kind(check(request))).toBe('ok');
  });

  test('repeated headers are joined with commas and whitespace runs folded, as the signer does', async () => {
    const request = await signed('s3', { method: 'GET', path: '/bucket/k', headers: { 'x-amz-meta-note': '  a   b  ' } }, { s3: true });
    expect(kind(check(request))).toBe('ok');
    expect(kind(check({ ...request, headers: { ...request.headers, 'x-amz-meta-note': ['a b'] } }))).toBe('ok');
    expect(kind(check({ ...request, headers: { ...request.headers, 'x-amz-meta-note': ['a', 'b'] } }))).toBe('mismatch');
  });

  test('signedHeadersFor signs as the SDK signer does', async () => {
    const request = { method: 'GET', url: '/bucket/a%20b?list-type=2', headers: { host: HOST } };
    const headers = signedHeadersFor(request, CREDENTIALS, { region: 'us-east-1', service: 's3', payloadHash: UNSIGNED_PAYLOAD, now: NOW });
    const smithy = await signer('s3', { s3: true }).sign(
      {
        method: 'GET',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: 4566,
        path: '/bucket/a%20b',
        query: { 'list-type': '2' },
        headers: { host: HOST, 'x-amz-content-sha256': UNSIGNED_PAYLOAD },
      },
      { signingDate: new Date(NOW) },
    );
    expect(headers.authorization).toBe(smithy.headers.authorization);
    expect(kind(check({ ...request, headers: { ...request.headers, ...headers } }))).toBe('ok');
  });
});

describe('refused', () => {
  test('another secret, or any signed part changed: a mismatch naming what was signed', async () => {
    const request = await signed(
      's3',
      { method: 'PUT', path: '/bucket/k', query: { tagging: '' }, headers: { 'content-type': 'text/csv' } },
      { s3: true },
    );
    const other = check(request, { secret: 'not-the-home-secret' });
    expect(other).toMatchObject({ kind: 'mismatch', canonicalRequest: expect.stringContaining('PUT\n/bucket/k\ntagging=\n') });
    expect(kind(check({ ...request, method: 'DELETE' }))).toBe('mismatch');
    expect(kind(check({ ...request, url: '/bucket/other?tagging=' }))).toBe('mismatch');
    expect(kind(check({ ...request, url: '/bucket/k?tagging=&acl=' }))).toBe('mismatch');
    expect(kind(check({ ...request, headers: { ...request.headers, 'content-type': 'text/html' } }))).toBe('mismatch');
    expect(kind(check({ ...request, headers: { ...request.headers, host: 'evil.example:80' } }))).toBe('mismatch');
    expect(kind(check({ ...request, headers: { ...request.headers, 'x-amz-content-sha256': UNSIGNED_PAYLOAD } }))).toBe('mismatch');
    const { 'content-type': _dropped, ...without } = request.headers;
    expect(check({ ...request, headers: without })).toMatchObject({ kind: 'mismatch', message: expect.stringContaining("'content-type'") });
  });

  test('a request time more than 15 minutes from the clock, either way', async () => {
    const request = await signed('dynamodb', { method: 'POST', path: '/', body: '{}' });
    expect(kind(check(request, { now: NOW + 14 * 60_000 }))).toBe('ok');
    expect(check(request, { now: NOW + 16 * 60_000 })).toMatchObject({
      kind: 'skewed',
      message: expect.stringContaining('Signature expired'),
    });
    expect(kind(check(request, { now: NOW - 16 * 60_000 }))).toBe('skewed');
  });

  test('unsigned, SigV2, malformed headers and a scope dated another day', async () => {
    expect(kind(check({ method: 'GET', url: '/bucket/k', headers: { host: HOST } }))).toBe('unsigned');
    expect(
      kind(check({ method: 'GET', url: '/bucket/k', headers: { host: HOST, authorization: 'AWS MLLOABCDEFGHIJKLMNOP:c2lnbmF0dXJl' } })),
    ).toBe('unsupported');
    expect(kind(check({ method: 'GET', url: '/bucket/k?AWSAccessKeyId=X&Signature=abc&Expires=1', headers: { host: HOST } }))).toBe(
      'unsupported',
    );
    expect(kind(check({ method: 'GET', url: '/', headers: { host: HOST, authorization: 'AWS4-ECDSA-P256-SHA256 Credential=x' } }))).toBe(
      'unsupported',
    );
    expect(kind(check({ method: 'GET', url: '/', headers: { host: HOST, authorization: 'AWS4-HMAC-SHA256 Credential=x/y' } }))).toBe(
      'malformed',
    );
    const request = await signed('s3', { method: 'GET', path: '/bucket/k' }, { s3: true });
    const otherDay = {
      ...request,
      headers: { ...request.headers, authorization: String(request.headers.authorization).replace('/20261204/', '/20261203/') },
    };
    expect(check(otherDay)).toMatchObject({ kind: 'malformed', message: expect.stringContaining('20261203') });
    const noHost = {
      ...request,
      headers: {
        ...request.headers,
        authorization: String(request.headers.authorization).replace('SignedHeaders=host;', 'SignedHeaders='),
      },
    };
    expect(check(noHost)).toMatchObject({ kind: 'malformed', message: 'The signed headers must include host.' });
  });

  test('presigned URLs with an X-Amz-Expires out of range, or tampered', async () => {
    const url = await presigned('s3', { method: 'GET', path: '/bucket/k', headers: { 'x-amz-content-sha256': UNSIGNED_PAYLOAD } }, 60, {
      s3: true,
    });
    expect(kind(check({ ...url, url: url.url.replace('X-Amz-Expires=60', 'X-Amz-Expires=6000') }))).toBe('mismatch');
    expect(kind(check({ ...url, url: url.url.replace('X-Amz-Expires=60', 'X-Amz-Expires=700000') }))).toBe('malformed');
    expect(kind(check({ ...url, url: url.url.replace('/bucket/k', '/bucket/j') }))).toBe('mismatch');
  });
});
