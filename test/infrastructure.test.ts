/**
 * The CDK stack, asserted resource by resource: storage, the training pipeline and its state
 * machine, the functions and their least-privilege roles, the registry, the API, the drift
 * schedule and cdk-nag. Logical ids are never written here: resources are found through their
 * constructs, their `mloop:function` metadata, their properties or their paths.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CfnWaitConditionHandle, Stack, Validations, type App, type CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { buildApp, inProcessApp } from '../lib/app';
import { FUNCTIONS, REPO_ROOT, type FunctionId } from '../lib/function-catalog';
import { MloopStack, STACK_OUTPUTS } from '../lib/mloop-stack';
import { codeVersion } from '../lib/training-code';
import { DLC_ACCOUNT } from '../lib/dlc-accounts';
import { acknowledgements, acknowledgementsWithoutReason, synthWithNag } from './helpers/nag';
import {
  allIdentityStatements,
  allows,
  apiMethod,
  arnText,
  mloopFunction,
  mloopFunctions,
  reachableStates,
  renderText,
  resourcesGranted,
  resourcesOfType,
  roleAssumedBy,
  roleStatements,
  stateMachineDefinition,
  theResource,
  type Definition,
  type Json,
  type State,
  logicalIdOf,
} from './helpers/template';

jest.setTimeout(120_000);

const CATALOG_IDS = Object.keys(FUNCTIONS).sort() as FunctionId[];

let stack: MloopStack;
let template: Template;
let definition: Definition;

/** The logical id of a construct's CloudFormation resource, asked of the stack (never written down). */
const idOf = (construct: IConstruct): string => logicalIdOf(stack, construct);

let dataBucketId: string;
let dataBucketArn: string;
/** A concrete object ARN under a prefix of the data bucket, to probe policies with. */
const objectArn = (key: string) => `${dataBucketArn}/${key}`;

const state = (name: string): State => {
  const found = definition.States[name];
  if (!found) throw new Error(`No state '${name}' in ${Object.keys(definition.States).join(', ')}`);
  return found;
};
const statesOfType = (type: string): [string, State][] => Object.entries(definition.States).filter(([, s]) => s.Type === type);

beforeAll(() => {
  const app = inProcessApp();
  stack = buildApp(app);
  template = Template.fromStack(stack);
  definition = stateMachineDefinition(template).definition;
  dataBucketId = idOf(stack.dataLake.bucket);
  dataBucketArn = arnText(dataBucketId);
});

// -------------------------------------------------------------------------------------------------

describe('the data bucket', () => {
  const bucketProps = () => template.toJSON().Resources[dataBucketId].Properties as Record<string, Json>;

  test('is versioned', () => {
    expect(bucketProps().VersioningConfiguration).toEqual({ Status: 'Enabled' });
  });

  test('is encrypted with S3-managed keys by default', () => {
    expect(bucketProps().BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
  });

  test('blocks all four kinds of public access', () => {
    expect(bucketProps().PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
  });

  test('denies every request not sent over TLS', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: dataBucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            Resource: Match.arrayWith([{ 'Fn::GetAtt': [dataBucketId, 'Arn'] }]),
          }),
        ]),
      },
    });
  });

  test('publishes its object events to EventBridge', () => {
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: dataBucketId },
      NotificationConfiguration: { EventBridgeConfiguration: {} },
    });
  });

  test('writes server access logs to the access-log bucket', () => {
    const accessLogsId = idOf(stack.dataLake.accessLogs);
    expect(accessLogsId).not.toBe(dataBucketId);
    expect(bucketProps().LoggingConfiguration).toEqual({ DestinationBucketName: { Ref: accessLogsId }, LogFilePrefix: 'data-bucket/' });
  });

  test('is retained when the stack is deleted', () => {
    template.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({ LoggingConfiguration: Match.anyValue() }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  test('enforces bucket-owner object ownership (no ACLs)', () => {
    expect(bucketProps().OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
  });
});

describe('the access-log bucket', () => {
  const props = () => template.toJSON().Resources[idOf(stack.dataLake.accessLogs)].Properties as Record<string, Json>;

  test('is encrypted and blocks all public access', () => {
    expect(props().BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
    expect(Object.values(props().PublicAccessBlockConfiguration)).toEqual([true, true, true, true]);
  });

  test('expires its logs after a year', () => {
    expect(props().LifecycleConfiguration.Rules).toEqual(expect.arrayContaining([expect.objectContaining({ ExpirationInDays: 365 })]));
  });
});

describe('the data bucket with a customer-managed key', () => {
  const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  let kmsTemplate: Template;
  let kmsBucketArn: string;

  beforeAll(() => {
    const app = inProcessApp();
    // The key lives elsewhere; its stack needs one resource to be a valid template.
    const keys = new Stack(app, 'Keys');
    new CfnWaitConditionHandle(keys, 'Placeholder');
    const key = kms.Key.fromKeyArn(keys, 'Key', KEY_ARN);
    const withKey = new MloopStack(app, 'WithKey', { encryptionKey: key });
    kmsTemplate = Template.fromStack(withKey);
    kmsBucketArn = arnText(withKey.getLogicalId(withKey.dataLake.bucket.node.defaultChild as CfnElement));
  });

  test('is encrypted with aws:kms under that key, with a bucket key', () => {
    kmsTemplate.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: KEY_ARN }, BucketKeyEnabled: true },
        ],
      },
    });
  });

  const PREFIXES = [
    'datasets',
    'splits',
    'profiles',
    'reports',
    'training',
    'candidates',
    'models',
    'capture',
    'monitoring',
    'batch',
    'predictions',
    'errors',
  ];
  /** The statements of every role that may perform `action` on some object of the data bucket. */
  const rolesThatCan = (action: string) =>
    resourcesOfType(kmsTemplate, 'AWS::IAM::Role')
      .map(({ logicalId }) => ({ logicalId, statements: roleStatements(kmsTemplate, logicalId) }))
      .filter(({ statements }) => PREFIXES.some((p) => allows(statements, action, `${kmsBucketArn}/${p}/m/object`)));

  test('lets every role that reads the bucket decrypt with the key', () => {
    const readers = rolesThatCan('s3:GetObject');
    expect(readers).toHaveLength(8); // seven functions (not recordFailure; batch scoring's included) and the training role
    for (const { logicalId, statements } of readers)
      expect([logicalId, allows(statements, 'kms:Decrypt', KEY_ARN)]).toEqual([logicalId, true]);
  });

  test('lets every role that writes the bucket generate data keys with the key', () => {
    const writers = rolesThatCan('s3:PutObject');
    expect(writers).toHaveLength(8); // seven functions (not recordFailure; batch scoring's included) and the training role
    for (const { logicalId, statements } of writers)
      expect([logicalId, allows(statements, 'kms:GenerateDataKey', KEY_ARN)]).toEqual([logicalId, true]);
  });
});

// -------------------------------------------------------------------------------------------------

