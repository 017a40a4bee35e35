/**
 * AWS Signature Version 4, checked on the receiving side (and made, for the requests the edge
 * forwards): pure functions of a request's method, raw URL and headers, a payload hash and a
 * secret. Used by the local runtime to take only requests signed with its home's credentials
 * (local/edge-credentials.ts).
 *
 * The canonical request follows the published algorithm: method; canonical URI; canonical query
 * (each name and value decoded, then URI-encoded with only A-Z a-z 0-9 - _ . ~ left as they are,
 * sorted by name then value, X-Amz-Signature left out of a presigned URL's); the headers named in
 * SignedHeaders (values trimmed, inner whitespace runs made one space, repeated headers joined with
 * `,`); the SignedHeaders list; the payload hash. The canonical URI differs by service: S3 takes
 * the path as it is (its keys may hold `//` or `.` segments), each segment encoded once; every
 * other service removes `.`, `..` and empty segments and encodes the (already encoded) path a
 * second time. The payload hash is the x-amz-content-sha256 header when there is one (S3's
 * UNSIGNED-PAYLOAD and STREAMING-* values included), a presigned URL's X-Amz-Content-Sha256, S3's
 * UNSIGNED-PAYLOAD for a presigned URL without one, and otherwise the SHA-256 of the body, which
 * the caller then reads (declaredPayloadHash says which).
 *
 * Time: a header-signed request more than 15 minutes from the clock is refused as AWS refuses it
 * (RequestTimeTooSkewed, "Signature expired"); a presigned URL is refused after X-Amz-Expires
 * seconds (at most 7 days), or when its X-Amz-Date is more than 15 minutes ahead.
 *
 * Not checked: the chunk signatures of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body and whether a
 * body matches its declared hash. Both protect a body in transit from being changed by someone
 * on the path; on loopback, whoever could do that already has the user's rights. The seed
 * signature, which only the secret's holder can make, is what authenticates the caller.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** SHA-256 of no bytes. */
export const EMPTY_PAYLOAD_HASH = createHash('sha256').digest('hex');
/** How far a request's time may be from the clock (AWS's 15 minutes). */
export const MAX_SKEW_MS = 15 * 60 * 1000;
/** A presigned URL's longest life (X-Amz-Expires), as AWS allows: 7 days. */
export const MAX_EXPIRES_SECONDS = 7 * 24 * 3600;

/** A request as received: `url` is the raw request target (path and query), header names lower-case. */
export interface RequestToVerify {
  readonly method: string;
  readonly url: string;
  /** Repeated headers as arrays (Node's `headersDistinct`), or one value. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/** A SigV4 signature's parts, from an Authorization header or a presigned URL's query. */
export interface SigV4Signature {
  readonly form: 'header' | 'query';
  readonly accessKeyId: string;
  /** The credential scope: `<date>/<region>/<service>/aws4_request`. */
  readonly scopeDate: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
  /** The request time, as signed (yyyyMMddTHHmmssZ). */
  readonly amzDate: string;
  /** A presigned URL's life in seconds. */
  readonly expires?: number;
}

/**
 * Why a request is refused: `unsigned` (no signature at all), `unsupported` (SigV2, SigV4a),
 * `malformed` (a signature that cannot be read), `missing-payload-hash` (S3 without
 * x-amz-content-sha256), `mismatch`, `skewed` (too far from the clock), `expired` (a presigned URL).
 */
export type SignatureProblemKind = 'unsigned' | 'unsupported' | 'malformed' | 'missing-payload-hash' | 'mismatch' | 'skewed' | 'expired';

export interface SignatureProblem {
  readonly kind: SignatureProblemKind;
  readonly message: string;
  /** For a mismatch: what was signed here, so a client author can compare. */
  readonly canonicalRequest?: string;
  readonly stringToSign?: string;
}

const problem = (kind: SignatureProblemKind, message: string, extra: Partial<SignatureProblem> = {}): SignatureProblem => ({
  kind,
  message,
  ...extra,
});

export const isProblem = <T extends object>(value: T | SignatureProblem): value is SignatureProblem => 'kind' in value;

/** URI-encode as SigV4 does: everything but A-Z a-z 0-9 - _ . ~ as %XX (upper-case hex). */
export function uriEncode(text: string): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(text);
  } catch {
    // A lone surrogate: encode its UTF-8 replacement, as a client's encoder would.
    encoded = encodeURIComponent(text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'));
  }
  return encoded.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // not valid percent-encoding: taken as it is, as the client would have signed it
  }
}

