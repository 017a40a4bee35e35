/**
 * Throttling (issue 14): every Lambda task of the synthesized state machine, at any depth (the
 * Parallel's branches, the Distributed Maps' item processors, the approval branch), retries
 * Lambda.TooManyRequestsException with backoff beside Lambda's service faults, and the maps
 * tolerate no failed item. Read from the template, as Step Functions would run it.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Stack } from 'aws-cdk-lib';
import { buildApp, inProcessApp } from '../lib/app';
import { LAMBDA_SERVICE_ERRORS, LAMBDA_THROTTLED, lambdaTask } from '../lib/lambda-task';
import { stateMachineDefinition, type Json } from './helpers/template';

jest.setTimeout(120_000);

interface NamedState {
  readonly name: string;
  readonly state: Json;
}

/** Every state of a definition, the nested ones (Parallel branches, Map processors) included. */
function allStates(scope: Json): NamedState[] {
  const found: NamedState[] = [];
  for (const [name, state] of Object.entries(scope.States as Record<string, Json>)) {
    found.push({ name, state });
    for (const branch of state.Branches ?? []) found.push(...allStates(branch));
    const processor = state.ItemProcessor ?? state.Iterator;
    if (processor) found.push(...allStates(processor));
  }
  return found;
}

/** A Task that invokes a Lambda function: by its ARN (payloadResponseOnly) or through lambda:invoke. */
function invokesLambda(state: Json): boolean {
  if (state.Type !== 'Task') return false;
  const resource = JSON.stringify(state.Resource);
  return /:lambda:invoke/.test(resource) || /AWS::Lambda::Function|\.Arn|:function:/.test(resource);
}

const definitions: Record<string, Json> = {};

beforeAll(() => {
  for (const [label, context] of [
    ['default', {}],
    ['requireApproval', { 'mloop:requireApproval': true }],
  ] as const) {
    const stack = buildApp(inProcessApp(undefined, context), { nag: false });
    definitions[label] = stateMachineDefinition(Template.fromStack(stack)).definition;
  }
});

describe.each(['default', 'requireApproval'])('the state machine (%s)', (label) => {
  const lambdaTasks = () => allStates(definitions[label]).filter(({ state }) => invokesLambda(state));

  test('has Lambda tasks at the top level, in the Parallel branch and in both Distributed Maps', () => {
    const names = lambdaTasks().map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['Ingest dataset', 'Hash dataset', 'Scan part', 'Split part', 'Record failure']));
    if (label === 'requireApproval') expect(names).toEqual(expect.arrayContaining(['Wait for approval', 'Promote approved version']));
    // Every Task but the SageMaker training job invokes a function.
    const others = allStates(definitions[label]).filter(({ state }) => state.Type === 'Task' && !invokesLambda(state));
    expect(others.map((t) => t.name)).toEqual(['Train model']);
  });

  test('every Lambda task retries TooManyRequestsException with exponential backoff, jitter and a bounded delay', () => {
    for (const { name, state } of lambdaTasks()) {
      const retriers = (state.Retry ?? []) as Json[];
      const throttle = retriers.find((r) => r.ErrorEquals.includes(LAMBDA_THROTTLED));
      expect([name, throttle]).toEqual([
        name,
        expect.objectContaining({
          ErrorEquals: [LAMBDA_THROTTLED],
          IntervalSeconds: 2,
          BackoffRate: 2,
          MaxDelaySeconds: 300,
          JitterStrategy: 'FULL',
          MaxAttempts: 20,
        }),
      ]);
    }
  });

  test("every Lambda task retries Lambda's service faults as CDK's default retry does", () => {
    for (const { name, state } of lambdaTasks()) {
      const faults = ((state.Retry ?? []) as Json[]).find((r) => r.ErrorEquals.includes('Lambda.ServiceException'));
      expect([name, faults]).toEqual([
        name,
        { ErrorEquals: [...LAMBDA_SERVICE_ERRORS], IntervalSeconds: 2, MaxAttempts: 6, BackoffRate: 2 },
      ]);
      // Nothing else is retried: a function's own named errors go to the Catch.
      expect([name, (state.Retry as Json[]).flatMap((r) => r.ErrorEquals as string[]).sort()]).toEqual([
        name,
        [...LAMBDA_SERVICE_ERRORS, LAMBDA_THROTTLED].sort(),
      ]);
    }
  });

  test('the Distributed Maps tolerate no failed item', () => {
    const maps = allStates(definitions[label]).filter(({ state }) => state.Type === 'Map');
    expect(maps.map((m) => m.name).sort()).toEqual(['Scan parts', 'Split parts']);
    for (const { name, state } of maps) {
      expect([name, state.ToleratedFailurePercentage ?? 0, state.ToleratedFailureCount ?? 0]).toEqual([name, 0, 0]);
      expect([name, state.ToleratedFailurePercentagePath, state.ToleratedFailureCountPath]).toEqual([name, undefined, undefined]);
    }
  });
});

test('lambdaTask refuses a retryOnServiceExceptions of its own, naming the task', () => {
  const stack = new Stack(new App(), 'Probe');
  const fn = new lambda.Function(stack, 'Fn', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({});'),
  });
  expect(() => lambdaTask(stack, 'Probe task', { lambdaFunction: fn, retryOnServiceExceptions: true })).toThrow(
    "Lambda task 'Probe task': retryOnServiceExceptions is set by lambdaTask (lib/lambda-task.ts); leave it out.",
  );
});
