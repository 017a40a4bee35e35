/**
 * Every Lambda task of the state machines (lib/pipeline.ts, lib/approval.ts, the Distributed
 * Maps' item processors included) is built here, so that each one retries what Lambda answers
 * when it is briefly unable to run a function, and nothing else.
 */
import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';

/**
 * Lambda's own transient faults: the list CDK's LambdaInvoke retries by default
 * (`retryOnServiceExceptions`), with its interval, attempts and backoff.
 */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
] as const;

/** Lambda refusing an invocation because the account's (or function's) concurrency is used up. */
export const LAMBDA_THROTTLED = 'Lambda.TooManyRequestsException';

/**
 * How a throttled invocation is retried. A Distributed Map runs up to 100 parts at once and a new
 * account's concurrency quota may be 10, so a throttled part waits for a running one (up to the
 * function's 15 minutes) to free a slot: the delay doubles from 2 s to at most 5 minutes, with full
 * jitter so that the waiting parts do not come back together, for 20 attempts (about an hour).
 * Past that the task fails and its Catch records the failure: a throttled part is never dropped
 * (the maps tolerate no failed item).
 */
export const THROTTLE_RETRY: sfn.RetryProps = {
  errors: [LAMBDA_THROTTLED],
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxDelay: Duration.minutes(5),
  maxAttempts: 20,
  jitterStrategy: sfn.JitterType.FULL,
};

/** CDK's default retry of Lambda's service faults (the same errors, interval, attempts and backoff). */
export const SERVICE_FAULT_RETRY: sfn.RetryProps = {
  errors: [...LAMBDA_SERVICE_ERRORS],
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 6,
};

/**
 * A LambdaInvoke that retries throttling (THROTTLE_RETRY) and Lambda's service faults
 * (SERVICE_FAULT_RETRY). CDK's own default retry (`retryOnServiceExceptions`) leaves throttling
 * out, so it is replaced by these two rather than added to. A function's own errors (named error
 * classes) are not retried here: Catch states and the failure path handle them.
 */
export function lambdaTask(scope: Construct, id: string, props: tasks.LambdaInvokeProps): tasks.LambdaInvoke {
  if (props.retryOnServiceExceptions !== undefined)
    throw new Error(`Lambda task '${id}': retryOnServiceExceptions is set by lambdaTask (lib/lambda-task.ts); leave it out.`);
  const task = new tasks.LambdaInvoke(scope, id, { ...props, retryOnServiceExceptions: false });
  task.addRetry(SERVICE_FAULT_RETRY);
  task.addRetry(THROTTLE_RETRY);
  return task;
}
