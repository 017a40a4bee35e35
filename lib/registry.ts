/**
 * The registry concern: the model registry (the DynamoDB table, the events topic, the admin
 * function the CLI's `models` commands invoke) and the pipeline's registry stages, Evaluate (the
 * champion/challenger gate), Register and RecordFailure. Their handlers are in lambdas/registry/
 * (models-handler.ts, evaluate-handler.ts, register-handler.ts, record-failure-handler.ts).
 */
import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { gateConfigSchema } from '../lambdas/registry/gate';
import { s3Keys } from '../lambdas/shared/layout';
import { MloopFunction } from './mloop-function';
import { acknowledge, acknowledgeBucketGrants, acknowledgeFunctionDefaults } from './nag';

export interface ModelRegistryProps {
  /**
   * What happens to the registry when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * The data bucket, named in the admin function's environment (its contract requires it; the
   * function reads and writes no object).
   * @default - no admin function (promote, rollback, history, lineage, approve, reject)
   */
  readonly dataBucket?: s3.IBucket;
}

/** The gate between a candidate and the champion: the registry part of `MloopStackProps.training`. */
export interface ModelGateOptions {
  /**
   * How much better than the champion a candidate must score on the primary metric to replace it.
   * @default 0 (strictly better)
   */
  readonly minImprovement?: number;
  /**
   * Per-model gate margins that replace `minImprovement` for the models named, e.g.
   * `{ churn: { minImprovement: 0.01 } }`.
   * @default - every model uses minImprovement
   */
  readonly gateByModel?: Record<string, { readonly minImprovement: number }>;
}

export interface PipelineStagesProps extends ModelGateOptions {
  /** The data bucket: Evaluate reads the artifacts, splits and champions, Register the candidates. */
  readonly bucket: s3.IBucket;
  /**
   * The key SageMaker encrypts the model artifacts with (ModelTrainingOptions.outputEncryptionKey):
   * Evaluate, which reads them, may decrypt with it.
   * @default - the data bucket's default encryption
   */
  readonly artifactsKey?: kms.IKey;
}

/** The registry's stages of the training pipeline, the functions its states invoke. */
export interface PipelineStages {
  /** Scores the candidate and the champion on the test split and applies the gate. */
  readonly evaluate: MloopFunction<'evaluate'>;
  /** Registers the version and moves the champion alias (or waits for an approval); publishes registry events. */
  readonly register: MloopFunction<'register'>;
  /** Records a failed run with its reason; the champion is never touched on that path. */
  readonly recordFailure: MloopFunction<'recordFailure'>;
}

/** Check the gate options at synth, with a sentence that names the field. */
export function checkGateOptions(options: ModelGateOptions): void {
  if (options.minImprovement !== undefined && !(options.minImprovement >= 0)) {
    throw new Error(`minImprovement must be a number >= 0, got ${options.minImprovement}.`);
  }
  for (const [model, gate] of Object.entries(options.gateByModel ?? {})) {
    const parsed = gateConfigSchema.safeParse({ [model]: gate });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(
        `gateByModel.${issue.path.join('.')}: ${issue.message} (model names are lower-case letters, digits and hyphens; minImprovement >= 0).`,
      );
    }
  }
}

/**
 * The model registry: one DynamoDB table holding, per model, its dataset versions, model
 * versions, aliases and their history, pipeline runs and drift records (item shapes in
 * lambdas/shared/registry/, one file per kind; keys in lambdas/shared/layout.ts). On-demand, point-in-time
 * recovery, deletion protection.
 *
 * Registry events (lambdas/shared/events.ts) go to the account's default EventBridge bus (source
 * `mloop.registry`) and to `topic`, an SNS topic for people (KMS-encrypted, TLS only): subscribe an
 * e-mail address or a chat integration to it. `models` is the admin function the CLI's `models`
 * commands invoke. `addPipelineStages` adds the training pipeline's registry stages (Evaluate,
 * Register, RecordFailure), which lib/pipeline.ts invokes.
 */
export class ModelRegistry extends Construct {
  readonly table: dynamodb.TableV2;
  /** Registry events for people: registrations and alias moves. */
  readonly topic: sns.Topic;
  /** The key that encrypts the topic. */
  readonly topicKey: kms.Key;
  /** Promote, roll back, approve, reject; alias history and lineage (undefined without `dataBucket`). */
  readonly models?: MloopFunction<'models'>;

