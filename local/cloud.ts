/**
 * LocalCloud: mloop's AWS side on one machine. It synthesizes the CDK app, starts the S3 and
 * DynamoDB emulators, creates the template's buckets and tables, publishes its file assets, and
 * then runs what the template says: rules turn S3 events into state-machine executions, the
 * synthesized state machine runs in aws-local-stepfunctions, its Lambda tasks call the same
 * handler modules in-process with the environment the template gives them, and its SageMaker
 * task runs the training code under the script-mode contract. Only endpoints differ from AWS.
 *
 * The dataset rule targets the pipeline's starter function, as on AWS: the event invokes its
 * handler, whose StartExecution goes through the SDK to a local Step Functions API
 * (stepfunctions-api.ts) that starts the execution here. Execution names are unique per state
 * machine across the processes on a home (executions.ts), so a repeated S3 event starts nothing.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import './polyfills';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { StateMachine } from 'aws-local-stepfunctions';
import { entryPath, type FunctionId } from '../lib/function-catalog';
import { resetClients, s3Client } from '../lambdas/shared/clients';
import { executionArnOf } from '../lambdas/pipeline/start';
import { startEmulators, type Emulators } from './emulators';
import { executionStatusEvent, matchesPattern, objectCreatedEvent, type EventBridgeEvent } from './events';
import { CorruptRecord, ExecutionLedger, alive, type ExecutionDescription, type ExecutionRecord } from './executions';
import { installFaultHolds, type FaultHolds } from './faults';
import { startStepFunctionsApi, type StepFunctionsApi } from './stepfunctions-api';
import { LOCAL_REGION, loadLocalTemplate, type LocalFunction, type LocalTemplate } from './template';
import { localTaskToken, waitForTaskResult, WAIT_FOR_TASK_TOKEN } from './task-tokens';
import { runTrainingJob, type CreateTrainingJobRequest } from './trainer';
import { TrainingProgress, type Terminal } from './progress';

const SAGEMAKER_SYNC = /^arn:aws[a-z-]*:states:::sagemaker:createTrainingJob\.sync$/;

export interface ExecutionResult {
  readonly execution: string;
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: Record<string, unknown>;
  readonly error?: string;
  readonly cause?: string;
}

export interface LocalCloudOptions {
  /** State folder (MLOOP_HOME). @default `.mloop` in the working directory */
  readonly home?: string;
  /** Receives progress lines: stage transitions and training output. */
  readonly log?: (line: string) => void;
  /**
   * A training source directory of your own, used exactly as `cdk deploy -c
   * mloop:trainingCodeDir=DIR` uses it: the app is synthesized with it, so its archive is the
   * published code asset the job unpacks, and its hash is the code version the registry records.
   */
  readonly trainingCodeDir?: string;
  /**
   * A terminal (process.stderr) to draw local training progress on: one line redrawn per epoch
   * (epoch k/N, losses) instead of a log line per epoch. Ignored unless it is a TTY, so logs
   * still stream to `log` in pipes, files and CI.
   */
  readonly progress?: Terminal;
  /**
   * CDK context for the synthesized app, over cdk.json's, as `cdk deploy -c KEY=VALUE` gives it
   * (e.g. `mloop:datasetSchemas`); its functions then run with the environment it makes.
   * @default - cdk.json's context only
   */
  readonly context?: Record<string, unknown>;
}

type Handler = (event: unknown) => Promise<unknown>;

/** A scope of states: the machine, a Parallel state's branch, a Map state's item processor. */
interface StatesScope {
  States: Record<
    string,
    { Type: string; Resource?: string; Branches?: StatesScope[]; ItemProcessor?: StatesScope; Iterator?: StatesScope }
  >;
}

/**
 * Every state of a definition with its name, those inside Parallel and Map states too (the
 * interpreter finds a local handler by state name in nested scopes as well; CDK keeps names unique).
 */
function allStates(scope: StatesScope): [string, StatesScope['States'][string]][] {
  return Object.entries(scope.States).flatMap(([name, state]) => [
    [name, state] as [string, StatesScope['States'][string]],
    ...(state.Branches ?? []).flatMap(allStates),
    ...((state.ItemProcessor ?? state.Iterator) ? allStates((state.ItemProcessor ?? state.Iterator) as StatesScope) : []),
  ]);
}

