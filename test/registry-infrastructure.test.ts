/**
 * The registry's part of the CDK stack: the events topic (KMS, TLS only), who may publish registry
 * events, the admin function's permissions, and the manual-approval branch of the state machine
 * when `requireApproval` is set. Logical ids are found through constructs, never written here.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { buildApp, inProcessApp } from '../lib/app';
import { MloopStack } from '../lib/mloop-stack';
import { acknowledgementsWithoutReason, synthWithNag } from './helpers/nag';
import {
  allIdentityStatements,
  allows,
  mloopFunction,
  reachableStates,
  roleStatements,
  stateMachineDefinition,
  type Definition,
  logicalIdOf,
} from './helpers/template';

jest.setTimeout(120_000);

const idOf = logicalIdOf;

let stack: MloopStack;
let template: Template;

beforeAll(() => {
  stack = buildApp(inProcessApp());
  template = Template.fromStack(stack);
});

const DEFAULT_BUS = 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default';

describe('the registry events topic', () => {
  test('is encrypted with a customer-managed KMS key that rotates', () => {
    const keyId = idOf(stack, stack.registry.topicKey);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true, Description: 'mloop: encrypts the registry events topic' });
  });

  test('denies every request not sent over TLS', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: idOf(stack, stack.registry.topic) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Principal: '*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('who publishes registry events', () => {
  const topicArn = () => `\${${idOf(stack, stack.registry.topic)}}`;
  const keyArn = () => `\${${idOf(stack, stack.registry.topicKey)}.Arn}`;

  test.each(['register', 'models'] as const)(
    '%s names the default bus and the topic in its environment, and may put events and publish there',
    (id) => {
      const fn = mloopFunction(template, id);
      expect(fn.resource.Properties.Environment.Variables).toMatchObject({
        EVENT_BUS_NAME: 'default',
        TOPIC_ARN: { Ref: idOf(stack, stack.registry.topic) },
      });
      const statements = roleStatements(template, fn.roleId);
      expect(allows(statements, 'events:PutEvents', DEFAULT_BUS)).toBe(true);
      expect(allows(statements, 'events:PutEvents', DEFAULT_BUS.replace('/default', '/other'))).toBe(false);
      expect(allows(statements, 'sns:Publish', topicArn())).toBe(true);
      expect(allows(statements, 'kms:GenerateDataKey', keyArn())).toBe(true);
      expect(allows(statements, 'kms:Decrypt', keyArn())).toBe(true);
    },
  );

  test('no other role may put events on the bus or publish to the topic', () => {
    // Register and the admin function publish registry events; batch scoring publishes its runs' ends (Batch Scoring Completed/Failed).
    const publishers = new Set((['register', 'models', 'batch'] as const).map((id) => mloopFunction(template, id).roleId));
    const policies = template.findResources('AWS::IAM::Policy') as Record<string, { Properties: { Roles: { Ref: string }[] } }>;
    const others = allIdentityStatements(template).filter(
      (s) => !(policies[s.source]?.Properties.Roles.map((r) => r.Ref) ?? [s.source]).some((r) => publishers.has(r)),
    );
    expect(others.length).toBeGreaterThan(0);
    for (const s of others) {
      expect([s.source, allows([s], 'events:PutEvents', DEFAULT_BUS), allows([s], 'sns:Publish', topicArn())]).toEqual([
        s.source,
        false,
        false,
      ]);
    }
  });
});

describe('the admin function (models)', () => {
  test('reads and writes the registry table and reaches no object of the data bucket', () => {
    const fn = mloopFunction(template, 'models');
    const statements = roleStatements(template, fn.roleId);
    const table = `\${${idOf(stack, stack.registry.table)}.Arn}`;
    expect(allows(statements, 'dynamodb:UpdateItem', table)).toBe(true);
    expect(allows(statements, 'dynamodb:Query', table)).toBe(true);
    const bucket = `\${${idOf(stack, stack.dataLake.bucket)}.Arn}`;
    for (const action of ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'])
      expect([action, allows(statements, action, `${bucket}/models/m/v1/model.onnx`)]).toEqual([action, false]);
  });

  test('cannot resume executions unless approvals are configured', () => {
    const statements = roleStatements(template, mloopFunction(template, 'models').roleId);
    expect(statements.some((s) => s.actions.some((a) => a.startsWith('states:')))).toBe(false);
    expect(Object.values(stateMachineDefinition(template).definition.States).some((s) => s.Resource?.includes('waitForTaskToken'))).toBe(
      false,
    );
  });
});

describe('with requireApproval', () => {
  let approvalStack: MloopStack;
  let approvalTemplate: Template;
  let definition: Definition;

  beforeAll(() => {
    approvalStack = buildApp(inProcessApp(undefined, { 'mloop:requireApproval': true }));
    approvalTemplate = Template.fromStack(approvalStack);
    definition = stateMachineDefinition(approvalTemplate).definition;
  });

  test('a better candidate is registered as pending, then the pipeline waits on a task token, then promotes', () => {
    const better = (definition.States['Better than champion?'].Choices as { Next: string }[])[0].Next;
    expect(better).toBe('Register (awaiting approval)');
    const pending = definition.States['Register (awaiting approval)'];
    expect(pending.Parameters).toMatchObject({ promote: true, awaitApproval: true });
    expect(pending.Next).toBe('Wait for approval');

    const wait = definition.States['Wait for approval'];
    expect(wait.Resource).toBe('arn:${AWS::Partition}:states:::lambda:invoke.waitForTaskToken');
    expect(wait.Parameters).toEqual({
      FunctionName: `\${${mloopFunction(approvalTemplate, 'register').logicalId}.Arn}`,
      Payload: {
        stage: 'await-approval',
        'taskToken.$': '$$.Task.Token',
        'execution.$': '$$.Execution.Name',
        'model.$': '$.ingest.model',
        'version.$': '$.registration.modelVersion',
      },
    });
    expect((wait as { TimeoutSeconds?: number }).TimeoutSeconds).toBe(7 * 24 * 3600);
    expect(wait.ResultPath).toBe('$.approval');
    expect(wait.Catch?.[0]).toEqual({ ErrorEquals: ['ModelRejected'], ResultPath: '$.rejection', Next: 'Rejected by reviewer' });
    expect(definition.States['Rejected by reviewer'].Type).toBe('Succeed');
    expect(wait.Next).toBe('Promote approved version');
    expect(definition.States['Promote approved version'].Parameters).toMatchObject({
      stage: 'promote-approved',
      'approval.$': '$.approval',
    });
    expect(definition.States['Promote approved version'].Next).toBe('Model registered');
  });

  test('every state is reachable (the unattended promotion is left out) and every new task fails to Record failure', () => {
    expect(definition.States['Register and promote']).toBeUndefined();
    expect([...reachableStates(definition)].sort()).toEqual(Object.keys(definition.States).sort());
    for (const name of ['Register (awaiting approval)', 'Wait for approval', 'Promote approved version']) {
      expect([
        name,
        definition.States[name].Catch?.some((c) => c.ErrorEquals.includes('States.ALL') && c.Next === 'Record failure'),
      ]).toEqual([name, true]);
    }
  });

  test('the execution may wait for the approval: its timeout covers it', () => {
    expect(definition.TimeoutSeconds).toBeGreaterThan(7 * 24 * 3600);
  });

  test('the admin function may resume this state machine, and only it', () => {
    const statements = roleStatements(approvalTemplate, mloopFunction(approvalTemplate, 'models').roleId);
    const machine = `\${${stateMachineDefinition(approvalTemplate).logicalId}}`;
    for (const action of ['states:SendTaskSuccess', 'states:SendTaskFailure']) {
      expect([action, allows(statements, action, machine)]).toEqual([action, true]);
      expect([action, allows(statements, action, 'arn:aws:states:us-east-1:123456789012:stateMachine:other')]).toEqual([action, false]);
    }
  });

  test('synthesizes with every cdk-nag finding acknowledged', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-nag-approval-'));
    const spies = [jest.spyOn(console, 'error').mockImplementation(() => {}), jest.spyOn(console, 'warn').mockImplementation(() => {})];
    try {
      const app = inProcessApp(outdir, { 'mloop:requireApproval': true });
      const built = buildApp(app);
      expect(synthWithNag(app)).toEqual({ runs: 1, errors: [], warnings: [] });
      expect(acknowledgementsWithoutReason(built)).toEqual([]);
    } finally {
      for (const spy of spies) spy.mockRestore();
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  test('approvalTimeout sets how long the pipeline waits', () => {
    const app = inProcessApp();
    const custom = new MloopStack(app, 'Custom', { training: { requireApproval: true, approvalTimeout: Duration.hours(2) } });
    const wait = stateMachineDefinition(Template.fromStack(custom)).definition.States['Wait for approval'] as { TimeoutSeconds?: number };
    expect(wait.TimeoutSeconds).toBe(7200);
  });
});