describe('the rule that starts the pipeline', () => {
  const rule = () =>
    theResource(
      template,
      'AWS::Events::Rule',
      // The training pipeline's rule (batch scoring's, under batch/, is lib/batch.ts's: test/batch-infrastructure.test.ts).
      ({ logicalId, resource }) => logicalId.startsWith('Training') && resource.Properties.EventPattern?.source?.[0] === 'aws.s3',
    );

  test('matches S3 "Object Created" events of the data bucket under datasets/', () => {
    expect(rule().resource.Properties.EventPattern).toEqual({
      source: ['aws.s3'],
      'detail-type': ['Object Created'],
      detail: {
        bucket: { name: [{ Ref: dataBucketId }] },
        object: { key: [{ prefix: 'datasets/' }] },
      },
    });
  });

  const starter = () => mloopFunction(template, 'startPipeline');
  const deadLetter = () => theResource(template, 'AWS::SQS::Queue', ({ logicalId }) => logicalId.startsWith('Training'));

  test('targets the pipeline starter, not the state machine (the starter names executions after object versions)', () => {
    const targets = rule().resource.Properties.Targets;
    expect(targets).toHaveLength(1);
    expect(targets[0].Arn).toEqual({ 'Fn::GetAtt': [starter().logicalId, 'Arn'] });
    expect(targets[0].Input ?? targets[0].InputPath ?? targets[0].InputTransformer).toBeUndefined(); // the whole event
  });

  test('retries a refused delivery, then dead-letters it to the queue', () => {
    const target = rule().resource.Properties.Targets[0];
    expect(target.RetryPolicy).toEqual({ MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 7200 });
    expect(target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [deadLetter().logicalId, 'Arn'] } });
  });

  test('is enabled', () => {
    expect(rule().resource.Properties.State).toBe('ENABLED');
  });

  test('alone may invoke the starter', () => {
    const permissions = resourcesOfType(template, 'AWS::Lambda::Permission').filter(
      ({ resource }) => JSON.stringify(resource.Properties.FunctionName) === JSON.stringify({ 'Fn::GetAtt': [starter().logicalId, 'Arn'] }),
    );
    expect(permissions.map(({ resource }) => resource.Properties)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [starter().logicalId, 'Arn'] },
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [rule().logicalId, 'Arn'] },
      },
    ]);
  });
});

describe('the pipeline starter', () => {
  const starter = () => mloopFunction(template, 'startPipeline');
  const deadLetter = () => theResource(template, 'AWS::SQS::Queue', ({ logicalId }) => logicalId.startsWith('Training'));

  test('knows the state machine it starts', () => {
    const { logicalId } = stateMachineDefinition(template);
    expect(starter().resource.Properties.Environment.Variables.STATE_MACHINE_ARN).toEqual({ Ref: logicalId });
  });

  test('may start executions of that state machine and nothing else, and send to its dead-letter queue', () => {
    const { logicalId } = stateMachineDefinition(template);
    const statements = roleStatements(template, starter().roleId).map((s) => [s.effect, [...s.actions].sort(), s.resources]);
    expect(statements).toEqual(
      expect.arrayContaining([
        ['Allow', ['states:StartExecution'], [`\${${logicalId}}`]],
        ['Allow', ['sqs:SendMessage'], [arnText(deadLetter().logicalId)]],
      ]),
    );
    expect(statements).toHaveLength(3); // and X-Ray's, which every function has
    expect(statements).toContainEqual(['Allow', ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], ['*']]);
  });

  test('retries a failed invocation twice, then sends the event to the dead-letter queue', () => {
    expect(starter().resource.Properties.DeadLetterConfig).toEqual({ TargetArn: { 'Fn::GetAtt': [deadLetter().logicalId, 'Arn'] } });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: starter().logicalId },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 6 * 3600,
    });
  });

  test("has a dead-letter queue that is encrypted, keeps messages 14 days, refuses plain HTTP and takes EventBridge's messages from the pipeline's two rules only", () => {
    const queue = deadLetter();
    expect(queue.resource.Properties).toEqual({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 86400 });
    const policy = theResource(
      template,
      'AWS::SQS::QueuePolicy',
      ({ resource }) => JSON.stringify(resource.Properties.Queues) === JSON.stringify([{ Ref: queue.logicalId }]),
    ).resource.Properties;
    expect(policy.Queues).toEqual([{ Ref: queue.logicalId }]);
    const rule = theResource(
      template,
      'AWS::Events::Rule',
      // The training pipeline's rule (batch scoring's, under batch/, is lib/batch.ts's: test/batch-infrastructure.test.ts).
      ({ logicalId, resource }) => logicalId.startsWith('Training') && resource.Properties.EventPattern?.source?.[0] === 'aws.s3',
    );
    // The cleanup rule (executions that ended stopped, timed out or failed) dead-letters here too.
    // (Batch scoring has its own, for its state machine: test/batch-infrastructure.test.ts.)
    const ended = theResource(
      template,
      'AWS::Events::Rule',
      ({ logicalId, resource }) => logicalId.startsWith('Training') && resource.Properties.EventPattern?.source?.[0] === 'aws.states',
    );
    const allowFrom = (logicalId: string) =>
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'sqs:SendMessage',
        Principal: { Service: 'events.amazonaws.com' },
        Resource: { 'Fn::GetAtt': [queue.logicalId, 'Arn'] },
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalId, 'Arn'] } } },
      });
    expect(policy.PolicyDocument.Statement).toEqual([
      expect.objectContaining({
        Effect: 'Deny',
        Action: 'sqs:*',
        Principal: { AWS: '*' },
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
      allowFrom(rule.logicalId),
      allowFrom(ended.logicalId),
    ]);
  });
});

// -------------------------------------------------------------------------------------------------

