/**
 * The credentials of a home's local runtime, and the check every port of the runtime makes with
 * them: the AWS edge endpoint (local/aws-api.ts) and the emulators' own ports (s3rver, dynalite;
 * local/emulators.ts). The owner of a home generates an access key pair when it starts, publishes
 * it in MLOOP_HOME/runtime.json (mode 0600: readable by the user alone) beside the endpoints, and
 * uses it itself (its SDK clients, lambdas/shared/clients.ts, read it from
 * MLOOP_EDGE_ACCESS_KEY_ID and MLOOP_EDGE_SECRET_ACCESS_KEY); `mloop serve` prints it; commands
 * that attach to the home read it there.
 *
 * A request is taken when its SigV4 signature (Authorization header, or a presigned URL's query)
 * was made with this home's secret (local/sigv4-verify.ts); the body is read to hash it only when
 * the request does not declare its hash in x-amz-content-sha256 (S3 always declares it; JSON and
 * query services do not, and their bodies are bounded). Refusals are answered as each protocol
 * answers them: an unsigned request or another access key id as an unknown key (S3: 403
 * InvalidAccessKeyId; JSON: 403 UnrecognizedClientException; query: 403 InvalidClientTokenId), a
 * signature that does not match as 403 SignatureDoesNotMatch (S3, query) or
 * InvalidSignatureException (JSON), a request time more than 15 minutes off as
 * RequestTimeTooSkewed (S3) or "Signature expired".
 */
import { createHash, randomBytes } from 'node:crypto';
import type * as http from 'node:http';
import { PassThrough } from 'node:stream';
import { s3ErrorXml } from './emulator-proxy';
import { readBodyUpTo } from './loopback-http';
import {
  declaredPayloadHash,
  isProblem,
  parseSignature,
  verifySignature,
  type RequestToVerify,
  type SignatureProblem,
  type SignatureProblemKind,
} from './sigv4-verify';

export interface EdgeCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** A new key pair: shaped like AWS's (20 upper-case characters, 40 of secret), random. */
export function generateEdgeCredentials(): EdgeCredentials {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const id = [...randomBytes(16)].map((b) => alphabet[b % 32]).join('');
  return { accessKeyId: `MLLO${id}`, secretAccessKey: randomBytes(30).toString('base64url') };
}

