/**
 * The ModelTraining construct's SageMaker settings (lib/training.ts), asserted on the synthesized template:
 * the instance type default, managed spot training with MaxWaitTime and checkpoints in S3, warm
 * pools, KMS keys for the volume and the output (with their grants), a VPC, the hyperparameters
 * merge, and the validation of the props (errors asserted by message). The stack is built with
 * imported keys and an imported VPC so that ARNs and ids are plain strings to compare.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CfnWaitConditionHandle, Duration, Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { AwsSolutionsChecks } from 'cdk-nag';
import { inProcessApp } from '../lib/app';
import { MloopStack, type MloopStackProps, type TrainingSettings } from '../lib/mloop-stack';
import { resolveTrainingJobSettings } from '../lib/training';
import { PIPELINE_HYPERPARAMETERS } from '../lambdas/data/hyperparameter-limits';
import { renderTrainingJobExtras, TrainingJobTask } from '../lib/training-job';
import {
  allows,
  arnText,
  mloopFunction,
  roleAssumedBy,
  roleStatements,
  stateMachineDefinition,
  theResource,
  type Definition,
  type Json,
  type State,
  type Statement,
} from './helpers/template';

jest.setTimeout(120_000);

const VOLUME_KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/11111111-1111-1111-1111-111111111111';
const OUTPUT_KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/22222222-2222-2222-2222-222222222222';
const VPC_ID = 'vpc-0123456789abcdef0';
const PRIVATE_SUBNETS = ['subnet-private-a', 'subnet-private-b'];
const ISOLATED_SUBNETS = ['subnet-isolated-a', 'subnet-isolated-b'];

type TrainingProps = TrainingSettings;

interface Built {
  readonly stack: MloopStack;
  readonly template: Template;
  readonly definition: Definition;
  readonly train: State;
  readonly bucketArn: string;
  readonly bucketRef: string;
  /** The training role's identity-based statements. */
  readonly trainingRole: Statement[];
  readonly roleOf: (id: 'ingest' | 'evaluate' | 'register' | 'recordFailure' | 'predict' | 'drift') => Statement[];
}

/** Keys and a VPC that live elsewhere (another stack), imported by ARN and id. */
function externals(app: ReturnType<typeof inProcessApp>) {
  const net = new Stack(app, 'Network');
  new CfnWaitConditionHandle(net, 'Placeholder'); // a template needs one resource
  return {
    volumeKey: kms.Key.fromKeyArn(net, 'VolumeKey', VOLUME_KEY_ARN),
    outputKey: kms.Key.fromKeyArn(net, 'OutputKey', OUTPUT_KEY_ARN),
    vpc: ec2.Vpc.fromVpcAttributes(net, 'Vpc', {
      vpcId: VPC_ID,
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      privateSubnetIds: PRIVATE_SUBNETS,
      privateSubnetRouteTableIds: ['rtb-private-a', 'rtb-private-b'],
      isolatedSubnetIds: ISOLATED_SUBNETS,
      isolatedSubnetRouteTableIds: ['rtb-isolated-a', 'rtb-isolated-b'],
    }),
  };
}

type Externals = ReturnType<typeof externals>;

function build(training: (ext: Externals) => TrainingProps = () => ({}), stackProps: Omit<MloopStackProps, 'training'> = {}): Built {
  const app = inProcessApp();
  const ext = externals(app);
  const stack = new MloopStack(app, 'Mloop', { ...stackProps, training: training(ext) });
  const template = Template.fromStack(stack);
  const definition = stateMachineDefinition(template).definition;
  const bucketId = stack.getLogicalId(stack.dataLake.bucket.node.defaultChild as CfnElement);
  return {
    stack,
    template,
    definition,
    train: definition.States['Train model'],
    bucketArn: arnText(bucketId),
    bucketRef: `\${${bucketId}}`,
    trainingRole: roleStatements(template, roleAssumedBy(template, 'sagemaker.amazonaws.com').logicalId),
    roleOf: (id) => roleStatements(template, mloopFunction(template, id).roleId),
  };
}