function headerValue(headers: RequestToVerify['headers'], name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(',');
}

/** The raw query's parameters, decoded, in order. */
function queryParams(rawUrl: string): [string, string][] {
  const at = rawUrl.indexOf('?');
  if (at < 0) return [];
  return rawUrl
    .slice(at + 1)
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq < 0 ? [decode(pair), ''] : [decode(pair.slice(0, eq)), decode(pair.slice(eq + 1))];
    });
}

/** The canonical URI of a raw path (see the file comment for S3's difference). */
export function canonicalUri(rawPath: string, service: string): string {
  const path = rawPath === '' ? '/' : rawPath;
  if (service === 's3')
    return path
      .split('/')
      .map((segment) => uriEncode(decode(segment)))
      .join('/');
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && path.endsWith('/') ? '/' : '';
  return `/${segments.map(uriEncode).join('/')}${trailing}`;
}

/** The canonical query string of a raw request target (X-Amz-Signature left out). */
export function canonicalQuery(rawUrl: string): string {
  return queryParams(rawUrl)
    .filter(([name]) => name !== 'X-Amz-Signature')
    .map(([name, value]) => [uriEncode(name), uriEncode(value)])
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** The canonical headers block (one `name:value\n` per signed header), or the name of a signed header the request lacks. */
function canonicalHeaders(headers: RequestToVerify['headers'], signed: readonly string[]): string | { missing: string } {
  let block = '';
  for (const name of signed) {
    const value = headers[name];
    if (value === undefined) return { missing: name };
    const values = typeof value === 'string' ? [value] : value;
    block += `${name}:${values.map((v) => v.trim().replace(/\s+/g, ' ')).join(',')}\n`;
  }
  return block;
}

/** The canonical request, or the name of a signed header the request lacks. */
export function canonicalRequest(request: RequestToVerify, signature: SigV4Signature, payloadHash: string): string | { missing: string } {
  const rawPath = request.url.split('?')[0];
  const headers = canonicalHeaders(request.headers, signature.signedHeaders);
  if (typeof headers !== 'string') return headers;
  return [
    request.method.toUpperCase(),
    canonicalUri(rawPath, signature.service),
    canonicalQuery(request.url),
    headers,
    signature.signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
}

export function stringToSign(signature: Pick<SigV4Signature, 'amzDate' | 'scopeDate' | 'region' | 'service'>, canonical: string): string {
  const scope = `${signature.scopeDate}/${signature.region}/${signature.service}/aws4_request`;
  return [ALGORITHM, signature.amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
}

/** Signing keys by secret and scope: derived once a day per service, not per request. */
const signingKeys = new Map<string, Buffer>();

export function signingKey(secret: string, scopeDate: string, region: string, service: string): Buffer {
  const id = `${scopeDate}/${region}/${service}\n${secret}`;
  let key = signingKeys.get(id);
  if (!key) {
    const hmac = (k: string | Buffer, data: string) => createHmac('sha256', k).update(data).digest();
    key = hmac(hmac(hmac(hmac(`AWS4${secret}`, scopeDate), region), service), 'aws4_request');
    if (signingKeys.size > 64) signingKeys.clear(); // a few scopes a day are expected; stay bounded
    signingKeys.set(id, key);
  }
  return key;
}

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** Milliseconds since the epoch of a yyyyMMddTHHmmssZ time, or NaN. */
export function amzDateMs(amzDate: string): number {
  const m = AMZ_DATE.exec(amzDate);
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : NaN;
}

/** A time as SigV4 writes it (yyyyMMddTHHmmssZ). */
export function toAmzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** The scope's parts from `<key>/<date>/<region>/<service>/aws4_request`, or a problem. */
function parseCredential(credential: string): Pick<SigV4Signature, 'accessKeyId' | 'scopeDate' | 'region' | 'service'> | SignatureProblem {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1]) || parts.some((p) => p === ''))
    return problem(
      'malformed',
      `The credential '${credential.slice(0, 200)}' is not <access key id>/<yyyyMMdd>/<region>/<service>/aws4_request.`,
    );
  return { accessKeyId: parts[0], scopeDate: parts[1], region: parts[2], service: parts[3] };
}

/**
 * The SigV4 signature a request carries (Authorization header, or a presigned URL's X-Amz-*
 * query), or why there is none to check.
 */