describe('the training state machine', () => {
  const train = () => state('Train model');

  test('uses JSONPath, not JSONata', () => {
    expect(definition.QueryLanguage).toBe('JSONPath');
    for (const [name, s] of Object.entries(definition.States)) expect([name, s.QueryLanguage ?? 'JSONPath']).toEqual([name, 'JSONPath']);
  });

  test('is a STANDARD workflow (a .sync training job can run for hours)', () => {
    expect(stateMachineDefinition(template).properties.StateMachineType).toBe('STANDARD');
  });

  test('starts by ingesting the dataset', () => {
    expect(definition.StartAt).toBe('Ingest dataset');
    expect(state('Ingest dataset').Resource).toBe(arnText(mloopFunction(template, 'ingest').logicalId));
  });

  test('reaches every state it defines, and every transition names an existing state', () => {
    const reachable = reachableStates(definition);
    expect([...reachable].sort()).toEqual(Object.keys(definition.States).sort());
  });

  test('runs the Train state as a synchronous SageMaker training job', () => {
    expect(train().Type).toBe('Task');
    expect(train().Resource).toMatch(/:states:::sagemaker:createTrainingJob\.sync$/);
  });

  test("names the training job after the ingest step's trainingJobName", () => {
    expect(train().Parameters?.['TrainingJobName.$']).toBe('$.ingest.trainingJobName');
  });

  test('trains on one ml.g5.xlarge instance by default', () => {
    expect(train().Parameters?.ResourceConfig).toEqual(expect.objectContaining({ InstanceType: 'ml.g5.xlarge', InstanceCount: 1 }));
  });

  test('runs train.py in script mode and passes the target column and task from ingest', () => {
    // 'Resolve hyperparameters' lays out the job's hyperparameters; the Train state merges the
    // dataset's hyperparameters.json (from ingest) over them.
    expect(state('Resolve hyperparameters').Parameters).toEqual(
      expect.objectContaining({ sagemaker_program: 'train.py', 'target.$': '$.ingest.target', 'task.$': '$.ingest.task' }),
    );
    expect(train().Parameters?.['HyperParameters.$']).toBe('States.JsonMerge($.hyperparameterDefaults, $.ingest.hyperparameters, false)');
  });

  test('reads the train and validation channels that ingest wrote', () => {
    const channels = (train().Parameters?.InputDataConfig as Json[]).map((c) => [c.ChannelName, c.DataSource.S3DataSource['S3Uri.$']]);
    expect(channels).toEqual([
      ['train', '$.ingest.channels.train'],
      ['validation', '$.ingest.channels.validation'],
    ]);
  });

  test('writes model artifacts under training/ in the data bucket', () => {
    expect(train().Parameters?.OutputDataConfig.S3OutputPath).toMatch(new RegExp(`/\\$\\{${dataBucketId}\\}/training/$`));
  });

  test('runs the training job as the SageMaker training role', () => {
    expect(train().Parameters?.RoleArn).toBe(arnText(roleAssumedBy(template, 'sagemaker.amazonaws.com').logicalId));
  });

  test("stops a training job after two hours, and the execution an hour later plus the bound on its wait for the model's training slot", () => {
    expect(train().Parameters?.StoppingCondition).toEqual({ MaxRuntimeInSeconds: 7200 });
    // The wait (three hours by default: a slot is held at most the job's limit plus an hour) is counted apart.
    expect(mloopFunction(template, 'ingest').resource.Properties.Environment.Variables.TRAINING_SLOT_WAIT_SECONDS).toBe('10800');
    expect(definition.TimeoutSeconds).toBe(10800 + 10800);
  });

  test("catches every error of every task but 'Record failure', keeping the input and the error at $.error", () => {
    const tasks = statesOfType('Task').filter(([name]) => name !== 'Record failure');
    expect(tasks.map(([name]) => name).sort()).toEqual(
      [
        'Evaluate candidate',
        'Finish ingest',
        'Ingest dataset',
        'Merge parts',
        'Register and promote',
        'Register without promotion',
        'Train model',
      ].sort(),
    );
    for (const [name, s] of tasks) {
      expect([name, s.Catch]).toEqual([name, [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Record failure' }]]);
    }
  });

  test("'Record failure' has no Catch of its own and leads to a Fail state with the recorded error and cause", () => {
    const record = state('Record failure');
    expect(record.Resource).toBe(arnText(mloopFunction(template, 'recordFailure').logicalId));
    expect(record.Catch).toBeUndefined();
    expect(record.ResultPath).toBe('$.failure');
    expect(state(record.Next!)).toEqual({ Type: 'Fail', ErrorPath: '$.failure.error', CausePath: '$.failure.reason' });
  });

  test("'Better than champion?' promotes only when the evaluation's decision says better", () => {
    const gate = state('Better than champion?');
    expect(gate.Type).toBe('Choice');
    expect(gate.Choices).toEqual([{ Variable: '$.evaluation.decision.better', BooleanEquals: true, Next: 'Register and promote' }]);
    expect(gate.Default).toBe('Register without promotion');
    expect(state('Register and promote').Parameters?.promote).toBe(true);
    expect(state('Register without promotion').Parameters?.promote).toBe(false);
  });

  test('both registrations run the register function and end in success', () => {
    for (const name of ['Register and promote', 'Register without promotion']) {
      expect(state(name).Resource).toBe(arnText(mloopFunction(template, 'register').logicalId));
      expect(state(state(name).Next!).Type).toBe('Succeed');
    }
  });

  test("'New dataset?' ends a DUPLICATE dataset in success, waits while the training slot is busy, and otherwise trains", () => {
    const choice = state('New dataset?');
    expect(choice.Type).toBe('Choice');
    expect(choice.Choices).toEqual([
      { Variable: '$.ingest.status', StringEquals: 'DUPLICATE', Next: expect.any(String) },
      { Variable: '$.ingest.status', StringEquals: 'PARTS', Next: 'Scan dataset in parts' },
      { Variable: '$.ingest.status', StringEquals: 'SPLITS', Next: 'Split parts' },
      { Variable: '$.ingest.status', StringEquals: 'CONFIG', Next: expect.any(String) },
      {
        And: [
          { Variable: '$.ingest.status', StringEquals: 'ACCEPTED' },
          { Variable: '$.ingest.trainingSlot', StringEquals: 'busy' },
        ],
        Next: 'Wait for training slot',
      },
    ]);
    expect(state(choice.Choices![0].Next).Type).toBe('Succeed');
    expect(state(choice.Choices![3].Next).Type).toBe('Succeed');
    expect(state('Wait for training slot')).toEqual({ Type: 'Wait', Seconds: 60, Next: 'Ingest dataset' });
    expect(choice.Default).toBe('Resolve hyperparameters');
    expect(state('Resolve hyperparameters').Next).toBe('Train model');
  });

  test('retries the Lambda tasks on transient Lambda errors', () => {
    for (const [name, s] of statesOfType('Task').filter(([n]) => n !== 'Train model')) {
      expect([name, s.Retry?.[0]?.ErrorEquals]).toEqual([
        name,
        expect.arrayContaining(['Lambda.ServiceException', 'Lambda.SdkClientException']),
      ]);
    }
  });

  test('logs every event with execution data to a log group', () => {
    const { properties } = stateMachineDefinition(template);
    expect(properties.LoggingConfiguration).toEqual({
      Level: 'ALL',
      IncludeExecutionData: true,
      Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [expect.any(String), 'Arn'] } } }],
    });
  });

  test('has X-Ray tracing enabled', () => {
    expect(stateMachineDefinition(template).properties.TracingConfiguration).toEqual({ Enabled: true });
  });
});

describe('the training instance type', () => {
  test("comes from the 'mloop:trainingInstanceType' context", () => {
    const app = inProcessApp(undefined, { 'mloop:trainingInstanceType': 'ml.p4d.24xlarge' });
    const other = stateMachineDefinition(Template.fromStack(buildApp(app))).definition;
    expect(other.States['Train model'].Parameters?.ResourceConfig.InstanceType).toBe('ml.p4d.24xlarge');
  });

  test('without the ml. prefix is rejected at synth, naming the prop', () => {
    expect(() => new MloopStack(inProcessApp(), 'X', { training: { instanceType: 'g5.xlarge' } })).toThrow(/instanceType/);
  });

  test('without the ml. prefix in the context is rejected too, quoting the value', () => {
    expect(() => buildApp(inProcessApp(undefined, { 'mloop:trainingInstanceType': 'g5.xlarge' }))).toThrow(/instanceType 'g5\.xlarge'/);
  });
});

