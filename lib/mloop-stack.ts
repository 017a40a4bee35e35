import { type RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { type Construct } from 'constructs';
import { DataLake } from './data';
import { InferenceApi, type InferenceApiProps } from './inference';
import { DriftMonitor, type DriftMonitorProps } from './monitoring';
import { acknowledge } from './nag';
import { ModelRegistry } from './registry';
import { TrainingPipeline, type TrainingPipelineProps } from './training';

export interface MloopStackProps extends StackProps {
  /**
   * A customer-managed key for the data bucket.
   * @default - S3-managed encryption
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * What happens to data and registry on stack deletion.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Training settings (instance type, runtime, code, hyperparameters, gate margin, dataset schemas).
   * @default - see TrainingPipelineProps
   */
  readonly training?: Omit<TrainingPipelineProps, 'dataLake' | 'table'>;
  /**
   * API settings (throttling, batch size, alias cache, capture).
   * @default - see InferenceApiProps
   */
  readonly inference?: Omit<InferenceApiProps, 'bucket' | 'table'>;
  /**
   * Drift monitor settings (schedule, thresholds).
   * @default - see DriftMonitorProps
   */
  readonly monitoring?: Omit<DriftMonitorProps, 'bucket' | 'table'>;
}

/** mloop on AWS: data lake, registry, training pipeline, inference API and drift monitor. */
export class MloopStack extends Stack {
  readonly dataLake: DataLake;
  readonly registry: ModelRegistry;
  readonly pipeline: TrainingPipeline;
  readonly inference: InferenceApi;
  readonly monitor: DriftMonitor;

  constructor(scope: Construct, id: string, props: MloopStackProps = {}) {
    super(scope, id, props);
    this.dataLake = new DataLake(this, 'Data', { encryptionKey: props.encryptionKey, removalPolicy: props.removalPolicy });
    this.registry = new ModelRegistry(this, 'Registry', { removalPolicy: props.removalPolicy, dataBucket: this.dataLake.bucket });
    const shared = { bucket: this.dataLake.bucket, table: this.registry.table };
    this.pipeline = new TrainingPipeline(this, 'Training', { ...props.training, dataLake: this.dataLake, table: this.registry.table });
    // Registrations and alias moves are published as registry events; approvals resume the pipeline.
    this.registry.publishEventsFrom(this.pipeline.functions.register);
    if (this.pipeline.requireApproval) this.registry.allowApprovals(this.pipeline.stateMachine);
    this.inference = new InferenceApi(this, 'Inference', { ...props.inference, ...shared });
    // Drift alarms notify the registry's topic (people subscribe once), unless the props name another.
    this.monitor = new DriftMonitor(this, 'Monitoring', {
      alarmTopic: this.registry.topic,
      alarmTopicKey: this.registry.topicKey,
      ...props.monitoring,
      ...shared,
    });
    // CDK's singleton that turns on the bucket's EventBridge notifications at deploy time.
    const notifications = this.node.tryFindChild('BucketNotificationsHandler050a0587b7544547bf325f094a3db834');
    if (notifications) {
      acknowledge(
        notifications,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        "CDK's bucket-notifications custom resource (it enables EventBridge on the data bucket at deploy time) writes only its own logs with this policy.",
      );
    }
  }
}
