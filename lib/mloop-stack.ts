/**
 * The mloop stack: composes the constructs of the loop (data lake and ingestion, registry,
 * training, the training pipeline, inference API, drift monitor) and hands each its settings.
 */
import { CfnOutput, type RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { type Construct } from 'constructs';
import type { ApprovalOptions } from './approval';
import { BatchScoring } from './batch';
import { OperatorDashboard } from './dashboard';
import { DataLake, DatasetIngestion, type DatasetIngestionOptions } from './data';
import { InferenceApi, type InferenceApiProps } from './inference';
import { MloopFunction } from './mloop-function';
import { DriftMonitor, type DriftMonitorProps } from './monitoring';
import { acknowledge } from './nag';
import { TrainingPipeline } from './pipeline';
import { ModelRegistry, type ModelGateOptions } from './registry';
import { ModelTraining, type ModelTrainingOptions } from './training';
import type { StackOutput } from './stack-outputs';

export { STACK_OUTPUTS, type StackOutput } from './stack-outputs';

/**
 * The settings of the training loop, in one object (`MloopStackProps.training`); each construct
 * takes its part: the training job's (ModelTrainingOptions, lib/training.ts), the ingestion's
 * (DatasetIngestionOptions, lib/data.ts), the gate's (ModelGateOptions, lib/registry.ts) and the
 * approval's (ApprovalOptions, lib/approval.ts).
 */
export interface TrainingSettings extends ModelTrainingOptions, DatasetIngestionOptions, ModelGateOptions, ApprovalOptions {}

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
   * @default - see TrainingSettings
   */
  readonly training?: TrainingSettings;
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
  /**
   * The name of the operators' CloudWatch dashboard.
   * @default - a name CloudFormation generates (the stack output DashboardName says it)
   */
  readonly dashboardName?: string;
}

/** mloop on AWS: data lake, registry, training pipeline, inference API and drift monitor. */
export class MloopStack extends Stack {
  readonly dataLake: DataLake;
  readonly registry: ModelRegistry;
  readonly training: ModelTraining;
  readonly ingestion: DatasetIngestion;
  readonly pipeline: TrainingPipeline;
  readonly inference: InferenceApi;
  readonly monitor: DriftMonitor;
  readonly batch: BatchScoring;
  readonly dashboard: OperatorDashboard;

