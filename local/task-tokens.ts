/**
 * Task tokens for the local runtime. aws-local-stepfunctions runs `.waitForTaskToken` states like
 * any Task, with no token: LocalCloud gives each execution a context `Task.Token`
 * (`local-task-token:<execution>`), invokes the state's Lambda handler with its payload, and then
 * waits until a result for that token appears under MLOOP_TASK_TOKENS_DIR, where
 * lambdas/shared/task-tokens.ts writes what SendTaskSuccess / SendTaskFailure would send on AWS.
 * The state's TimeoutSeconds still applies (the library enforces it).
 */
import * as fs from 'node:fs';
import { taskTokenFile, type TaskResult } from '../lambdas/shared/task-tokens';

export const WAIT_FOR_TASK_TOKEN = /^arn:aws[a-z-]*:states:::lambda:invoke\.waitForTaskToken$/;

export function localTaskToken(execution: string): string {
  return `local-task-token:${execution}`;
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