// -------------------------------------------------------------------------------------------------

describe('the Lambda functions', () => {
  const functions = () => [...mloopFunctions(template).values()];

  test('are the twelve of the catalog, each marked with its catalog id', () => {
    expect([...mloopFunctions(template).keys()].sort()).toEqual(CATALOG_IDS);
    expect(CATALOG_IDS).toEqual([
      'batch',
      'drift',
      'evaluate',
      'executionEnded',
      'ingest',
      'ingestParts',
      'models',
      'predict',
      'recordFailure',
      'register',
      'startBatch',
      'startPipeline',
    ]);
  });

  test('run Node.js 24 or newer', () => {
    for (const fn of functions()) {
      const match = /^nodejs(\d+)\.x$/.exec(fn.resource.Properties.Runtime);
      expect([fn.functionId, match && Number(match[1]) >= 24]).toEqual([fn.functionId, true]);
    }
  });

  test('run on arm64', () => {
    for (const fn of functions()) expect([fn.functionId, fn.resource.Properties.Architectures]).toEqual([fn.functionId, ['arm64']]);
  });

  test('have active X-Ray tracing', () => {
    for (const fn of functions())
      expect([fn.functionId, fn.resource.Properties.TracingConfig]).toEqual([fn.functionId, { Mode: 'Active' }]);
  });

  test('log JSON to a log group of their own with a retention', () => {
    const groups = template.findResources('AWS::Logs::LogGroup');
    const used = new Set<string>();
    for (const fn of functions()) {
      const config = fn.resource.Properties.LoggingConfig;
      expect([fn.functionId, config.LogFormat]).toEqual([fn.functionId, 'JSON']);
      const groupId = config.LogGroup.Ref as string;
      expect(groups[groupId]?.Properties?.RetentionInDays).toBeGreaterThan(0);
      used.add(groupId);
    }
    expect(used.size).toBe(CATALOG_IDS.length);
  });

  test('take memory and timeout from the catalog', () => {
    for (const fn of functions()) {
      const spec = FUNCTIONS[fn.functionId];
      expect([fn.functionId, fn.resource.Properties.MemorySize, fn.resource.Properties.Timeout]).toEqual([
        fn.functionId,
        spec.memoryMb,
        spec.timeoutSeconds,
      ]);
    }
  });

  test('all get the data bucket and the registry table names', () => {
    const tableId = idOf(stack.registry.table);
    for (const fn of functions()) {
      expect([fn.functionId, fn.resource.Properties.Environment.Variables]).toEqual([
        fn.functionId,
        expect.objectContaining({ DATA_BUCKET: { Ref: dataBucketId }, REGISTRY_TABLE: { Ref: tableId } }),
      ]);
    }
  });

  test('get only variables their environment contract declares, and satisfy it', () => {
    const runtimeKeys = ['POWERTOOLS_SERVICE_NAME', 'NODE_OPTIONS'];
    for (const fn of functions()) {
      const variables = Object.fromEntries(
        Object.entries(fn.resource.Properties.Environment.Variables as Record<string, Json>).map(([k, v]) => [k, renderText(v)]),
      );
      const contract = FUNCTIONS[fn.functionId].env;
      const unknown = Object.keys(variables).filter((k) => !(k in contract.shape) && !runtimeKeys.includes(k));
      expect([fn.functionId, unknown]).toEqual([fn.functionId, []]);
      expect([fn.functionId, contract.safeParse(variables).success]).toEqual([fn.functionId, true]);
    }
  });

  test('predict gets its batch limit and alias cache duration', () => {
    expect(mloopFunction(template, 'predict').resource.Properties.Environment.Variables).toEqual(
      expect.objectContaining({ MAX_BATCH: '1000', ALIAS_CACHE_SECONDS: '10' }),
    );
  });
});

// -------------------------------------------------------------------------------------------------