/** The CDK app's violations of the AwsSolutions pack that no acknowledgement covers. */
function unacknowledgedFindings(stack: Stack): string[] {
  return new AwsSolutionsChecks()
    .validateScope(stack)
    .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath ?? ''} ${r.locations.join(',')}`));
}

const FULL: (ext: Externals) => TrainingProps = (ext) => ({
  useSpotInstances: true,
  maxRuntime: Duration.hours(1),
  maxWaitTime: Duration.hours(3),
  volumeEncryptionKey: ext.volumeKey,
  outputEncryptionKey: ext.outputKey,
  vpc: ext.vpc,
  instanceCount: 2,
});

// -------------------------------------------------------------------------------------------------

describe('defaults', () => {
  let built: Built;
  beforeAll(() => {
    built = build();
  });

  test('train on one ml.g5.xlarge (a GPU instance) with a 30 GiB volume, on demand, without warm pool or VPC', () => {
    const p = built.train.Parameters!;
    expect(p.ResourceConfig).toEqual({ InstanceCount: 1, InstanceType: 'ml.g5.xlarge', VolumeSizeInGB: 30 });
    expect(p.StoppingCondition).toEqual({ MaxRuntimeInSeconds: 7200 });
    for (const field of ['EnableManagedSpotTraining', 'CheckpointConfig', 'VpcConfig'])
      expect([field, p[field]]).toEqual([field, undefined]);
    expect(p.OutputDataConfig.KmsKeyId).toBeUndefined();
  });

  test('give the training role nothing under checkpoints/', () => {
    for (const action of ['s3:GetObject', 's3:PutObject'])
      expect(allows(built.trainingRole, action, `${built.bucketArn}/checkpoints/job/checkpoint.pt`)).toBe(false);
  });

  test('give the training role no EC2 or KMS permissions', () => {
    const actions = built.trainingRole.flatMap((s) => s.actions);
    expect(actions.filter((a) => /^(ec2|kms):/.test(a))).toEqual([]);
  });

  test('hold a training slot that nobody gives back for the job limit plus an hour (TRAINING_LEASE_SECONDS)', () => {
    expect(mloopFunction(built.template, 'ingest').resource.Properties.Environment.Variables.TRAINING_LEASE_SECONDS).toBe(
      String(7200 + 3600),
    );
  });

  test('resolve to the documented values', () => {
    const settings = resolveTrainingJobSettings({});
    expect(settings).toMatchObject({
      instanceType: 'ml.g5.xlarge',
      instanceCount: 1,
      spot: false,
      checkpoints: false,
      maxWaitTime: undefined,
      keepAlive: undefined,
    });
    expect(settings.maxRuntime.toSeconds()).toBe(7200);
  });
});

describe('managed spot training', () => {
  let built: Built;
  beforeAll(() => {
    built = build(() => ({ useSpotInstances: true, maxRuntime: Duration.hours(1), maxWaitTime: Duration.hours(3) }));
  });

  test('sets EnableManagedSpotTraining and MaxWaitTimeInSeconds beside MaxRuntimeInSeconds', () => {
    expect(built.train.Parameters?.EnableManagedSpotTraining).toBe(true);
    expect(built.train.Parameters?.StoppingCondition).toEqual({ MaxRuntimeInSeconds: 3600, MaxWaitTimeInSeconds: 10800 });
  });

  test('keeps checkpoints in the data bucket under checkpoints/<training job>/', () => {
    expect(built.train.Parameters?.CheckpointConfig).toEqual({
      'S3Uri.$': `States.Format('s3://${built.bucketRef}/checkpoints/{}/', $.ingest.trainingJobName)`,
    });
  });

  test("waits for the job as long as MaxWaitTime allows, and the execution an hour more plus the wait for the model's training slot", () => {
    expect((built.train as Json).TimeoutSeconds).toBe(10800 + 15 * 60);
    expect(mloopFunction(built.template, 'ingest').resource.Properties.Environment.Variables.TRAINING_SLOT_WAIT_SECONDS).toBe(
      String(10800 + 3600),
    );
    expect(built.definition.TimeoutSeconds).toBe(10800 + 3600 + (10800 + 3600));
  });

  test('trainingSlotWait sets the wait bound, counted apart in the timeout; under a minute is refused at synth', () => {
    const custom = build(() => ({ trainingSlotWait: Duration.minutes(30) }));
    expect(mloopFunction(custom.template, 'ingest').resource.Properties.Environment.Variables.TRAINING_SLOT_WAIT_SECONDS).toBe('1800');
    expect(custom.definition.TimeoutSeconds).toBe(7200 + 3600 + 1800);
    expect(() => build(() => ({ trainingSlotWait: Duration.seconds(30) }))).toThrow(
      'trainingSlotWait must be at least a minute (the wait loop tries the slot every minute), got 30 seconds.',
    );
  });

  test('holds the training slot for MaxWaitTime plus an hour when nobody gives it back', () => {
    expect(mloopFunction(built.template, 'ingest').resource.Properties.Environment.Variables.TRAINING_LEASE_SECONDS).toBe(
      String(10800 + 3600),
    );
  });

  test('lets the training role read and write checkpoints/, and not delete them', () => {
    const object = `${built.bucketArn}/checkpoints/mloop-m-d1-0000/checkpoint.pt`;
    expect(allows(built.trainingRole, 's3:GetObject', object)).toBe(true);
    expect(allows(built.trainingRole, 's3:PutObject', object)).toBe(true);
    expect(allows(built.trainingRole, 's3:DeleteObject', object)).toBe(false);
    // ... and still nothing else new: datasets stay out of reach.
    expect(allows(built.trainingRole, 's3:GetObject', `${built.bucketArn}/datasets/m/data.csv`)).toBe(false);
    expect(allows(built.trainingRole, 's3:PutObject', `${built.bucketArn}/models/m/v1/model.onnx`)).toBe(false);
  });

  test('no other role may touch checkpoints/', () => {
    for (const id of ['ingest', 'evaluate', 'register', 'recordFailure', 'predict', 'drift'] as const) {
      expect([id, allows(built.roleOf(id), 's3:GetObject', `${built.bucketArn}/checkpoints/j/c.pt`)]).toEqual([id, false]);
    }
  });

  test('waits twice maxRuntime by default', () => {
    const other = build(() => ({ useSpotInstances: true }));
    expect(other.train.Parameters?.StoppingCondition).toEqual({ MaxRuntimeInSeconds: 7200, MaxWaitTimeInSeconds: 14400 });
  });

  test('can go without checkpoints, which then are neither configured nor granted', () => {
    const other = build(() => ({ useSpotInstances: true, checkpoints: false }));
    expect(other.train.Parameters?.EnableManagedSpotTraining).toBe(true);
    expect(other.train.Parameters?.CheckpointConfig).toBeUndefined();
    expect(allows(other.trainingRole, 's3:PutObject', `${other.bucketArn}/checkpoints/j/c.pt`)).toBe(false);
  });

  test('checkpoints can be had on demand too', () => {
    const other = build(() => ({ checkpoints: true }));
    expect(other.train.Parameters?.EnableManagedSpotTraining).toBeUndefined();
    expect(other.train.Parameters?.CheckpointConfig).toEqual({ 'S3Uri.$': expect.stringContaining('/checkpoints/{}/') });
    expect(allows(other.trainingRole, 's3:PutObject', `${other.bucketArn}/checkpoints/j/c.pt`)).toBe(true);
  });
});

describe('KMS keys for the volume and the output', () => {
  let built: Built;
  beforeAll(() => {
    built = build((ext) => ({ volumeEncryptionKey: ext.volumeKey, outputEncryptionKey: ext.outputKey }));
  });

  test('are passed to the training job by ARN', () => {
    expect(built.train.Parameters?.ResourceConfig.VolumeKmsKeyId).toBe(VOLUME_KEY_ARN);
    expect(built.train.Parameters?.OutputDataConfig.KmsKeyId).toBe(OUTPUT_KEY_ARN);
  });

  test('the training role may create grants on the volume key (SageMaker attaches the volume with one)', () => {
    expect(allows(built.trainingRole, 'kms:CreateGrant', VOLUME_KEY_ARN)).toBe(true);
    expect(allows(built.trainingRole, 'kms:CreateGrant', OUTPUT_KEY_ARN)).toBe(false);
  });

  test('the training role may encrypt with the output key, and not decrypt without checkpoints', () => {
    for (const action of ['kms:Encrypt', 'kms:GenerateDataKey'])
      expect([action, allows(built.trainingRole, action, OUTPUT_KEY_ARN)]).toEqual([action, true]);
    expect(allows(built.trainingRole, 'kms:Decrypt', OUTPUT_KEY_ARN)).toBe(false);
  });

  test('evaluate, which reads the artifacts, may decrypt with the output key; no other function may use either key', () => {
    expect(allows(built.roleOf('evaluate'), 'kms:Decrypt', OUTPUT_KEY_ARN)).toBe(true);
    expect(allows(built.roleOf('evaluate'), 'kms:Decrypt', VOLUME_KEY_ARN)).toBe(false);
    for (const id of ['ingest', 'register', 'recordFailure', 'predict', 'drift'] as const) {
      for (const key of [VOLUME_KEY_ARN, OUTPUT_KEY_ARN]) expect([id, allows(built.roleOf(id), 'kms:Decrypt', key)]).toEqual([id, false]);
    }
  });

  test('with checkpoints, the training role may also decrypt with the output key (a restart reads them back)', () => {
    const other = build((ext) => ({ useSpotInstances: true, outputEncryptionKey: ext.outputKey }));
    expect(allows(other.trainingRole, 'kms:Decrypt', OUTPUT_KEY_ARN)).toBe(true);
  });
});

describe('warm pools', () => {
  test('keep the instances alive for the given time (ResourceConfig.KeepAlivePeriodInSeconds)', () => {
    const built = build(() => ({ warmPoolKeepAlive: Duration.minutes(30) }));
    expect(built.train.Parameters?.ResourceConfig).toEqual({
      InstanceCount: 1,
      InstanceType: 'ml.g5.xlarge',
      VolumeSizeInGB: 30,
      KeepAlivePeriodInSeconds: 1800,
    });
    expect(built.train.Parameters?.EnableManagedSpotTraining).toBeUndefined();
  });
});

describe('a VPC', () => {
  let built: Built;
  beforeAll(() => {
    built = build((ext) => ({ vpc: ext.vpc }));
  });

  test("runs the job in the VPC's private subnets with a security group of its own in that VPC", () => {
    const config = built.train.Parameters?.VpcConfig as { Subnets: string[]; SecurityGroupIds: string[] };
    expect(config.Subnets).toEqual(PRIVATE_SUBNETS);
    expect(config.SecurityGroupIds).toHaveLength(1);
    const group = theResource(built.template, 'AWS::EC2::SecurityGroup');
    expect(group.resource.Properties.VpcId).toBe(VPC_ID);
    expect(config.SecurityGroupIds[0]).toBe(`\${${group.logicalId}.GroupId}`);
  });

  test('uses the selected subnets when given', () => {
    const other = build((ext) => ({ vpc: ext.vpc, subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED } }));
    expect(other.train.Parameters?.VpcConfig.Subnets).toEqual(ISOLATED_SUBNETS);
  });

  test('gives the training role the network-interface permissions SageMaker needs there', () => {
    for (const action of [
      'ec2:CreateNetworkInterface',
      'ec2:DeleteNetworkInterface',
      'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeVpcs',
      'ec2:DescribeSubnets',
      'ec2:DescribeSecurityGroups',
    ]) {
      expect([action, allows(built.trainingRole, action, '*')]).toEqual([action, true]);
    }
  });
});

describe('instances', () => {
  test('type and count come from the props', () => {
    const built = build(() => ({ instanceType: 'ml.p3.2xlarge', instanceCount: 2, volumeSize: undefined }));
    expect(built.train.Parameters?.ResourceConfig).toEqual({ InstanceCount: 2, InstanceType: 'ml.p3.2xlarge', VolumeSizeInGB: 30 });
  });
});

describe('hyperparameters', () => {
  test("are the props' (with script mode's and ingest's target and task) merged under the dataset's hyperparameters.json", () => {
    const built = build(() => ({ hyperparameters: { epochs: '50', hidden: '128' } }));
    const resolve = built.definition.States['Resolve hyperparameters'];
    expect(resolve.Type).toBe('Pass');
    expect(resolve.Next).toBe('Train model');
    expect((resolve as Json).ResultPath).toBe('$.hyperparameterDefaults');
    expect(resolve.Parameters).toEqual(
      expect.objectContaining({
        sagemaker_program: 'train.py',
        epochs: '50',
        hidden: '128',
        'target.$': '$.ingest.target',
        'task.$': '$.ingest.task',
      }),
    );
    expect(built.train.Parameters?.HyperParameters).toBeUndefined();
    // JsonMerge(a, b): b's keys win, so the file overrides the props.
    expect(built.train.Parameters?.['HyperParameters.$']).toBe(
      'States.JsonMerge($.hyperparameterDefaults, $.ingest.hyperparameters, false)',
    );
  });

  test('the pipeline sets exactly the five that count toward the 100 beside the props and the file', () => {
    const built = build(() => ({ hyperparameters: { epochs: '50' } }));
    const keys = Object.keys(built.definition.States['Resolve hyperparameters'].Parameters ?? {}).map((key) => key.replace(/\.\$$/, ''));
    // `trainer` is the trainers setting's (default auto), which counts like a props name.
    expect(keys.filter((key) => key !== 'epochs' && key !== 'trainer').sort()).toEqual([...PIPELINE_HYPERPARAMETERS].sort());
    expect(PIPELINE_HYPERPARAMETERS).toHaveLength(5);
  });

  test("Ingest knows the props' names, to count them when it checks hyperparameters.json", () => {
    const built = build(() => ({ hyperparameters: { epochs: '50', hidden: '128' } }));
    const env = mloopFunction(built.template, 'ingest').resource.Properties.Environment.Variables;
    expect(JSON.parse(String(env.STACK_HYPERPARAMETERS))).toEqual(['trainer', 'epochs', 'hidden']);
    const defaults = mloopFunction(build().template, 'ingest').resource.Properties.Environment.Variables;
    expect(JSON.parse(String(defaults.STACK_HYPERPARAMETERS))).toEqual(['trainer']);
  });

  test("the trainers setting is the job's `trainer`: auto by default with mloop's own code, the prop's choice, none for a script of your own", () => {
    const trainerOf = (built: Built) => built.definition.States['Resolve hyperparameters'].Parameters?.trainer;
    expect(trainerOf(build())).toBe('auto');
    expect(trainerOf(build(() => ({ trainers: 'xgboost' })))).toBe('xgboost');
    const own = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-own-code-'));
    fs.writeFileSync(path.join(own, 'train.py'), 'print("mine")\n');
    try {
      expect(trainerOf(build(() => ({ trainingCodeDir: own })))).toBeUndefined();
      // Asked for explicitly, a script of your own gets it too.
      expect(trainerOf(build(() => ({ trainingCodeDir: own, trainers: 'mlp' })))).toBe('mlp');
    } finally {
      fs.rmSync(own, { recursive: true, force: true });
    }
  });

  test.each<[string, TrainingProps, RegExp]>([
    [
      'a trainer mloop does not have',
      { trainers: 'lightgbm' as 'auto' },
      /^The trainers prop must be one of mlp, xgboost, auto, got "lightgbm"\.$/,
    ],
    [
      'the trainer chosen twice',
      { trainers: 'mlp', hyperparameters: { trainer: 'xgboost' } },
      /^The trainers prop and the hyperparameters prop's 'trainer' both choose the trainer: keep one \(trainers\)\.$/,
    ],
  ])('synth refuses %s', (_what, props, message) => {
    expect(() => build(() => props)).toThrow(message);
  });

  const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`hp${i}`, String(i)]));

  test("synth takes 94 props hyperparameters: 100 with the pipeline's five and the trainers setting's trainer", () => {
    const built = build(() => ({ hyperparameters: many(94) }));
    expect(Object.keys(built.definition.States['Resolve hyperparameters'].Parameters ?? {})).toHaveLength(100);
  });

  test.each<[string, Record<string, string>, RegExp]>([
    [
      '95 (101 with the five the pipeline sets and the trainer)',
      many(95),
      /^The training hyperparameters prop has 95 hyperparameters; with the 5 the pipeline sets \(sagemaker_program, sagemaker_submit_directory, sagemaker_region, target, task\) and 1 more from the trainers setting \(trainer\) a training job would get 101; SageMaker takes at most 100: remove 1\.$/,
    ],
    [
      'a value of 2,501 characters',
      { note: 'x'.repeat(2501) },
      /hyperparameter 'note' must be at most 2500 characters long \(SageMaker's limit\), got 2501/,
    ],
    [
      'a name of 257 characters',
      { ['n'.repeat(257)]: '1' },
      /hyperparameter name 'n{40}\.\.\.' must be 1 to 256 characters long and not blank \(SageMaker's limit\), got 257/,
    ],
    [
      'more than 32 KiB in all',
      Object.fromEntries(Array.from({ length: 14 }, (_, i) => [`blob${i}`, 'x'.repeat(2500)])),
      /the hyperparameters take \d+ bytes of JSON, over the 32768 the pipeline carries in its execution state/,
    ],
  ])('synth refuses %s', (_name, hyperparameters, message) => {
    expect(() => build(() => ({ hyperparameters }))).toThrow(message);
  });
});

describe('validation of the props', () => {
  const invalid = (props: (ext: Externals) => TrainingProps) => () => build(props);

  test.each<[string, (ext: Externals) => TrainingProps, RegExp]>([
    [
      'maxWaitTime shorter than maxRuntime',
      () => ({ useSpotInstances: true, maxRuntime: Duration.hours(4), maxWaitTime: Duration.hours(2) }),
      /maxWaitTime \(2 hours\) must be at least maxRuntime \(4 hours\)/,
    ],
    [
      'maxWaitTime without spot',
      () => ({ maxWaitTime: Duration.hours(4) }),
      /maxWaitTime applies to managed spot training only: set useSpotInstances: true/,
    ],
    [
      'maxWaitTime over 28 days',
      () => ({ useSpotInstances: true, maxWaitTime: Duration.days(29) }),
      /maxWaitTime must be at most 28 days, got 29 days/,
    ],
    ['maxRuntime over 28 days', () => ({ maxRuntime: Duration.days(30) }), /maxRuntime must be between 1 second and 28 days, got 30 days/],
    [
      'a warm pool with spot',
      () => ({ useSpotInstances: true, warmPoolKeepAlive: Duration.minutes(10) }),
      /warmPoolKeepAlive cannot be combined with useSpotInstances/,
    ],
    [
      'a warm pool over an hour',
      () => ({ warmPoolKeepAlive: Duration.minutes(61) }),
      /warmPoolKeepAlive must be between 1 second and 1 hour, got 1 hour 1 minute/,
    ],
    [
      'a warm pool of 0 seconds',
      () => ({ warmPoolKeepAlive: Duration.seconds(0) }),
      /warmPoolKeepAlive must be between 1 second and 1 hour/,
    ],
    ['zero instances', () => ({ instanceCount: 0 }), /instanceCount must be a positive integer, got 0/],
    ['a fractional instance count', () => ({ instanceCount: 1.5 }), /instanceCount must be a positive integer, got 1.5/],
    ['an instance type without ml.', () => ({ instanceType: 'g5.xlarge' }), /instanceType 'g5.xlarge' is not a SageMaker instance type/],
    ['subnets without a VPC', () => ({ subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED } }), /subnets needs vpc/],
  ])('rejects %s', (_name, props, message) => {
    expect(invalid(props)).toThrow(message);
  });
});

describe('cdk-nag (AwsSolutions)', () => {
  test.each<[string, (ext: Externals) => TrainingProps]>([
    ['spot, checkpoints, both keys and a VPC', FULL],
    [
      'a warm pool, an output key and selected subnets',
      (ext) => ({
        warmPoolKeepAlive: Duration.minutes(5),
        outputEncryptionKey: ext.outputKey,
        vpc: ext.vpc,
        subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      }),
    ],
  ])('finds nothing unacknowledged with %s', (_name, props) => {
    expect(unacknowledgedFindings(build(props).stack)).toEqual([]);
  });

  test('every acknowledgement the options add names a finding that cdk-nag raises there', () => {
    const ACKNOWLEDGED = 'aws:cdk:acknowledged-rules';
    const acknowledged = build(FULL)
      .stack.node.findAll()
      .flatMap((c) =>
        c.node.metadata
          .filter((m) => m.type === ACKNOWLEDGED && m.data)
          .flatMap((m) => Object.keys(m.data as object).map((rule) => ({ path: c.node.path, rule: rule.replace(/^annotation::/i, '') }))),
      );
    const spy = jest.spyOn(Validations.prototype, 'acknowledge').mockImplementation(() => {});
    let unfiltered: MloopStack;
    try {
      unfiltered = build(FULL).stack;
    } finally {
      spy.mockRestore();
    }
    const findings = new AwsSolutionsChecks()
      .validateScope(unfiltered)
      .violations.flatMap((v) => v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '' })));
    const stale = acknowledged.filter(
      (ack) => !findings.some((f) => f.rule === ack.rule && (f.path === ack.path || f.path.startsWith(`${ack.path}/`))),
    );
    expect(stale).toEqual([]);
    // The ones these options need: KMS encrypt grants and the VPC's EC2 actions on the training role.
    expect(
      findings.filter((f) => f.path.endsWith('/TrainingRole/DefaultPolicy/Resource') || f.path.includes('TrainingRole')).map((f) => f.rule),
    ).toEqual(
      expect.arrayContaining([
        'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        'AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
        'AwsSolutions-IAM5[Resource::*]',
      ]),
    );
  });
});

describe('the escape hatch (TrainingJobTask)', () => {
  test("is CDK's SageMakerCreateTrainingJob, so CDK's grants, VPC and KMS handling still apply", () => {
    const built = build(FULL);
    const task = built.stack.training.node.findAll().find((c) => c instanceof TrainingJobTask);
    expect(task).toBeInstanceOf(tasks.SageMakerCreateTrainingJob);
  });

  test('adds the extras to the rendered Parameters and leaves the other fields as CDK rendered them', () => {
    const rendered = {
      TrainingJobName: 'j',
      ResourceConfig: { InstanceCount: 1, InstanceType: 'ml.g5.xlarge', VolumeSizeInGB: 30 },
      StoppingCondition: { MaxRuntimeInSeconds: 60 },
      HyperParameters: { a: '1' },
    };
    expect(
      renderTrainingJobExtras(rendered, {
        spot: { maxWaitTime: Duration.minutes(2) },
        checkpointS3Uri: { uri: 's3://b/checkpoints/j/' },
        keepAlive: Duration.minutes(1),
        hyperparametersExpression: '$.hp',
      }),
    ).toEqual({
      TrainingJobName: 'j',
      ResourceConfig: { InstanceCount: 1, InstanceType: 'ml.g5.xlarge', VolumeSizeInGB: 30, KeepAlivePeriodInSeconds: 60 },
      StoppingCondition: { MaxRuntimeInSeconds: 60, MaxWaitTimeInSeconds: 120 },
      EnableManagedSpotTraining: true,
      CheckpointConfig: { S3Uri: 's3://b/checkpoints/j/' },
      'HyperParameters.$': '$.hp',
    });
    expect(renderTrainingJobExtras(rendered, {})).toEqual(rendered);
  });

  test('refuses a JSONata state, whose fields it cannot extend', () => {
    const app = inProcessApp();
    const stack = new Stack(app, 'Jsonata');
    const task = new TrainingJobTask(stack, 'Train', {
      queryLanguage: sfn.QueryLanguage.JSONATA,
      trainingJobName: 'job',
      algorithmSpecification: { trainingImage: tasks.DockerImage.fromRegistry('123456789012.dkr.ecr.eu-west-1.amazonaws.com/x:1') },
      outputDataConfig: { s3OutputLocation: tasks.S3Location.fromJsonExpression('$.out') },
      extras: { spot: { maxWaitTime: Duration.hours(1) } },
    });
    expect(() => task.toStateJson(sfn.QueryLanguage.JSONATA)).toThrow(/JSONPath states only/);
  });
});
