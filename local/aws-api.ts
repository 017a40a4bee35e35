/**
 * The local runtime's AWS edge endpoint: every AWS API that mloop's handlers and CLI call, on one
 * loopback port, routed by the service that the request is signed for (the SigV4 credential
 * scope, `Credential=<key>/<date>/<region>/<service>/aws4_request`, in the Authorization header or
 * a presigned query's X-Amz-Credential), as LocalStack's edge port routes them:
 * - `s3` and `dynamodb`: forwarded to the emulators (local/emulator-proxy.ts);
 * - `lambda`: Invoke of the template's functions (local/lambda-api.ts);
 * - `execute-api`: the REST API under `/restapis/<id>/<stage>/_user_request_/` (local/api-server.ts);
 * - `states` (Step Functions, AWS JSON 1.0, `X-Amz-Target: AWSStepFunctions.<Operation>`,
 *   local/stepfunctions-api.ts), `events` (EventBridge, AWS JSON 1.1, `AWSEvents.<Operation>`,
 *   local/eventbridge-api.ts), `sns` and `cloudformation` (the query protocol: a form-encoded
 *   `Action=<Operation>`, local/sns-api.ts, local/cloudformation-api.ts).
 * An unsigned request is routed by what it carries (its X-Amz-Target, its path, a form's Action),
 * and otherwise goes to S3. Every request must be signed with the home's credentials: its SigV4
 * signature is verified (local/edge-credentials.ts, local/sigv4-verify.ts; the body is read to
 * hash it only when the request does not declare its hash, and within the limit its service has
 * anyway), and others are refused (403) before they are routed.
 * Errors are answered as each protocol answers them (JSON: HTTP 400 with `__type`; query: an XML
 * ErrorResponse); an operation that is not served is answered UnknownOperationException rather
 * than pretended. Nothing listens beyond 127.0.0.1.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { MAX_BODY_BYTES as API_MAX_BODY_BYTES, serveApiRequest, type Route } from './api-server';
import { CLOUDFORMATION_OPERATIONS, CloudFormationError, cloudFormationErrorXml, type CloudFormationBackend } from './cloudformation-api';
import { DYNAMODB_MAX_REQUEST_BYTES, forwardToEmulator } from './emulator-proxy';
import { listenOnLoopback, readBodyUpTo } from './loopback-http';
import { admitSigned, writeRefusal, type EdgeCredentials } from './edge-credentials';
import { EVENTS_OPERATIONS, EVENTS_TARGET_PREFIX, type EventBridgeBackend } from './eventbridge-api';
import { StatesApiError } from './executions';
import { INVOKE_PATH, invoke, MAX_PAYLOAD_BYTES, type LambdaBackend } from './lambda-api';
import { SNS_OPERATIONS, SnsError, snsErrorXml, type SnsBackend } from './sns-api';
import { STATES_OPERATIONS, STATES_TARGET_PREFIX, type StepFunctionsBackend } from './stepfunctions-api';
import type { LocalRestApi } from './template-types';

/** The REST API, as the execute-api path serves it. */
export interface RestApiBackend {
  readonly apiRoutes: Route[];
  readonly restApi?: LocalRestApi;
  invokeArn(functionArn: string, event: APIGatewayProxyEvent): Promise<unknown>;
}

/** What the APIs run on: LocalCloud. */
export type AwsBackend = StepFunctionsBackend & EventBridgeBackend & SnsBackend & LambdaBackend & CloudFormationBackend & RestApiBackend;

export interface AwsApiOptions {
  /** The port to listen on (0: one the OS picks). */
  readonly port?: number;
  /** The emulators that S3 and DynamoDB requests are forwarded to. */
  readonly s3Endpoint: string;
  readonly dynamoEndpoint: string;
  /** The home's credentials: a request signed with another access key id, or unsigned, is refused. */
  readonly credentials: EdgeCredentials;
  /** Receives server-side failures. */
  readonly log?: (line: string) => void;
}

