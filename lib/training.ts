import * as path from 'node:path';
import { ArnFormat, Duration, Size, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { SchemaFile } from '../lambdas/shared/schema-file';
import { gateConfigSchema } from '../lambdas/registry/gate';
import { DATASETS_PREFIX, INGEST_PARTS_PREFIX, s3Keys } from '../lambdas/shared/layout';
import { type DataLake } from './data';
import { datasetSchemasEnvironment, ingestEnvironmentFits } from './dataset-schemas';
import { FUNCTIONS, REPO_ROOT, type FunctionId } from './function-catalog';
import { approvalSteps, DEFAULT_APPROVAL_TIMEOUT } from './approval';
import { MloopFunction } from './mloop-function';
import { acknowledge, acknowledgeBucketGrants, acknowledgeFunctionDefaults, arnToken } from './nag';
import { packTrainingCode } from './training-code';
import { TrainingJobTask } from './training-job';

/** The AWS Deep Learning Containers' PyTorch training image (account 763104351884 serves most regions). */
export const DEFAULT_TRAINING_IMAGE_REPOSITORY = 'pytorch-training';
export const DEFAULT_TRAINING_IMAGE_TAG = '2.6.0-gpu-py312-cu126-ubuntu22.04-sagemaker';
export const DLC_ACCOUNT = '763104351884';

export interface TrainingPipelineProps {
  readonly dataLake: DataLake;
  readonly table: dynamodb.ITableV2;
  /**
   * SageMaker instance type for training.
   * @default 'ml.g5.xlarge' (one NVIDIA A10G GPU)
   */
  readonly instanceType?: string;
  /**
   * Number of training instances. The default trainer trains on one host (each instance would
   * train the same model); more instances help only training code that distributes itself.
   * @default 1
   */
  readonly instanceCount?: number;
  /**
   * Size of each training instance's ML storage volume.
   * @default Size.gibibytes(30)
   */
  readonly volumeSize?: Size;
  /**
   * Longest a training job may run before SageMaker stops it.
   * @default Duration.hours(2)
   */
  readonly maxRuntime?: Duration;
  /**
   * The training container image URI.
   * @default - the AWS PyTorch training container (DEFAULT_TRAINING_IMAGE_TAG) in the stack's region
   */
  readonly trainingImage?: string;
  /**
   * The training source directory, run in script mode.
   * @default - the repository's `training/`
   */
  readonly trainingCodeDir?: string;
  /**
   * The script SageMaker runs inside the source directory.
   * @default 'train.py'
   */
  readonly trainingEntryPoint?: string;
  /**
   * Extra hyperparameters passed to every training job (strings, as SageMaker wants them).
   * @default - none: the script's defaults
   */
  readonly hyperparameters?: Record<string, string>;
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
  /**
   * Rows a dataset needs to be accepted.
   * @default 10
   */
  readonly minRows?: number;
  /**
   * Schemas declared per model, each in exactly the format of `datasets/<model>/schema.json`
   * (`SchemaFile`, lambdas/shared/schema-file.ts), e.g.
   * `{ churn: { target: 'churned', columns: [{ name: 'tenure_months', type: 'numeric' }, ...] } }`.
   * Every dataset of a model named here is checked against its schema, including each column's
   * `nullable: false` and listed `categories`. Precedence: a schema.json dropped beside the data
   * wins over this (it is the more recent, more specific statement), which wins over the schema
   * the model's first dataset fixed, which wins over inference.
   *
   * Checked at synth (model names, and each schema with the field named). The schemas reach the
   * Ingest function as its DATASET_SCHEMAS variable (JSON), so together with its other variables
   * they must fit Lambda's 4 KB environment limit (synth fails, saying by how much); a big
   * schema belongs in schema.json beside the data instead.
   * @default - none: a model's schema comes from schema.json or its first dataset
   */
  readonly datasetSchemas?: Record<string, SchemaFile>;
  /**
   * Wait for a person before promoting: a better candidate is registered as pending-approval and
   * the pipeline waits on a task token until `mloop models approve|reject` (lib/approval.ts).
   * @default false (the gate promotes on its own)
   */
  readonly requireApproval?: boolean;
  /**
   * How long the pipeline waits for an approval before it fails.
   * @default Duration.days(7)
   */
  readonly approvalTimeout?: Duration;
  /**
   * Managed spot training: the job runs on spare capacity (up to 90% cheaper) and SageMaker
   * restarts it from its last checkpoint after an interruption. Turns checkpoints on (see
   * `checkpoints`). Cannot be combined with `warmPoolKeepAlive` (SageMaker does not keep spot
   * instances warm).
   * @default false (on-demand instances)
   */
  readonly useSpotInstances?: boolean;
  /**
   * With spot instances, the longest a job may take in all, waiting for capacity included
   * (StoppingCondition.MaxWaitTimeInSeconds). At least `maxRuntime`, at most 28 days. The state
   * machine's task and execution timeouts follow it.
   * @default - twice `maxRuntime` (only with `useSpotInstances`)
   */
  readonly maxWaitTime?: Duration;
  /**
   * Checkpoints in S3: SageMaker syncs the container's /opt/ml/checkpoints with
   * `s3://<data bucket>/checkpoints/<training job>/` (CheckpointConfig) and restores it when a
   * job restarts; the default trainer saves its state there after each epoch and resumes from it.
   * The training role may read and write `checkpoints/*` only when this is on.
   * @default - true with `useSpotInstances`, else false
   */
  readonly checkpoints?: boolean;
  /**
   * SageMaker managed warm pools: keep the training instances for this long after a job, so that
   * the next matching job (same role, instance type and count, volume, key and VPC) starts
   * without provisioning (ResourceConfig.KeepAlivePeriodInSeconds, 1 s to 1 hour; needs a
   * warm-pool service quota; billed while warm). Not with `useSpotInstances`.
   * @default - no warm pool
   */
  readonly warmPoolKeepAlive?: Duration;
  /**
   * A KMS key for the training instances' ML storage volumes (ResourceConfig.VolumeKmsKeyId).
   * The training role is granted kms:CreateGrant on it.
   * @default - the volumes are encrypted with an AWS managed key
   */
  readonly volumeEncryptionKey?: kms.IKey;
  /**
   * A KMS key for the model artifacts SageMaker writes under `training/` (OutputDataConfig.KmsKeyId).
   * The training role may encrypt with it (and decrypt, for checkpoints); the evaluate function,
   * which reads the artifacts, may decrypt with it.
   * @default - the data bucket's default encryption
   */
  readonly outputEncryptionKey?: kms.IKey;
  /**
   * Run training jobs in this VPC (VpcConfig), with a security group of their own. The subnets
   * need a route to S3 (an S3 gateway endpoint, or NAT) and to ECR for the image, and to
   * CloudWatch Logs. The training role gets the EC2 network-interface permissions SageMaker needs.
   * @default - no VPC: SageMaker's own network
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Which subnets of `vpc` the jobs use.
   * @default - the VPC's private subnets
   */
  readonly subnets?: ec2.SubnetSelection;
  /**
   * Ingestion of files too big for one function's 15 minutes: cut into byte-range parts that
   * Distributed Map states scan and split in parallel (lambdas/data/parts.ts).
   * @default - see IngestionPartsOptions
   */
  readonly ingestionParts?: IngestionPartsOptions;
}

/** When and how a dataset file is ingested in parts. */
export interface IngestionPartsOptions {
  /**
   * A CSV, JSON Lines or Parquet file larger than this is ingested in parts (Parquet: runs of
   * whole row groups; gzip files are always read in one pass). One function streams about 30-60 MB/s, so 2 GiB takes about a minute.
   * @default Size.gibibytes(2)
   */
  readonly above?: Size;
  /**
   * The size of each part (larger when the file would make more than `maxParts`).
   * @default Size.mebibytes(256)
   */
  readonly partSize?: Size;
  /**
   * The most parts a file is cut into: each is an item of the Map states, and their ranges and
   * split counts travel in the execution state (at most MAX_PARTS_LIMIT, 1,000). A bigger file
   * gets bigger parts.
   * @default 1000
   */
  readonly maxParts?: number;
  /**
   * How many parts are scanned (and split) at once: the Distributed Map's MaxConcurrency, so
   * also the functions' concurrency the ingestion takes.
   * @default 100
   */
  readonly maxConcurrency?: number;
}

/** How often an execution waiting for its model's training slot runs Ingest again. */
export const TRAINING_SLOT_POLL_SECONDS = 60;

/** The longest MaxRuntimeInSeconds and MaxWaitTimeInSeconds SageMaker accepts (28 days). */
export const MAX_TRAINING_TIME = Duration.days(28);
/** The longest KeepAlivePeriodInSeconds SageMaker accepts. */
export const MAX_WARM_POOL_KEEP_ALIVE = Duration.hours(1);
/** Where the state keeps the job's hyperparameters before hyperparameters.json is merged over them. */
export const HYPERPARAMETER_DEFAULTS_PATH = '$.hyperparameterDefaults';
/** Where checkpoints live in the data bucket: checkpoints/<training job>/. */
export const CHECKPOINTS_PREFIX = 'checkpoints/';

/** The settings of the training job, defaults applied and validated (the constructor's first step). */
export function resolveTrainingJobSettings(props: Omit<TrainingPipelineProps, 'dataLake' | 'table'>) {
  const instanceType = props.instanceType ?? 'ml.g5.xlarge';
  if (!/^ml\.[a-z0-9]+\.[a-z0-9]+$/.test(instanceType)) {
    throw new Error(`instanceType '${instanceType}' is not a SageMaker instance type: expected a name like 'ml.g5.xlarge'.`);
  }
  const instanceCount = props.instanceCount ?? 1;
  if (!Number.isInteger(instanceCount) || instanceCount < 1) {
    throw new Error(`instanceCount must be a positive integer, got ${instanceCount}.`);
  }
  if (props.minImprovement !== undefined && !(props.minImprovement >= 0)) {
    throw new Error(`minImprovement must be a number >= 0, got ${props.minImprovement}.`);
  }
  for (const [model, gate] of Object.entries(props.gateByModel ?? {})) {
    const parsed = gateConfigSchema.safeParse({ [model]: gate });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(
        `gateByModel.${issue.path.join('.')}: ${issue.message} (model names are lower-case letters, digits and hyphens; minImprovement >= 0).`,
      );
    }
  }
  const maxRuntime = props.maxRuntime ?? Duration.hours(2);
  const seconds = (d: Duration) => d.toSeconds();
  if (seconds(maxRuntime) < 1 || seconds(maxRuntime) > seconds(MAX_TRAINING_TIME)) {
    throw new Error(`maxRuntime must be between 1 second and 28 days, got ${maxRuntime.toHumanString()}.`);
  }
  const spot = props.useSpotInstances ?? false;
  if (props.maxWaitTime !== undefined && !spot) {
    throw new Error('maxWaitTime applies to managed spot training only: set useSpotInstances: true, or remove maxWaitTime.');
  }
  let maxWaitTime: Duration | undefined;
  if (spot) {
    maxWaitTime = props.maxWaitTime ?? Duration.seconds(Math.min(2 * seconds(maxRuntime), seconds(MAX_TRAINING_TIME)));
    if (seconds(maxWaitTime) < seconds(maxRuntime)) {
      throw new Error(
        `maxWaitTime (${maxWaitTime.toHumanString()}) must be at least maxRuntime (${maxRuntime.toHumanString()}): it is the whole time a spot job may take, waiting for capacity included.`,
      );
    }
    if (seconds(maxWaitTime) > seconds(MAX_TRAINING_TIME)) {
      throw new Error(`maxWaitTime must be at most 28 days, got ${maxWaitTime.toHumanString()}.`);
    }
  }
  const keepAlive = props.warmPoolKeepAlive;
  if (keepAlive !== undefined) {
    if (spot) {
      throw new Error(
        'warmPoolKeepAlive cannot be combined with useSpotInstances: SageMaker managed warm pools do not support spot instances.',
      );
    }
    if (seconds(keepAlive) < 1 || seconds(keepAlive) > seconds(MAX_WARM_POOL_KEEP_ALIVE)) {
      throw new Error(`warmPoolKeepAlive must be between 1 second and 1 hour, got ${keepAlive.toHumanString()}.`);
    }
  }
  if (props.subnets !== undefined && props.vpc === undefined) {
    throw new Error('subnets needs vpc: the subnets are selected from the VPC the training jobs run in.');
  }
  const checkpoints = props.checkpoints ?? spot;
  /** The longest a job may take: what the task and the execution wait for. */
  const jobLimit = maxWaitTime ?? maxRuntime;
  return { instanceType, instanceCount, maxRuntime, spot, maxWaitTime, keepAlive, checkpoints, jobLimit };
}

