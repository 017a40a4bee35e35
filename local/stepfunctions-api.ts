/**
 * The Step Functions operations the local runtime serves (on the loopback AWS API, local/aws-api.ts,
 * AWS JSON 1.0: `X-Amz-Target: AWSStepFunctions.<Operation>`), so that handlers' SFN clients reach
 * it as they reach Step Functions on AWS: StartExecution and DescribeExecution (the pipeline's
 * starter), ListExecutions and GetExecutionHistory (tools that follow runs: `aws stepfunctions
 * list-executions`, `mloop --stack ... run`), SendTaskSuccess, SendTaskFailure and
 * SendTaskHeartbeat (the approval's task token).
 */
import { executionArnOf } from '../lambdas/pipeline/start';
import type { HistoryEvent } from './execution-history';
import { newestFirst, StatesApiError, type ExecutionDescription } from './executions';
import type { TaskResult } from './task-tokens';

/** What the API runs on: LocalCloud. */
export interface StepFunctionsBackend {
  /** Hand a task token's result to the execution that waits for it (local/task-tokens.ts). */
  sendTaskResult(token: string, result: TaskResult): void;
  hasStateMachine(stateMachineArn: string): boolean;
  /** Start (or, for a running execution with the same name and input, answer again) an execution; its name. */
  startExecution(stateMachineArn: string, input: unknown, name?: string): string;
  describeExecution(executionArn: string): ExecutionDescription | undefined;
  /** A state machine's executions, from any process on the home, newest first. */
  listExecutions(stateMachineArn: string): ExecutionDescription[];
  /** An execution's history, oldest event first (local/execution-history.ts), or undefined when it does not exist. */
  executionHistory(executionArn: string): readonly HistoryEvent[] | undefined;
}

/** The JSON 1.0 target prefix of Step Functions' operations. */
export const STATES_TARGET_PREFIX = 'AWSStepFunctions.';

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

const STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'];
/** ListExecutions' page size when maxResults is absent or 0, and its largest. */
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

/** A ListExecutions page's token: where the next page starts (after this execution, in newestFirst's order). */
interface PageToken {
  readonly startDate: string;
  readonly name: string;
  readonly stateMachineArn: string;
}

function readToken(token: string, stateMachineArn: string): PageToken {
  let parsed: Partial<PageToken> | undefined;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<PageToken>;
  } catch {
    parsed = undefined;
  }
  if (typeof parsed?.startDate !== 'string' || typeof parsed.name !== 'string' || parsed.stateMachineArn !== stateMachineArn)
    throw new StatesApiError(
      'InvalidToken',
      `Invalid Token: '${token.slice(0, 64)}' is not a nextToken of this state machine's ListExecutions.`,
    );
  return parsed as PageToken;
}

function listExecutions(backend: StepFunctionsBackend, body: Record<string, unknown>): Record<string, unknown> {
  const stateMachineArn = field(body, 'stateMachineArn', false);
  if (stateMachineArn === undefined)
    throw new StatesApiError(
      'ValidationException',
      'Must provide a StateMachine ARN or MapRun ARN (the local runtime lists by state machine only).',
    );
  if (!backend.hasStateMachine(stateMachineArn))
    throw new StatesApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
  const statusFilter = field(body, 'statusFilter', false);
  if (statusFilter !== undefined && !STATUSES.includes(statusFilter))
    throw new StatesApiError(
      'ValidationException',
      `1 validation error detected: Value '${statusFilter}' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [${STATUSES.join(', ')}]`,
    );
  const max = body.maxResults ?? 0;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 0 || max > MAX_PAGE)
    throw new StatesApiError(
      'ValidationException',
      `1 validation error detected: Value '${String(max)}' at 'maxResults' failed to satisfy constraint: Member must be between 0 and ${MAX_PAGE}`,
    );
  const token = field(body, 'nextToken', false);
  const after = token === undefined ? undefined : readToken(token, stateMachineArn);
  const matching = backend
    .listExecutions(stateMachineArn)
    .filter((e) => statusFilter === undefined || e.status === statusFilter)
    .filter((e) => after === undefined || newestFirst(after, e) < 0);
  const page = matching.slice(0, max === 0 ? DEFAULT_PAGE : max);
  const last = page[page.length - 1];
  return {
    executions: page.map((e) => ({
      executionArn: e.executionArn,
      stateMachineArn: e.stateMachineArn,
      name: e.name,
      status: e.status,
      startDate: epochSeconds(e.startDate),
      ...(e.stopDate ? { stopDate: epochSeconds(e.stopDate) } : {}),
    })),
    ...(page.length < matching.length
      ? {
          nextToken: Buffer.from(
            JSON.stringify({ startDate: last.startDate, name: last.name, stateMachineArn } satisfies PageToken),
          ).toString('base64url'),
        }
      : {}),
  };
}