export interface AwsApi {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** The services the edge serves, by SigV4 signing name. */
export const EDGE_SERVICES = ['s3', 'dynamodb', 'lambda', 'execute-api', 'states', 'events', 'sns', 'cloudformation'] as const;

/** The service in a SigV4 (or SigV4a) credential scope, `<key>/<date>[/<region>]/<service>/aws4_request`. */
function scopeService(credential: string | undefined): string | undefined {
  const parts = credential?.split('/') ?? [];
  return parts.length >= 4 && parts[parts.length - 1] === 'aws4_request' ? parts[parts.length - 2] : undefined;
}

/** A request's SigV4 credential scope (its Authorization header's or presigned query's), if it is signed. */
function credentialScope(headers: http.IncomingHttpHeaders, url: URL): string | undefined {
  const authorization = headers.authorization;
  const credential = typeof authorization === 'string' ? /Credential=([^,\s]+)/.exec(authorization)?.[1] : undefined;
  return credential ?? url.searchParams.get('X-Amz-Credential') ?? undefined;
}

/** The service a request is signed for, if it is signed. */
export function signingService(headers: http.IncomingHttpHeaders, url: URL): string | undefined {
  return scopeService(credentialScope(headers, url));
}

/** The region a request is signed for (SigV4: `<key>/<date>/<region>/<service>/aws4_request`), if it names one. */
export function signingRegion(headers: http.IncomingHttpHeaders, url: URL): string | undefined {
  const parts = credentialScope(headers, url)?.split('/') ?? [];
  return parts.length === 5 && parts[4] === 'aws4_request' ? parts[2] : undefined;
}

/** The service of an unsigned request, by what it carries; S3 when nothing else says. */
function unsignedService(req: http.IncomingMessage, url: URL): string {
  const target = String(req.headers['x-amz-target'] ?? '');
  if (target.startsWith(STATES_TARGET_PREFIX)) return 'states';
  if (target.startsWith(EVENTS_TARGET_PREFIX)) return 'events';
  if (target.startsWith('DynamoDB_')) return 'dynamodb';
  if (url.pathname.startsWith('/restapis/')) return 'execute-api';
  if (INVOKE_PATH.test(url.pathname)) return 'lambda';
  if (req.method === 'POST' && String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return 'query';
  return 's3';
}

/** Step Functions' limit on an execution's input (256 KiB) and EventBridge's on a request, plus room around them. */
const MAX_BODY_BYTES = 1100 * 1024;

/** The most the edge reads of a body to hash it (one that does not declare its hash): what its service takes anyway. */
function bodyLimit(service: string): number {
  if (service === 'dynamodb') return DYNAMODB_MAX_REQUEST_BYTES;
  if (service === 'lambda') return MAX_PAYLOAD_BYTES;
  if (service === 'execute-api') return API_MAX_BODY_BYTES;
  return MAX_BODY_BYTES;
}

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

const JSON_PROTOCOLS: {
  prefix: string;
  contentType: string;
  operations: Record<string, (backend: AwsBackend, body: Record<string, unknown>) => Record<string, unknown>>;
}[] = [
  { prefix: STATES_TARGET_PREFIX, contentType: 'application/x-amz-json-1.0', operations: STATES_OPERATIONS },
  { prefix: EVENTS_TARGET_PREFIX, contentType: 'application/x-amz-json-1.1', operations: EVENTS_OPERATIONS },
];

/** A JSON or query protocol request's body as text; a ValidationException past MAX_BODY_BYTES. */
async function readBody(req: http.IncomingMessage): Promise<string> {
  const body = await readBodyUpTo(req, MAX_BODY_BYTES);
  if (body === null) throw new StatesApiError('ValidationException', `The request is larger than ${MAX_BODY_BYTES} bytes.`);
  return body.toString('utf8');
}

const served = (): string =>
  [
    ...JSON_PROTOCOLS.flatMap((p) => Object.keys(p.operations).map((o) => `${p.prefix}${o}`)),
    ...Object.keys(SNS_OPERATIONS).map((o) => `SNS ${o}`),
    ...Object.keys(CLOUDFORMATION_OPERATIONS).map((o) => `CloudFormation ${o}`),
    'Lambda Invoke',
    'S3 and DynamoDB (the emulators)',
  ].join(', ');

/** The query protocol's services: their operations and how each answers an error. */
const QUERY_PROTOCOLS: Record<
  'sns' | 'cloudformation',
  {
    operations: Record<string, (backend: AwsBackend, params: URLSearchParams, region?: string) => string>;
    errorXml: (error: Error) => string | undefined;
  }
> = {
  sns: { operations: SNS_OPERATIONS, errorXml: (e) => (e instanceof SnsError ? snsErrorXml(e) : undefined) },
  cloudformation: {
    operations: CLOUDFORMATION_OPERATIONS,
    errorXml: (e) => (e instanceof CloudFormationError ? cloudFormationErrorXml(e) : undefined),
  },
};

/** Answer a query-protocol request of `service` ('query': an unsigned one, whose Action decides). */
async function answerQuery(backend: AwsBackend, req: http.IncomingMessage, service: 'sns' | 'cloudformation' | 'query'): Promise<Answer> {
  const region = signingRegion(req.headers, new URL(req.url ?? '/', 'http://edge'));
  const params = new URLSearchParams(await readBody(req));
  const action = params.get('Action') ?? '';
  const protocol =
    service === 'query'
      ? (Object.values(QUERY_PROTOCOLS).find((p) => action in p.operations) ?? QUERY_PROTOCOLS.sns)
      : QUERY_PROTOCOLS[service];
  try {
    const run = protocol.operations[action];
    if (!run) {
      const message = `The local AWS API does not serve the action ${action} (it serves ${served()}).`;
      throw protocol === QUERY_PROTOCOLS.sns ? new SnsError('InvalidAction', message) : new CloudFormationError('InvalidAction', message);
    }
    return { status: 200, contentType: 'text/xml', body: run(backend, params, region) };
  } catch (error) {
    const body = protocol.errorXml(error as Error);
    if (body !== undefined) return { status: 400, contentType: 'text/xml', body };
    throw error;
  }
}

async function answer(backend: AwsBackend, req: http.IncomingMessage, service: string): Promise<Answer> {
  if (service === 'sns' || service === 'cloudformation' || service === 'query') return answerQuery(backend, req, service);
  const target = req.headers['x-amz-target'];
  const json = typeof target === 'string' ? JSON_PROTOCOLS.find((p) => target.startsWith(p.prefix)) : undefined;
  if (req.method === 'POST' && json) {
    const operation = (target as string).slice(json.prefix.length);
    const run = json.operations[operation];
    const reply = (status: number, body: Record<string, unknown>): Answer => ({
      status,
      contentType: json.contentType,
      body: JSON.stringify(body),
    });
    if (!run)
      return reply(400, {
        __type: 'UnknownOperationException',
        message: `The local AWS API does not serve the operation ${operation} (it serves ${served()}).`,
      });
    try {
      const text = await readBody(req);
      let body: unknown;
      try {
        body = text.trim() === '' ? {} : JSON.parse(text);
      } catch {
        throw new StatesApiError('SerializationException', `The ${operation} request body is not JSON.`);
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body))
        throw new StatesApiError('SerializationException', `The ${operation} request body is not a JSON object.`);
      return reply(200, run(backend, body as Record<string, unknown>));
    } catch (error) {
      if (error instanceof StatesApiError) return reply(400, { __type: error.type, message: error.message });
      throw error;
    }
  }
  return {
    status: 400,
    contentType: 'application/x-amz-json-1.0',
    body: JSON.stringify({
      __type: 'UnknownOperationException',
      message: `The local AWS API does not serve a request without an X-Amz-Target or a form-encoded Action (it serves ${served()}).`,
    }),
  };
}

function write(res: http.ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)), 'x-amzn-requestid': randomUUID() });
  res.end(body);
}

