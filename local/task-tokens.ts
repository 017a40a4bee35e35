/**
 * Task tokens for the local runtime. aws-local-stepfunctions runs `.waitForTaskToken` states like
 * any Task, with no token: LocalCloud gives each execution a context `Task.Token`
 * (`local-task-token:<execution>`), invokes the state's Lambda handler with its payload, and then
 * waits until a result for that token appears under `<home>/task-tokens`. The result is written
 * there by the local Step Functions API's SendTaskSuccess / SendTaskFailure (stepfunctions-api.ts),
 * in whichever process on the home received it (`mloop models approve` beside a waiting `mloop
 * run`): the file is how the result crosses to the process that runs the execution. The state's
 * TimeoutSeconds still applies (the library enforces it).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const WAIT_FOR_TASK_TOKEN = /^arn:aws[a-z-]*:states:::lambda:invoke\.waitForTaskToken$/;

const TOKEN_PREFIX = 'local-task-token:';

/** What SendTaskSuccess or SendTaskFailure sent for a token. */
export type TaskResult =
  { readonly status: 'success'; readonly output: unknown } | { readonly status: 'failure'; readonly error: string; readonly cause: string };

export function localTaskToken(execution: string): string {
  return `${TOKEN_PREFIX}${execution}`;
}

/** Where a home's task results are written. */
export function taskTokensDir(home: string): string {
  return path.join(home, 'task-tokens');
}

/** The file a local task result is written to. */
export function taskTokenFile(dir: string, token: string): string {
  return path.join(dir, `${createHash('sha256').update(token).digest('hex')}.json`);
}

/** Write a token's result for the execution that waits for it (write, then rename: never half a file). */
export function writeTaskResult(dir: string, token: string, result: TaskResult): void {
  fs.mkdirSync(dir, { recursive: true });
  const file = taskTokenFile(dir, token);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(result));
  fs.renameSync(`${file}.tmp`, file);
}

/** The error a SendTaskFailure ends the task with: Catch and Retry match its name. */
export class TaskFailed extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/** Resolve with the task's output once a result for `token` is written; throw its error on a failure. */
export async function waitForTaskResult(dir: string, token: string, pollMs = 100): Promise<unknown> {
  const file = taskTokenFile(dir, token);
  for (;;) {
    if (fs.existsSync(file)) {
      const result = JSON.parse(fs.readFileSync(file, 'utf8')) as TaskResult;
      fs.rmSync(file, { force: true });
      if (result.status === 'success') return result.output;
      throw new TaskFailed(result.error, result.cause);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
