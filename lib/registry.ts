import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { MloopFunction } from './mloop-function';
import { acknowledge, acknowledgeFunctionDefaults } from './nag';

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

/**
 * The model registry: one DynamoDB table holding, per model, its dataset versions, model
 * versions, aliases and their history, pipeline runs and drift records (item shapes in
 * lambdas/shared/registry.ts, keys in lambdas/shared/layout.ts). On-demand, point-in-time
 * recovery, deletion protection.
 *
 * Registry events (lambdas/shared/events.ts) go to the account's default EventBridge bus (source
 * `mloop.registry`) and to `topic`, an SNS topic for people (KMS-encrypted, TLS only): subscribe an
 * e-mail address or a chat integration to it. `models` is the admin function the CLI's `models`
 * commands invoke.
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
   * Let a function publish registry events: its environment names the bus and the topic
   * (EVENT_BUS_NAME, TOPIC_ARN), and it may put events on the default bus and publish to the topic.
   */
  publishEventsFrom(fn: MloopFunction<'register' | 'models'>): void {
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
