/**
 * The cleanup after a pipeline execution that ends without its own failure path (stopped, timed
 * out) or with it (failed): Step Functions' status-change event reaches the cleanup function by
 * the rule the stack defines, on AWS and locally alike.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { randomUUID } from 'node:crypto';
import { modelOfExecution } from '../lambdas/pipeline/ended';
import { buildApp, inProcessApp } from '../lib/app';
import { executionStatusEvent } from '../local/events';
import { dropDataset, startCloud, stopCloud, type TestCloud } from './helpers/cloud';

const SHA = (c: string) => c.repeat(64);

describe('the model of an ended execution', () => {
  test('comes from its input, the dataset event or the request to train again, else from its name', () => {
    expect(modelOfExecution({ name: 'x', input: JSON.stringify({ detail: { retrain: { model: 'fraud', datasetVersion: 2 } } }) })).toBe(
      'fraud',
    );
    expect(modelOfExecution({ name: `churn-train-${'b2'.repeat(12)}`, input: null })).toBe('churn');
    expect(modelOfExecution({ name: `churn-train-${'b2'.repeat(16)}`, input: null })).toBe('churn-train'); // a drop for the model churn-train
    expect(
      modelOfExecution({ name: 'x', status: 'ABORTED', input: JSON.stringify({ detail: { object: { key: 'datasets/churn/a.csv' } } }) }),
    ).toBe('churn');
    expect(modelOfExecution({ name: `fraud-${'a1'.repeat(16)}`, status: 'TIMED_OUT', input: null })).toBe('fraud');
    expect(modelOfExecution({ name: `dataset-${'a1'.repeat(16)}`, status: 'TIMED_OUT' })).toBeNull();
    expect(modelOfExecution({ name: 'some-run', status: 'FAILED', input: '{"not":"a dataset event"}' })).toBeNull();
  });
});

describe('locally, through the rule on status changes', () => {
  let test_: TestCloud;
  beforeAll(async () => {
    test_ = await startCloud();
  }, 120_000);
  afterAll(async () => stopCloud(test_));

  const publishEnd = async (name: string, status: string, input: unknown) => {
    const machine = test_.cloud.template.stateMachines[0].arn;
    return test_.cloud.publish(
      executionStatusEvent(machine, name, status, input, `${machine.replace(':stateMachine:', ':execution:')}:${name}`),
    );
  };

  test('a stopped execution gives back its training lease and the bytes it claimed, and is recorded as failed', async () => {
    const { registry } = test_;
    const name = `churn-${randomUUID().replace(/-/g, '')}`;
    const other = `churn-${randomUUID().replace(/-/g, '')}`;
    expect(await registry.leases.acquireTraining('churn', name, 3600)).toBe(true);
    expect(await registry.content.claim('churn', SHA('a'), name)).toBeUndefined();
    expect(await registry.content.claim('churn', SHA('b'), name)).toBeUndefined();
    await registry.content.link('churn', SHA('b'), 7); // a dataset version holds these bytes: kept
    expect(await registry.content.claim('churn', SHA('c'), other)).toBeUndefined(); // another run's: kept

    const deliveries = await publishEnd(name, 'ABORTED', { detail: { object: { key: 'datasets/churn/x.csv' } } });
    expect(deliveries).toEqual([
      expect.objectContaining({
        status: 'DELIVERED',
        result: { model: 'churn', execution: name, status: 'ABORTED', releasedClaims: 1, recordedRun: true },
      }),
    ]);
    expect((await registry.models.get('churn'))?.trainingLease).toBeUndefined();
    expect(await registry.content.get('churn', SHA('a'))).toBeUndefined();
    expect(await registry.content.get('churn', SHA('b'))).toMatchObject({ execution: name, datasetVersion: 7 });
    expect(await registry.content.get('churn', SHA('c'))).toMatchObject({ execution: other });
    expect(await registry.runs.get('churn', name)).toMatchObject({ status: 'FAILED', stage: 'execution', error: 'States.Aborted' });

    // The same event again changes nothing.
    expect((await publishEnd(name, 'ABORTED', null))[0]).toMatchObject({ result: { releasedClaims: 0, recordedRun: false } });
    expect(await registry.runs.get('churn', name)).toMatchObject({ status: 'FAILED', error: 'States.Aborted' });
  });

  test('a succeeded execution gives back what it still holds and records nothing over its own record', async () => {
    const { registry } = test_;
    const name = `churn-${randomUUID().replace(/-/g, '')}`;
    expect(await registry.leases.acquireTraining('churn', name, 3600)).toBe(true);
    await registry.runs.put({ model: 'churn', execution: name, status: 'SUCCEEDED', modelVersion: 3, updatedAt: new Date().toISOString() });
    const [delivery] = await publishEnd(name, 'SUCCEEDED', { detail: { object: { key: 'datasets/churn/x.csv' } } });
    expect(delivery).toMatchObject({ status: 'DELIVERED', result: { status: 'SUCCEEDED', releasedClaims: 0, recordedRun: false } });
    expect((await registry.models.get('churn'))?.trainingLease).toBeUndefined();
    expect(await registry.runs.get('churn', name)).toMatchObject({ status: 'SUCCEEDED', modelVersion: 3 });
  });

  test('a failed execution that no Catch recorded (States.DataLimitExceeded) is recorded with its error and cause', async () => {
    const { registry } = test_;
    const name = `churn-${randomUUID().replace(/-/g, '')}`;
    expect(await registry.leases.acquireTraining('churn', name, 3600)).toBe(true);
    const machine = test_.cloud.template.stateMachines[0].arn;
    const event = executionStatusEvent(
      machine,
      name,
      'FAILED',
      { detail: { object: { key: 'datasets/churn/y.csv' } } },
      `${machine.replace(':stateMachine:', ':execution:')}:${name}`,
      {
        error: 'States.DataLimitExceeded',
        cause: 'The state/task returned a result with a size exceeding the maximum number of bytes service limit.',
      },
    );
    const [delivery] = await test_.cloud.publish(event);
    expect(delivery).toMatchObject({ status: 'DELIVERED', result: { status: 'FAILED', recordedRun: true } });
    expect((await registry.models.get('churn'))?.trainingLease).toBeUndefined();
    expect(await registry.runs.get('churn', name)).toMatchObject({
      status: 'FAILED',
      stage: 'execution',
      error: 'States.DataLimitExceeded',
      reason: expect.stringMatching(/maximum number of bytes/),
    });
  });

  test('an ingestion cut off after it took a dataset version number records that number as abandoned', async () => {
    const { registry } = test_;
    const name = `gaps-${randomUUID().replace(/-/g, '')}`;
    expect(await registry.content.claim('gaps', SHA('d'), name, 's3://bucket/datasets/gaps/d.csv')).toBeUndefined();
    const version = await registry.models.nextNumber('gaps', 'datasetCounter');
    await registry.content.reserveVersion('gaps', SHA('d'), name, version);
    const [delivery] = await publishEnd(name, 'ABORTED', { detail: { object: { key: 'datasets/gaps/d.csv' } } });
    expect(delivery).toMatchObject({ result: { releasedClaims: 1 } });
    expect(await registry.content.get('gaps', SHA('d'))).toBeUndefined();
    expect(await registry.datasets.get('gaps', version)).toMatchObject({
      status: 'abandoned',
      sha256: SHA('d'),
      s3Uri: 's3://bucket/datasets/gaps/d.csv',
      sourceEvent: { execution: name },
    });
    // Again: nothing more.
    expect((await publishEnd(name, 'ABORTED', null))[0]).toMatchObject({ result: { releasedClaims: 0 } });
  });

  test("a failed run's recorded reason is kept; a timed-out one names the timeout", async () => {
    const { registry } = test_;
    const result = await dropDataset(test_.cloud, 'tiny', 'tiny.csv', 'x,target\n1,0\n', 'target');
    expect(result.status).toBe('FAILED');
    const run = await registry.runs.get('tiny', result.execution);
    expect(run).toMatchObject({ status: 'FAILED', stage: 'Ingest' });
    const name = `tiny-${randomUUID().replace(/-/g, '')}`;
    await publishEnd(name, 'TIMED_OUT', null);
    expect(await registry.runs.get('tiny', name)).toMatchObject({
      status: 'FAILED',
      error: 'States.Timeout',
      reason: "The execution ran past the state machine's timeout.",
    });
  }, 120_000);
});

describe('the rule in the template', () => {
  const template = Template.fromStack(buildApp(inProcessApp()));

  test("matches the pipeline's executions however they end, and targets the cleanup function (one rule; batch scoring's is its own)", () => {
    const rules = Object.values(
      template.findResources('AWS::Events::Rule', { Properties: { EventPattern: { source: ['aws.states'] } } }),
    ).filter((r) => JSON.stringify(r).includes('TrainingStateMachine')) as {
      Properties: {
        EventPattern: { detail: { stateMachineArn: unknown[]; status: string[] } };
        Targets: { Arn: { 'Fn::GetAtt': string[] }; DeadLetterConfig?: unknown }[];
      };
    }[];
    expect(rules).toHaveLength(1);
    const rule = rules[0].Properties;
    expect(rule.EventPattern.detail.status).toEqual(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);
    expect(rule.EventPattern.detail.stateMachineArn).toEqual([{ Ref: expect.stringMatching(/^TrainingStateMachine/) }]);
    expect(rule.Targets[0].Arn['Fn::GetAtt'][0]).toMatch(/^TrainingExecutionEnded/);
    expect(rule.Targets[0].DeadLetterConfig).toBeDefined();
  });
});
