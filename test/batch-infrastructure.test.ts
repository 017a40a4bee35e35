/**
 * The batch scoring construct (lib/batch.ts) in the synthesized stack: its state machine, the rule
 * and starter that start it once per dropped object version, the grants of its functions by key
 * prefix, and cdk-nag.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { buildApp, inProcessApp } from '../lib/app';
import { BatchScoring } from '../lib/batch';
import type { MloopStack } from '../lib/mloop-stack';
import { synthWithNag } from './helpers/nag';

let stack: MloopStack;
let template: Template;

beforeAll(() => {
  stack = buildApp(inProcessApp());
  template = Template.fromStack(stack);
});

const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);

interface State {
  Type: string;
  Next?: string;
  Choices?: unknown[];
  Default?: string;
  OutputPath?: string;
  Parameters?: Record<string, unknown>;
  ItemProcessor?: { ProcessorConfig?: Record<string, string>; StartAt: string; States: Record<string, State> };
  Catch?: { ErrorEquals: string[]; Next: string }[];
  Retry?: { ErrorEquals: string[] }[];
  MaxConcurrency?: number;
  ToleratedFailurePercentage?: number;
}

function definition(): { StartAt: string; States: Record<string, State> } {
  const machine = template.findResources('AWS::StepFunctions::StateMachine')[logicalId(stack.batch.stateMachine)];
  const parts = (machine.Properties.DefinitionString as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
  const text = parts.map((p) => (typeof p === 'string' ? p : '"TOKEN"')).join('');
  return JSON.parse(text.replace(/""TOKEN""/g, '"TOKEN"').replace(/"TOKEN"/g, '"TOKEN"'));
}

describe('the batch state machine', () => {
  test('plans, scores the parts in a Distributed Map, then merges; every stage fails the run through its Catch, which reports the failure first', () => {
    const def = definition();
    expect(def.StartAt).toBe('Plan batch');
    expect(def.States['Plan batch'].Next).toBe('Scored before?');
    // A re-drop of bytes the same version scored: the earlier run's answer (DUPLICATE), nothing scored.
    expect(def.States['Scored before?']).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.plan.duplicate', IsPresent: true, Next: 'Already scored' }],
      Default: 'Score parts',
    });
    expect(def.States['Already scored']).toMatchObject({ Type: 'Succeed', OutputPath: '$.plan.duplicate' });
    const map = def.States['Score parts'];
    expect(map.Type).toBe('Map');
    expect(map.ItemProcessor?.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
    expect(map.ItemProcessor?.StartAt).toBe('Score part');
    // No failed part is tolerated: CDK leaves the tolerance out (0 by default).
    expect(map.ToleratedFailurePercentage ?? 0).toBe(0);
    expect(map.MaxConcurrency).toBe(100);
    expect(map.Next).toBe('Merge batch');
    expect(def.States['Merge batch'].Next).toBe('Batch scored');
    for (const name of ['Plan batch', 'Score parts', 'Merge batch']) {
      expect(def.States[name].Catch).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'Report failure' })]);
    }
    // Report failure publishes Batch Scoring Failed; it fails the run with the error it was given, even if it fails itself.
    const report = def.States['Report failure'];
    expect(report.Parameters).toMatchObject({
      action: 'failed',
      'execution.$': '$$.Execution.Name',
      'detail.$': '$.detail',
      'error.$': '$.error',
    });
    expect(report.Next).toBe('Batch failed');
    expect(report.Catch).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'Batch failed' })]);
    expect(def.States['Batch failed'].Type).toBe('Fail');
  });

  test("its Lambda tasks retry throttling (lib/lambda-task.ts), the parts' included", () => {
    const def = definition();
    const tasks = [def.States['Plan batch'], def.States['Merge batch'], def.States['Score parts'].ItemProcessor!.States['Score part']];
    for (const task of tasks) expect(task.Retry?.map((r) => r.ErrorEquals)).toContainEqual(['Lambda.TooManyRequestsException']);
  });

  test('the rule sends Object Created events under batch/ of the data bucket to the starter, with a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: { bucket: { name: [{ Ref: logicalId(stack.dataLake.bucket) }] }, object: { key: [{ prefix: 'batch/' }] } },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalId(stack.batch.starter), 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(stack.batch.deadLetterQueue), 'Arn'] } },
        }),
      ],
    });
  });

  test("a rule sends the batch state machine's executions that end ABORTED, TIMED_OUT or FAILED to the batch function (the Failed event), with a dead-letter queue", () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [{ Ref: logicalId(stack.batch.stateMachine) }], status: ['ABORTED', 'TIMED_OUT', 'FAILED'] },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalId(stack.batch.function), 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(stack.batch.deadLetterQueue), 'Arn'] } },
        }),
      ],
    });
    // EventBridge may invoke the batch function for that rule, and only that rule.
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [logicalId(stack.batch.function), 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [logicalId(stack.batch.endedRule), 'Arn'] },
    });
  });

  test('the starter may start executions of the batch state machine only', () => {
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: stack.getLogicalId(stack.batch.starter.role!.node.defaultChild as never) }] },
    });
    const statements = Object.values(policies).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as { Action: unknown; Resource: unknown }[],
    );
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: 'states:StartExecution', Resource: { Ref: logicalId(stack.batch.stateMachine) } }),
    );
    expect(statements.filter((s) => JSON.stringify(s.Action).includes('s3:'))).toEqual([]);
  });

  test('the batch function may put events on the default bus and publish to the events topic, where the registry publishes', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ EVENT_BUS_NAME: 'default', TOPIC_ARN: { Ref: logicalId(stack.registry.topic) } }),
      },
      Description: Match.stringLikeRegexp('batch scoring: plan'),
    });
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: stack.getLogicalId(stack.batch.function.role!.node.defaultChild as never) }] },
    });
    const statements = Object.values(policies).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as { Action: unknown; Resource: unknown }[],
    );
    expect(statements).toContainEqual(expect.objectContaining({ Action: 'events:PutEvents', Resource: expect.objectContaining({}) }));
    expect(JSON.stringify(statements.find((s) => s.Action === 'events:PutEvents')!.Resource)).toContain(':event-bus/default');
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: 'sns:Publish', Resource: { Ref: logicalId(stack.registry.topic) } }),
    );
  });

  test('the batch function reads batch/, models/ and its working files, writes predictions/, errors/, batch-parts/ and capture/ (the drift sample), and nothing else of the bucket', () => {
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: stack.getLogicalId(stack.batch.function.role!.node.defaultChild as never) }] },
    });
    const statements = Object.values(policies).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
    );
    const bucket = logicalId(stack.dataLake.bucket);
    const prefixes = (action: string) =>
      statements
        .filter((s) => [s.Action].flat().includes(action))
        .flatMap((s) => [s.Resource].flat())
        .map((r) => JSON.stringify(r))
        .filter((r) => r.includes(bucket) && r.includes('/'))
        .map((r) => /\/([a-z-]+\/)\*/.exec(r)?.[1])
        .sort();
    expect(prefixes('s3:GetObject*')).toEqual(['batch-parts/', 'batch/', 'models/']);
    expect(prefixes('s3:PutObject')).toEqual(['batch-parts/', 'capture/', 'errors/', 'predictions/']);
    // The registry: read only.
    expect(statements.some((s) => [s.Action].flat().some((a) => /dynamodb:(PutItem|UpdateItem|DeleteItem)/.test(a)))).toBe(false);
  });

  test('bad props fail at synth, naming the prop', () => {
    const app = inProcessApp();
    const host = buildApp(app);
    expect(() => new BatchScoring(host, 'More', { dataLake: host.dataLake, table: host.registry.table, maxConcurrency: 0 })).toThrow(
      /maxConcurrency must be an integer from 1 to 10000.*got 0/,
    );
  });

  test('the stack with batch scoring synthesizes with no unacknowledged cdk-nag finding', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-nag-'));
    try {
      const app: App = inProcessApp(outdir);
      buildApp(app);
      expect(synthWithNag(app)).toEqual({ runs: 1, errors: [], warnings: [] });
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});
