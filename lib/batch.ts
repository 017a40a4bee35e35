/**
 * Batch scoring: a file dropped under `batch/<model>/` is scored row by row by the model's
 * serving version, at any size. The batch state machine, its trigger (the S3 -> EventBridge rule
 * and the starter function, one execution per object version) and its functions; the handlers
 * are in lambdas/batch/.
 *
 *   Plan batch λ ─► Score parts (Distributed Map of Score part λ) ─► Merge batch λ ─► done
 *              └──► Already scored (the same bytes and version scored before: DUPLICATE, that run's answer)
 *   any failure ─► Report failure λ ─► Batch failed
 *   an execution that ends ABORTED, TIMED_OUT or FAILED ─► (rule) Batch λ: Failed event, unless reported
 *
 * The merge publishes `Batch Scoring Completed`, Report failure `Batch Scoring Failed`, where the
 * registry's events go: the stack gives the function the bus and the topic
 * (ModelRegistry.publishEventsFrom); without them the run publishes nothing.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { BATCH_PARTS_PREFIX, BATCH_PREFIX, CAPTURE_PREFIX, ERRORS_PREFIX, PREDICTIONS_PREFIX } from '../lambdas/shared/layout';
import type { DataLake } from './data';
import { FUNCTIONS } from './function-catalog';
import { lambdaTask } from './lambda-task';
import { MloopFunction } from './mloop-function';
import { acknowledge, acknowledgeBucketGrants, acknowledgeFunctionDefaults, arnToken } from './nag';

export interface BatchScoringProps {
  readonly dataLake: DataLake;
  /** The registry table: aliases and versions the runs resolve. */
  readonly table: dynamodb.ITableV2;
  /**
   * The size of each part of a CSV or JSON Lines file (Parquet: runs of row groups of about this
   * size; gzip files are one part).
   * @default 64 MiB
   */
  readonly partBytes?: number;
  /**
   * How many parts are scored at once (the Distributed Map's MaxConcurrency).
   * @default 100
   */
  readonly maxConcurrency?: number;
}