export function parseSignature(request: RequestToVerify): SigV4Signature | SignatureProblem {
  const authorization = headerValue(request.headers, 'authorization');
  const query = new Map(queryParams(request.url));
  if (authorization !== undefined && query.has('X-Amz-Signature'))
    return problem('malformed', 'The request carries both an Authorization header and a presigned X-Amz-Signature: only one may sign it.');
  if (authorization !== undefined) {
    const algorithm = authorization.trim().split(/\s+/, 1)[0];
    if (algorithm !== ALGORITHM)
      return problem(
        'unsupported',
        `The authorization mechanism '${algorithm.slice(0, 40)}' is not supported by the local runtime: sign requests with ${ALGORITHM} (Signature Version 4).`,
      );
    const fields = new Map(
      authorization
        .trim()
        .slice(ALGORITHM.length)
        .split(',')
        .map((field) => {
          const eq = field.indexOf('=');
          return [field.slice(0, eq).trim(), field.slice(eq + 1).trim()] as const;
        }),
    );
    const credential = fields.get('Credential');
    const signedHeaders = fields.get('SignedHeaders');
    const signature = fields.get('Signature');
    if (!credential || !signedHeaders || !signature)
      return problem('malformed', 'The Authorization header needs Credential=, SignedHeaders= and Signature= fields.');
    const scope = parseCredential(credential);
    if (isProblem(scope)) return scope;
    const amzDate = headerValue(request.headers, 'x-amz-date') ?? dateHeaderAsAmzDate(headerValue(request.headers, 'date'));
    if (amzDate === undefined) return problem('malformed', 'The request has no X-Amz-Date (or Date) header to date its signature.');
    return checkedDates({ form: 'header', ...scope, signedHeaders: signedHeaders.split(';'), signature, amzDate });
  }
  if (query.has('X-Amz-Signature') || query.has('X-Amz-Credential')) {
    const algorithm = query.get('X-Amz-Algorithm');
    if (algorithm !== ALGORITHM)
      return problem('unsupported', `X-Amz-Algorithm '${String(algorithm).slice(0, 40)}' is not supported: presign with ${ALGORITHM}.`);
    const missing = ['X-Amz-Credential', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Signature', 'X-Amz-Expires'].filter(
      (n) => !query.get(n),
    );
    if (missing.length > 0) return problem('malformed', `The presigned URL lacks ${missing.join(', ')}.`);
    const expires = Number(query.get('X-Amz-Expires'));
    if (!Number.isInteger(expires) || expires < 1 || expires > MAX_EXPIRES_SECONDS)
      return problem(
        'malformed',
        `X-Amz-Expires '${query.get('X-Amz-Expires')}' is not a number of seconds from 1 to ${MAX_EXPIRES_SECONDS} (7 days).`,
      );
    const scope = parseCredential(query.get('X-Amz-Credential')!);
    if (isProblem(scope)) return scope;
    return checkedDates({
      form: 'query',
      ...scope,
      signedHeaders: query.get('X-Amz-SignedHeaders')!.split(';'),
      signature: query.get('X-Amz-Signature')!,
      amzDate: query.get('X-Amz-Date')!,
      expires,
    });
  }
  if (authorization === undefined && (query.has('Signature') || query.has('AWSAccessKeyId')))
    return problem(
      'unsupported',
      `Signature Version 2 is not supported by the local runtime: sign requests with ${ALGORITHM} (Signature Version 4).`,
    );
  return problem('unsigned', 'The request is not signed.');
}

/** An HTTP Date header (RFC 1123) as yyyyMMddTHHmmssZ. */
function dateHeaderAsAmzDate(date: string | undefined): string | undefined {
  if (date === undefined) return undefined;
  const ms = Date.parse(date);
  return Number.isNaN(ms) ? undefined : toAmzDate(ms);
}

function checkedDates(signature: SigV4Signature): SigV4Signature | SignatureProblem {
  if (Number.isNaN(amzDateMs(signature.amzDate)))
    return problem('malformed', `The request time '${signature.amzDate.slice(0, 40)}' is not in the form yyyyMMddTHHmmssZ.`);
  if (!signature.amzDate.startsWith(signature.scopeDate))
    return problem('malformed', `The credential scope's date ${signature.scopeDate} is not the request's date (${signature.amzDate}).`);
  if (!signature.signedHeaders.includes('host')) return problem('malformed', 'The signed headers must include host.');
  return signature;
}