describe('least privilege', () => {
  const statementsOfFunction = (id: FunctionId) => roleStatements(template, mloopFunction(template, id).roleId);
  const trainingRoleId = () => roleAssumedBy(template, 'sagemaker.amazonaws.com').logicalId;

  test('identity policies only allow (so a missing Allow is a denial)', () => {
    expect(allIdentityStatements(template).filter((s) => s.effect !== 'Allow')).toEqual([]);
  });

  test("no identity policy grants every action, or every action of a service ('*', 's3:*')", () => {
    const broad = allIdentityStatements(template).filter((s) => s.actions.some((a) => a === '*' || /^[a-z0-9-]+:\*$/i.test(a)));
    expect(broad).toEqual([]);
  });

  test('predict cannot write, tag or delete anything under datasets/', () => {
    const statements = statementsOfFunction('predict');
    for (const action of ['s3:PutObject', 's3:PutObjectTagging', 's3:DeleteObject', 's3:DeleteObjectVersion']) {
      expect([action, allows(statements, action, objectArn('datasets/iris/iris.csv'))]).toEqual([action, false]);
    }
    expect(resourcesGranted(statements, 's3:PutObject').filter((r) => r.endsWith('/datasets/*'))).toEqual([]);
  });

  test('predict can put objects under capture/ and feedback/ and nowhere else', () => {
    const statements = statementsOfFunction('predict');
    expect(resourcesGranted(statements, 's3:PutObject')).toEqual([objectArn('capture/*'), objectArn('feedback/*')]);
    expect(allows(statements, 's3:PutObject', objectArn('capture/iris/2025/01/01/00/1-a.jsonl'))).toBe(true);
  });

  test('predict reads models but not datasets or captures', () => {
    const statements = statementsOfFunction('predict');
    expect(allows(statements, 's3:GetObject', objectArn('models/iris/v1/model.onnx'))).toBe(true);
    expect(allows(statements, 's3:GetObject', objectArn('datasets/iris/iris.csv'))).toBe(false);
    expect(allows(statements, 's3:GetObject', objectArn('capture/iris/x.jsonl'))).toBe(false);
  });

  test('predict only reads the registry table', () => {
    const statements = statementsOfFunction('predict');
    const tableArn = arnText(idOf(stack.registry.table));
    expect(allows(statements, 'dynamodb:GetItem', tableArn)).toBe(true);
    for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'])
      expect([action, allows(statements, action, tableArn)]).toEqual([action, false]);
  });

  test('ingest can tag dropped datasets (it quarantines rejected ones by tag)', () => {
    const statements = statementsOfFunction('ingest');
    expect(allows(statements, 's3:PutObjectTagging', objectArn('datasets/iris/iris.csv'))).toBe(true);
    expect(allows(statements, 's3:PutObjectVersionTagging', objectArn('datasets/iris/iris.csv'))).toBe(true);
  });

  test('ingest cannot overwrite or delete dropped datasets', () => {
    const statements = statementsOfFunction('ingest');
    for (const action of ['s3:PutObject', 's3:DeleteObject', 's3:DeleteObjectVersion']) {
      expect([action, allows(statements, action, objectArn('datasets/iris/iris.csv'))]).toEqual([action, false]);
    }
  });

  test.each<[FunctionId, string[]]>([
    ['ingest', ['ingest-parts/*', 'profiles/*', 'reports/*', 'splits/*']],
    ['ingestParts', ['ingest-parts/*', 'profiles/*', 'reports/*', 'splits/*']],
    ['evaluate', ['candidates/*']],
    ['register', ['models/*']],
    ['recordFailure', []],
    ['predict', ['capture/*', 'feedback/*']],
    ['drift', ['monitoring/*']],
  ])('%s puts objects only under %j', (id, prefixes) => {
    expect(resourcesGranted(statementsOfFunction(id), 's3:PutObject')).toEqual(prefixes.map(objectArn).sort());
  });

  test('no function can delete objects of the data bucket', () => {
    for (const id of CATALOG_IDS) {
      const statements = statementsOfFunction(id);
      for (const action of ['s3:DeleteObject', 's3:DeleteObjectVersion']) {
        expect([id, action, allows(statements, action, objectArn('models/iris/v1/model.onnx'))]).toEqual([id, action, false]);
      }
    }
  });

  test('function roles carry no managed policy but AWSLambdaBasicExecutionRole', () => {
    for (const fn of mloopFunctions(template).values()) {
      const role = template.toJSON().Resources[fn.roleId];
      const managed = (role.Properties.ManagedPolicyArns as Json[]).map(renderText);
      expect([fn.functionId, managed]).toEqual([
        fn.functionId,
        ['arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
      ]);
    }
  });

  test('the SageMaker training role is assumed by SageMaker only', () => {
    const role = template.toJSON().Resources[trainingRoleId()];
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'sagemaker.amazonaws.com' } },
    ]);
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  test('the training role pulls images only from the pytorch-training repository of the AWS DLC account', () => {
    const statements = roleStatements(template, trainingRoleId());
    // An environment-agnostic stack looks the DLC account up by region in the template's mapping.
    const dlc = '${DlcAccounts[${AWS::Region}].account}';
    const repository = `arn:\${AWS::Partition}:ecr:\${AWS::Region}:${dlc}:repository/pytorch-training`;
    expect(template.toJSON().Mappings.DlcAccounts['us-east-1']).toEqual({ account: DLC_ACCOUNT });
    for (const action of ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability']) {
      expect([action, resourcesGranted(statements, action)]).toEqual([action, [repository]]);
    }
    expect(allows(statements, 'ecr:BatchGetImage', `arn:\${AWS::Partition}:ecr:\${AWS::Region}:${dlc}:repository/other`)).toBe(false);
  });

  test('the image the training job runs is in the repository the training role may pull from', () => {
    const image = state('Train model').Parameters?.AlgorithmSpecification.TrainingImage as string;
    expect(image.startsWith('${DlcAccounts[${AWS::Region}].account}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/pytorch-training:')).toBe(
      true,
    );
  });

  test('the training role reads splits/ and writes training/, and nothing else of the data bucket', () => {
    const statements = roleStatements(template, trainingRoleId());
    expect(allows(statements, 's3:GetObject', objectArn('splits/iris/v1/train/train.csv'))).toBe(true);
    expect(allows(statements, 's3:PutObject', objectArn('training/mloop-iris-1/output/model.tar.gz'))).toBe(true);
    expect(resourcesGranted(statements, 's3:PutObject')).toEqual([dataBucketArn, objectArn('training/*')]);
    expect(allows(statements, 's3:PutObject', objectArn('models/iris/v1/model.onnx'))).toBe(false);
  });

  // The channels are JSONPath expressions, for which CDK's S3Location.fromJsonExpression would grant
  // s3:GetObject and s3:ListBucket on '*' to the training role; lib/training.ts's StateS3Location
  // grants nothing by itself, so the role reads only splits/ (and the code asset).
  test('the training role cannot read objects outside the data bucket and the code asset', () => {
    const statements = roleStatements(template, trainingRoleId());
    expect(allows(statements, 's3:GetObject', 'arn:aws:s3:::some-other-bucket/secret.csv')).toBe(false);
  });

  test('the state machine may pass only the training role, and only to SageMaker', () => {
    const { properties } = stateMachineDefinition(template);
    const statements = roleStatements(template, properties.RoleArn['Fn::GetAtt'][0]);
    const passRole = statements.filter((s) => s.actions.some((a) => a.toLowerCase().startsWith('iam:pass')));
    expect(passRole.map((s) => [s.actions, s.resources, s.condition])).toEqual([
      [['iam:PassRole'], [arnText(trainingRoleId())], { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } }],
    ]);
  });

  test('the state machine may invoke only the five pipeline functions', () => {
    const { properties } = stateMachineDefinition(template);
    const statements = roleStatements(template, properties.RoleArn['Fn::GetAtt'][0]);
    const invoked = new Set(resourcesGranted(statements, 'lambda:InvokeFunction').map((r) => /^\$\{(\w+)\.Arn\}/.exec(r)?.[1] ?? r));
    const expected = (['ingest', 'ingestParts', 'evaluate', 'register', 'recordFailure'] as const).map(
      (id) => mloopFunction(template, id).logicalId,
    );
    expect([...invoked].sort()).toEqual(expected.sort());
  });
});

// -------------------------------------------------------------------------------------------------

describe('the registry table', () => {
  const table = () => theResource(template, 'AWS::DynamoDB::GlobalTable');

  test('is a DynamoDB global table (TableV2), the only table of the stack', () => {
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    expect(table().logicalId).toBe(idOf(stack.registry.table));
  });

  test('is keyed by pk (hash) and sk (range), both strings', () => {
    const props = table().resource.Properties;
    expect(props.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(props.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ]),
    );
  });

  test('has the byKind index on kind and model', () => {
    expect(table().resource.Properties.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'byKind',
        KeySchema: [
          { AttributeName: 'kind', KeyType: 'HASH' },
          { AttributeName: 'model', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ]);
  });

  test('has point-in-time recovery enabled', () => {
    expect(table().resource.Properties.Replicas).toEqual([
      expect.objectContaining({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }),
    ]);
  });

  test('has deletion protection and is retained when the stack is deleted', () => {
    expect(table().resource.Properties.Replicas).toEqual([expect.objectContaining({ DeletionProtectionEnabled: true })]);
    expect(table().resource.DeletionPolicy).toBe('Retain');
    expect(table().resource.UpdateReplacePolicy).toBe('Retain');
  });

  test('bills on demand', () => {
    expect(table().resource.Properties.BillingMode).toBe('PAY_PER_REQUEST');
  });
});

// -------------------------------------------------------------------------------------------------