/** Lambda's answer when a function throws: the Cause a Catch receives on AWS is this JSON. */
class LambdaFunctionError extends Error {
  constructor(name: string, message: string) {
    super(JSON.stringify({ errorType: name, errorMessage: message }));
    this.name = name;
  }
}

/** Which process serves a home's emulators, and where (MLOOP_HOME/runtime.json). */
export interface RuntimeOwner {
  readonly pid: number;
  /** Absent while the owner is still starting its emulators. */
  readonly s3Endpoint?: string;
  readonly dynamoEndpoint?: string;
  /** The local Step Functions API (StartExecution, DescribeExecution). */
  readonly sfnEndpoint?: string;
  readonly startedAt?: string;
}

/** What one rule target did with an event: its answer (a function's result), or why it failed. */
export type Delivery =
  | { readonly rule: string; readonly target: string; readonly status: 'DELIVERED'; readonly result: unknown }
  | { readonly rule: string; readonly target: string; readonly status: 'FAILED'; readonly error: string };

const RUNTIME_FILE = 'runtime.json';

/** The process that claimed `home` (runtime.json), alive or not, or undefined when none did. */
export function readRuntimeOwner(home: string): RuntimeOwner | undefined {
  return readRuntimeFile(path.join(home, RUNTIME_FILE));
}