  constructor(scope: Construct, id: string, props: ModelRegistryProps = {}) {
    super(scope, id);
    this.table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: (props.removalPolicy ?? RemovalPolicy.RETAIN) === RemovalPolicy.RETAIN,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      globalSecondaryIndexes: [
        {
          // One entry per model (its META item), so the monitor lists models without a Scan.
          indexName: 'byKind',
          partitionKey: { name: 'kind', type: dynamodb.AttributeType.STRING },
          sortKey: { name: 'model', type: dynamodb.AttributeType.STRING },
          projectionType: dynamodb.ProjectionType.KEYS_ONLY,
        },
      ],
    });

    this.topicKey = new kms.Key(this, 'TopicKey', {
      description: 'mloop: encrypts the registry events topic',
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.topic = new sns.Topic(this, 'Events', {
      displayName: 'mloop registry events',
      masterKey: this.topicKey,
      enforceSSL: true,
    });

    if (props.dataBucket) {
      this.models = new MloopFunction(this, 'Models', {
        functionId: 'models',
        environment: { DATA_BUCKET: props.dataBucket.bucketName, REGISTRY_TABLE: this.table.tableName },
      });
      this.table.grantReadWriteData(this.models);
      this.publishEventsFrom(this.models);
      acknowledgeFunctionDefaults(this.models, this.table);
    }
  }

  /**
   * Add the training pipeline's registry stages: Evaluate (the gate: MIN_IMPROVEMENT, GATE_CONFIG),
   * Register (publishes registry events) and RecordFailure. Each reaches only the prefixes its
   * stage reads and writes.
   */
  addPipelineStages(props: PipelineStagesProps): PipelineStages {
    checkGateOptions(props);
    const bucket = props.bucket;
    const env = { DATA_BUCKET: bucket.bucketName, REGISTRY_TABLE: this.table.tableName };
    const evaluate = new MloopFunction(this, 'Evaluate', {
      functionId: 'evaluate',
      environment: {
        ...env,
        MIN_IMPROVEMENT: String(props.minImprovement ?? 0),
        ...(props.gateByModel ? { GATE_CONFIG: JSON.stringify(props.gateByModel) } : {}),
      },
    });
    const register = new MloopFunction(this, 'Register', { functionId: 'register', environment: env });
    const recordFailure = new MloopFunction(this, 'RecordFailure', { functionId: 'recordFailure', environment: env });

    bucket.grantRead(evaluate, `${s3Keys.trainingOutput}*`);
    props.artifactsKey?.grantDecrypt(evaluate);
    bucket.grantRead(evaluate, 'splits/*');
    bucket.grantRead(evaluate, 'models/*');
    bucket.grantPut(evaluate, 'candidates/*');
    this.table.grantReadData(evaluate);

    bucket.grantRead(register, 'candidates/*');
    bucket.grantPut(register, 'models/*');
    this.table.grantReadWriteData(register);

    this.table.grantWriteData(recordFailure);

    const actions = ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:Abort*'];
    acknowledgeBucketGrants(evaluate, bucket, ['training/*', 'splits/*', 'models/*', 'candidates/*'], actions);
    acknowledgeBucketGrants(register, bucket, ['candidates/*', 'models/*'], actions);
    for (const fn of [evaluate, register, recordFailure]) acknowledgeFunctionDefaults(fn, this.table);
    // Registrations and alias moves are published as registry events.
    this.publishEventsFrom(register);

    return { evaluate, register, recordFailure };
  }

  /**
   * Let a function publish registry events: its environment names the bus and the topic
   * (EVENT_BUS_NAME, TOPIC_ARN), and it may put events on the default bus and publish to the topic.
   */
  publishEventsFrom(fn: MloopFunction<'register' | 'models' | 'batch'>): void {
    const stack = Stack.of(this);
    fn.addEnvironment('EVENT_BUS_NAME', 'default');
    fn.addEnvironment('TOPIC_ARN', this.topic.topicArn);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['events:PutEvents'],
        resources: [
          stack.formatArn({ service: 'events', resource: 'event-bus', resourceName: 'default', arnFormat: ArnFormat.SLASH_RESOURCE_NAME }),
        ],
      }),
    );
    this.topic.grantPublish(fn);
    acknowledge(
      fn,
      'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      "Publishing to the KMS-encrypted events topic needs the key's data-key actions (CDK's Topic.grantPublish); the grant is bound to the topic's own key.",
    );
  }

  /**
   * Let the admin function resume a pipeline that waits for a manual approval (SendTaskSuccess,
   * SendTaskFailure on this state machine only).
   */
  allowApprovals(stateMachine: sfn.IStateMachine): void {
    if (!this.models) throw new Error('allowApprovals needs the admin function: give ModelRegistry the dataBucket.');
    stateMachine.grantTaskResponse(this.models);
  }
}
