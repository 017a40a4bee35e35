/**
 * Resuming a Step Functions task that waits on a task token (`.waitForTaskToken`): SendTaskSuccess
 * or SendTaskFailure on AWS. The local runtime's state machines (aws-local-stepfunctions) have no
 * task tokens: when MLOOP_TASK_TOKENS_DIR is set (LocalCloud sets it to `<home>/task-tokens`), the
 * result is written there as `<sha256(token)>.json` instead, and the local runtime's waiting task
 * (local/task-tokens.ts) picks it up. Only where the result goes differs.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SendTaskFailureCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { sfnClient } from './clients';

export type TaskResult =
  { readonly status: 'success'; readonly output: unknown } | { readonly status: 'failure'; readonly error: string; readonly cause: string };

/** The file a local task result is written to. */
export function taskTokenFile(dir: string, token: string): string {
  return path.join(dir, `${createHash('sha256').update(token).digest('hex')}.json`);
}

async function send(token: string, result: TaskResult): Promise<void> {
  const dir = process.env.MLOOP_TASK_TOKENS_DIR;
  if (dir) {
    fs.mkdirSync(dir, { recursive: true });
    const file = taskTokenFile(dir, token);
    // Write then rename: the waiting side never reads half a file.
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(result));
    fs.renameSync(`${file}.tmp`, file);
    return;
  }
  if (result.status === 'success') {
    await sfnClient().send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(result.output) }));
  } else {
    // Step Functions limits: error 256 characters, cause 32,768.
    await sfnClient().send(
      new SendTaskFailureCommand({ taskToken: token, error: result.error.slice(0, 256), cause: result.cause.slice(0, 32_768) }),
    );
  }
}

export function sendTaskSuccess(token: string, output: unknown): Promise<void> {
  return send(token, { status: 'success', output });
}

export function sendTaskFailure(token: string, error: string, cause: string): Promise<void> {
  return send(token, { status: 'failure', error, cause });
}