describe('the prediction API', () => {
  const stage = () => theResource(template, 'AWS::ApiGateway::Stage', ({ resource }) => resource.Properties.StageName === 'v1');

  test('POST /v1/models/{name}/predict requires IAM (SigV4) authorization', () => {
    expect(apiMethod(template, 'POST', '/v1/models/{name}/predict').resource.Properties.AuthorizationType).toBe('AWS_IAM');
  });

  test('GET /v1/health requires IAM authorization', () => {
    expect(apiMethod(template, 'GET', '/v1/health').resource.Properties.AuthorizationType).toBe('AWS_IAM');
  });

  test('has no method without IAM authorization', () => {
    const methods = resourcesOfType(template, 'AWS::ApiGateway::Method');
    expect(methods).toHaveLength(4); // health, and GET, predict and feedback of /v1/models/{name}
    for (const m of methods) expect(m.resource.Properties.AuthorizationType).toBe('AWS_IAM');
  });

  test('proxies both methods to the predict function', () => {
    const predictArn = arnText(mloopFunction(template, 'predict').logicalId);
    for (const [verb, route] of [
      ['POST', '/v1/models/{name}/predict'],
      ['GET', '/v1/health'],
    ]) {
      const integration = apiMethod(template, verb, route).resource.Properties.Integration;
      expect(integration.Type).toBe('AWS_PROXY');
      expect(renderText(integration.Uri)).toContain(`/functions/${predictArn}/invocations`);
    }
  });

  test('validates the predict request body before the function runs', () => {
    const method = apiMethod(template, 'POST', '/v1/models/{name}/predict').resource.Properties;
    const validator = template.toJSON().Resources[method.RequestValidatorId.Ref];
    expect(validator.Type).toBe('AWS::ApiGateway::RequestValidator');
    expect(validator.Properties.ValidateRequestBody).toBe(true);
    expect(method.RequestModels).toEqual({ 'application/json': { Ref: expect.any(String) } });
  });

  test('the request model requires instances, between 1 and 1000 of them, and takes an optional top_k of 1 or more', () => {
    const method = apiMethod(template, 'POST', '/v1/models/{name}/predict').resource.Properties;
    const model = template.toJSON().Resources[method.RequestModels['application/json'].Ref];
    expect(model.Type).toBe('AWS::ApiGateway::Model');
    expect(model.Properties.Schema).toEqual(
      expect.objectContaining({
        type: 'object',
        required: ['instances'],
        properties: {
          instances: expect.objectContaining({ type: 'array', minItems: 1, maxItems: 1000 }),
          top_k: { type: 'integer', minimum: 1 },
        },
      }),
    );
  });

  test('the v1 stage writes JSON access logs to a log group', () => {
    const setting = stage().resource.Properties.AccessLogSetting;
    const logGroupIds = Object.keys(template.findResources('AWS::Logs::LogGroup'));
    expect(logGroupIds.some((id) => renderText(setting.DestinationArn).endsWith(`:log-group:\${${id}}`))).toBe(true);
    expect(JSON.parse(setting.Format)).toEqual(expect.objectContaining({ requestId: '$context.requestId', status: '$context.status' }));
  });

  test('the v1 stage has X-Ray tracing enabled', () => {
    expect(stage().resource.Properties.TracingEnabled).toBe(true);
  });

  test('the v1 stage throttles every method at 100 requests per second with bursts of 200', () => {
    expect(stage().resource.Properties.MethodSettings).toEqual([
      expect.objectContaining({ HttpMethod: '*', ResourcePath: '/*', ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 }),
    ]);
  });

  test('is a regional endpoint', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { EndpointConfiguration: { Types: ['REGIONAL'] } });
  });
});

// -------------------------------------------------------------------------------------------------

describe('the drift schedule', () => {
  const schedule = () => theResource(template, 'AWS::Events::Rule', ({ resource }) => resource.Properties.ScheduleExpression !== undefined);

  test('runs the drift function every hour', () => {
    const drift = mloopFunction(template, 'drift').logicalId;
    expect(schedule().resource.Properties.ScheduleExpression).toBe('rate(1 hour)');
    expect(schedule().resource.Properties.Targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': [drift, 'Arn'] } })]);
  });

  test('may invoke the drift function', () => {
    const drift = mloopFunction(template, 'drift').logicalId;
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [drift, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [schedule().logicalId, 'Arn'] },
    });
  });
});

// -------------------------------------------------------------------------------------------------

describe('the training code', () => {
  const submitDirectory = () => state('Resolve hyperparameters').Parameters?.sagemaker_submit_directory as string;

  test('is loaded by the training job from the CDK assets bucket', () => {
    expect(submitDirectory()).toMatch(/^s3:\/\/cdk-hnb659fds-assets-\$\{AWS::AccountId\}-\$\{AWS::Region\}\/[0-9a-f]{64}\.(tar\.)?gz$/);
  });

  test('is readable by the training role, that one archive and not the whole assets bucket', () => {
    const objectArnOfArchive = `arn:\${AWS::Partition}:s3:::${submitDirectory().replace(/^s3:\/\//, '')}`;
    const granted = resourcesGranted(
      roleStatements(template, roleAssumedBy(template, 'sagemaker.amazonaws.com').logicalId),
      's3:GetObject',
    );
    expect(granted).toContain(objectArnOfArchive);
    expect(granted.filter((r) => r.includes('cdk-hnb659fds-assets'))).toEqual([objectArnOfArchive]);
  });

  test('is recorded by both Register states as a 64-hex code version', () => {
    const versions = ['Register and promote', 'Register without promotion'].map((name) => state(name).Parameters?.codeVersion);
    for (const v of versions) expect(v).toMatch(/^[0-9a-f]{64}$/);
    expect(versions[0]).toBe(versions[1]);
    expect(versions[0]).toBe(stack.pipeline.codeVersion);
  });

  test('has the content hash of training/ as its version', () => {
    expect(stack.pipeline.codeVersion).toBe(codeVersion(path.join(REPO_ROOT, 'training')));
  });
});

// -------------------------------------------------------------------------------------------------

