/**
 * Model training: the SageMaker side of the training pipeline. The settings of the training job
 * (instance type and count, volume, runtime limits, spot, checkpoints, warm pools, KMS keys, VPC)
 * with their defaults and synth-time checks, the training code asset (script mode, versioned by
 * content), the role the jobs run as, and the two states that start a job: 'Resolve
 * hyperparameters' and 'Train model' (SageMaker CreateTrainingJob .sync, lib/training-job.ts).
 * The state graph that runs them is lib/pipeline.ts; the trainer itself is training/.
 */
import * as path from 'node:path';
import { ArnFormat, Duration, Size, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { hyperparameterViolation } from '../lambdas/data/hyperparameter-limits';
import { s3Keys } from '../lambdas/shared/layout';
import { TRAINER_HYPERPARAMETER, type TrainerChoice, trainerViolation } from '../lambdas/shared/trainers';
import { REPO_ROOT } from './function-catalog';
import { dlcAccount } from './dlc-accounts';
import { acknowledge, acknowledgeBucketGrants } from './nag';
import { packTrainingCode } from './training-code';
import { TrainingJobTask } from './training-job';

/** The AWS Deep Learning Containers' PyTorch training image (its account by region: ./dlc-accounts.ts). */
export const DEFAULT_TRAINING_IMAGE_REPOSITORY = 'pytorch-training';
export const DEFAULT_TRAINING_IMAGE_TAG = '2.6.0-gpu-py312-cu126-ubuntu22.04-sagemaker';

/** The longest MaxRuntimeInSeconds and MaxWaitTimeInSeconds SageMaker accepts (28 days). */
export const MAX_TRAINING_TIME = Duration.days(28);
/** The longest KeepAlivePeriodInSeconds SageMaker accepts. */
export const MAX_WARM_POOL_KEEP_ALIVE = Duration.hours(1);
/** Where the state keeps the job's hyperparameters before hyperparameters.json is merged over them. */
export const HYPERPARAMETER_DEFAULTS_PATH = '$.hyperparameterDefaults';
/** Where checkpoints live in the data bucket: checkpoints/<training job>/. */
export const CHECKPOINTS_PREFIX = 'checkpoints/';

/** The training job's settings: the SageMaker part of `MloopStackProps.training`. */
export interface ModelTrainingOptions {
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
   * Extra hyperparameters passed to every training job (strings, as SageMaker wants them). With
   * the five the pipeline sets (lambdas/data/hyperparameter-limits.ts) at most 100 names, of up to
   * 256 characters, values up to 2,500 and 32 KiB of JSON in all: checked at synth. A model's
   * hyperparameters.json is merged over them and checked at ingest against the same limits.
   * @default - none: the script's defaults
   */
  readonly hyperparameters?: Record<string, string>;
  /**
   * Which of mloop's built-in trainers the jobs run (the script's `trainer` hyperparameter):
   * `mlp` (the PyTorch MLP), `xgboost` (gradient-boosted trees) or `auto`: one job trains both
   * and keeps the one with the better validation loss, which then meets the gate against the
   * champion like any candidate. One job rather than two in a Parallel state: one container start
   * and one download of the splits, and the trees take seconds beside the MLP (see
   * training/train_auto.py). A model's hyperparameters.json (`"trainer"`) is merged over it, and
   * `mloop run|train --trainer` (the `mloop-trainer` object metadata, a TrainRequest's `trainer`)
   * over both, for one run.
   * @default - 'auto' with mloop's own training code; with `trainingCodeDir`, not set (your
   * script's own default)
   */
  readonly trainers?: TrainerChoice;
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
}

export interface ModelTrainingProps extends ModelTrainingOptions {
  /** The data bucket: the jobs read `splits/` and write `training/` (and `checkpoints/`) in it. */
  readonly bucket: s3.IBucket;
}

/** The settings of the training job, defaults applied and validated (the constructor's first step). */
export function resolveTrainingJobSettings(props: ModelTrainingOptions) {
  const instanceType = props.instanceType ?? 'ml.g5.xlarge';
  if (!/^ml\.[a-z0-9]+\.[a-z0-9]+$/.test(instanceType)) {
    throw new Error(`instanceType '${instanceType}' is not a SageMaker instance type: expected a name like 'ml.g5.xlarge'.`);
  }
  const instanceCount = props.instanceCount ?? 1;
  if (!Number.isInteger(instanceCount) || instanceCount < 1) {
    throw new Error(`instanceCount must be a positive integer, got ${instanceCount}.`);
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
  if (props.trainers !== undefined) {
    const violation = trainerViolation(props.trainers, 'The trainers prop');
    if (violation) throw new Error(violation);
    if (props.hyperparameters?.[TRAINER_HYPERPARAMETER] !== undefined) {
      throw new Error(
        `The trainers prop and the hyperparameters prop's '${TRAINER_HYPERPARAMETER}' both choose the trainer: keep one (trainers).`,
      );
    }
  }
  // mloop's own script knows `trainer`; a script of your own gets it only when you ask for it.
  const trainer = props.trainers ?? (props.trainingCodeDir === undefined ? 'auto' : undefined);
  const hyperparameters = { ...(trainer ? { [TRAINER_HYPERPARAMETER]: trainer } : {}), ...props.hyperparameters };
  if (props.hyperparameters !== undefined) {
    // What hyperparameters.json is checked against at ingest, checked for the prop at synth (the
    // trainers setting's `trainer` counts as one more name).
    const violation = hyperparameterViolation(
      props.hyperparameters,
      'The training hyperparameters prop',
      trainer ? [TRAINER_HYPERPARAMETER] : [],
      `the trainers setting (${TRAINER_HYPERPARAMETER})`,
    );
    if (violation) throw new Error(violation.message);
  }
  if (props.subnets !== undefined && props.vpc === undefined) {
    throw new Error('subnets needs vpc: the subnets are selected from the VPC the training jobs run in.');
  }
  const checkpoints = props.checkpoints ?? spot;
  /** The longest a job may take: what the task and the execution wait for. */
  const jobLimit = maxWaitTime ?? maxRuntime;
  return { instanceType, instanceCount, maxRuntime, spot, maxWaitTime, keepAlive, checkpoints, jobLimit, hyperparameters };
}

/**
 * Model training on SageMaker: the training code asset, the role the jobs run as, and the states
 * that start a job from what Ingest answered ($.ingest: the job name, the split channels, the
 * target, the task and the dataset's hyperparameters.json):
 *
 *   Resolve hyperparameters (Pass) ─► Train model (SageMaker CreateTrainingJob .sync) ─► $.training
 *
 * The pipeline (lib/pipeline.ts) chains `start` into its graph and catches the task's failures.
 */
export class ModelTraining extends Construct {
  /** The role SageMaker runs the training jobs as. */
  readonly trainingRole: iam.Role;
  /** SHA-256 of the training code, recorded with every model version. */
  readonly codeVersion: string;
  /** The longest a job may take, waiting for spot capacity included: what the pipeline waits for. */
  readonly jobLimit: Duration;
  /** Instances per training job (the dashboard's instance hours are its job hours times this). */
  readonly instanceCount: number;
  /** The job's hyperparameters before the dataset's hyperparameters.json is merged over them (the first state). */
  readonly resolveHyperparameters: sfn.Pass;
  /**
   * The hyperparameters the stack sets for every job beyond script mode's and the pipeline's:
   * the `trainers` choice (`trainer`) and the `hyperparameters` prop.
   */
  readonly stackHyperparameters: Readonly<Record<string, string>>;
  /** The SageMaker CreateTrainingJob .sync task, its answer at $.training (the second state). */
  readonly trainTask: TrainingJobTask;

  constructor(scope: Construct, id: string, props: ModelTrainingProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const bucket = props.bucket;
    const job = resolveTrainingJobSettings(props);
    const { instanceType, instanceCount } = job;
    this.jobLimit = job.jobLimit;
    this.stackHyperparameters = job.hyperparameters;
    this.instanceCount = instanceCount;

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
    // The DLC account differs by region (opt-in, China, GovCloud regions): looked up, not assumed.
    const dlc = props.trainingImage ? undefined : dlcAccount(stack);
    const image =
      props.trainingImage ??
      `${dlc}.dkr.ecr.${stack.region}.${stack.urlSuffix}/${DEFAULT_TRAINING_IMAGE_REPOSITORY}:${DEFAULT_TRAINING_IMAGE_TAG}`;
    this.trainingRole.addToPolicy(new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
    this.trainingRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
        resources: [
          props.trainingImage
            ? repositoryArn(stack, props.trainingImage)
            : `arn:${stack.partition}:ecr:${stack.region}:${dlc}:repository/${DEFAULT_TRAINING_IMAGE_REPOSITORY}`,
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
      ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:Abort*', 's3:DeleteObject*'],
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

    // The job's hyperparameters before the dataset's hyperparameters.json is merged over them:
    // script mode's, the props', and the target and task that ingest fixed.
    this.resolveHyperparameters = new sfn.Pass(this, 'Resolve hyperparameters', {
      parameters: {
        sagemaker_program: entryPoint,
        sagemaker_submit_directory: code.s3ObjectUrl,
        sagemaker_region: stack.region,
        ...job.hyperparameters,
        target: sfn.JsonPath.stringAt('$.ingest.target'),
        task: sfn.JsonPath.stringAt('$.ingest.task'),
      },
      resultPath: HYPERPARAMETER_DEFAULTS_PATH,
    });

    this.trainTask = new TrainingJobTask(this, 'Train model', {
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
