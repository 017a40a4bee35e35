/**
 * The local stack as a LoopTarget (bin/target.ts): the LocalCloud of this process runs the
 * handlers and the state machine; a drop goes through its S3 API and starts the pipeline as on
 * AWS (the bucket's event, the rule, the starter function), and a prediction is the API's handler
 * invoked with the event API Gateway would send.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { s3Client } from '../lambdas/shared/clients';
import { executionArnOf } from '../lambdas/pipeline/start';
import type { LocalCloud } from '../local/cloud';
import { CliError } from './cli-error';
import type { ApiAnswer, ExecutionEnd, ExecutionStep, InvokedFunction, LoopTarget } from './target';
import { stepOf } from './execution-steps';

export class LocalTarget implements LoopTarget {
  constructor(readonly cloud: LocalCloud) {}

  get where(): string {
    return `the local stack in ${this.cloud.home}`;
  }

  get home(): string {
    return this.cloud.home;
  }

  get dataBucket(): string {
    return this.cloud.dataBucket;
  }

  get registryTable(): string {
    return this.cloud.registryTable;
  }

  get pipelineStateMachineArn(): string {
    return this.cloud.pipelineStateMachineArn;
  }

  invoke(fn: InvokedFunction, event: unknown): Promise<unknown> {
    return this.cloud.invoke(fn, event);
  }

  async predict(model: string, body: unknown, query: Record<string, string>): Promise<ApiAnswer> {
    const url = new URL(`http://127.0.0.1/v1/models/${encodeURIComponent(model)}/predict`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const event = this.cloud.apiEvent('POST', url, JSON.stringify(body));
    return (await this.cloud.invoke('predict', event)) as APIGatewayProxyResult;
  }

  async dropDataset(key: string, body: Buffer, metadata: Record<string, string>): Promise<string> {
    // Drops reach the pipeline through the process that owns the emulators, not this one.
    this.requireOwner('runs the pipelines of its drops', 'to run the pipeline from here');
    const started = this.cloud.nextExecutionFor(key);
    await s3Client().send(new PutObjectCommand({ Bucket: this.dataBucket, Key: key, Body: body, Metadata: metadata }));
    return started;
  }

  async dropBatchFile(key: string, body: Buffer, metadata: Record<string, string>): Promise<string> {
    this.requireOwner('runs the batch scoring of its drops', 'to score from here');
    const started = this.cloud.nextExecutionFor(key);
    await s3Client().send(new PutObjectCommand({ Bucket: this.dataBucket, Key: key, Body: body, Metadata: metadata }));
    return started;
  }

  waitForBatch(name: string): Promise<ExecutionEnd> {
    return this.cloud.execution(name);
  }

  async startPipeline(input: unknown, name: string): Promise<void> {
    this.requireOwner('runs the pipelines', 'to train from here');
    this.cloud.startExecution(this.pipelineStateMachineArn, input, name);
  }

  waitForExecution(name: string): Promise<ExecutionEnd> {
    return this.cloud.execution(name);
  }

  /**
   * The states as this process ran them; an execution another process ran is known by its start
   * and end only (the local runtime keeps histories in memory: local/execution-history.ts).
   */
  async executionHistory(name: string): Promise<ExecutionStep[]> {
    const events = this.cloud.executionHistory(executionArnOf(this.pipelineStateMachineArn, name)) ?? [];
    return events.map((e) => stepOf({ ...e, timestamp: new Date(e.timestamp) }));
  }

  flush(): Promise<void> {
    return this.cloud.flush();
  }

  stop(): Promise<void> {
    return this.cloud.stop();
  }

  /** Executions run in the process that owns the home: refuse, naming that process, when this one only attached. */
  private requireOwner(what: string, toDo: string): void {
    const owner = this.cloud.attachedTo;
    if (owner) {
      throw new CliError(
        `${this.cloud.home} is in use by another mloop process (pid ${owner.pid}, since ${owner.startedAt}), which ${what}; stop it, or set another MLOOP_HOME, ${toDo}.`,
      );
    }
  }
}

/** A command's target: a LoopTarget as it is, or the local stack of a started LocalCloud. */
export function targetOf(target: LoopTarget | LocalCloud): LoopTarget {
  return 'dropDataset' in target ? target : new LocalTarget(target);
}
