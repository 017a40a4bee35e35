/**
 * LocalCloud: mloop's AWS side on one machine, composed from one module per concern. It claims
 * the home (local/runtime-claim.ts) or attaches to the process that owns it, reads the synthesized
 * template (local/template.ts), starts the S3 and DynamoDB emulators (local/emulators.ts) and
 * creates what `cdk deploy` would (local/deploy.ts), and then runs what the template says: rules
 * turn events into deliveries to their targets (local/event-bus.ts), the template's functions run
 * their handler modules with the environment the template gives them (local/functions.ts), and its
 * state machines run in aws-local-stepfunctions (local/state-machines.ts). Only endpoints differ
 * from AWS.
 *
 * The dataset rule targets the pipeline's starter function, as on AWS: the event invokes its
 * handler, whose StartExecution goes through the SDK to a local Step Functions API
 * (stepfunctions-api.ts) that starts the execution here. Execution names are unique per state
 * machine across the processes on a home (executions.ts), so a repeated S3 event starts nothing.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import './polyfills';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { FunctionId } from '../lib/function-catalog';
import { resetClients, s3Client } from '../lambdas/shared/clients';
import { executionArnOf } from '../lambdas/pipeline/start';
import { deployLocally } from './deploy';
import { startEmulators, type Emulators } from './emulators';
import { LocalEventBus, type Delivery } from './event-bus';
import { objectCreatedEvent, scheduledEvent, type EventBridgeEvent } from './events';
import { startSchedule } from './schedules';
import { apiEvent, apiRoutes, type Route } from './api-server';
import type { ExecutionDescription } from './executions';
import type { HistoryEvent } from './execution-history';
import { installFaultHolds, type FaultHolds } from './faults';
import { LocalFunctions } from './functions';
import { startAwsApi, type AwsApi } from './aws-api';
import { appendEvents, eventsJournal, type LocalEventLine } from './events-journal';
import { taskTokensDir, writeTaskResult, type TaskResult } from './task-tokens';
import { TrainingProgress, type Terminal } from './progress';
import { claimOrAttach, defaultHome, publishRuntimeOwner, releaseRuntimeClaim, type RuntimeOwner } from './runtime-claim';
import { LocalStateMachines, type ExecutionResult } from './state-machines';
import { LOCAL_ACCOUNT, LOCAL_REGION, loadLocalTemplate } from './template';
import type { LocalFunction, LocalRestApi, LocalStack, LocalTemplate } from './template-types';

export type { Delivery } from './event-bus';
export type { ExecutionResult } from './state-machines';
export { defaultHome, readRuntimeOwner, type RuntimeOwner } from './runtime-claim';

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
  /**
   * The port of the AWS edge endpoint (local/aws-api.ts) on 127.0.0.1, when this process owns the
   * home (`mloop serve --aws-port`); an attached process uses the owner's.
   * @default 0 - a port the OS picks
   */
  readonly awsPort?: number;
}

export class LocalCloud {
  readonly functions: LocalFunctions;
  readonly bus: LocalEventBus;
  readonly stateMachines: LocalStateMachines;
  private progressDisplay?: TrainingProgress | null;
  private routes?: Route[];
  /** The AWS edge endpoint this process serves (every AWS API on one port), when it owns the home. */
  private awsApi?: AwsApi;
  /** When this cloud started: the local stack's CreationTime, as DescribeStacks reports it. */
  readonly stackCreationTime = new Date();
  /** Fault points (MLOOP_FAULT_HOLD), for recovery tests. */
  private faults: FaultHolds = { beforeState: async () => undefined };

  private constructor(
    readonly home: string,
    readonly template: LocalTemplate,
    private readonly emulators: Emulators,
    private readonly options: LocalCloudOptions,
    /** The process whose emulators this one uses, when another mloop command owns the home. */
    readonly attachedTo?: RuntimeOwner,
  ) {
    this.functions = new LocalFunctions(template);
    this.bus = new LocalEventBus(
      template.rules,
      (arn, event) => this.deliverTo(arn, event),
      (line) => this.say(line),
    );
    this.stateMachines = new LocalStateMachines({
      home,
      template,
      functions: this.functions,
      publish: (event) => this.bus.publish(event),
      say: (line) => this.say(line),
      log: (line) => this.options.log?.(line),
      progress: () => this.progress,
      faults: () => this.faults,
    });
  }

