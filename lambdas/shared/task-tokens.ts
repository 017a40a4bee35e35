/**
 * Resuming a Step Functions task that waits on a task token (`.waitForTaskToken`): SendTaskSuccess
 * or SendTaskFailure, through the one client factory (on AWS, Step Functions; locally, the local
 * runtime's Step Functions API on loopback, local/stepfunctions-api.ts, which hands the result to
 * the waiting execution).
 */
import { SendTaskFailureCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { sfnClient } from './clients';

export async function sendTaskSuccess(token: string, output: unknown): Promise<void> {
  await sfnClient().send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) }));
}

export async function sendTaskFailure(token: string, error: string, cause: string): Promise<void> {
  // Step Functions limits: error 256 characters, cause 32,768.
  await sfnClient().send(new SendTaskFailureCommand({ taskToken: token, error: error.slice(0, 256), cause: cause.slice(0, 32_768) }));
}
