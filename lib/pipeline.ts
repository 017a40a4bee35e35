/**
 * The training pipeline: the Step Functions state graph that runs the loop's stages in order
 * (ingestion from lib/data.ts, training from lib/training.ts, evaluation and registration from
 * lib/registry.ts, approval from lib/approval.ts) and its triggers: the S3 -> EventBridge rule
 * and the starter function for a dropped dataset, the execution-ended rule and function that
 * give back what an execution held. The triggers' handlers are in lambdas/pipeline/.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DATASETS_PREFIX } from '../lambdas/shared/layout';
import { approvalSteps, DEFAULT_APPROVAL_TIMEOUT, type ApprovalOptions } from './approval';
import type { DataLake, DatasetIngestion } from './data';
import { FUNCTIONS, type FunctionId } from './function-catalog';
import { lambdaTask } from './lambda-task';
import { MloopFunction } from './mloop-function';
import { acknowledge, acknowledgeFunctionDefaults, arnToken } from './nag';
import type { PipelineStages } from './registry';
import type { ModelTraining } from './training';

/** How often an execution waiting for its model's training slot runs Ingest again. */
export const TRAINING_SLOT_POLL_SECONDS = 60;

export interface TrainingPipelineProps extends ApprovalOptions {
  readonly dataLake: DataLake;
  readonly table: dynamodb.ITableV2;
  /** The ingestion stage: Ingest and IngestParts (lib/data.ts). */
  readonly ingestion: DatasetIngestion;
  /** The training stage: its two states, code version and job limit (lib/training.ts). */
  readonly training: ModelTraining;
  /** The registry's stages: Evaluate, Register, RecordFailure (ModelRegistry.addPipelineStages). */
  readonly stages: PipelineStages;
}

/**
 * The training pipeline: a Step Functions state machine (JSONPath) that a dataset drop starts.
 *
 *   Ingest λ ─► New dataset? ─► Train (SageMaker CreateTrainingJob .sync) ─► Evaluate λ ─► Gate
 *                  ├─ duplicate bytes: succeed             promote ◄─┴─► register only
 *                  ├─ too big for one pass (PARTS): Scan dataset in parts ─► Merge parts ─► New dataset?
 *                  ├─ a new version in parts (SPLITS): Split parts ─► Finish ingest ─► New dataset?
 *                  ├─ schema.json or hyperparameters.json: succeed
 *                  └─ model's training slot busy: Wait for training slot ─► Ingest again
 *   any failure ─► Record failure λ ─► Fail (the champion is never touched on this path)
 *
 * With `requireApproval`, a better candidate takes the approval branch (lib/approval.ts) instead
 * of 'Register and promote'.
 */
