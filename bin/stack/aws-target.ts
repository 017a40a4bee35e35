/**
 * A deployed stack as a LoopTarget (bin/target.ts), reached through AWS's APIs with the caller's
 * credentials: a drop is an S3 PutObject with metadata, whose execution is found by its name
 * (the pipeline's starter names it after the object version: lambdas/pipeline/start.ts) and
 * followed with DescribeExecution; `models` and `drift` invoke the stack's functions (Lambda
 * Invoke); a prediction is a SigV4-signed HTTPS request to the API. The registry and the bucket
 * are read through the handlers' own code, with every client pointed at the stack
 * (useAwsSettings).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  StartExecutionCommand,
  type DescribeExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { uriEncode } from '../../local/sigv4-verify';
import { s3Client, sfnClient, useAwsSettings } from '../../lambdas/shared/clients';
import { executionArnOf, executionName } from '../../lambdas/pipeline/start';
import { BATCH_PREFIX, DATASETS_PREFIX } from '../../lambdas/shared/layout';
import { CliError } from '../cli-error';
import type { ApiAnswer, ExecutionEnd, ExecutionStep, InvokedFunction, LoopTarget } from '../target';
import { stepOf, type HistoryEventLike } from '../execution-steps';
import { awsFailure, type DeployedStack } from './deployed-stack';

/** How long a drop's execution may take to appear (S3 to EventBridge to the starter function: seconds on AWS). */
/** A pipeline run's history is a few hundred events; a map over thousands of parts is cut at 10,000. */
const MAX_HISTORY_PAGES = 10;

const DROP_START_TIMEOUT_MS = Number(process.env.MLOOP_DROP_START_TIMEOUT_MS ?? 180_000);

export interface AwsTargetOptions {
  /** Progress lines (the execution's states as it enters them). */
  readonly log: (line: string) => void;
  /** Milliseconds between DescribeExecution calls. @default 250 against an endpoint on this machine, else 2000 */
  readonly pollMs?: number;
  /**
   * Whether this process's clients (lambdas/shared/clients.ts) already reach the stack, so they
   * are left as they are instead of being pointed at it with useAwsSettings. True for the local
   * stack: its handlers run in this process on those same clients (S3 and DynamoDB at the
   * emulators' own ports, the other APIs at the edge, all with the home's credentials), and
   * pointing them at the edge would add a proxy hop to every handler call and take the local
   * runtime's fault hooks off them.
   * @default false
   */
  readonly processClients?: boolean;
  /**
   * Print the states an execution enters, from its history. Off where the execution runs in this
   * process and its states are printed as they run (the local stack's owner).
   * @default true
   */
  readonly followStates?: boolean;
  /**
   * Executions per ListExecutions page when a drop's execution is looked for on a bucket without
   * object versions (the local stack's): pages are read, newest first, down to the drop's time.
   * @default 100
   */
  readonly listPageSize?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class AwsTarget implements LoopTarget {
  private readonly lambda: LambdaClient;
  private readonly pollMs: number;
  /** Whether the endpoint is on this machine (the local stack): one clock, so no slack in comparing times. */
  private readonly onThisMachine: boolean;
  private readonly where_: { stack: string; region: string };

  constructor(
    readonly stack: DeployedStack,
    private readonly options: AwsTargetOptions,
  ) {
    if (!options.processClients) useAwsSettings(stack.settings);
    this.lambda = new LambdaClient(stack.settings);
    this.onThisMachine = stack.settings.endpoint !== undefined && /\/\/(127\.0\.0\.1|localhost)[:/]/.test(stack.settings.endpoint);
    this.pollMs = options.pollMs ?? (this.onThisMachine ? 250 : 2000);
    this.where_ = { stack: stack.name, region: stack.region };
  }

  get where(): string {
    return `stack ${this.stack.name} in ${this.stack.region}`;
  }

  /** Files the CLI writes (drift reports) go under MLOOP_HOME (default .mloop), as for the local stack. */
  get home(): string {
    return path.resolve(process.env.MLOOP_HOME ?? '.mloop');
  }

  get dataBucket(): string {
    return this.stack.outputs.DataBucketName!;
  }

  get registryTable(): string {
    return this.stack.outputs.RegistryTableName!;
  }

  get pipelineStateMachineArn(): string {
    return this.stack.outputs.StateMachineArn!;
  }

  /** An AWS call; its failure as one line naming the stack, the region and the action. */
  private async call<T>(action: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      if (error instanceof CliError) throw error;
      throw awsFailure(error, this.where_, action);
    }
  }

