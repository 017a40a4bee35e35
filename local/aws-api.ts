/**
 * The AWS APIs the local runtime serves, on one loopback port, so that handlers' SDK clients reach
 * it as they reach AWS (only the endpoint differs): Step Functions (AWS JSON 1.0,
 * `X-Amz-Target: AWSStepFunctions.<Operation>`, local/stepfunctions-api.ts), EventBridge (AWS JSON
 * 1.1, `X-Amz-Target: AWSEvents.<Operation>`, local/eventbridge-api.ts) and SNS (the query
 * protocol: a form-encoded `Action=<Operation>`, local/sns-api.ts). Errors are answered as each
 * protocol answers them (JSON: HTTP 400 with `__type`; query: an XML ErrorResponse); an operation
 * that is not served is answered UnknownOperationException rather than pretended. Nothing listens
 * beyond 127.0.0.1.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EVENTS_OPERATIONS, EVENTS_TARGET_PREFIX, type EventBridgeBackend } from './eventbridge-api';
import { StatesApiError } from './executions';
import { SNS_OPERATIONS, SnsError, snsErrorXml, type SnsBackend } from './sns-api';
import { STATES_OPERATIONS, STATES_TARGET_PREFIX, type StepFunctionsBackend } from './stepfunctions-api';

/** What the APIs run on: LocalCloud. */
export type AwsBackend = StepFunctionsBackend & EventBridgeBackend & SnsBackend;

export interface AwsApi {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Step Functions' limit on an execution's input (256 KiB) and EventBridge's on a request, plus room around them. */
const MAX_BODY_BYTES = 1100 * 1024;

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

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new StatesApiError('ValidationException', `The request is larger than ${MAX_BODY_BYTES} bytes.`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const served = (): string =>
  [
    ...JSON_PROTOCOLS.flatMap((p) => Object.keys(p.operations).map((o) => `${p.prefix}${o}`)),
    ...Object.keys(SNS_OPERATIONS).map((o) => `SNS ${o}`),
  ].join(', ');

async function answer(backend: AwsBackend, req: http.IncomingMessage): Promise<Answer> {
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
  if (req.method === 'POST' && String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
    const params = new URLSearchParams(await readBody(req));
    const action = params.get('Action') ?? '';
    const run = SNS_OPERATIONS[action];
    try {
      if (!run) throw new SnsError('InvalidAction', `The local AWS API does not serve the action ${action} (it serves ${served()}).`);
      return { status: 200, contentType: 'text/xml', body: run(backend, params) };
    } catch (error) {
      if (error instanceof SnsError) return { status: 400, contentType: 'text/xml', body: snsErrorXml(error) };
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

/** Start the APIs on 127.0.0.1 (a port the OS picks). `log` receives server-side failures. */
export async function startAwsApi(backend: AwsBackend, log: (line: string) => void = () => undefined): Promise<AwsApi> {
  const server = http.createServer((req, res) => {
    const respond = ({ status, contentType, body }: Answer) => {
      res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'x-amzn-requestid': randomUUID() });
      res.end(body);
    };
    answer(backend, req).then(respond, (error: Error) => {
      log(`local AWS API: ${error.message}`);
      respond({
        status: 500,
        contentType: 'application/x-amz-json-1.0',
        body: JSON.stringify({ __type: 'InternalFailure', message: error.message }),
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