/**
 * The training pipeline: a Step Functions state machine (JSONPath) that a dataset drop starts.
 *
 *   Ingest λ ─► New dataset? ─► Train (SageMaker CreateTrainingJob .sync) ─► Evaluate λ ─► Gate
 *                  ├─ duplicate bytes: succeed             promote ◄─┴─► register only
 *                  └─ model's training slot busy: Wait for training slot ─► Ingest again
 *   any failure ─► Record failure λ ─► Fail (the champion is never touched on this path)
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
  readonly trainingRole: iam.Role;
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
    const job = resolveTrainingJobSettings(props);
    const { instanceType, instanceCount } = job;

    const env = { DATA_BUCKET: bucket.bucketName, REGISTRY_TABLE: props.table.tableName };
    const parts = resolveIngestionParts(props.ingestionParts);
    const ingestEnvironment = {
      ...env,
      ...(props.minRows !== undefined ? { MIN_ROWS: String(props.minRows) } : {}),
      ...datasetSchemasEnvironment(props.datasetSchemas),
      // How long a run that died keeps its model's training slot: the job's limit, plus an hour.
      TRAINING_LEASE_SECONDS: String(job.jobLimit.plus(Duration.hours(1)).toSeconds()),
      PARTS_ABOVE_BYTES: String(parts.aboveBytes),
      PART_BYTES: String(parts.partBytes),
      MAX_PARTS: String(parts.maxParts),
    };
    const ingest = new MloopFunction(this, 'Ingest', { functionId: 'ingest', environment: ingestEnvironment });
    const ingestParts = new MloopFunction(this, 'IngestParts', { functionId: 'ingestParts', environment: ingestEnvironment });
    // Lambda refuses an environment over 4 KB only at deploy time; the schemas make that reachable.
    ingest.node.addValidation(ingestEnvironmentFits(ingest));
    ingestParts.node.addValidation(ingestEnvironmentFits(ingestParts));
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
    this.functions = { ingest, ingestParts, evaluate, register, recordFailure };

    // Least privilege: each function reaches only the prefixes its stage reads and writes.
    for (const fn of [ingest, ingestParts]) {
      bucket.grantRead(fn, `${DATASETS_PREFIX}*`);
      bucket.grantPut(fn, 'splits/*');
      bucket.grantPut(fn, 'profiles/*');
      bucket.grantPut(fn, 'reports/*');
      bucket.grantPut(fn, `${INGEST_PARTS_PREFIX}*`);
      props.dataLake.grantTagDatasets(fn);
      props.table.grantReadWriteData(fn);
    }
    // The parts' functions read the plan and the scans Ingest and Scan part wrote.
    bucket.grantRead(ingestParts, `${INGEST_PARTS_PREFIX}*`);

    bucket.grantRead(evaluate, `${s3Keys.trainingOutput}*`);
    props.outputEncryptionKey?.grantDecrypt(evaluate);
    bucket.grantRead(evaluate, 'splits/*');
    bucket.grantRead(evaluate, 'models/*');
    bucket.grantPut(evaluate, 'candidates/*');
    props.table.grantReadData(evaluate);

    bucket.grantRead(register, 'candidates/*');
    bucket.grantPut(register, 'models/*');
    props.table.grantReadWriteData(register);

    props.table.grantWriteData(recordFailure);

    const READ = ['s3:GetObject*', 's3:GetBucket*', 's3:List*'];
    const PUT = ['s3:Abort*'];
    acknowledgeBucketGrants(
      ingest,
      bucket,
      ['datasets/*', 'splits/*', 'profiles/*', 'reports/*', `${INGEST_PARTS_PREFIX}*`],
      [...READ, ...PUT],
    );
    acknowledgeBucketGrants(
      ingestParts,
      bucket,
      ['datasets/*', 'splits/*', 'profiles/*', 'reports/*', `${INGEST_PARTS_PREFIX}*`],
      [...READ, ...PUT],
    );
    acknowledgeBucketGrants(evaluate, bucket, ['training/*', 'splits/*', 'models/*', 'candidates/*'], [...READ, ...PUT]);
    acknowledgeBucketGrants(register, bucket, ['candidates/*', 'models/*'], [...READ, ...PUT]);
    for (const fn of [ingest, ingestParts, evaluate, register, recordFailure]) acknowledgeFunctionDefaults(fn, props.table);

    // The training code, packed for script mode and versioned by content.
    const codeDir = props.trainingCodeDir ?? path.join(REPO_ROOT, 'training');
    const entryPoint = props.trainingEntryPoint ?? 'train.py';
    const packed = packTrainingCode(codeDir, entryPoint);
    this.codeVersion = packed.version;
    const code = new s3assets.Asset(this, 'TrainingCode', {
      path: packed.archive,
      assetHash: packed.version,
    });

    this.trainingRole = new iam.Role(this, 'TrainingRole', {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
      description: 'mloop training jobs: read splits and code, write model artifacts and logs',
    });
    bucket.grantRead(this.trainingRole, 'splits/*');
    // The one code archive, not the whole CDK assets bucket.
    this.trainingRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [`arn:${stack.partition}:s3:::${code.s3BucketName}/${code.s3ObjectKey}`],
      }),
    );
    this.trainingRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [
          stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: '/aws/sagemaker/TrainingJobs*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
    this.trainingRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': '/aws/sagemaker/TrainingJobs' } },
      }),
    );
    const image =
      props.trainingImage ??
      `${DLC_ACCOUNT}.dkr.ecr.${stack.region}.${stack.urlSuffix}/${DEFAULT_TRAINING_IMAGE_REPOSITORY}:${DEFAULT_TRAINING_IMAGE_TAG}`;
    this.trainingRole.addToPolicy(new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
    this.trainingRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
        resources: [
          props.trainingImage
            ? repositoryArn(stack, props.trainingImage)
            : `arn:${stack.partition}:ecr:${stack.region}:${DLC_ACCOUNT}:repository/${DEFAULT_TRAINING_IMAGE_REPOSITORY}`,
        ],
      }),
    );

    // Checkpoints: read (a restarted job restores them) and write, under checkpoints/ only.
    if (job.checkpoints) {
      bucket.grantRead(this.trainingRole, `${CHECKPOINTS_PREFIX}*`);
      bucket.grantPut(this.trainingRole, `${CHECKPOINTS_PREFIX}*`);
      // SageMaker writes checkpoints with the output key when there is one; a restart reads them back.
      props.outputEncryptionKey?.grantDecrypt(this.trainingRole);
    }
    if (props.vpc) {
      // What SageMaker does with the role in a VPC: an elastic network interface per instance.
      // CDK adds this only to a role it creates itself, and these actions take no resource ARNs.
      this.trainingRole.addToPolicy(
        new iam.PolicyStatement({
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:CreateNetworkInterfacePermission',
            'ec2:DeleteNetworkInterface',
            'ec2:DeleteNetworkInterfacePermission',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeVpcs',
            'ec2:DescribeDhcpOptions',
            'ec2:DescribeSubnets',
            'ec2:DescribeSecurityGroups',
          ],
          resources: ['*'],
        }),
      );
    }

    acknowledgeBucketGrants(
      this.trainingRole,
      bucket,
      ['splits/*', 'training/*', ...(job.checkpoints ? [`${CHECKPOINTS_PREFIX}*`] : [])],
      [...READ, ...PUT, 's3:DeleteObject*'],
    );
    if (props.outputEncryptionKey || props.volumeEncryptionKey) {
      for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
        acknowledge(
          this.trainingRole,
          `AwsSolutions-IAM5[Action::${action}]`,
          `${action} is part of CDK's KMS encrypt grant; the statement is bound to the one key the training job encrypts its artifacts with.`,
        );
      }
    }
    acknowledge(
      this.trainingRole,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/TrainingJobs*]`,
      'SageMaker writes training logs to the /aws/sagemaker/TrainingJobs log group, one stream per job; the streams are named at run time.',
    );
    acknowledge(
      this.trainingRole,
      'AwsSolutions-IAM5[Resource::*]',
      'ecr:GetAuthorizationToken has no resource-level permissions, and cloudwatch:PutMetricData has none either: it is conditioned on the /aws/sagemaker/TrainingJobs namespace.' +
        (props.vpc
          ? ' The EC2 network-interface actions SageMaker needs in a VPC (Create/Delete/Describe) take no resource ARNs either.'
          : ''),
    );

    const execution = sfn.JsonPath.stringAt('$$.Execution.Name');
    const ingestTask = new tasks.LambdaInvoke(this, 'Ingest dataset', {
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

    // The job's hyperparameters before the dataset's hyperparameters.json is merged over them:
    // script mode's, the props', and the target and task that ingest fixed.
    const hyperparameterDefaults = new sfn.Pass(this, 'Resolve hyperparameters', {
      parameters: {
        sagemaker_program: entryPoint,
        sagemaker_submit_directory: code.s3ObjectUrl,
        sagemaker_region: stack.region,
        ...props.hyperparameters,
        target: sfn.JsonPath.stringAt('$.ingest.target'),
        task: sfn.JsonPath.stringAt('$.ingest.task'),
      },
      resultPath: HYPERPARAMETER_DEFAULTS_PATH,
    });

    const trainTask = new TrainingJobTask(this, 'Train model', {
      integrationPattern: sfn.IntegrationPattern.RUN_JOB,
      trainingJobName: sfn.JsonPath.stringAt('$.ingest.trainingJobName'),
      role: this.trainingRole,
      algorithmSpecification: {
        trainingImage: tasks.DockerImage.fromRegistry(image),
        trainingInputMode: tasks.InputMode.FILE,
        metricDefinitions: ['accuracy', 'log_loss', 'macro_f1', 'rmse', 'mae', 'r2'].map((name) => ({
          name: `validation:${name}`,
          regex: `validation_${name}=([-+0-9.eE]+)`,
        })),
      },
      inputDataConfig: (['train', 'validation'] as const).map((channel) => ({
        channelName: channel,
        contentType: 'text/csv',
        dataSource: { s3DataSource: { s3Location: new StateS3Location(`$.ingest.channels.${channel}`) } },
      })),
      outputDataConfig: {
        s3OutputLocation: tasks.S3Location.fromBucket(bucket, s3Keys.trainingOutput),
        encryptionKey: props.outputEncryptionKey,
      },
      resourceConfig: {
        instanceCount,
        instanceType: new ec2.InstanceType(instanceType.replace(/^ml\./, '')),
        volumeSize: props.volumeSize ?? Size.gibibytes(30),
        volumeEncryptionKey: props.volumeEncryptionKey,
      },
      vpcConfig: props.vpc ? { vpc: props.vpc, subnets: props.subnets } : undefined,
      stoppingCondition: { maxRuntime: job.maxRuntime },
      taskTimeout: sfn.Timeout.duration(job.jobLimit.plus(Duration.minutes(15))),
      extras: {
        spot: job.maxWaitTime ? { maxWaitTime: job.maxWaitTime } : undefined,
        // One prefix per job: a restarted (spot-interrupted) job finds its own checkpoints.
        checkpointS3Uri: job.checkpoints
          ? {
              expression: sfn.JsonPath.format(
                `s3://${bucket.bucketName}/${CHECKPOINTS_PREFIX}{}/`,
                sfn.JsonPath.stringAt('$.ingest.trainingJobName'),
              ),
            }
          : undefined,
        keepAlive: job.keepAlive,
        // datasets/<model>/hyperparameters.json (read by ingest) over the stack's hyperparameters.
        hyperparametersExpression: sfn.JsonPath.jsonMerge(
          sfn.JsonPath.objectAt(HYPERPARAMETER_DEFAULTS_PATH),
          sfn.JsonPath.objectAt('$.ingest.hyperparameters'),
        ),
      },
      resultSelector: {
        trainingJobName: sfn.JsonPath.stringAt('$.TrainingJobName'),
        modelArtifacts: sfn.JsonPath.stringAt('$.ModelArtifacts.S3ModelArtifacts'),
      },
      resultPath: '$.training',
    });

    const evaluateTask = new tasks.LambdaInvoke(this, 'Evaluate candidate', {
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
      new tasks.LambdaInvoke(this, name, {
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
    const recordFailureTask = new tasks.LambdaInvoke(this, 'Record failure', {
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
      new tasks.LambdaInvoke(this, name, {
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
        maxConcurrency: parts.maxConcurrency,
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
        // slot). The execution's timeout bounds the loop.
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
          hyperparameterDefaults
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
      timeout: job.jobLimit.plus(Duration.hours(1)).plus(approval ? approvalTimeout : Duration.seconds(0)),
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

/**
 * An S3 location read from the execution state that grants nothing by itself: the channels
 * always lie under splits/, which the training role can read. (S3Location.fromJsonExpression
 * would grant s3:GetObject on every bucket.)
 */