function readRuntimeFile(file: string): RuntimeOwner | undefined {
  try {
    const owner = JSON.parse(fs.readFileSync(file, 'utf8')) as RuntimeOwner;
    return owner && typeof owner === 'object' && Number.isInteger(owner.pid) && owner.pid > 0 ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** How long a runtime.json that names no process may be mid-write before it counts as left over. */
const UNREADABLE_CLAIM_GRACE_MS = 2_000;

/**
 * Claim `home` for this process, or find the live process that owns it. The claim is an
 * exclusive create of runtime.json (pid only, while the emulators start), so two commands
 * started together cannot both become owners; the other one waits for the owner's endpoints and
 * attaches. A record left by a process that is gone is removed and the claim retried.
 */
async function claimOrAttach(home: string): Promise<RuntimeOwner | undefined> {
  const file = path.join(home, RUNTIME_FILE);
  for (let attempt = 0; attempt < 600; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify({ pid: process.pid }), { flag: 'wx' });
      return undefined; // ours
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = readRuntimeFile(file);
    if (!owner) {
      // Not a claim this code writes (empty, truncated or garbage): a process killed while writing
      // it, or something else. Give a writer a moment, then take the home over, saying so.
      let age = 0;
      try {
        age = Date.now() - fs.statSync(file).mtimeMs;
      } catch {
        continue; // gone meanwhile
      }
      if (age > UNREADABLE_CLAIM_GRACE_MS) {
        process.stderr.write(`mloop: ${file} names no process (it is empty or not mloop's JSON); taking the home over.\n`);
        fs.rmSync(file, { force: true });
        continue;
      }
    }
    if (owner?.pid === process.pid) return undefined; // this process already owns it (tests run several clouds)
    if (owner && !alive(owner.pid)) {
      fs.rmSync(file, { force: true }); // left by a process that is gone
      continue;
    }
    if (owner?.s3Endpoint && owner.dynamoEndpoint && owner.sfnEndpoint) {
      try {
        await fetch(owner.s3Endpoint, { signal: AbortSignal.timeout(2000) });
        return owner;
      } catch {
        fs.rmSync(file, { force: true }); // a reused pid whose emulators do not answer
        continue;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100)); // the owner is still starting
  }
  throw new Error(`${home} is claimed by process ${readRuntimeFile(file)?.pid ?? '?'}, whose emulators did not start within a minute.`);
}

export function defaultHome(): string {
  return path.resolve(process.env.MLOOP_HOME ?? '.mloop');
}

export class LocalCloud {
  private readonly handlers = new Map<string, Promise<Handler>>();
  /** Handler modules that buffer work (data capture) export `flush`; see flush(). */
  private readonly flushers = new Map<string, () => Promise<void>>();
  private readonly running = new Map<string, Promise<ExecutionResult>>();
  private readonly waiters: { key: string; resolve: (execution: string) => void; reject: (error: Error) => void }[] = [];
  /** Events being delivered to their targets (settle waits for them: they may start executions). */
  private readonly deliveries = new Set<Promise<Delivery[]>>();
  private progressDisplay?: TrainingProgress | null;
  /** Names of executions, unique per state machine across the processes on this home. */
  private executionLedger?: ExecutionLedger;
  /** The Step Functions API this process serves, when it owns the home. */
  private stepFunctionsApi?: StepFunctionsApi;
  /** Executions that waited for their model's training slot, and said so once. */
  private readonly waitingSaid = new Set<string>();
  /** Fault points (MLOOP_FAULT_HOLD), for recovery tests. */
  private faults: FaultHolds = { beforeState: async () => undefined };

  private constructor(
    readonly home: string,
    readonly template: LocalTemplate,
    private readonly emulators: Emulators,
    private readonly options: LocalCloudOptions,
    /** The process whose emulators this one uses, when another mloop command owns the home. */
    readonly attachedTo?: RuntimeOwner,
  ) {}

  static async start(options: LocalCloudOptions = {}): Promise<LocalCloud> {
    const home = path.resolve(options.home ?? defaultHome());
    fs.mkdirSync(home, { recursive: true });
    // One process owns a home's emulators (their state files allow one writer); another mloop
    // command on the same home while it runs (`mloop predict` beside `mloop serve`, `models
    // approve` beside a waiting `mloop run`) attaches to the owner's emulators instead.
    const owner = await claimOrAttach(home);
    const outdir = owner ? fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-cdk-')) : path.join(home, 'cdk.out');
    const template = loadLocalTemplate(outdir, {
      ...options.context,
      ...(options.trainingCodeDir ? { 'mloop:trainingCodeDir': path.resolve(options.trainingCodeDir) } : {}),
    });
    const emulators: Emulators = owner
      ? {
          s3Endpoint: owner.s3Endpoint!,
          dynamoEndpoint: owner.dynamoEndpoint!,
          onObjectEvent: () => undefined,
          stop: async () => undefined,
        }
      : await startEmulators(home);
    if (owner) fs.rmSync(outdir, { recursive: true, force: true }); // an attached process only needed the template
    const cloud = new LocalCloud(home, template, emulators, options, owner);
    // Executions run in the owner: an attached process's StartExecution goes to the owner's API.
    if (!owner) cloud.stepFunctionsApi = await startStepFunctionsApi(cloud, (line) => cloud.say(line));
    const sfnEndpoint = owner ? owner.sfnEndpoint! : cloud.stepFunctionsApi!.endpoint;
    if (!owner) {
      const runtime: RuntimeOwner = {
        pid: process.pid,
        s3Endpoint: emulators.s3Endpoint,
        dynamoEndpoint: emulators.dynamoEndpoint,
        sfnEndpoint,
        startedAt: new Date().toISOString(),
      };
      fs.writeFileSync(path.join(home, RUNTIME_FILE), JSON.stringify(runtime));
    }

    // The one client factory every handler uses now points at the emulators.
    process.env.MLOOP_S3_ENDPOINT = emulators.s3Endpoint;
    process.env.MLOOP_DYNAMODB_ENDPOINT = emulators.dynamoEndpoint;
    process.env.MLOOP_SFN_ENDPOINT = sfnEndpoint;
    process.env.AWS_REGION = LOCAL_REGION;
    process.env.POWERTOOLS_DEV ??= 'true';
    process.env.POWERTOOLS_LOG_LEVEL ??= process.env.MLOOP_LOG_LEVEL ?? 'WARN';
    // No EventBridge, SNS or task-token service locally: registry events and task results go to files.
    process.env.MLOOP_EVENTS_FILE = path.join(home, 'events.jsonl');
    process.env.MLOOP_TASK_TOKENS_DIR = path.join(home, 'task-tokens');
    cloud.faults = installFaultHolds(process.env, (line) => cloud.say(line));
    resetClients();

    if (!owner) await cloud.provision(); // the owner provisioned the home
    emulators.onObjectEvent((record) => {
      const event = objectCreatedEvent(record);
      // publish never rejects: a target's failure is logged and fails the waiters of the key.
      if (event) void cloud.publish(event);
    });
    if (!owner) await cloud.recover();
    return cloud;
  }

  /**
   * End the executions that a process which owned this home before left running: it died (kill
   * -9, a crash), so they will never end by themselves. Each is recorded ABORTED and its "Execution
   * Status Change" event is published, as Step Functions would publish it, so the rule on it runs
   * the same cleanup as on AWS (lambdas/pipeline/ended.ts): the training lease and the content
   * claims come back and the run is recorded, at once, without waiting for the lease's TTL.
   */
  private async recover(): Promise<ExecutionRecord[]> {
    let orphans: ExecutionRecord[];
    try {
      orphans = this.ledger.orphans();
    } catch (error) {
      if (error instanceof CorruptRecord)
        throw new Error(`Cannot check ${this.home} for executions a stopped process left running: ${error.message}`);
      throw error;
    }
    for (const orphan of orphans) {
      const cause = `The process that ran it (pid ${orphan.pid}) ended before the execution did; the local runtime that took over ${this.home} stopped it.`;
      let input: unknown = {};
      try {
        input = JSON.parse(orphan.input);
      } catch {
        input = {}; // the cleanup then finds the model from the execution's name
      }
      // The cleanup first, then the record of the end: should the cleanup fail, the execution is
      // still an orphan for the next command, which runs the (idempotent) cleanup again.
      const deliveries = await this.publish(
        executionStatusEvent(orphan.stateMachineArn, orphan.name, 'ABORTED', input, orphan.executionArn, {
          error: 'States.Aborted',
          cause,
        }),
      );
      const failed = deliveries.find((d) => d.status === 'FAILED');
      if (failed?.status === 'FAILED')
        throw new Error(
          `Execution ${orphan.name}, left running by process ${orphan.pid} which is gone, could not be cleaned up (${failed.target}): ${failed.error}`,
        );
      this.ledger.abort(orphan, cause);
      this.say(
        `Recovered execution ${orphan.name}, left running since ${orphan.startDate} by process ${orphan.pid}, which is gone: ended as ABORTED; what it held is given back.`,
      );
    }
    return orphans;
  }

  /** The training pipeline's state machine (the one the dataset rule's starter starts). */
  get pipelineStateMachineArn(): string {
    return this.fn('startPipeline').environment.STATE_MACHINE_ARN;
  }

  /** The training progress display, when `progress` is a TTY. */
  private get progress(): TrainingProgress | undefined {
    if (this.progressDisplay === undefined) {
      this.progressDisplay = TrainingProgress.create(this.options.progress, (line) => this.options.log?.(line)) ?? null;
    }
    return this.progressDisplay ?? undefined;
  }

  /** A progress line to `log`, printed above the training progress line when there is one. */
  private say(line: string): void {
    if (this.progress) this.progress.log(line);
    else this.options.log?.(line);
  }

  /** Create what `cdk deploy` would: buckets, tables, and the published file assets. */
  private async provision(): Promise<void> {
    const s3 = s3Client();
    const buckets = new Set([...this.template.buckets, ...this.template.assets.map((a) => a.bucket)]);
    for (const bucket of buckets) {
      try {
        await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      } catch (error) {
        const name = (error as { name?: string }).name;
        if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
      }
    }
    const ddb = new DynamoDBClient({
      endpoint: this.emulators.dynamoEndpoint,
      region: LOCAL_REGION,
      credentials: { accessKeyId: 'mloop-local', secretAccessKey: 'mloop-local' },
    });
    for (const table of this.template.tables) {
      try {
        await ddb.send(new DescribeTableCommand({ TableName: table.name }));
      } catch (error) {
        if (!(error instanceof ResourceNotFoundException) && (error as { name?: string }).name !== 'ResourceNotFoundException') throw error;
        await ddb.send(
          new CreateTableCommand({
            TableName: table.name,
            BillingMode: 'PAY_PER_REQUEST',
            KeySchema: table.keySchema as never,
            AttributeDefinitions: table.attributeDefinitions as never,
            GlobalSecondaryIndexes: table.globalSecondaryIndexes.length > 0 ? (table.globalSecondaryIndexes as never) : undefined,
          }),
        );
      }
    }
    ddb.destroy();
    for (const asset of this.template.assets) {
      try {
        await s3.send(new HeadObjectCommand({ Bucket: asset.bucket, Key: asset.key }));
      } catch {
        await s3.send(new PutObjectCommand({ Bucket: asset.bucket, Key: asset.key, Body: fs.readFileSync(asset.file) }));
      }
    }
  }

  private fn(id: FunctionId): LocalFunction {
    const fn = this.template.functions.find((f) => f.functionId === id);
    if (!fn) throw new Error(`The template has no function '${id}'.`);
    return fn;
  }

  /** The data bucket and registry table, as the template's functions see them. */
  get dataBucket(): string {
    return this.fn('ingest').environment.DATA_BUCKET;
  }

  get registryTable(): string {
    return this.fn('ingest').environment.REGISTRY_TABLE;
  }

  /** Load a function's handler module as Lambda would: its environment first, then the module. */
  private handler(fn: LocalFunction): Promise<Handler> {
    let pending = this.handlers.get(fn.logicalId);
    if (!pending) {
      pending = (async () => {
        for (const [key, value] of Object.entries(fn.environment)) {
          if (key !== 'NODE_OPTIONS') process.env[key] = value;
        }
        // require, not import(): the module is TypeScript, loaded through the same hook as the CLI.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const mod = require(entryPath(fn.functionId)) as { handler?: Handler };
        if (typeof mod.handler !== 'function') throw new Error(`${entryPath(fn.functionId)} exports no handler.`);
        if (typeof (mod as { flush?: unknown }).flush === 'function')
          this.flushers.set(fn.logicalId, (mod as { flush: () => Promise<void> }).flush);
        return mod.handler;
      })();
      this.handlers.set(fn.logicalId, pending);
    }
    return pending;
  }

  /** Invoke a function in-process, as Lambda would with this event. */
  async invoke(id: FunctionId, event: unknown): Promise<unknown> {
    const handler = await this.handler(this.fn(id));
    return handler(event);
  }

  /**
   * Put an event on the local bus: every rule whose pattern matches delivers it to its targets,
   * as EventBridge does. A function target is invoked with the event (the dataset rule's target
   * is the pipeline's starter, whose StartExecution reaches this process through the local Step
   * Functions API); a state machine target starts an execution with the event as input. Resolves
   * with what each target did and never rejects: a failed target is logged (on AWS it would be
   * retried, then dead-lettered) and fails whoever waits for an execution of the event's key.
   */
  publish(event: EventBridgeEvent): Promise<Delivery[]> {
    const key = (event.detail.object as { key?: string } | undefined)?.key;
    // The waiters registered before this event arrived are the ones it answers.
    const waiting = key ? this.waiters.filter((w) => w.key === key) : [];
    this.waiters.splice(0, this.waiters.length, ...this.waiters.filter((w) => !waiting.includes(w)));
    const delivered = this.deliver(event).then((deliveries) => {
      // The starter answers with the execution of the object version, new or already there.
      const execution = deliveries
        .map((d) => (d.status === 'DELIVERED' ? (d.result as { executionName?: unknown } | undefined)?.executionName : undefined))
        .find((name): name is string => typeof name === 'string');
      const failed = deliveries.find((d) => d.status === 'FAILED');
      for (const waiter of waiting) {
        if (execution) waiter.resolve(execution);
        else if (failed?.status === 'FAILED')
          waiter.reject(
            new Error(
              `The event for ${key} started no execution: rule ${failed.rule} could not deliver it to ${failed.target}: ${failed.error}`,
            ),
          );
        else this.waiters.push(waiter); // nothing answered for this key: keep waiting for the next event
      }
      return deliveries;
    });
    this.deliveries.add(delivered);
    void delivered.finally(() => this.deliveries.delete(delivered));
    return delivered;
  }

  private async deliver(event: EventBridgeEvent): Promise<Delivery[]> {
    const deliveries: Delivery[] = [];
    for (const rule of this.template.rules) {
      if (!rule.pattern || !matchesPattern(rule.pattern, event)) continue;
      for (const target of rule.targetArns) {
        try {
          deliveries.push({ rule: rule.logicalId, target, status: 'DELIVERED', result: await this.deliverTo(target, event) });
        } catch (error) {
          const message = (error as Error).message;
          this.say(`[${rule.logicalId}] event ${event.id} was not delivered to ${target}: ${message}`);
          deliveries.push({ rule: rule.logicalId, target, status: 'FAILED', error: message });
        }
      }
    }
    return deliveries;
  }

  private async deliverTo(arn: string, event: EventBridgeEvent): Promise<unknown> {
    const fn = this.template.functions.find((f) => f.arn === arn);
    if (fn) return (await this.handler(fn))(event);
    const machine = this.template.stateMachines.find((m) => m.arn === arn);
    if (machine) {
      const name = this.startExecution(machine.arn, event);
      return { status: 'STARTED', executionName: name, executionArn: executionArnOf(machine.arn, name) };
    }
    throw new Error(`The rule targets ${arn}, which is neither a function nor a state machine of the template.`);
  }

  /** Resolves with the execution that the next event for `key` starts. Register before the upload. */
  nextExecutionFor(key: string): Promise<string> {
    return new Promise((resolve, reject) => this.waiters.push({ key, resolve, reject }));
  }

  startExecution(stateMachineArn: string, input: unknown, name: string = randomUUID()): string {
    const machine = this.template.stateMachines.find((m) => m.arn === stateMachineArn);
    if (!machine) throw new Error(`No state machine ${stateMachineArn} in the template.`);
    const overrides: Record<string, (input: unknown) => Promise<unknown>> = {};
    for (const [stateName, state] of allStates(machine.definition as unknown as StatesScope)) {
      if (state.Type !== 'Task' || !state.Resource) continue;
      const resource = state.Resource;
      const fn = this.template.functions.find((f) => f.arn === resource);
      if (fn) {
        overrides[stateName] = async (taskInput) => {
          // While the run waits for its model's training slot, Ingest runs again and again: say so once.
          if (!this.waitingSaid.has(name)) this.say(`[${stateName}]`);
          await this.faults.beforeState(stateName);
          let output: unknown;
          try {
            output = await (await this.handler(fn))(taskInput);
          } catch (error) {
            const e = error as Error;
            throw new LambdaFunctionError(e.name || 'Error', e.message);
          }
          this.reportTrainingSlot(name, output);
          return output;
        };
      } else if (SAGEMAKER_SYNC.test(resource)) {
        overrides[stateName] = async (taskInput) => {
          const request = taskInput as CreateTrainingJobRequest;
          const job = request.TrainingJobName;
          const progress = this.progress;
          this.say(`[${stateName}] training locally on the CPU`);
          await this.faults.beforeState(stateName);
          progress?.start(job, Number(request.HyperParameters?.epochs) || undefined);
          try {
            return await runTrainingJob(request, {
              workDir: path.join(this.home, 'training'),
              onLog: (line) => (progress ? progress.output(job, line) : this.options.log?.(`  ${line}`)),
            });
          } finally {
            progress?.end(job);
          }
        };
      } else if (WAIT_FOR_TASK_TOKEN.test(resource)) {
        const target = this.template.functions.find(
          (f) => f.arn === (state as { Parameters?: { FunctionName?: string } }).Parameters?.FunctionName,
        );
        if (!target) throw new Error(`State '${stateName}' waits on a function the template does not define.`);
        overrides[stateName] = async (taskInput) => {
          this.options.log?.(`[${stateName}] waiting for its task token`);
          await (
            await this.handler(target)
          )((taskInput as { Payload?: unknown }).Payload);
          return waitForTaskResult(process.env.MLOOP_TASK_TOKENS_DIR ?? path.join(this.home, 'task-tokens'), localTaskToken(name));
        };
      } else {
        // A Task with no local handler would be sent to real AWS: refuse instead.
        throw new Error(`State '${stateName}' has resource ${resource}, which the local runtime cannot run.`);
      }
    }

    // Names are unique per state machine, across the processes on this home, as on AWS: a name
    // taken before is ExecutionAlreadyExists; the same name and input as a running execution of
    // this process answer that execution again (Standard workflows' idempotent StartExecution).
    const claim = this.ledger.claim(machine.arn, name, JSON.stringify(input ?? {}));
    if (claim.repeat) return name;
    const sm = new StateMachine(machine.definition as never, { validationOptions: { checkArn: false } });
    const run = sm.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: overrides as never,
        // 'Wait for training slot' waits 60 s on AWS between two tries of the model's training
        // slot; locally another run's training is seconds long, so try again after 200 ms.
        waitTimeOverrides: { 'Wait for training slot': 200 },
      },
      context: {
        Execution: { Id: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`, Name: name },
        Task: { Token: localTaskToken(name) },
      },
    });
    const result = run.result
      .then(
        (output) => ({ execution: name, status: 'SUCCEEDED' as const, output: output as Record<string, unknown> }),
        (error: Error & { cause?: unknown }) => {
          // The library wraps the Fail state's error in an ExecutionError: report the real one,
          // as Step Functions reports the Fail state's Error and Cause.
          const failure = error.cause instanceof Error ? error.cause : error;
          return { execution: name, status: 'FAILED' as const, error: failure.name, cause: failure.message };
        },
      )
      .then(async (end: ExecutionResult) => {
        // Step Functions tells EventBridge how each execution ended; the rules on it run before
        // the end is reported here, as they would have run by the time one looks on AWS.
        await this.publish(
          executionStatusEvent(stateMachineArn, name, end.status, input, executionArnOf(stateMachineArn, name), {
            error: end.error,
            cause: end.cause,
          }),
        );
        return end;
      });
    this.running.set(name, result);
    void result
      .then((end) => this.ledger.finish(claim.record.executionArn, end))
      .catch((error: Error) => this.say(`Execution ${name} ended, but its end was not recorded: ${error.message}`));
    return name;
  }

  /**
   * Say once that a run waits for its model's training slot, naming the run that holds it and
   * since when, and once that it got it: Ingest answers `busy` on every pass of the wait loop.
   */
  private reportTrainingSlot(execution: string, output: unknown): void {
    const ingest = output as { status?: string; model?: string; trainingSlot?: string; heldBy?: string; heldSince?: string } | null;
    if (ingest?.status !== 'ACCEPTED') return;
    if (ingest.trainingSlot === 'busy' && !this.waitingSaid.has(execution)) {
      this.waitingSaid.add(execution);
      const since = ingest.heldSince ? ` since ${ingest.heldSince}` : '';
      this.say(
        `[Wait for training slot] ${ingest.model} trains one run at a time: execution ${ingest.heldBy ?? '(unknown)'} holds its training slot${since}; this run waits and tries again.`,
      );
    } else if (ingest.trainingSlot === 'acquired' && this.waitingSaid.delete(execution)) {
      this.say(`[Wait for training slot] ${ingest.model}'s training slot is free: this run trains now.`);
    }
  }

  private get ledger(): ExecutionLedger {
    this.executionLedger ??= new ExecutionLedger(path.join(this.home, 'executions'));
    return this.executionLedger;
  }

  hasStateMachine(stateMachineArn: string): boolean {
    return this.template.stateMachines.some((m) => m.arn === stateMachineArn);
  }

  /** An execution of any process on this home, as DescribeExecution reports it. */
  describeExecution(executionArn: string): ExecutionDescription | undefined {
    return this.ledger.describe(executionArn);
  }

  execution(name: string): Promise<ExecutionResult> {
    const result = this.running.get(name);
    if (!result) throw new Error(`No execution named ${name} ran in this process.`);
    return result;
  }

  /** Wait for every execution started so far. */
  async settle(): Promise<ExecutionResult[]> {
    await Promise.all(this.deliveries); // events on their way may still start executions
    return Promise.all(this.running.values());
  }

  /**
   * Write what loaded handlers buffer (the predict function's captured lines), as a container
   * does on a flush: before the drift monitor reads captures in the same process, and on stop.
   */
  async flush(): Promise<void> {
    await Promise.all([...this.flushers.values()].map((flush) => flush()));
  }

  async stop(): Promise<void> {
    await this.settle();
    await this.flush();
    await this.stepFunctionsApi?.stop();
    await this.emulators.stop();
    if (!this.attachedTo) {
      const file = path.join(this.home, RUNTIME_FILE);
      const current = readRuntimeFile(file);
      if (current?.pid === process.pid) fs.rmSync(file, { force: true });
    }
    resetClients();
  }
}
