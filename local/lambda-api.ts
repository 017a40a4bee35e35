/**
 * Lambda's Invoke, served by the local runtime on the edge endpoint (local/aws-api.ts; REST-JSON:
 * `POST /2015-03-31/functions/{FunctionName}/invocations`), for the template's functions: the
 * function is named by its name, its ARN or a partial ARN (`<account>:function:<name>`), with
 * `$LATEST` as the only qualifier. Answers are Lambda's: 200 with the handler's result as JSON; a
 * handler's error is 200 with `X-Amz-Function-Error: Unhandled` and `{errorType, errorMessage}`
 * (no stack trace); an unknown function is a 404 ResourceNotFoundException. `Event` invocations
 * are answered 202 and run on; `DryRun` checks the function and answers 204.
 */
import { LOCAL_ACCOUNT, LOCAL_REGION } from './template';
import type { LocalFunction } from './template-types';

/** What Invoke runs on: LocalCloud. */
export interface LambdaBackend {
  readonly templateFunctions: readonly LocalFunction[];
  invokeFunction(fn: LocalFunction, event: unknown): Promise<unknown>;
}

/** The path of Invoke: the function name is the one segment between these. */
export const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/;

/** A synchronous invocation's payload limit, each way (6 MB). */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

export interface LambdaAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

function lambdaError(status: number, type: string, message: string): LambdaAnswer {
  return {
    status,
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': type },
    body: JSON.stringify({ Type: 'User', Message: message, __type: type }),
  };
}

/**
 * The function that `name` (a name, an ARN or a partial ARN, with an optional qualifier) and
 * `qualifier` name, or why there is none (the full ARN that was looked for).
 */
export function findFunction(
  functions: readonly LocalFunction[],
  name: string,
  qualifier?: string,
): { fn: LocalFunction } | { missing: string } {
  const arn = /^(?:arn:[^:]+:lambda:([^:]+):)?(?:(\d{12}):function:)?([A-Za-z0-9_-]+)(?::([^:]+))?$/.exec(name);
  const functionName = arn?.[3] ?? name;
  const version = arn?.[4] ?? qualifier;
  const wanted = `arn:aws:lambda:${arn?.[1] ?? LOCAL_REGION}:${arn?.[2] ?? LOCAL_ACCOUNT}:function:${functionName}`;
  const fn = functions.find((f) => f.arn === wanted);
  if (!fn || (version !== undefined && version !== '$LATEST')) return { missing: version ? `${wanted}:${version}` : wanted };
  return { fn };
}

/** Answer an Invoke of the function `name` (the path's segment, decoded) with `payload` (null: longer than MAX_PAYLOAD_BYTES). */
export async function invoke(
  backend: LambdaBackend,
  name: string,
  query: URLSearchParams,
  headers: Record<string, string | string[] | undefined>,
  payload: string | null,
): Promise<LambdaAnswer> {
  const found = findFunction(backend.templateFunctions, name, query.get('Qualifier') ?? undefined);
  if ('missing' in found) return lambdaError(404, 'ResourceNotFoundException', `Function not found: ${found.missing}`);
  const type = String(headers['x-amz-invocation-type'] ?? 'RequestResponse');
  if (!['RequestResponse', 'Event', 'DryRun'].includes(type))
    return lambdaError(
      400,
      'InvalidParameterValueException',
      `1 validation error detected: Value '${type}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]`,
    );
  if (payload === null)
    return lambdaError(
      413,
      'RequestTooLargeException',
      `Request must be smaller than ${MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation`,
    );
  let event: unknown;
  try {
    event = payload.trim() === '' ? {} : JSON.parse(payload);
  } catch (error) {
    return lambdaError(400, 'InvalidRequestContentException', `Could not parse request body into json: ${(error as Error).message}`);
  }
  const version = { 'x-amz-executed-version': '$LATEST' };
  if (type === 'DryRun') return { status: 204, headers: version, body: '' };
  const running = backend.invokeFunction(found.fn, event);
  if (type === 'Event') {
    running.catch(() => undefined); // an asynchronous invocation's failure is the function's own log's
    return { status: 202, headers: {}, body: '' };
  }
  let result: unknown;
  try {
    result = await running;
  } catch (error) {
    const e = error as Error;
    return {
      status: 200,
      headers: { ...version, 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' },
      body: JSON.stringify({ errorType: e?.name ?? 'Error', errorMessage: e?.message ?? String(error) }),
    };
  }
  const body = JSON.stringify(result ?? null);
  if (Buffer.byteLength(body) > MAX_PAYLOAD_BYTES)
    return {
      status: 200,
      headers: { ...version, 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' },
      body: JSON.stringify({
        errorType: 'Function.ResponseSizeTooLarge',
        errorMessage: `Response payload size exceeded maximum allowed payload size (${MAX_PAYLOAD_BYTES} bytes).`,
      }),
    };
  return { status: 200, headers: { ...version, 'content-type': 'application/json' }, body };
}