/**
 * The payload hash the request declares (x-amz-content-sha256; a presigned URL's
 * X-Amz-Content-Sha256; S3's UNSIGNED-PAYLOAD for a presigned URL), or undefined when the
 * caller must hash the body.
 */
export function declaredPayloadHash(request: RequestToVerify, signature: SigV4Signature): string | undefined {
  if (signature.form === 'query') {
    const fromQuery = queryParams(request.url).find(([name]) => name === 'X-Amz-Content-Sha256')?.[1];
    return fromQuery ?? headerValue(request.headers, 'x-amz-content-sha256') ?? (signature.service === 's3' ? UNSIGNED_PAYLOAD : undefined);
  }
  return headerValue(request.headers, 'x-amz-content-sha256');
}

/** The signature of a canonical request, hex. */
export function computeSignature(
  secret: string,
  signature: Pick<SigV4Signature, 'amzDate' | 'scopeDate' | 'region' | 'service'>,
  canonical: string,
): string {
  const key = signingKey(secret, signature.scopeDate, signature.region, signature.service);
  return createHmac('sha256', key).update(stringToSign(signature, canonical)).digest('hex');
}

/**
 * Whether `signature` (parsed from `request`) was made with `secret`, for a body whose hash is
 * `payloadHash`, at a time the clock (`now`) accepts; undefined when it was.
 */
export function verifySignature(
  request: RequestToVerify,
  signature: SigV4Signature,
  payloadHash: string,
  secret: string,
  now: number,
): SignatureProblem | undefined {
  const signedAt = amzDateMs(signature.amzDate);
  if (signature.form === 'header' && Math.abs(now - signedAt) > MAX_SKEW_MS)
    return problem(
      'skewed',
      `Signature expired: the request time ${signature.amzDate} is more than 15 minutes from the local runtime's time ${toAmzDate(now)}.`,
    );
  if (signature.form === 'query') {
    if (signedAt - now > MAX_SKEW_MS)
      return problem('skewed', `The presigned URL's time ${signature.amzDate} is more than 15 minutes ahead of ${toAmzDate(now)}.`);
    if (now > signedAt + signature.expires! * 1000)
      return problem('expired', `Request has expired: the presigned URL was valid for ${signature.expires} s from ${signature.amzDate}.`);
  }
  const canonical = canonicalRequest(request, signature, payloadHash);
  if (typeof canonical !== 'string')
    return problem('mismatch', `The signed header '${canonical.missing}' is not in the request: the signature cannot match.`);
  const expected = Buffer.from(computeSignature(secret, signature, canonical), 'utf8');
  const provided = Buffer.from(signature.signature, 'utf8');
  if (expected.length === provided.length && timingSafeEqual(expected, provided)) return undefined;
  return problem(
    'mismatch',
    'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    { canonicalRequest: canonical, stringToSign: stringToSign(signature, canonical) },
  );
}

/**
 * Sign a request with Authorization header SigV4: the headers to set on it (x-amz-date,
 * x-amz-content-sha256, authorization), signing host and those two. `request.headers` must hold
 * the host the request is sent with.
 */
export function signedHeadersFor(
  request: RequestToVerify,
  credentials: { readonly accessKeyId: string; readonly secretAccessKey: string },
  scope: { readonly region: string; readonly service: string; readonly payloadHash: string; readonly now: number },
): { 'x-amz-date': string; 'x-amz-content-sha256': string; authorization: string } {
  const amzDate = toAmzDate(scope.now);
  const added = { 'x-amz-date': amzDate, 'x-amz-content-sha256': scope.payloadHash };
  const signature: SigV4Signature = {
    form: 'header',
    accessKeyId: credentials.accessKeyId,
    scopeDate: amzDate.slice(0, 8),
    region: scope.region,
    service: scope.service,
    signedHeaders: ['host', 'x-amz-content-sha256', 'x-amz-date'],
    signature: '',
    amzDate,
  };
  const canonical = canonicalRequest({ ...request, headers: { ...request.headers, ...added } }, signature, scope.payloadHash);
  if (typeof canonical !== 'string') throw new Error(`A request to sign needs a ${canonical.missing} header.`);
  const value = computeSignature(credentials.secretAccessKey, signature, canonical);
  return {
    ...added,
    authorization: `${ALGORITHM} Credential=${credentials.accessKeyId}/${signature.scopeDate}/${scope.region}/${scope.service}/aws4_request, SignedHeaders=${signature.signedHeaders.join(';')}, Signature=${value}`,
  };
}