  static async start(options: LocalCloudOptions = {}): Promise<LocalCloud> {
    const home = path.resolve(options.home ?? defaultHome());
    fs.mkdirSync(home, { recursive: true });
    // One process owns a home's emulators; another mloop command on the same home attaches to them.
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
    // Executions run in the owner: an attached process's StartExecution, PutEvents and task
    // results go to the owner's edge endpoint.
    if (!owner) {
      try {
        cloud.awsApi = await startAwsApi(cloud, {
          port: options.awsPort ?? 0,
          s3Endpoint: emulators.s3Endpoint,
          dynamoEndpoint: emulators.dynamoEndpoint,
          log: (line) => cloud.say(line),
        });
      } catch (error) {
        await emulators.stop();
        releaseRuntimeClaim(home);
        throw error;
      }
    }
    const awsEndpoint = cloud.awsEndpoint;
    if (!owner) {
      publishRuntimeOwner(home, {
        pid: process.pid,
        s3Endpoint: emulators.s3Endpoint,
        dynamoEndpoint: emulators.dynamoEndpoint,
        sfnEndpoint: awsEndpoint,
        awsEndpoint,
        startedAt: new Date().toISOString(),
      });
    }

    // The one client factory every handler uses now points at the local runtime: S3 and DynamoDB
    // at the emulators' own ports (the edge would only add a proxy hop in this process: measured,
    // +40-70% on a 64 MB GetObject and about +0.5 ms a GetItem), the other APIs at the edge.
    process.env.MLOOP_S3_ENDPOINT = emulators.s3Endpoint;
    process.env.MLOOP_DYNAMODB_ENDPOINT = emulators.dynamoEndpoint;
    process.env.MLOOP_SFN_ENDPOINT = awsEndpoint;
    process.env.MLOOP_EVENTS_ENDPOINT = awsEndpoint;
    process.env.MLOOP_SNS_ENDPOINT = awsEndpoint;
    process.env.AWS_REGION = LOCAL_REGION;
    process.env.POWERTOOLS_DEV ??= 'true';
    process.env.POWERTOOLS_LOG_LEVEL ??= process.env.MLOOP_LOG_LEVEL ?? 'WARN';
    cloud.faults = installFaultHolds(process.env, (line) => cloud.say(line));
    resetClients();

    if (!owner) await deployLocally(template, s3Client(), emulators.dynamoEndpoint); // the owner deployed the home
    emulators.onObjectEvent((record) => {
      const event = objectCreatedEvent(record);
      // publish never rejects: a target's failure is logged and fails the waiters of the key.
      if (event) void cloud.publish(event);
    });
    if (!owner) await cloud.stateMachines.recover();
    return cloud;
  }

  /** A rule target: a function is invoked with the event, a state machine starts an execution with it. */
  private async deliverTo(arn: string, event: unknown): Promise<unknown> {
    const fn = this.functions.byArn(arn);
    if (fn) return this.functions.invoke(fn, event);
    if (this.stateMachines.has(arn)) {
      const name = this.stateMachines.start(arn, event);
      return { status: 'STARTED', executionName: name, executionArn: executionArnOf(arn, name) };
    }
    throw new Error(`The rule targets ${arn}, which is neither a function nor a state machine of the template.`);
  }

  /**
   * The AWS edge endpoint (local/aws-api.ts): S3, DynamoDB, Lambda Invoke, Step Functions,
   * EventBridge, SNS, CloudFormation DescribeStacks and the REST API on one loopback port, for any
   * AWS client (`AWS_ENDPOINT_URL`). This process's, or the owner's when it attached.
   */
  get awsEndpoint(): string {
    const endpoint = this.attachedTo ? (this.attachedTo.awsEndpoint ?? this.attachedTo.sfnEndpoint) : this.awsApi?.endpoint;
    if (!endpoint) throw new Error(`The local AWS endpoint of ${this.home} is not started.`);
    return endpoint;
  }

  /** The CDK stack the template is, as DescribeStacks reports it (local/cloudformation-api.ts). */
  get localStack(): LocalStack {
    return this.template.stack;
  }

  /** The REST API's id and stage, when the template has one. */
  get restApi(): LocalRestApi | undefined {
    return this.template.restApi;
  }

  /** The template's functions, for Lambda's Invoke (local/lambda-api.ts). */
  get templateFunctions(): readonly LocalFunction[] {
    return this.template.functions;
  }

  /** Invoke a function of the template, as Lambda would with this event. */
  invokeFunction(fn: LocalFunction, event: unknown): Promise<unknown> {
    return this.functions.invoke(fn, event);
  }

  /** The data bucket and registry table, as the template's functions see them. */
  get dataBucket(): string {
    return this.functions.byId('ingest').environment.DATA_BUCKET;
  }

  get registryTable(): string {
    return this.functions.byId('ingest').environment.REGISTRY_TABLE;
  }