class StateS3Location extends tasks.S3Location {
  constructor(private readonly jsonPath: string) {
    super();
  }

  bind(): tasks.S3LocationConfig {
    return { uri: sfn.JsonPath.stringAt(this.jsonPath) };
  }
}

/**
 * The most parts a file may be cut into: the parts' ranges (about 55 bytes each) and the split
 * counts the Split parts Map answers (about 50 bytes each) travel in the execution state, whose
 * limit is 256 KiB. A thousand parts of even 1 GiB each is more than the hash pass reads in time.
 */
export const MAX_PARTS_LIMIT = 1000;

/** IngestionPartsOptions with their defaults, checked. */
export function resolveIngestionParts(options: IngestionPartsOptions = {}): {
  aboveBytes: number;
  partBytes: number;
  maxParts: number;
  maxConcurrency: number;
} {
  const aboveBytes = (options.above ?? Size.gibibytes(2)).toBytes();
  const partBytes = (options.partSize ?? Size.mebibytes(256)).toBytes();
  const maxParts = options.maxParts ?? 1000;
  const maxConcurrency = options.maxConcurrency ?? 100;
  if (!(partBytes >= 1024)) throw new Error(`ingestionParts.partSize must be at least 1 KiB, got ${partBytes} bytes.`);
  if (!Number.isInteger(maxParts) || maxParts < 1 || maxParts > MAX_PARTS_LIMIT) {
    throw new Error(`ingestionParts.maxParts must be an integer from 1 to ${MAX_PARTS_LIMIT}, got ${maxParts}.`);
  }
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1 || maxConcurrency > 10000) {
    throw new Error(
      `ingestionParts.maxConcurrency must be an integer from 1 to 10000 (the Distributed Map's limit), got ${maxConcurrency}.`,
    );
  }
  return { aboveBytes, partBytes, maxParts, maxConcurrency };
}

/** A Task waits as long as its function may run (Step Functions' own default is 99999999 s). */
function stageTimeout(fn: MloopFunction<FunctionId>): sfn.Timeout {
  return sfn.Timeout.duration(Duration.seconds(FUNCTIONS[fn.functionId].timeoutSeconds + 30));
}

/** The ECR repository an image URI (`<account>.dkr.ecr.<region>.<suffix>/<repo>:<tag>`) is pulled from. */
export function repositoryArn(stack: Stack, image: string): string {
  const match = /^(\d{12})\.dkr\.ecr\.([^.]+)\.[^/]+\/([^:@]+)/.exec(image);
  if (!match) {
    throw new Error(
      `trainingImage '${image}' is not an ECR image URI: expected <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>.`,
    );
  }
  return `arn:${stack.partition}:ecr:${match[2]}:${match[1]}:repository/${match[3]}`;
}
