/**
 * Mloop: the whole loop (data lake and ingestion, registry, training, the training pipeline,
 * inference API, drift monitor, batch scoring) as one construct, for any stack. MloopStack
 * (lib/mloop-stack.ts) is a Stack around it; infra teams add it to a stack of their own.
 */
import { CfnOutput, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
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

/**
 * The settings of the training loop, in one object (`MloopProps.training`); each construct
 * takes its part: the training job's (ModelTrainingOptions, lib/training.ts), the ingestion's
 * (DatasetIngestionOptions, lib/data.ts), the gate's (ModelGateOptions, lib/registry.ts) and the
 * approval's (ApprovalOptions, lib/approval.ts).
 */
export interface TrainingSettings extends ModelTrainingOptions, DatasetIngestionOptions, ModelGateOptions, ApprovalOptions {}

/** The settings of the whole loop (Mloop, and MloopStack, whose props add the stack's). */
export interface MloopProps {
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

/** The constructs of the loop, as Mloop and MloopStack expose them. */
export interface MloopParts {
  /** The data bucket (datasets, models, predictions, captures, batch files). */
  readonly dataLake: DataLake;
  /** The model registry: its table, events topic, pipeline stages and admin function. */
  readonly registry: ModelRegistry;
  /** The SageMaker training job's role, code asset, limits and settings. */
  readonly training: ModelTraining;
  /** Dataset ingestion: validation, profiling, versioning and splits. */
  readonly ingestion: DatasetIngestion;
  /** The training pipeline (Step Functions) and its triggers. */
  readonly pipeline: TrainingPipeline;
  /** The prediction API (API Gateway and the predict function). */
  readonly inference: InferenceApi;
  /** The scheduled drift monitor and its alarms. */
  readonly monitor: DriftMonitor;
  /** Batch scoring of files dropped under batch/<model>/. */
  readonly batch: BatchScoring;
  /** The operators' CloudWatch dashboard over the whole loop. */
  readonly dashboard: OperatorDashboard;
}

/**
 * The whole of mloop on AWS as one construct: data lake, registry, training pipeline, inference
 * API, drift monitor and batch scoring, wired together.
 *
 * It adds the stack outputs an operator and `mloop --stack NAME` read (STACK_OUTPUTS), under
 * those exact logical ids whatever the construct's path, so the CLI finds them in a stack of your
 * own too. Hence one Mloop per stack.
 */
export class Mloop extends Construct implements MloopParts {
  readonly dataLake: DataLake;
  readonly registry: ModelRegistry;
  readonly training: ModelTraining;
  readonly ingestion: DatasetIngestion;
  readonly pipeline: TrainingPipeline;
  readonly inference: InferenceApi;
  readonly monitor: DriftMonitor;
  readonly batch: BatchScoring;
  readonly dashboard: OperatorDashboard;

  constructor(scope: Construct, id: string, props: MloopProps = {}) {
    super(scope, id);
    ({
      dataLake: this.dataLake,
      registry: this.registry,
      training: this.training,
      ingestion: this.ingestion,
      pipeline: this.pipeline,
      inference: this.inference,
      monitor: this.monitor,
      batch: this.batch,
      dashboard: this.dashboard,
    } = composeLoop(this, props));
  }
}

/**
 * Build the loop's constructs as children of `scope`: a Mloop's, or MloopStack's own, so that the
 * stack keeps the construct paths and logical ids it had before Mloop existed (a child construct
 * would add a level to every path). Internal: use Mloop or MloopStack.
 */
export function composeLoop(scope: Construct, props: MloopProps): MloopParts {
  const dataLake = new DataLake(scope, 'Data', { encryptionKey: props.encryptionKey, removalPolicy: props.removalPolicy });
  const registry = new ModelRegistry(scope, 'Registry', { removalPolicy: props.removalPolicy, dataBucket: dataLake.bucket });
  const shared = { bucket: dataLake.bucket, table: registry.table };
  // The training settings, each part to the construct of its concern (TrainingSettings).
  const settings = props.training ?? {};
  const training = new ModelTraining(scope, 'ModelTraining', { ...settings, bucket: dataLake.bucket });
  const stages = registry.addPipelineStages({
    bucket: dataLake.bucket,
    minImprovement: settings.minImprovement,
    gateByModel: settings.gateByModel,
    artifactsKey: settings.outputEncryptionKey,
  });
  const ingestion = new DatasetIngestion(scope, 'Ingestion', {
    minRows: settings.minRows,
    maxColumns: settings.maxColumns,
    maxCategoryLength: settings.maxCategoryLength,
    maxGzipInflatedBytes: settings.maxGzipInflatedBytes,
    maxGzipRatio: settings.maxGzipRatio,
    maxRowGroupCells: settings.maxRowGroupCells,
    maxRowGroupBytes: settings.maxRowGroupBytes,
    datasetSchemas: settings.datasetSchemas,
    ingestionParts: settings.ingestionParts,
    trainingSlotWait: settings.trainingSlotWait,
    dataLake,
    table: registry.table,
    jobLimit: training.jobLimit,
    trainingHyperparameters: Object.keys(training.stackHyperparameters),
  });
  // The id 'Training' is the one the whole pipeline had before its stages moved to their own
  // constructs: the state machine, its triggers and the dead-letter queue keep their logical ids.
  const pipeline = new TrainingPipeline(scope, 'Training', {
    dataLake,
    table: registry.table,
    ingestion,
    training,
    stages,
    requireApproval: settings.requireApproval,
    approvalTimeout: settings.approvalTimeout,
  });
  // Approvals resume the pipeline.
  if (pipeline.requireApproval) registry.allowApprovals(pipeline.stateMachine);
  const inference = new InferenceApi(scope, 'Inference', { ...props.inference, ...shared });
  // Drift alarms notify the registry's topic (people subscribe once), unless the props name another.
  const monitor = new DriftMonitor(scope, 'Monitoring', {
    alarmTopic: registry.topic,
    alarmTopicKey: registry.topicKey,
    ...props.monitoring,
    ...shared,
  });
  // Files dropped under batch/<model>/ are scored by the model's serving version.
  const batch = new BatchScoring(scope, 'Batch', { dataLake, table: registry.table });
  // Batch Scoring Completed / Failed go where the registry's events go.
  registry.publishEventsFrom(batch.function);
  // Last, so that it finds every function and alarm the constructs above made.
  const made = scope.node.findAll();
  const dashboard = new OperatorDashboard(scope, 'Operators', {
    pipeline: pipeline.stateMachine,
    api: inference.api,
    trainingInstanceCount: training.instanceCount,
    functions: made.filter((c): c is MloopFunction<never> => c instanceof MloopFunction),
    alarms: made.filter((c): c is cloudwatch.Alarm => c instanceof cloudwatch.Alarm),
    driftNamespace: monitor.metricsNamespace,
    dashboardName: props.dashboardName,
  });
  const parts: MloopParts = { dataLake, registry, training, ingestion, pipeline, inference, monitor, batch, dashboard };
  addOperatorOutputs(scope, parts);
  // CDK's singleton (a child of the stack) that turns on the bucket's EventBridge notifications at deploy time.
  const notifications = Stack.of(scope).node.tryFindChild('BucketNotificationsHandler050a0587b7544547bf325f094a3db834');
  if (notifications) {
    acknowledge(
      notifications,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      "CDK's bucket-notifications custom resource (it enables EventBridge on the data bucket at deploy time) writes only its own logs with this policy.",
    );
  }
  return parts;
}

/**
 * What an operator needs after `cdk deploy`, printed by it and read by tools through
 * DescribeStacks. The output keys (STACK_OUTPUTS) are a contract: renaming one breaks them, so
 * each keeps its key as logical id wherever the construct sits.
 */
function addOperatorOutputs(scope: Construct, loop: MloopParts): void {
  const outputs: Partial<Record<StackOutput, { value: string; description: string }>> = {
    DataBucketName: {
      value: loop.dataLake.bucket.bucketName,
      description: 'The data bucket: drop datasets under datasets/<model>/ (metadata mloop-target=<column>) to train',
    },
    RegistryTableName: {
      value: loop.registry.table.tableName,
      description: 'The model registry (DynamoDB): models, versions, datasets, runs',
    },
    StateMachineArn: {
      value: loop.pipeline.stateMachine.stateMachineArn,
      description: 'The training pipeline; each drop starts an execution named after the object version',
    },
    ApiUrl: { value: loop.inference.api.url, description: 'The prediction API: POST <url>v1/models/<model>/predict' },
    DriftFunctionName: { value: loop.monitor.function.functionName, description: 'The drift monitor: invoke it to run a check now' },
    EventsTopicArn: { value: loop.registry.topic.topicArn, description: 'Registry and pipeline events for people: subscribe to be told' },
    BatchStateMachineArn: {
      value: loop.batch.stateMachine.stateMachineArn,
      description: 'Batch scoring; each file dropped under batch/<model>/ starts an execution named after the object version',
    },
    EventBusName: { value: 'default', description: "The EventBridge bus mloop's events (source mloop) go to" },
    DashboardName: {
      value: loop.dashboard.dashboard.dashboardName,
      description: 'The CloudWatch dashboard for operators: pipeline runs, training hours, ingestion, API, throttles, drift, alarms',
    },
  };
  if (loop.registry.models) {
    const models = loop.registry.models.functionName;
    outputs.ModelsFunctionName = { value: models, description: 'The registry admin function: promote, roll back, approve, list' };
  }
  for (const [key, output] of Object.entries(outputs)) new CfnOutput(scope, key, output).overrideLogicalId(key);
}