/** Lambda's Invoke (local/lambda-api.ts). */
async function serveLambda(backend: AwsBackend, req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
  const name = INVOKE_PATH.exec(url.pathname)?.[1];
  if (req.method !== 'POST' || name === undefined) {
    req.resume();
    return write(
      res,
      404,
      { 'content-type': 'application/json', 'x-amzn-errortype': 'UnknownOperationException' },
      JSON.stringify({
        Type: 'User',
        Message: `The local AWS API serves Lambda's Invoke only (POST /2015-03-31/functions/{name}/invocations), not ${req.method} ${url.pathname}.`,
      }),
    );
  }
  const body = await readBodyUpTo(req, MAX_PAYLOAD_BYTES);
  const answer = await invoke(backend, decodeURIComponent(name), url.searchParams, req.headers, body?.toString('utf8') ?? null);
  write(res, answer.status, answer.headers, answer.body);
}

/** The REST API under `/restapis/<id>/<stage>/_user_request_/<path>` (LocalStack's form of an execute-api URL). */
function serveRestApi(backend: AwsBackend, req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
  const match = /^\/restapis\/([^/]+)\/([^/]+)\/_user_request_(\/.*)?$/.exec(url.pathname);
  const api = backend.restApi;
  if (!match || !api || match[1] !== api.id || match[2] !== api.stage) {
    req.resume();
    const where = api ? `/restapis/${api.id}/${api.stage}/_user_request_/` : 'nowhere (the template has no REST API)';
    return write(
      res,
      404,
      { 'content-type': 'application/json' },
      JSON.stringify({ message: `Not Found: the local REST API is served at ${where}, not at ${url.pathname}.` }),
    );
  }
  const inner = new URL(`${match[3] ?? '/'}${url.search}`, 'http://127.0.0.1');
  serveApiRequest(
    backend.apiRoutes,
    (event, route) => backend.invokeArn(route.functionArn, event) as Promise<APIGatewayProxyResult>,
    req,
    res,
    inner,
  );
}