  async invoke(fn: InvokedFunction, event: unknown): Promise<unknown> {
    const output = fn === 'models' ? 'ModelsFunctionName' : 'DriftFunctionName';
    const name = this.stack.outputs[output];
    if (!name) throw new CliError(`${this.where} has no output ${output}: deploy it again with this version of mloop.`);
    const answer = await this.call('lambda:InvokeFunction', () =>
      this.lambda.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(event)) })),
    );
    const text = answer.Payload ? Buffer.from(answer.Payload).toString('utf8') : 'null';
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      throw new CliError(`${name} on ${this.where} answered something that is not JSON: ${text.slice(0, 200)}`);
    }
    if (answer.FunctionError) {
      // Lambda's error shape: {errorType, errorMessage}. The handler's message is the command's error, as locally.
      const { errorType, errorMessage } = (payload ?? {}) as { errorType?: string; errorMessage?: string };
      const failure = new CliError(errorMessage ?? `${name} failed (${errorType ?? answer.FunctionError}).`);
      // The handler's error name (NotFound, InvalidInput...), which callers such as mloop ui map to a status.
      if (errorType && /^[A-Za-z][A-Za-z0-9]*$/.test(errorType)) failure.name = errorType;
      throw failure;
    }
    return payload;
  }

  async predict(model: string, body: unknown, query: Record<string, string>): Promise<ApiAnswer> {
    const base = this.stack.outputs.ApiUrl;
    if (!base) throw new CliError(`${this.where} has no output ApiUrl.`);
    const url = new URL(`v1/models/${encodeURIComponent(model)}/predict`, base.endsWith('/') ? base : `${base}/`);
    // RFC 3986 escapes, as SigV4's canonical query has them: URLSearchParams would send a space as
    // '+', which the service reads as a literal '+', and the signature would not match.
    url.search = Object.entries(query)
      .map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`)
      .join('&');
    const text = JSON.stringify(body);
    const signer = new SignatureV4({
      credentials: this.stack.settings.credentials,
      region: this.stack.region,
      service: 'execute-api',
      sha256: Sha256,
    });
    const headers: Record<string, string> = { host: url.host, 'content-type': 'application/json' };
    // An API deployed with API keys instead of IAM (apiKeyRequired) takes the key as x-api-key.
    if (process.env.MLOOP_API_KEY) headers['x-api-key'] = process.env.MLOOP_API_KEY;
    const signed = await this.call('execute-api:Invoke', () =>
      signer.sign({
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query,
        headers,
        body: text,
      }),
    );
    return this.call('execute-api:Invoke', () => send(url, signed.headers, text));
  }

  async dropDataset(key: string, body: Buffer, metadata: Record<string, string>): Promise<string> {
    return this.drop(this.pipelineStateMachineArn, DATASETS_PREFIX, key, body, metadata, 'execution');
  }

  /**
   * Put `body` at `key` and wait for the execution of `stateMachineArn` its event starts: on a
   * versioned bucket (the stack's is) named by the object version (the starter's executionName
   * with `prefix`); otherwise (the local stack's S3 keeps no versions) found by findDropExecution.
   */
  private async drop(
    stateMachineArn: string,
    prefix: string,
    key: string,
    body: Buffer,
    metadata: Record<string, string>,
    what: string,
  ): Promise<string> {
    const started = Date.now();
    const failure = this.deliveryFailure(key); // before the put, whose event may be delivered before it answers
    const put = await this.call('s3:PutObject', () =>
      s3Client().send(new PutObjectCommand({ Bucket: this.dataBucket, Key: key, Body: body, Metadata: metadata })),
    );
    const versioned = put.VersionId !== undefined && put.VersionId !== 'null';
    this.options.log(`put s3://${this.dataBucket}/${key}${versioned ? ` (version ${put.VersionId})` : ''}; waiting for its ${what}...`);
    if (versioned) {
      const name = executionName({ bucket: { name: this.dataBucket }, object: { key, 'version-id': put.VersionId } }, prefix);
      const arn = executionArnOf(stateMachineArn, name);
      await this.untilStarted(stateMachineArn, key, async () => ((await this.describeArn(arn)) ? name : undefined), failure);
      return name;
    }
    const seen = new Set<string>();
    return this.untilStarted(stateMachineArn, key, () => this.findDropExecution(stateMachineArn, key, put, started, seen), failure);
  }

  /**
   * Why the drop of `key` started no execution, when this process can know it sooner than a
   * timeout (the local stack's owner delivers the bucket's events itself): a promise that only
   * rejects. On AWS the starter's failure is in its logs, and the wait times out.
   */
  protected deliveryFailure(_key: string): Promise<never> | undefined {
    return undefined;
  }

  /** Poll `find` until it names the execution, or fail after DROP_START_TIMEOUT_MS (or as soon as deliveryFailure says why). */
  private async untilStarted(
    stateMachineArn: string,
    key: string,
    find: () => Promise<string | undefined>,
    failure: Promise<never> | undefined,
  ): Promise<string> {
    const deadline = Date.now() + DROP_START_TIMEOUT_MS;
    for (;;) {
      const name = await (failure ? Promise.race([find(), failure]) : find());
      if (name) return name;
      if (Date.now() > deadline)
        throw new CliError(
          `no execution of ${stateMachineArn} started for s3://${this.dataBucket}/${key} within ${Math.round(DROP_START_TIMEOUT_MS / 1000)} s on ${this.where}: check that the bucket sends events to EventBridge and the starter function's logs.`,
        );
      await (failure ? Promise.race([sleep(this.pollMs), failure]) : sleep(this.pollMs));
    }
  }

  /**
   * The newest executions' inputs, for the drop of `key` answered by `put` at `since`: the event
   * whose `request-id` is the write's request id (S3 sends it in the event), else, for an event
   * without one, the key's event with the write's ETag (the same for two writes of the same bytes).
   */
  private async findDropExecution(
    stateMachineArn: string,
    key: string,
    put: { readonly ETag?: string; readonly $metadata: { readonly requestId?: string } },
    since: number,
    seen: Set<string>,
  ): Promise<string | undefined> {
    const etag = put.ETag;
    const requestId = put.$metadata.requestId;
    const clean = (tag: string | undefined) => (tag ?? '').replace(/"/g, '');
    // Clocks differ between this machine and AWS: a minute of slack. An endpoint on this machine
    // shares its clock, and an execution started before the put (the same bytes dropped a moment
    // ago) must not be taken for this drop's.
    const slack = this.onThisMachine ? 0 : 60_000;
    // Newest first, page after page, down to the first execution started before the put: however
    // many others started since (a busy stack), the drop's is among them.
    let nextToken: string | undefined;
    do {
      const listed = await this.call('states:ListExecutions', () =>
        sfnClient().send(new ListExecutionsCommand({ stateMachineArn, maxResults: this.options.listPageSize ?? 100, nextToken })),
      );
      // (A page that reaches back past the put is the last one read.)
      nextToken = listed.nextToken;
      for (const e of listed.executions ?? []) {
        if (e.startDate && e.startDate.getTime() < since - slack) {
          nextToken = undefined;
          continue;
        }
        if (!e.executionArn || seen.has(e.executionArn)) continue;
        seen.add(e.executionArn);
        const d = await this.describeArn(e.executionArn);
        let input: { detail?: { object?: { key?: string; etag?: string }; 'request-id'?: string } } = {};
        try {
          input = JSON.parse(d?.input ?? '{}') as typeof input;
        } catch {
          continue; // not a drop's event
        }
        if (input.detail?.object?.key !== key) continue;
        const eventRequest = input.detail['request-id'];
        if (requestId && eventRequest) {
          if (eventRequest === requestId) return e.name;
        } else if (!etag || clean(input.detail.object.etag) === clean(etag)) return e.name;
      }
    } while (nextToken);
    return undefined;
  }

  private describeArn(executionArn: string): Promise<DescribeExecutionCommandOutput | undefined> {
    return this.call('states:DescribeExecution', async () => {
      try {
        return await sfnClient().send(new DescribeExecutionCommand({ executionArn }));
      } catch (error) {
        if ((error as Error).name === 'ExecutionDoesNotExist') return undefined;
        throw error;
      }
    });
  }

  async startPipeline(input: unknown, name: string): Promise<void> {
    await this.call('states:StartExecution', () =>
      sfnClient().send(new StartExecutionCommand({ stateMachineArn: this.pipelineStateMachineArn, name, input: JSON.stringify(input) })),
    );
  }

  /** The batch state machine (the stack's BatchStateMachineArn output; a stack deployed before batch scoring has none). */
  private get batchStateMachineArn(): string {
    const arn = this.stack.outputs.BatchStateMachineArn;
    if (!arn) throw new CliError(`${this.where} has no BatchStateMachineArn output: deploy this version of mloop to score files.`);
    return arn;
  }

  async dropBatchFile(key: string, body: Buffer, metadata: Record<string, string>): Promise<string> {
    return this.drop(this.batchStateMachineArn, BATCH_PREFIX, key, body, metadata, 'batch execution');
  }

  waitForBatch(name: string): Promise<ExecutionEnd> {
    return this.waitFor(executionArnOf(this.batchStateMachineArn, name), name);
  }

  waitForExecution(name: string): Promise<ExecutionEnd> {
    return this.waitFor(executionArnOf(this.pipelineStateMachineArn, name), name);
  }

  /** GetExecutionHistory, page after page (at most MAX_HISTORY_PAGES), oldest first. */
  async executionHistory(name: string): Promise<ExecutionStep[]> {
    const executionArn = executionArnOf(this.pipelineStateMachineArn, name);
    const steps: ExecutionStep[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_HISTORY_PAGES; page++) {
      let answer;
      try {
        answer = await this.call('states:GetExecutionHistory', () =>
          sfnClient().send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken })),
        );
      } catch (error) {
        if (/ExecutionDoesNotExist/.test(String((error as Error).message))) return [];
        throw error;
      }
      for (const e of answer.events ?? []) steps.push(stepOf(e as HistoryEventLike));
      nextToken = answer.nextToken;
      if (!nextToken) break;
    }
    return steps;
  }

  private async waitFor(executionArn: string, name: string): Promise<ExecutionEnd> {
    const progress =
      this.options.followStates === false
        ? undefined
        : new ExecutionProgress(executionArn, this.options.log, (action, send) => this.call(action, send));
    for (;;) {
      const d = await this.describeArn(executionArn);
      if (!d) throw new CliError(`execution ${name} does not exist on ${this.where}.`);
      await progress?.update();
      if (d.status !== 'RUNNING' && d.status !== 'PENDING_REDRIVE') {
        let output: Record<string, unknown> | undefined;
        if (d.output) output = JSON.parse(d.output) as Record<string, unknown>;
        const status = d.status === 'SUCCEEDED' ? 'SUCCEEDED' : 'FAILED';
        const error = d.error ?? (status === 'FAILED' ? `the execution ended ${d.status}` : undefined);
        return {
          execution: name,
          status,
          ...(output ? { output } : {}),
          ...(error ? { error } : {}),
          ...(d.cause ? { cause: d.cause } : {}),
        };
      }
      await sleep(this.pollMs);
    }
  }

  /** Nothing is buffered in this process: the stack's functions write their own captures. */
  async flush(): Promise<void> {}

  async stop(): Promise<void> {
    this.lambda.destroy();
    if (!this.options.processClients) useAwsSettings(undefined);
  }
}