/** A refusal, ready to write. */
export interface Refusal {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Why a request is refused: the verifier's reasons, and two of the gate's own. */
type RefusalKind = SignatureProblemKind | 'unknown-key' | 'too-large';

const HOW =
  "the local runtime takes requests signed with the credentials of this home (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY as `mloop serve` prints them, or MLOOP_HOME/runtime.json's)";

/** Each protocol's status and error code for each reason. */
const CODES: Record<'s3' | 'json' | 'query', Record<RefusalKind, [number, string]>> = {
  s3: {
    unsigned: [403, 'InvalidAccessKeyId'],
    'unknown-key': [403, 'InvalidAccessKeyId'],
    unsupported: [400, 'InvalidRequest'],
    malformed: [400, 'AuthorizationHeaderMalformed'],
    'missing-payload-hash': [400, 'InvalidRequest'],
    mismatch: [403, 'SignatureDoesNotMatch'],
    skewed: [403, 'RequestTimeTooSkewed'],
    expired: [403, 'AccessDenied'],
    'too-large': [400, 'EntityTooLarge'],
  },
  json: {
    unsigned: [403, 'UnrecognizedClientException'],
    'unknown-key': [403, 'UnrecognizedClientException'],
    unsupported: [400, 'IncompleteSignatureException'],
    malformed: [400, 'IncompleteSignatureException'],
    'missing-payload-hash': [400, 'IncompleteSignatureException'],
    mismatch: [403, 'InvalidSignatureException'],
    skewed: [400, 'InvalidSignatureException'],
    expired: [403, 'InvalidSignatureException'],
    'too-large': [413, 'RequestEntityTooLargeException'],
  },
  query: {
    unsigned: [403, 'InvalidClientTokenId'],
    'unknown-key': [403, 'InvalidClientTokenId'],
    unsupported: [400, 'IncompleteSignature'],
    malformed: [400, 'IncompleteSignature'],
    'missing-payload-hash': [400, 'IncompleteSignature'],
    mismatch: [403, 'SignatureDoesNotMatch'],
    skewed: [403, 'SignatureDoesNotMatch'],
    expired: [403, 'SignatureDoesNotMatch'],
    'too-large': [413, 'RequestEntityTooLarge'],
  },
};

const protocolOf = (service: string): 's3' | 'json' | 'query' =>
  service === 's3' ? 's3' : service === 'sns' || service === 'cloudformation' || service === 'query' ? 'query' : 'json';

const escapeXml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The refusal of a request to `service` for `kind`, in that service's protocol. */
export function refusal(
  service: string,
  kind: RefusalKind,
  message: string,
  detail: Partial<SignatureProblem> & { accessKeyId?: string } = {},
): Refusal {
  const protocol = protocolOf(service);
  // Lambda's Invoke names a payload over its limit as Lambda does.
  const [status, code] = service === 'lambda' && kind === 'too-large' ? [413, 'RequestTooLargeException'] : CODES[protocol][kind];
  if (protocol === 's3') {
    const extra: Record<string, string> = {};
    if (detail.accessKeyId !== undefined) extra.AWSAccessKeyId = detail.accessKeyId;
    if (detail.stringToSign !== undefined) extra.StringToSign = detail.stringToSign;
    if (detail.canonicalRequest !== undefined) extra.CanonicalRequest = detail.canonicalRequest;
    return { status, headers: { 'content-type': 'application/xml' }, body: s3ErrorXml(code, message, extra) };
  }
  if (protocol === 'query')
    return {
      status,
      headers: { 'content-type': 'text/xml' },
      body: `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error><RequestId>${randomBytes(16).toString('hex')}</RequestId></ErrorResponse>`,
    };
  return {
    status,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': code },
    body: JSON.stringify({ __type: code, message }),
  };
}

/** The request's message for a refusal, with what to do. */
function explained(problem: SignatureProblem): string {
  if (problem.kind === 'unsigned') return `The request is not signed: ${HOW}.`;
  if (problem.kind === 'mismatch') return `${problem.message} (${HOW}.)`;
  return problem.message;
}

/**
 * A stand-in for a request whose body was read: the same method, URL, headers and socket, and
 * the body again, for the code that reads the request next.
 */
function replay(req: http.IncomingMessage, body: Buffer): http.IncomingMessage {
  const stream = new PassThrough();
  stream.end(body);
  return Object.assign(stream, {
    headers: req.headers,
    headersDistinct: req.headersDistinct,
    rawHeaders: req.rawHeaders,
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    socket: req.socket,
    complete: true,
  }) as unknown as http.IncomingMessage;
}

/** A request the gate took: the request to read on with, and its payload hash (for a signature of its own). */
export interface Admitted {
  readonly request: http.IncomingMessage;
  readonly payloadHash: string;
}

export interface GateOptions {
  /** The longest body read to hash it (a body that does not declare its hash); longer ones are refused. */
  readonly maxBodyBytes: number;
  /** The service this port serves: a signature for another one is refused (the emulators' ports). */
  readonly service?: string;
  /** The clock, for tests. @default Date.now */
  readonly now?: () => number;
}

/**
 * Take a request signed with `credentials` (see the file comment), or say why not. `service` is
 * the one the request is addressed to (its error shape). The request is not read from unless its
 * body must be hashed; it is then read whole (up to maxBodyBytes) and handed on as a replay.
 */
export async function admitSigned(
  req: http.IncomingMessage,
  service: string,
  credentials: EdgeCredentials,
  options: GateOptions,
): Promise<Admitted | { refused: Refusal }> {
  const request: RequestToVerify = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headersDistinct };
  const signature = parseSignature(request);
  if (isProblem(signature)) return { refused: refusal(service, signature.kind, explained(signature)) };
  if (signature.accessKeyId !== credentials.accessKeyId)
    return {
      refused: refusal(service, 'unknown-key', `The access key id '${signature.accessKeyId.slice(0, 40)}' is not this home's: ${HOW}.`, {
        accessKeyId: signature.accessKeyId.slice(0, 40),
      }),
    };
  if (options.service !== undefined && signature.service !== options.service)
    return {
      refused: refusal(
        service,
        'mismatch',
        `The request is signed for the service '${signature.service.slice(0, 40)}': this port serves '${options.service}' only.`,
      ),
    };
  let payloadHash = declaredPayloadHash(request, signature);
  let admitted = req;
  if (payloadHash === undefined) {
    if (signature.service === 's3')
      return { refused: refusal(service, 'missing-payload-hash', 'Missing required header for this request: x-amz-content-sha256.') };
    const body = await readBodyUpTo(req, options.maxBodyBytes);
    if (body === null) return { refused: refusal(service, 'too-large', `The request body is larger than ${options.maxBodyBytes} bytes.`) };
    payloadHash = createHash('sha256').update(body).digest('hex');
    admitted = replay(req, body);
  }
  const problem = verifySignature(request, signature, payloadHash, credentials.secretAccessKey, (options.now ?? Date.now)());
  if (problem) return { refused: refusal(service, problem.kind, explained(problem), { ...problem, accessKeyId: signature.accessKeyId }) };
  return { request: admitted, payloadHash };
}

/** Answer a refusal (and let the client finish sending a body that was not read). */
export function writeRefusal(req: http.IncomingMessage, res: http.ServerResponse, refused: Refusal): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(refused.status, {
    ...refused.headers,
    'content-length': String(Buffer.byteLength(refused.body)),
    'x-amzn-requestid': randomBytes(16).toString('hex'),
  });
  res.end(refused.body);
  req.resume();
}

/**
 * `listener` (an emulator's request handler) behind the gate: it sees only requests signed with
 * the home's credentials for `service`.
 */
export function requireHomeSignature(
  listener: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  service: 's3' | 'dynamodb',
  credentials: EdgeCredentials,
  maxBodyBytes: number,
): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    admitSigned(req, service, credentials, { maxBodyBytes, service }).then(
      (outcome) => ('refused' in outcome ? writeRefusal(req, res, outcome.refused) : listener(outcome.request, res)),
      (error: Error) => res.destroy(error),
    );
  };
}