/**
 * GetExecutionHistory: `maxResults` events (100 by default, at most 1,000), oldest first or, with
 * `reverseOrder`, newest first; `nextToken` continues after the last event answered.
 */
function getExecutionHistory(backend: StepFunctionsBackend, body: Record<string, unknown>): Record<string, unknown> {
  const executionArn = field(body, 'executionArn', true)!;
  const events = backend.executionHistory(executionArn);
  if (!events) throw new StatesApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
  const max = body.maxResults ?? 0;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 0 || max > MAX_PAGE)
    throw new StatesApiError(
      'ValidationException',
      `1 validation error detected: Value '${String(max)}' at 'maxResults' failed to satisfy constraint: Member must be between 0 and ${MAX_PAGE}`,
    );
  const ordered = body.reverseOrder === true ? [...events].reverse() : [...events];
  const token = field(body, 'nextToken', false);
  let start = 0;
  if (token !== undefined) {
    const position = Number(Buffer.from(token, 'base64url').toString('utf8'));
    if (!Number.isInteger(position) || position < 0 || position > ordered.length)
      throw new StatesApiError('InvalidToken', `Invalid Token: '${token.slice(0, 64)}' is not a nextToken of this execution's history.`);
    start = position;
  }
  const end = start + (max === 0 ? DEFAULT_PAGE : max);
  return {
    events: ordered.slice(start, end).map((e) => ({ ...e, timestamp: e.timestamp / 1000 })),
    ...(end < ordered.length ? { nextToken: Buffer.from(String(end)).toString('base64url') } : {}),
  };
}

function taskToken(body: Record<string, unknown>): string {
  const token = field(body, 'taskToken', true)!;
  if (token === '') throw new StatesApiError('InvalidToken', 'Invalid Token: the token is empty.');
  return token;
}

function sendTaskSuccess(backend: StepFunctionsBackend, body: Record<string, unknown>): Record<string, unknown> {
  const token = taskToken(body);
  const text = field(body, 'output', true)!;
  let output: unknown;
  try {
    output = JSON.parse(text);
  } catch (error) {
    throw new StatesApiError('InvalidOutput', `Invalid Output: '${(error as Error).message}'`);
  }
  backend.sendTaskResult(token, { status: 'success', output });
  return {};
}

function sendTaskFailure(backend: StepFunctionsBackend, body: Record<string, unknown>): Record<string, unknown> {
  const token = taskToken(body);
  backend.sendTaskResult(token, { status: 'failure', error: field(body, 'error', false) ?? '', cause: field(body, 'cause', false) ?? '' });
  return {};
}

/** A heartbeat: the local runtime's waits have no HeartbeatSeconds to reset; the token is checked. */
function sendTaskHeartbeat(_backend: StepFunctionsBackend, body: Record<string, unknown>): Record<string, unknown> {
  taskToken(body);
  return {};
}

/** Step Functions' operations, by X-Amz-Target name. */
export const STATES_OPERATIONS: Record<string, (backend: StepFunctionsBackend, body: Record<string, unknown>) => Record<string, unknown>> =
  {
    StartExecution: startExecution,
    DescribeExecution: describeExecution,
    ListExecutions: listExecutions,
    GetExecutionHistory: getExecutionHistory,
    SendTaskSuccess: sendTaskSuccess,
    SendTaskFailure: sendTaskFailure,
    SendTaskHeartbeat: sendTaskHeartbeat,
  };