export class BatchScoring extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly rule: events.Rule;
  /** Executions that end ABORTED, TIMED_OUT or FAILED, to the batch function (lambdas/batch/ended.ts). */
  readonly endedRule: events.Rule;
  /** Starts the state machine once per object version (lambdas/batch/start-handler.ts). */
  readonly starter: MloopFunction<'startBatch'>;
  /** Plan batch, Score part and Merge batch (lambdas/batch/batch-handler.ts). */
  readonly function: MloopFunction<'batch'>;
  /** Batch file events that could not start a run: the events themselves. */
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: BatchScoringProps) {
    super(scope, id);
    const maxConcurrency = props.maxConcurrency ?? 100;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1 || maxConcurrency > 10000)
      throw new Error(
        `BatchScoring maxConcurrency must be an integer from 1 to 10000 (the Distributed Map's limit), got ${maxConcurrency}.`,
      );
    if (props.partBytes !== undefined && !(Number.isInteger(props.partBytes) && props.partBytes >= 1024))
      throw new Error(`BatchScoring partBytes must be an integer of at least 1024, got ${props.partBytes}.`);
    const stack = Stack.of(this);
    const bucket = props.dataLake.bucket;
    const env = { DATA_BUCKET: bucket.bucketName, REGISTRY_TABLE: props.table.tableName };

    this.function = new MloopFunction(this, 'Batch', {
      functionId: 'batch',
      environment: { ...env, ...(props.partBytes !== undefined ? { PART_BYTES: String(props.partBytes) } : {}) },
    });
    const fn = this.function;
    // Least privilege: the files to score, the models, and what a run writes; the registry read-only.
    bucket.grantRead(fn, `${BATCH_PREFIX}*`);
    bucket.grantRead(fn, 'models/*');
    bucket.grantRead(fn, `${BATCH_PARTS_PREFIX}*`);
    bucket.grantPut(fn, `${BATCH_PARTS_PREFIX}*`);
    bucket.grantPut(fn, `${PREDICTIONS_PREFIX}*`);
    bucket.grantPut(fn, `${ERRORS_PREFIX}*`);
    // The merge writes a sample of the scored rows where the drift monitor reads captures.
    bucket.grantPut(fn, `${CAPTURE_PREFIX}*`);
    props.table.grantReadData(fn);
    acknowledgeBucketGrants(
      fn,
      bucket,
      [`${BATCH_PREFIX}*`, 'models/*', `${BATCH_PARTS_PREFIX}*`, `${PREDICTIONS_PREFIX}*`, `${ERRORS_PREFIX}*`, `${CAPTURE_PREFIX}*`],
      ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:Abort*'],
    );
    acknowledgeFunctionDefaults(fn, props.table);

    const timeout = sfn.Timeout.duration(Duration.seconds(FUNCTIONS.batch.timeoutSeconds + 30));
    const task = (name: string, payload: Record<string, unknown>, resultPath?: string) =>
      lambdaTask(this, name, {
        lambdaFunction: fn,
        payloadResponseOnly: true,
        taskTimeout: timeout,
        payload: sfn.TaskInput.fromObject(payload),
        ...(resultPath !== undefined ? { resultPath } : {}),
      });
    const planTask = task(
      'Plan batch',
      { action: 'plan', execution: sfn.JsonPath.stringAt('$$.Execution.Name'), detail: sfn.JsonPath.objectAt('$.detail') },
      '$.plan',
    );
    const scoreParts = new sfn.DistributedMap(this, 'Score parts', {
      itemsPath: sfn.JsonPath.stringAt('$.plan.parts'),
      itemSelector: { plan: sfn.JsonPath.stringAt('$.plan.plan'), part: sfn.JsonPath.objectAt('$$.Map.Item.Value') },
      maxConcurrency,
      // No failed part is tolerated: a throttled one is retried (lib/lambda-task.ts), one that still fails fails the run.
      toleratedFailurePercentage: 0,
      mapExecutionType: sfn.StateMachineType.STANDARD,
      resultPath: '$.parts',
    }).itemProcessor(task('Score part', { action: 'score', plan: sfn.JsonPath.stringAt('$.plan'), part: sfn.JsonPath.objectAt('$.part') }));
    const mergeTask = task(
      'Merge batch',
      { action: 'merge', plan: sfn.JsonPath.stringAt('$.plan.plan'), parts: sfn.JsonPath.listAt('$.parts') },
      '$.result',
    );
    const failed = new sfn.Fail(this, 'Batch failed', { errorPath: '$.error.Error', causePath: '$.error.Cause' });
    // The Failed event: a notification; whether it goes out or not, the run fails with the error it caught.
    const reportFailure = task(
      'Report failure',
      {
        action: 'failed',
        execution: sfn.JsonPath.stringAt('$$.Execution.Name'),
        detail: sfn.JsonPath.objectAt('$.detail'),
        error: sfn.JsonPath.objectAt('$.error'),
      },
      sfn.JsonPath.DISCARD,
    );
    reportFailure.addCatch(failed, { errors: [sfn.Errors.ALL], resultPath: '$.reportError' });
    reportFailure.next(failed);
    for (const state of [planTask, scoreParts, mergeTask])
      state.addCatch(reportFailure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
    // A re-drop of bytes the same version scored already: the earlier run's answer, nothing scored again.
    const alreadyScored = new sfn.Succeed(this, 'Already scored', { outputPath: '$.plan.duplicate' });
    const definition = planTask.next(
      new sfn.Choice(this, 'Scored before?')
        .when(sfn.Condition.isPresent('$.plan.duplicate'), alreadyScored)
        .otherwise(scoreParts.next(mergeTask).next(new sfn.Succeed(this, 'Batch scored', { outputPath: '$.result' }))),
    );

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      queryLanguage: sfn.QueryLanguage.JSON_PATH,
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: Duration.hours(12),
      tracingEnabled: true,
      logs: {
        destination: new logs.LogGroup(this, 'StateMachineLogs', { retention: logs.RetentionDays.THREE_MONTHS }),
        level: sfn.LogLevel.ALL,
        includeExecutionData: true,
      },
    });
    acknowledge(
      this.stateMachine,
      `AwsSolutions-IAM5[Resource::${arnToken(fn)}:*]`,
      'The state machine may invoke any version or alias of its own batch function (CDK adds the qualifier wildcard to LambdaInvoke).',
    );
    const machineName = `{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${stack.getLogicalId(this.stateMachine.node.defaultChild as sfn.CfnStateMachine)}"}]}]}`;
    for (const suffix of [':*', '/*:*']) {
      acknowledge(
        this.stateMachine,
        `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${machineName}${suffix}]`,
        "The Distributed Map state 'Score parts' describes and stops its own child executions, whose names Step Functions makes at run time; the statement is bound to this state machine's executions.",
      );
    }
    acknowledge(this.stateMachine, 'AwsSolutions-IAM5[Resource::*]', 'X-Ray tracing supports no resource-level permissions.');

    this.deadLetterQueue = new sqs.Queue(this, 'BatchEventsDeadLetter', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.starter = new MloopFunction(this, 'StartBatch', {
      functionId: 'startBatch',
      environment: { ...env, STATE_MACHINE_ARN: this.stateMachine.stateMachineArn },
      deadLetterQueue: this.deadLetterQueue,
    });
    this.starter.configureAsyncInvoke({ retryAttempts: 2, maxEventAge: Duration.hours(6) });
    this.stateMachine.grantStartExecution(this.starter);
    acknowledgeFunctionDefaults(this.starter);
    this.rule = new events.Rule(this, 'BatchFileDropped', {
      description: 'mloop: score a file dropped under batch/<model>/',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: { bucket: { name: [bucket.bucketName] }, object: { key: [{ prefix: BATCH_PREFIX }] } },
      },
      targets: [
        new targets.LambdaFunction(this.starter, {
          retryAttempts: 8,
          maxEventAge: Duration.hours(2),
          deadLetterQueue: this.deadLetterQueue,
        }),
      ],
    });
    // A stopped or timed-out execution runs no Catch, and a FAILED one may have failed where no
    // Catch takes it: Step Functions' status change tells the batch function, which publishes
    // `Batch Scoring Failed` unless the run's failure path did (lambdas/batch/ended.ts).
    this.endedRule = new events.Rule(this, 'BatchExecutionEnded', {
      description: 'mloop: report a batch scoring execution that was stopped, timed out or failed outside its failure path',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [this.stateMachine.stateMachineArn], status: ['ABORTED', 'TIMED_OUT', 'FAILED'] },
      },
      targets: [
        new targets.LambdaFunction(fn, {
          retryAttempts: 8,
          maxEventAge: Duration.hours(6),
          deadLetterQueue: this.deadLetterQueue,
        }),
      ],
    });
  }
}