describe('cdk-nag (AwsSolutions)', () => {
  /** Silence CDK's printing of validation failures while `fn` runs. */
  const quietly = <T>(fn: () => T): T => {
    const spies = [
      jest.spyOn(console, 'error').mockImplementation(() => {}),
      jest.spyOn(console, 'log').mockImplementation(() => {}),
      jest.spyOn(console, 'warn').mockImplementation(() => {}),
    ];
    try {
      return fn();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  };

  const withOutdir = <T>(fn: (outdir: string) => T): T => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-nag-'));
    try {
      return fn(outdir);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  };

  test('synthesis of a fresh app runs the checks, which report no unacknowledged finding', () => {
    withOutdir((outdir) => {
      const app: App = inProcessApp(outdir);
      const built = buildApp(app);
      expect(synthWithNag(app)).toEqual({ runs: 1, errors: [], warnings: [] });
      expect(acknowledgements(built).length).toBeGreaterThan(0);
      expect(acknowledgementsWithoutReason(built)).toEqual([]);
    });
  });

  test('buildApp leaves the checks out on request (the local runtime does), and the template stays the same', () => {
    withOutdir((checkedDir) =>
      withOutdir((uncheckedDir) => {
        const checked = inProcessApp(checkedDir);
        const withChecks = buildApp(checked);
        const unchecked = inProcessApp(uncheckedDir);
        const withoutChecks = buildApp(unchecked, { nag: false });
        expect(synthWithNag(unchecked)).toEqual({ runs: 0, errors: [], warnings: [] });
        expect(synthWithNag(checked).runs).toBe(1);
        expect(unchecked.synth().getStackByName(withoutChecks.stackName).template).toEqual(
          checked.synth().getStackByName(withChecks.stackName).template,
        );
      }),
    );
  });

  test('an unacknowledged finding makes synthesis fail (so the test above means something)', () => {
    withOutdir((outdir) => {
      const app = inProcessApp(outdir);
      new s3.Bucket(buildApp(app), 'Unlogged');
      expect(() => quietly(() => app.synth())).toThrow(/AwsSolutions-S1\b/);
    });
  });

  test('every acknowledgement gives a real reason (40 characters or more, no TODO)', () => {
    const acks = acknowledgements(stack);
    expect(acks.length).toBeGreaterThan(0);
    for (const { path: where, rule, reason } of acks) {
      expect([where, rule, typeof reason === 'string' && reason.length >= 40 && !/TODO/i.test(reason)]).toEqual([where, rule, true]);
    }
  });

  test('every acknowledgement names a finding that cdk-nag actually raises there (none is stale)', () => {
    // The same stack built with acknowledgements switched off: the pack then reports every finding.
    const spy = jest.spyOn(Validations.prototype, 'acknowledge').mockImplementation(() => {});
    let unfiltered: MloopStack;
    try {
      unfiltered = buildApp(inProcessApp());
    } finally {
      spy.mockRestore();
    }
    const findings = new AwsSolutionsChecks()
      .validateScope(unfiltered)
      .violations.flatMap((v) => v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '' })));
    const stale = acknowledgements(stack).filter(
      (ack) => !findings.some((f) => f.rule === ack.rule && (f.path === ack.path || f.path.startsWith(`${ack.path}/`))),
    );
    expect(stale).toEqual([]);
  });

  test('the acknowledged IAM5 wildcards are exactly the reviewed ones', () => {
    const prefix = `${stack.node.path}/`;
    const iam5 = acknowledgements(stack)
      .filter((a) => a.rule.startsWith('AwsSolutions-IAM5'))
      .map(
        (a) =>
          `${a.path.slice(prefix.length)} ${a.rule
            .replace('AwsSolutions-IAM5', '')
            .replace(/<[A-Za-z0-9]+\.Arn>/g, '<X.Arn>')
            .replace(/"Ref":"[A-Za-z0-9]+"/g, '"Ref":"X"')}`,
      )
      .sort();
    // A new wildcard grant must be reviewed: add it here with the acknowledgement's reason in lib/.
    expect(iam5).toEqual([
      'Batch/Batch [Action::kms:GenerateDataKey*]',
      'Batch/Batch [Action::s3:Abort*]',
      'Batch/Batch [Action::s3:GetBucket*]',
      'Batch/Batch [Action::s3:GetObject*]',
      'Batch/Batch [Action::s3:List*]',
      'Batch/Batch [Resource::*]',
      'Batch/Batch [Resource::<X.Arn>/batch-parts/*]',
      'Batch/Batch [Resource::<X.Arn>/batch/*]',
      'Batch/Batch [Resource::<X.Arn>/capture/*]',
      'Batch/Batch [Resource::<X.Arn>/errors/*]',
      'Batch/Batch [Resource::<X.Arn>/index/*]',
      'Batch/Batch [Resource::<X.Arn>/models/*]',
      'Batch/Batch [Resource::<X.Arn>/predictions/*]',
      'Batch/StartBatch [Resource::*]',
      'Batch/StateMachine [Resource::*]',
      'Batch/StateMachine [Resource::<X.Arn>:*]',
      'Batch/StateMachine [Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"X"}]}]}/*:*]',
      'Batch/StateMachine [Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"X"}]}]}:*]',
      'Inference/Predict [Action::s3:Abort*]',
      'Inference/Predict [Action::s3:GetBucket*]',
      'Inference/Predict [Action::s3:GetObject*]',
      'Inference/Predict [Action::s3:List*]',
      'Inference/Predict [Resource::*]',
      'Inference/Predict [Resource::<X.Arn>/capture/*]',
      'Inference/Predict [Resource::<X.Arn>/feedback/*]',
      'Inference/Predict [Resource::<X.Arn>/index/*]',
      'Inference/Predict [Resource::<X.Arn>/models/*]',
      'Ingestion/Ingest [Action::s3:Abort*]',
      'Ingestion/Ingest [Action::s3:GetBucket*]',
      'Ingestion/Ingest [Action::s3:GetObject*]',
      'Ingestion/Ingest [Action::s3:List*]',
      'Ingestion/Ingest [Resource::*]',
      'Ingestion/Ingest [Resource::<X.Arn>/datasets/*]',
      'Ingestion/Ingest [Resource::<X.Arn>/index/*]',
      'Ingestion/Ingest [Resource::<X.Arn>/ingest-parts/*]',
      'Ingestion/Ingest [Resource::<X.Arn>/profiles/*]',
      'Ingestion/Ingest [Resource::<X.Arn>/reports/*]',
      'Ingestion/Ingest [Resource::<X.Arn>/splits/*]',
      'Ingestion/IngestParts [Action::s3:Abort*]',
      'Ingestion/IngestParts [Action::s3:GetBucket*]',
      'Ingestion/IngestParts [Action::s3:GetObject*]',
      'Ingestion/IngestParts [Action::s3:List*]',
      'Ingestion/IngestParts [Resource::*]',
      'Ingestion/IngestParts [Resource::<X.Arn>/datasets/*]',
      'Ingestion/IngestParts [Resource::<X.Arn>/index/*]',
      'Ingestion/IngestParts [Resource::<X.Arn>/ingest-parts/*]',
      'Ingestion/IngestParts [Resource::<X.Arn>/profiles/*]',
      'Ingestion/IngestParts [Resource::<X.Arn>/reports/*]',
      'Ingestion/IngestParts [Resource::<X.Arn>/splits/*]',
      'ModelTraining/TrainingRole [Action::s3:Abort*]',
      'ModelTraining/TrainingRole [Action::s3:DeleteObject*]',
      'ModelTraining/TrainingRole [Action::s3:GetBucket*]',
      'ModelTraining/TrainingRole [Action::s3:GetObject*]',
      'ModelTraining/TrainingRole [Action::s3:List*]',
      'ModelTraining/TrainingRole [Resource::*]',
      'ModelTraining/TrainingRole [Resource::<X.Arn>/splits/*]',
      'ModelTraining/TrainingRole [Resource::<X.Arn>/training/*]',
      'ModelTraining/TrainingRole [Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/TrainingJobs*]',
      'Monitoring/Drift [Action::s3:Abort*]',
      'Monitoring/Drift [Action::s3:GetBucket*]',
      'Monitoring/Drift [Action::s3:GetObject*]',
      'Monitoring/Drift [Action::s3:List*]',
      'Monitoring/Drift [Resource::*]',
      // Prediction profiles Evaluate stores beside each candidate (prediction drift) and feedback labels (model quality).
      'Monitoring/Drift [Resource::<X.Arn>/candidates/*]',
      'Monitoring/Drift [Resource::<X.Arn>/capture/*]',
      'Monitoring/Drift [Resource::<X.Arn>/feedback/*]',
      'Monitoring/Drift [Resource::<X.Arn>/index/*]',
      'Monitoring/Drift [Resource::<X.Arn>/models/*]',
      'Monitoring/Drift [Resource::<X.Arn>/monitoring/*]',
      'Monitoring/Drift [Resource::<X.Arn>/profiles/*]',
      'Registry/Evaluate [Action::s3:Abort*]',
      'Registry/Evaluate [Action::s3:GetBucket*]',
      'Registry/Evaluate [Action::s3:GetObject*]',
      'Registry/Evaluate [Action::s3:List*]',
      'Registry/Evaluate [Resource::*]',
      'Registry/Evaluate [Resource::<X.Arn>/candidates/*]',
      'Registry/Evaluate [Resource::<X.Arn>/index/*]',
      'Registry/Evaluate [Resource::<X.Arn>/models/*]',
      'Registry/Evaluate [Resource::<X.Arn>/splits/*]',
      'Registry/Evaluate [Resource::<X.Arn>/training/*]',
      'Registry/Models [Action::kms:GenerateDataKey*]',
      'Registry/Models [Resource::*]',
      'Registry/Models [Resource::<X.Arn>/index/*]',
      'Registry/RecordFailure [Resource::*]',
      'Registry/RecordFailure [Resource::<X.Arn>/index/*]',
      'Registry/Register [Action::kms:GenerateDataKey*]',
      'Registry/Register [Action::s3:Abort*]',
      'Registry/Register [Action::s3:GetBucket*]',
      'Registry/Register [Action::s3:GetObject*]',
      'Registry/Register [Action::s3:List*]',
      'Registry/Register [Resource::*]',
      'Registry/Register [Resource::<X.Arn>/candidates/*]',
      'Registry/Register [Resource::<X.Arn>/index/*]',
      'Registry/Register [Resource::<X.Arn>/models/*]',
      'Training/ExecutionEnded [Resource::*]',
      'Training/ExecutionEnded [Resource::<X.Arn>/index/*]',
      'Training/StartPipeline [Resource::*]',
      'Training/StateMachine [Resource::*]',
      'Training/StateMachine [Resource::<X.Arn>:*]',
      'Training/StateMachine [Resource::<X.Arn>:*]',
      'Training/StateMachine [Resource::<X.Arn>:*]',
      'Training/StateMachine [Resource::<X.Arn>:*]',
      'Training/StateMachine [Resource::<X.Arn>:*]',
      'Training/StateMachine [Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/*]',
      // The Distributed Maps' child executions of the state machine itself.
      'Training/StateMachine [Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"X"}]}]}/*:*]',
      'Training/StateMachine [Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"X"}]}]}:*]',
    ]);
  });
});