/** Answer one request of the edge (see the file comment). */
async function serve(backend: AwsBackend, options: AwsApiOptions, incoming: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(incoming.url ?? '/', 'http://127.0.0.1');
  const service = signingService(incoming.headers, url) ?? unsignedService(incoming, url);
  // A service the edge does not serve is answered before the signature is checked: nothing runs for it.
  if (!(EDGE_SERVICES as readonly string[]).includes(service) && service !== 'query') {
    incoming.resume();
    return write(
      res,
      400,
      { 'content-type': 'application/x-amz-json-1.0' },
      JSON.stringify({
        __type: 'UnknownOperationException',
        message: `The local AWS endpoint does not serve the service '${service}' (it serves ${EDGE_SERVICES.join(', ')}).`,
      }),
    );
  }
  const admitted = await admitSigned(incoming, service, options.credentials, { maxBodyBytes: bodyLimit(service) });
  if ('refused' in admitted) return writeRefusal(incoming, res, admitted.refused);
  const req = admitted.request;
  switch (service) {
    case 's3':
    case 'dynamodb':
      return forwardToEmulator(service, service === 's3' ? options.s3Endpoint : options.dynamoEndpoint, req, res, {
        credentials: options.credentials,
        region: signingRegion(req.headers, url) ?? 'us-east-1',
        payloadHash: admitted.payloadHash,
      });
    case 'lambda':
      return serveLambda(backend, req, res, url);
    case 'execute-api':
      return serveRestApi(backend, req, res, url);
    case 'states':
    case 'events':
    case 'sns':
    case 'cloudformation':
    case 'query': {
      const { status, contentType, body } = await answer(backend, req, service);
      return write(res, status, { 'content-type': contentType }, body);
    }
    default:
      throw new Error(`The edge has no route for the service '${service}'.`); // EDGE_SERVICES and this switch disagree
  }
}

/** A port the edge cannot listen on, said in one line. */
export class EdgePortError extends Error {
  constructor(port: number, cause: NodeJS.ErrnoException) {
    super(
      cause.code === 'EADDRINUSE'
        ? `127.0.0.1:${port} is already in use (another mloop serve, or LocalStack?): pass --aws-port N for another port, or --aws-port 0 for any free one.`
        : `The local AWS endpoint cannot listen on 127.0.0.1:${port}: ${cause.message}.`,
    );
    this.name = 'EdgePortError';
  }
}

/** Start the edge on 127.0.0.1 (`options.port`, or one the OS picks). */
export async function startAwsApi(backend: AwsBackend, options: AwsApiOptions): Promise<AwsApi> {
  const log = options.log ?? (() => undefined);
  const server = http.createServer((req, res) => {
    serve(backend, options, req, res).catch((error: Error) => {
      log(`local AWS API: ${error.message}`);
      if (res.headersSent) return void res.destroy();
      write(
        res,
        500,
        { 'content-type': 'application/x-amz-json-1.0' },
        JSON.stringify({ __type: 'InternalFailure', message: error.message }),
      );
    });
  });
  const port = options.port ?? 0;
  const listening = await listenOnLoopback(server, port, (error) => new EdgePortError(port, error));
  return { endpoint: listening.url, stop: listening.close };
}
