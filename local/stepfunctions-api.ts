/**
 * A small Step Functions API on loopback, so that a handler's SFN client (the pipeline's starter)
 * reaches the local runtime the same way it reaches Step Functions on AWS: the AWS JSON 1.0
 * protocol (POST /, `X-Amz-Target: AWSStepFunctions.<Operation>`, JSON bodies, errors as HTTP 400
 * with `__type`). It serves StartExecution and DescribeExecution; anything else is answered
 * UnknownOperationException rather than pretended. Nothing listens beyond 127.0.0.1.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { executionArnOf } from '../lambdas/pipeline/start';
import { StatesApiError, type ExecutionDescription } from './executions';

/** What the API runs on: LocalCloud. */
export interface StepFunctionsBackend {
  hasStateMachine(stateMachineArn: string): boolean;
  /** Start (or, for a running execution with the same name and input, answer again) an execution; its name. */
  startExecution(stateMachineArn: string, input: unknown, name?: string): string;
  describeExecution(executionArn: string): ExecutionDescription | undefined;
}

export interface StepFunctionsApi {
  readonly endpoint: string;
  stop(): Promise<void>;
}

const TARGET_PREFIX = 'AWSStepFunctions.';
/** Step Functions' limit on an execution's input (256 KiB), plus room for the request around it. */
const MAX_BODY_BYTES = 300 * 1024;

/** Epoch seconds with milliseconds, as the JSON protocol carries timestamps. */
const epochSeconds = (iso: string): number => Date.parse(iso) / 1000;

function field(body: Record<string, unknown>, name: string, required: boolean): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) {
    if (required)
      throw new StatesApiError(
        'ValidationException',
        `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`,
      );
    return undefined;
  }
  if (typeof value !== 'string') throw new StatesApiError('SerializationException', `'${name}' must be a string.`);
  return value;
}

function startExecution(backend: StepFunctionsBackend, body: Record<string, unknown>): Record<string, unknown> {
  const stateMachineArn = field(body, 'stateMachineArn', true)!;
  if (!backend.hasStateMachine(stateMachineArn))
    throw new StatesApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
  const inputText = field(body, 'input', false) ?? '{}';
  let input: unknown;
  try {
    input = JSON.parse(inputText);
  } catch (error) {
    throw new StatesApiError('InvalidExecutionInput', `Invalid State Machine Execution Input: '${(error as Error).message}'`);
  }
  const requested = field(body, 'name', false);
  const name = backend.startExecution(stateMachineArn, input, requested);
  const execution = backend.describeExecution(executionArnOf(stateMachineArn, name));
  if (!execution) throw new Error(`Execution ${name} was started but has no record.`);
  return { executionArn: execution.executionArn, startDate: epochSeconds(execution.startDate) };
}

function describeExecution(backend: StepFunctionsBackend, body: Record<string, unknown>): Record<string, unknown> {
  const executionArn = field(body, 'executionArn', true)!;
  const execution = backend.describeExecution(executionArn);
  if (!execution) throw new StatesApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
  return {
    executionArn: execution.executionArn,
    stateMachineArn: execution.stateMachineArn,
    name: execution.name,
    status: execution.status,
    startDate: epochSeconds(execution.startDate),
    ...(execution.stopDate ? { stopDate: epochSeconds(execution.stopDate) } : {}),
    input: execution.input,
    inputDetails: { included: true },
    ...(execution.output !== undefined ? { output: execution.output, outputDetails: { included: true } } : {}),
    ...(execution.error !== undefined ? { error: execution.error } : {}),
    ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
  };
}

const OPERATIONS: Record<string, (backend: StepFunctionsBackend, body: Record<string, unknown>) => Record<string, unknown>> = {
  StartExecution: startExecution,
  DescribeExecution: describeExecution,
};

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

async function answer(
  backend: StepFunctionsBackend,
  req: http.IncomingMessage,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const target = req.headers['x-amz-target'];
  const operation = typeof target === 'string' && target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : undefined;
  const run = operation ? OPERATIONS[operation] : undefined;
  if (req.method !== 'POST' || !run) {
    const what = operation ? `the operation ${operation}` : `a request without an X-Amz-Target of ${TARGET_PREFIX}<Operation>`;
    return {
      status: 400,
      body: {
        __type: 'UnknownOperationException',
        message: `The local Step Functions API does not serve ${what} (it serves ${Object.keys(OPERATIONS).join(', ')}).`,
      },
    };
  }
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
    return { status: 200, body: run(backend, body as Record<string, unknown>) };
  } catch (error) {
    if (error instanceof StatesApiError) return { status: 400, body: { __type: error.type, message: error.message } };
    throw error;
  }
}

/** Start the API on 127.0.0.1 (a port the OS picks). `log` receives server-side failures. */
export async function startStepFunctionsApi(
  backend: StepFunctionsBackend,
  log: (line: string) => void = () => undefined,
): Promise<StepFunctionsApi> {
  const server = http.createServer((req, res) => {
    const respond = (status: number, body: Record<string, unknown>) => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': Buffer.byteLength(text),
        'x-amzn-requestid': randomUUID(),
      });
      res.end(text);
    };
    answer(backend, req).then(
      ({ status, body }) => respond(status, body),
      (error: Error) => {
        log(`local Step Functions API: ${error.message}`);
        respond(500, { __type: 'InternalFailure', message: error.message });
      },
    );
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
