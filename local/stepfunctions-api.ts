/**
 * The Step Functions operations the local runtime serves (on the loopback AWS API, local/aws-api.ts,
 * AWS JSON 1.0: `X-Amz-Target: AWSStepFunctions.<Operation>`), so that handlers' SFN clients reach
 * it as they reach Step Functions on AWS: StartExecution and DescribeExecution (the pipeline's
 * starter), SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat (the approval's task token).
 */
import { executionArnOf } from '../lambdas/pipeline/start';
import { StatesApiError, type ExecutionDescription } from './executions';
import type { TaskResult } from './task-tokens';

/** What the API runs on: LocalCloud. */
export interface StepFunctionsBackend {
  /** Hand a task token's result to the execution that waits for it (local/task-tokens.ts). */
  sendTaskResult(token: string, result: TaskResult): void;
  hasStateMachine(stateMachineArn: string): boolean;
  /** Start (or, for a running execution with the same name and input, answer again) an execution; its name. */
  startExecution(stateMachineArn: string, input: unknown, name?: string): string;
  describeExecution(executionArn: string): ExecutionDescription | undefined;
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
    SendTaskSuccess: sendTaskSuccess,
    SendTaskFailure: sendTaskFailure,
    SendTaskHeartbeat: sendTaskHeartbeat,
  };