  constructor(scope: Construct, id: string, props: MloopStackProps = {}) {
    super(scope, id, props);
    this.dataLake = new DataLake(this, 'Data', { encryptionKey: props.encryptionKey, removalPolicy: props.removalPolicy });
    this.registry = new ModelRegistry(this, 'Registry', { removalPolicy: props.removalPolicy, dataBucket: this.dataLake.bucket });
    const shared = { bucket: this.dataLake.bucket, table: this.registry.table };
    // The training settings, each part to the construct of its concern (TrainingSettings).
    const training = props.training ?? {};
    this.training = new ModelTraining(this, 'ModelTraining', { ...training, bucket: this.dataLake.bucket });
    const stages = this.registry.addPipelineStages({
      bucket: this.dataLake.bucket,
      minImprovement: training.minImprovement,
      gateByModel: training.gateByModel,
      artifactsKey: training.outputEncryptionKey,
    });
    this.ingestion = new DatasetIngestion(this, 'Ingestion', {
      minRows: training.minRows,
      maxColumns: training.maxColumns,
      maxCategoryLength: training.maxCategoryLength,
      maxGzipInflatedBytes: training.maxGzipInflatedBytes,
      maxGzipRatio: training.maxGzipRatio,
      maxRowGroupCells: training.maxRowGroupCells,
      maxRowGroupBytes: training.maxRowGroupBytes,
      datasetSchemas: training.datasetSchemas,
      ingestionParts: training.ingestionParts,
      trainingSlotWait: training.trainingSlotWait,
      dataLake: this.dataLake,
      table: this.registry.table,
      jobLimit: this.training.jobLimit,
      trainingHyperparameters: Object.keys(this.training.stackHyperparameters),
    });
    // The id 'Training' is the one the whole pipeline had before its stages moved to their own
    // constructs: the state machine, its triggers and the dead-letter queue keep their logical ids.
    this.pipeline = new TrainingPipeline(this, 'Training', {
      dataLake: this.dataLake,
      table: this.registry.table,
      ingestion: this.ingestion,
      training: this.training,
      stages,
      requireApproval: training.requireApproval,
      approvalTimeout: training.approvalTimeout,
    });
    // Approvals resume the pipeline.
    if (this.pipeline.requireApproval) this.registry.allowApprovals(this.pipeline.stateMachine);
    this.inference = new InferenceApi(this, 'Inference', {
      ...(training.maxCategoryLength !== undefined ? { maxCategoryLength: training.maxCategoryLength } : {}),
      ...props.inference,
      ...shared,
    });
    // Drift alarms notify the registry's topic (people subscribe once), unless the props name another.
    this.monitor = new DriftMonitor(this, 'Monitoring', {
      alarmTopic: this.registry.topic,
      alarmTopicKey: this.registry.topicKey,
      ...props.monitoring,
      ...shared,
    });
    // Files dropped under batch/<model>/ are scored by the model's serving version.
    this.batch = new BatchScoring(this, 'Batch', { dataLake: this.dataLake, table: this.registry.table });
    // Batch Scoring Completed / Failed go where the registry's events go.
    this.registry.publishEventsFrom(this.batch.function);
    // Last, so that it finds every function and alarm the constructs above made.
    const made = this.node.findAll();
    this.dashboard = new OperatorDashboard(this, 'Operators', {
      pipeline: this.pipeline.stateMachine,
      api: this.inference.api,
      trainingInstanceCount: this.training.instanceCount,
      functions: made.filter((c): c is MloopFunction<never> => c instanceof MloopFunction),
      alarms: made.filter((c): c is cloudwatch.Alarm => c instanceof cloudwatch.Alarm),
      driftNamespace: this.monitor.metricsNamespace,
      dashboardName: props.dashboardName,
    });
    this.addOperatorOutputs();
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

  /**
   * What an operator needs after `cdk deploy`, printed by it and read by tools through
   * DescribeStacks. The output keys (STACK_OUTPUTS) are a contract: renaming one breaks them.
   */
  private addOperatorOutputs(): void {
    const outputs: Partial<Record<StackOutput, { value: string; description: string }>> = {
      DataBucketName: {
        value: this.dataLake.bucket.bucketName,
        description: 'The data bucket: drop datasets under datasets/<model>/ (metadata mloop-target=<column>) to train',
      },
      RegistryTableName: {
        value: this.registry.table.tableName,
        description: 'The model registry (DynamoDB): models, versions, datasets, runs',
      },
      StateMachineArn: {
        value: this.pipeline.stateMachine.stateMachineArn,
        description: 'The training pipeline; each drop starts an execution named after the object version',
      },
      ApiUrl: { value: this.inference.api.url, description: 'The prediction API: POST <url>v1/models/<model>/predict' },
      DriftFunctionName: { value: this.monitor.function.functionName, description: 'The drift monitor: invoke it to run a check now' },
      EventsTopicArn: { value: this.registry.topic.topicArn, description: 'Registry and pipeline events for people: subscribe to be told' },
      BatchStateMachineArn: {
        value: this.batch.stateMachine.stateMachineArn,
        description: 'Batch scoring; each file dropped under batch/<model>/ starts an execution named after the object version',
      },
      EventBusName: { value: 'default', description: "The EventBridge bus mloop's events (source mloop) go to" },
      DashboardName: {
        value: this.dashboard.dashboard.dashboardName,
        description: 'The CloudWatch dashboard for operators: pipeline runs, training hours, ingestion, API, throttles, drift, alarms',
      },
    };
    if (this.registry.models) {
      const models = this.registry.models.functionName;
      outputs.ModelsFunctionName = { value: models, description: 'The registry admin function: promote, roll back, approve, list' };
    }
    for (const [key, output] of Object.entries(outputs)) new CfnOutput(this, key, output);
  }
}