describe('the outputs operators read after cdk deploy', () => {
  test('name each resource a tool needs, with a description, under stable keys', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown; Description?: string }>;
    for (const key of STACK_OUTPUTS) {
      expect([key, typeof outputs[key]?.Description]).toEqual([key, 'string']);
      expect(outputs[key].Description!.length).toBeGreaterThan(20);
    }
    expect(outputs.DataBucketName.Value).toEqual({ Ref: idOf(stack.dataLake.bucket) });
    expect(outputs.RegistryTableName.Value).toEqual({ Ref: idOf(stack.registry.table) });
    expect(outputs.StateMachineArn.Value).toEqual({ Ref: idOf(stack.pipeline.stateMachine) });
    expect(outputs.ModelsFunctionName.Value).toEqual({ Ref: idOf(stack.registry.models!) });
    expect(outputs.DriftFunctionName.Value).toEqual({ Ref: idOf(stack.monitor.function) });
    expect(outputs.EventsTopicArn.Value).toEqual({ Ref: idOf(stack.registry.topic) });
    expect(outputs.EventBusName.Value).toBe('default');
    expect(outputs.DashboardName.Value).toEqual({ Ref: idOf(stack.dashboard.dashboard) });
    expect(JSON.stringify(outputs.ApiUrl.Value)).toContain(idOf(stack.inference.api));
  });
});

describe('the training image in each region', () => {
  const imageIn = (region: string): string => {
    const app = inProcessApp();
    const regional = new MloopStack(app, 'Mloop', { env: { region } });
    const definition = stateMachineDefinition(Template.fromStack(regional)).definition;
    return definition.States['Train model'].Parameters?.AlgorithmSpecification.TrainingImage as string;
  };

  test("comes from the region's own DLC account, where it is not 763104351884", () => {
    // The domain is CloudFormation's AWS::URLSuffix: amazonaws.com, amazonaws.com.cn in China.
    expect(imageIn('us-west-2')).toMatch(/^763104351884\.dkr\.ecr\.us-west-2\.\$\{AWS::URLSuffix\}\/pytorch-training:/);
    expect(imageIn('ap-east-1')).toMatch(/^871362719292\.dkr\.ecr\.ap-east-1\./);
    expect(imageIn('me-south-1')).toMatch(/^217643126080\./);
    expect(imageIn('eu-south-1')).toMatch(/^692866216735\./);
    expect(imageIn('ap-southeast-3')).toMatch(/^907027046896\./);
    // Regions CDK's facts lack.
    expect(imageIn('af-south-1')).toMatch(/^626614931356\.dkr\.ecr\.af-south-1\./);
    expect(imageIn('il-central-1')).toMatch(/^780543022126\./);
    expect(imageIn('us-gov-west-1')).toMatch(/^442386744353\./);
    // China: its own account.
    expect(imageIn('cn-north-1')).toMatch(/^727897471807\.dkr\.ecr\.cn-north-1\./);
  });

  test('an environment-agnostic stack maps every known region, the opt-in ones included', () => {
    const mapping = template.toJSON().Mappings.DlcAccounts as Record<string, { account: string }>;
    expect(mapping['af-south-1']).toEqual({ account: '626614931356' });
    expect(mapping['cn-northwest-1']).toEqual({ account: '727897471807' });
    expect(Object.keys(mapping).length).toBeGreaterThan(35);
  });

  test('a region with no known DLC account fails at synth naming the region and the prop, unless an image is given', () => {
    expect(() => imageIn('xx-nowhere-1')).toThrow(
      'No AWS Deep Learning Containers account is known for region xx-nowhere-1: give training.trainingImage (an ECR image URI the region can pull).',
    );
    const app = inProcessApp();
    const own = new MloopStack(app, 'Mloop', {
      env: { region: 'xx-nowhere-1' },
      training: { trainingImage: '123456789012.dkr.ecr.xx-nowhere-1.amazonaws.com/mine:1' },
    });
    expect(JSON.stringify(Template.fromStack(own).toJSON())).toContain('123456789012.dkr.ecr.xx-nowhere-1.amazonaws.com/mine:1');
  });
});