export class TrainingPipeline extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly rule: events.Rule;
  /**
   * The rule's target: starts the state machine with the event, under an execution name made
   * from the object version, so that a repeated delivery starts nothing (lambdas/pipeline/start.ts).
   */
  readonly starter: MloopFunction<'startPipeline'>;
  /** Gives back what a stopped or timed-out execution held (lambdas/pipeline/ended.ts), on its status-change event. */
  readonly cleanup: MloopFunction<'executionEnded'>;
  readonly endedRule: events.Rule;
  /** Dataset events that could not start the pipeline (delivery or the starter failed): the events themselves. */
  readonly deadLetterQueue: sqs.Queue;
  /** The role the training jobs run as (ModelTraining's). */
  readonly trainingRole: iam.IRole;
  /** The stage functions the state machine invokes (built by the data and registry constructs). */
  readonly functions: {
    readonly ingest: MloopFunction<'ingest'>;
    readonly ingestParts: MloopFunction<'ingestParts'>;
    readonly evaluate: MloopFunction<'evaluate'>;
    readonly register: MloopFunction<'register'>;
    readonly recordFailure: MloopFunction<'recordFailure'>;
  };
  /** SHA-256 of the training code, recorded with every model version. */
  readonly codeVersion: string;
  /** Whether promotions wait for a manual approval. */
  readonly requireApproval: boolean;

  constructor(scope: Construct, id: string, props: TrainingPipelineProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const bucket = props.dataLake.bucket;
    const { ingest, ingestParts } = props.ingestion;
    const { evaluate, register, recordFailure } = props.stages;
    const training = props.training;
    this.functions = { ingest, ingestParts, evaluate, register, recordFailure };
    this.trainingRole = training.trainingRole;
    this.codeVersion = training.codeVersion;
    const env = { DATA_BUCKET: bucket.bucketName, REGISTRY_TABLE: props.table.tableName };

    const execution = sfn.JsonPath.stringAt('$$.Execution.Name');
    const ingestTask = lambdaTask(this, 'Ingest dataset', {
      lambdaFunction: ingest,
      payloadResponseOnly: true,
      taskTimeout: stageTimeout(ingest),
      payload: sfn.TaskInput.fromObject({
        detail: sfn.JsonPath.objectAt('$.detail'),
        eventId: sfn.JsonPath.stringAt('$.id'),
        eventTime: sfn.JsonPath.stringAt('$.time'),
        execution,
      }),
      resultPath: '$.ingest',
    });

    const trainTask = training.trainTask;

    const evaluateTask = lambdaTask(this, 'Evaluate candidate', {
      lambdaFunction: evaluate,
      payloadResponseOnly: true,
      taskTimeout: stageTimeout(evaluate),
      payload: sfn.TaskInput.fromObject({
        execution,
        ingest: sfn.JsonPath.objectAt('$.ingest'),
        training: sfn.JsonPath.objectAt('$.training'),
      }),
      resultPath: '$.evaluation',
    });

    const registerTask = (name: string, promote: boolean) =>
      lambdaTask(this, name, {
        lambdaFunction: register,
        payloadResponseOnly: true,
        taskTimeout: stageTimeout(register),
        payload: sfn.TaskInput.fromObject({
          execution,
          promote,
          codeVersion: this.codeVersion,
          ingest: sfn.JsonPath.objectAt('$.ingest'),
          training: sfn.JsonPath.objectAt('$.training'),
          evaluation: sfn.JsonPath.objectAt('$.evaluation'),
        }),
        resultPath: '$.registration',
      });
    const promoteTask = registerTask('Register and promote', true);
    const keepTask = registerTask('Register without promotion', false);

    const failed = new sfn.Fail(this, 'Pipeline failed', {
      errorPath: '$.failure.error',
      causePath: '$.failure.reason',
    });
    const recordFailureTask = lambdaTask(this, 'Record failure', {
      lambdaFunction: recordFailure,
      payloadResponseOnly: true,
      taskTimeout: stageTimeout(recordFailure),
      payload: sfn.TaskInput.fromObject({ execution, state: sfn.JsonPath.objectAt('$') }),
      resultPath: '$.failure',
    }).next(failed);

    // A file too big for one pass (Ingest answers PARTS): its parts are scanned in a Distributed
    // Map beside one sequential pass that hashes it; Merge parts adds them up and answers as Ingest
    // does, or SPLITS for a new version, whose parts another Distributed Map splits.
    const plan = sfn.JsonPath.stringAt('$.ingest.plan');
    const partsTask = (name: string, payload: Record<string, unknown>, resultPath?: string) =>
      lambdaTask(this, name, {
        lambdaFunction: ingestParts,
        payloadResponseOnly: true,
        taskTimeout: stageTimeout(ingestParts),
        payload: sfn.TaskInput.fromObject(payload),
        ...(resultPath !== undefined ? { resultPath } : {}),
      });
    const partsMap = (name: string, itemSelector: Record<string, unknown>, resultPath: string) =>
      new sfn.DistributedMap(this, name, {
        itemsPath: sfn.JsonPath.stringAt('$.ingest.parts'),
        itemSelector: { ...itemSelector, part: sfn.JsonPath.objectAt('$$.Map.Item.Value') },
        maxConcurrency: props.ingestion.parts.maxConcurrency,
        // No failed item is tolerated (toleratedFailure stays 0): a part whose invocation is
        // throttled is retried with backoff by its task (lib/lambda-task.ts), and one that still
        // fails fails the map, whose Catch records the run as failed.
        toleratedFailurePercentage: 0,
        // Each part runs up to the function's 15 minutes: child executions must be STANDARD.
        mapExecutionType: sfn.StateMachineType.STANDARD,
        resultPath,
      });
    const scanParts = partsMap('Scan parts', { plan }, sfn.JsonPath.DISCARD).itemProcessor(
      partsTask('Scan part', { action: 'scan', plan: sfn.JsonPath.stringAt('$.plan'), part: sfn.JsonPath.objectAt('$.part') }),
    );
    // CDK grants the role what Distributed Maps need (states:StartExecution on this machine,
    // Describe/Stop on its executions) for 'Split parts', at the top level; a Distributed Map inside
    // a Parallel state alone would get no such policy (aws/aws-cdk#29266). A test checks it.
    const scanInParts = new sfn.Parallel(this, 'Scan dataset in parts', {
      resultPath: '$.partsScan',
      // The hash branch's answer; the Map's results are in S3 (one scan per part).
      resultSelector: { 'hash.$': '$[0]' },
    })
      .branch(partsTask('Hash dataset', { action: 'hash', plan }))
      .branch(scanParts);
    const mergeParts = partsTask('Merge parts', { action: 'merge', plan, hash: sfn.JsonPath.objectAt('$.partsScan.hash') }, '$.ingest');
    const splitParts = partsMap(
      'Split parts',
      { plan, datasetVersion: sfn.JsonPath.numberAt('$.ingest.datasetVersion') },
      '$.splitCounts',
    ).itemProcessor(
      partsTask('Split part', {
        action: 'split',
        plan: sfn.JsonPath.stringAt('$.plan'),
        datasetVersion: sfn.JsonPath.numberAt('$.datasetVersion'),
        part: sfn.JsonPath.objectAt('$.part'),
      }),
    );
    const finishIngest = partsTask(
      'Finish ingest',
      {
        action: 'finish',
        plan,
        datasetVersion: sfn.JsonPath.numberAt('$.ingest.datasetVersion'),
        splitCounts: sfn.JsonPath.listAt('$.splitCounts'),
      },
      '$.ingest',
    );

    // With approval, a better candidate takes the approval branch: 'Register and promote' is left out of the graph.
    for (const task of [
      scanInParts,
      mergeParts,
      splitParts,
      finishIngest,
      ingestTask,
      trainTask,
      evaluateTask,
      ...(props.requireApproval ? [] : [promoteTask]),
      keepTask,
    ]) {
      task.addCatch(recordFailureTask, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
    }

    const done = new sfn.Succeed(this, 'Model registered');
    this.requireApproval = props.requireApproval ?? false;
    const approvalTimeout = props.approvalTimeout ?? DEFAULT_APPROVAL_TIMEOUT;
    const approval = this.requireApproval
      ? approvalSteps(this, { register, codeVersion: this.codeVersion, onFailure: recordFailureTask, done, timeout: approvalTimeout })
      : undefined;
    const newDataset = new sfn.Choice(this, 'New dataset?');
    const definition = ingestTask.next(
      newDataset
        .when(sfn.Condition.stringEquals('$.ingest.status', 'DUPLICATE'), new sfn.Succeed(this, 'Duplicate dataset'))
        .when(sfn.Condition.stringEquals('$.ingest.status', 'PARTS'), scanInParts.next(mergeParts).next(newDataset))
        .when(sfn.Condition.stringEquals('$.ingest.status', 'SPLITS'), splitParts.next(finishIngest).next(newDataset))
        // schema.json or hyperparameters.json beside the data: checked by ingest, nothing to train.
        .when(sfn.Condition.stringEquals('$.ingest.status', 'CONFIG'), new sfn.Succeed(this, 'Configuration file'))
        // One execution trains a model at a time: while another holds the model's training slot,
        // wait and run Ingest again (its retry path keeps this dataset version and retries the
        // slot). Ingest bounds the loop: past trainingSlotWait it fails the run, recorded
        // (lambdas/data/slot-wait.ts), before the execution's timeout, which counts the wait apart.
        .when(
          sfn.Condition.and(
            sfn.Condition.stringEquals('$.ingest.status', 'ACCEPTED'),
            sfn.Condition.stringEquals('$.ingest.trainingSlot', 'busy'),
          ),
          new sfn.Wait(this, 'Wait for training slot', { time: sfn.WaitTime.duration(Duration.seconds(TRAINING_SLOT_POLL_SECONDS)) }).next(
            ingestTask,
          ),
        )
        .otherwise(
          training.resolveHyperparameters
            .next(trainTask)
            .next(evaluateTask)
            .next(
              new sfn.Choice(this, 'Better than champion?')
                .when(sfn.Condition.booleanEquals('$.evaluation.decision.better', true), approval ? approval.start : promoteTask.next(done))
                .otherwise(keepTask.next(done)),
            ),
        ),
    );

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      queryLanguage: sfn.QueryLanguage.JSON_PATH,
      stateMachineType: sfn.StateMachineType.STANDARD,
      // The run's own time (training, plus an hour for the other stages and the approval) and,
      // apart, the longest it may wait for its model's training slot, which Ingest bounds.
      timeout: training.jobLimit
        .plus(Duration.hours(1))
        .plus(approval ? approvalTimeout : Duration.seconds(0))
        .plus(props.ingestion.trainingSlotWait),
      tracingEnabled: true,
      logs: {
        destination: new logs.LogGroup(this, 'StateMachineLogs', { retention: logs.RetentionDays.THREE_MONTHS }),
        level: sfn.LogLevel.ALL,
        includeExecutionData: true,
      },
    });

    for (const fn of [ingest, ingestParts, evaluate, register, recordFailure]) {
      acknowledge(
        this.stateMachine,
        `AwsSolutions-IAM5[Resource::${arnToken(fn)}:*]`,
        'The state machine may invoke any version or alias of its own stage function (CDK adds the qualifier wildcard to LambdaInvoke).',
      );
    }
    // The Distributed Maps run their items as child executions of this state machine (CDK's
    // DistributedMapPolicy: states:StartExecution on the machine, Describe/Stop on its executions).
    const machineName = `{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${stack.getLogicalId(this.stateMachine.node.defaultChild as sfn.CfnStateMachine)}"}]}]}`;
    for (const suffix of [':*', '/*:*']) {
      acknowledge(
        this.stateMachine,
        `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${machineName}${suffix}]`,
        "The Distributed Map states ('Scan parts', 'Split parts') describe and stop their own child executions, whose names Step Functions makes at run time; the statement is bound to this state machine's executions.",
      );
    }
    acknowledge(
      this.stateMachine,
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/*]',
      'Training job names come from the execution state (one per dataset version); CDK scopes the .sync integration to training jobs of this account and region.',
    );
    acknowledge(
      this.stateMachine,
      'AwsSolutions-IAM5[Resource::*]',
      'sagemaker:ListTags (needed by the .sync integration) and X-Ray tracing support no resource-level permissions.',
    );

    // A dataset dropped under datasets/<model>/ starts the pipeline for that model, through the
    // starter rather than a state-machine target: S3 may deliver an event more than once, and
    // the starter names the execution after the object version, so one version runs once.
    this.deadLetterQueue = new sqs.Queue(this, 'DatasetEventsDeadLetter', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.starter = new MloopFunction(this, 'StartPipeline', {
      functionId: 'startPipeline',
      environment: { ...env, STATE_MACHINE_ARN: this.stateMachine.stateMachineArn },
      // The function's own failures (after Lambda's two retries) land beside EventBridge's.
      deadLetterQueue: this.deadLetterQueue,
    });
    this.starter.configureAsyncInvoke({ retryAttempts: 2, maxEventAge: Duration.hours(6) });
    this.stateMachine.grantStartExecution(this.starter);
    acknowledgeFunctionDefaults(this.starter);
    this.rule = new events.Rule(this, 'DatasetDropped', {
      description: 'mloop: start the training pipeline when a dataset lands under datasets/',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [bucket.bucketName] },
          object: { key: [{ prefix: DATASETS_PREFIX }] },
        },
      },
      // EventBridge retries a delivery that Lambda refuses (throttling), then dead-letters it.
      targets: [
        new targets.LambdaFunction(this.starter, {
          retryAttempts: 8,
          maxEventAge: Duration.hours(2),
          deadLetterQueue: this.deadLetterQueue,
        }),
      ],
    });

    // Whatever way an execution ends, its training lease and any content claim it made without
    // finishing the ingestion are given back when Step Functions reports the end: a stopped or
    // timed-out execution runs no Catch, a FAILED one may have failed where no Catch can take it
    // (States.DataLimitExceeded), and a SUCCEEDED one gave them back already (the event is then
    // a no-op), so no path leaves a lease to its TTL.
    this.cleanup = new MloopFunction(this, 'ExecutionEnded', { functionId: 'executionEnded', environment: env });
    props.table.grantReadWriteData(this.cleanup);
    acknowledgeFunctionDefaults(this.cleanup, props.table);
    this.endedRule = new events.Rule(this, 'ExecutionEndedRule', {
      description: 'mloop: give back what a pipeline execution held when it ends, however it ends',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [this.stateMachine.stateMachineArn], status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] },
      },
      targets: [
        new targets.LambdaFunction(this.cleanup, {
          retryAttempts: 8,
          maxEventAge: Duration.hours(6),
          deadLetterQueue: this.deadLetterQueue,
        }),
      ],
    });
  }
}

/** A Task waits as long as its function may run (Step Functions' own default is 99999999 s). */
function stageTimeout(fn: MloopFunction<FunctionId>): sfn.Timeout {
  return sfn.Timeout.duration(Duration.seconds(FUNCTIONS[fn.functionId].timeoutSeconds + 30));
}