/**
 * The states an execution enters, as lines, from its history (GetExecutionHistory, newest first):
 * what `mloop run` prints while it waits. A caller without states:GetExecutionHistory still
 * follows the execution by its status; it is told once that it sees no states.
 */
class ExecutionProgress {
  private lastEvent = 0;
  private lastState?: string;
  private off = false;

  constructor(
    private readonly executionArn: string,
    private readonly log: (line: string) => void,
    private readonly call: <T>(action: string, send: () => Promise<T>) => Promise<T>,
  ) {}

  async update(): Promise<void> {
    if (this.off) return;
    let events;
    try {
      events = await this.call(
        'states:GetExecutionHistory',
        async () =>
          (await sfnClient().send(new GetExecutionHistoryCommand({ executionArn: this.executionArn, reverseOrder: true, maxResults: 100 })))
            .events ?? [],
      );
    } catch (error) {
      this.off = true;
      this.log(`(no progress: ${(error as Error).message})`);
      return;
    }
    const fresh = events.filter((e) => (e.id ?? 0) > this.lastEvent).reverse();
    for (const e of fresh) {
      this.lastEvent = Math.max(this.lastEvent, e.id ?? 0);
      const state = e.stateEnteredEventDetails?.name;
      // The states that do work or wait; a state entered again and again (a map's items, a wait loop) is said once.
      if (state && PROGRESS_STATES.has(e.type ?? '') && state !== this.lastState) {
        this.lastState = state;
        this.log(`[${state}]`);
      }
    }
  }
}

/** The history events `mloop run` prints: states that do work or wait. */
const PROGRESS_STATES = new Set(['TaskStateEntered', 'MapStateEntered', 'WaitStateEntered', 'ParallelStateEntered']);

/** POST `body` with `headers` to `url` (http for a loopback endpoint, https on AWS). */
function send(url: URL, headers: Record<string, string>, body: string): Promise<ApiAnswer> {
  const client = url.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          statusCode: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)])),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