  /** The training pipeline's state machine (the one the dataset rule's starter starts). */
  get pipelineStateMachineArn(): string {
    return this.functions.byId('startPipeline').environment.STATE_MACHINE_ARN;
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

  /** Invoke a function of the template, as Lambda would with this event. */
  invoke(id: FunctionId, event: unknown): Promise<unknown> {
    return this.functions.invoke(this.functions.byId(id), event);
  }

  /** Invoke the function of an ARN (an API route's integration), as Lambda would with this event. */
  invokeArn(functionArn: string, event: unknown): Promise<unknown> {
    const fn = this.functions.byArn(functionArn);
    if (!fn) throw new Error(`The template has no function ${functionArn}.`);
    return this.functions.invoke(fn, event);
  }

  /** The API's routes, from the template's API Gateway resources and methods. */
  get apiRoutes(): Route[] {
    this.routes ??= apiRoutes(this.template.apiRoutes);
    return this.routes;
  }

  /** The API Gateway proxy event for a request to one of the API's routes. */
  apiEvent(method: string, url: URL, body: string | null): APIGatewayProxyEvent {
    return apiEvent(this.apiRoutes, method, url, body);
  }

  /**
   * Run the template's scheduled rules on timers (rate and cron expressions, local/schedules.ts):
   * each run writes what functions buffer (captures the drift monitor reads), then delivers the
   * Scheduled Event to the rule's targets. A target's failure goes to `onError`. Returns the stop.
   */
  startSchedules(onError: (line: string) => void): () => void {
    const stops = this.template.rules
      .filter((rule) => rule.schedule)
      .map((rule) =>
        startSchedule(rule.schedule!, (at) => {
          const ruleArn = `arn:aws:events:${LOCAL_REGION}:${LOCAL_ACCOUNT}:rule/${rule.logicalId}`;
          void this.flush()
            .then(() => this.bus.deliverToRule(rule, scheduledEvent(ruleArn, at)))
            .then((deliveries) => {
              for (const d of deliveries) if (d.status === 'FAILED') onError(`${rule.logicalId} -> ${d.target}: ${d.error}`);
            })
            .catch((error: Error) => onError(`${rule.logicalId}: ${error.message}`));
        }),
      );
    return () => stops.forEach((stop) => stop());
  }

  /** The journal of the events and messages the local EventBridge and SNS received (local/events-journal.ts). */
  get eventsJournal(): string {
    return eventsJournal(this.home);
  }

  /** Record events and messages in the journal (the local EventBridge and SNS APIs). */
  journal(lines: LocalEventLine[]): void {
    appendEvents(this.eventsJournal, lines);
  }

  /** A task token's result (SendTaskSuccess, SendTaskFailure), for the execution that waits for it, in any process on the home. */
  sendTaskResult(token: string, result: TaskResult): void {
    writeTaskResult(taskTokensDir(this.home), token, result);
  }

  /** Put an event on the local bus (see LocalEventBus.publish). */
  publish(event: EventBridgeEvent): Promise<Delivery[]> {
    return this.bus.publish(event);
  }

  /** Resolves with the execution that the next event for `key` starts. Register before the upload. */
  nextExecutionFor(key: string): Promise<string> {
    return this.bus.nextExecutionFor(key);
  }

  startExecution(stateMachineArn: string, input: unknown, name?: string): string {
    return this.stateMachines.start(stateMachineArn, input, name);
  }

  hasStateMachine(stateMachineArn: string): boolean {
    return this.stateMachines.has(stateMachineArn);
  }

  /** An execution of any process on this home, as DescribeExecution reports it. */
  /** An execution's history (GetExecutionHistory): its states as this process ran them, or its start and end. */
  executionHistory(executionArn: string): readonly HistoryEvent[] | undefined {
    return this.stateMachines.history(executionArn);
  }

  describeExecution(executionArn: string): ExecutionDescription | undefined {
    return this.stateMachines.describe(executionArn);
  }

  /** The executions of a state machine, from any process on this home, newest first (ListExecutions). */
  listExecutions(stateMachineArn: string): ExecutionDescription[] {
    return this.stateMachines.list(stateMachineArn);
  }

  execution(name: string): Promise<ExecutionResult> {
    return this.stateMachines.execution(name);
  }

  /** Wait for every execution started so far. */
  async settle(): Promise<ExecutionResult[]> {
    await this.bus.settle(); // events on their way may still start executions
    return this.stateMachines.settle();
  }

  /** Write what loaded handlers buffer (see LocalFunctions.flush). */
  flush(): Promise<void> {
    return this.functions.flush();
  }

  async stop(): Promise<void> {
    await this.settle();
    await this.functions.stop();
    await this.awsApi?.stop();
    await this.emulators.stop();
    if (!this.attachedTo) releaseRuntimeClaim(this.home);
    resetClients();
  }
}
