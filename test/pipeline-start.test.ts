/**
 * The pipeline's starter (lambdas/pipeline/start.ts): the execution name of an object version
 * (deterministic, at most 80 characters of [A-Za-z0-9-_], the model first, distinct per version),
 * and how Step Functions' answers to StartExecution are read: a new execution, or a duplicate
 * delivery (ExecutionAlreadyExists, or the running execution returned again), or an error that
 * must be thrown so that the event is retried and dead-lettered.
 */
import {
  ExecutionAlreadyExists,
  StateMachineDoesNotExist,
  type StartExecutionCommand,
  type StartExecutionCommandInput,
  type StartExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import * as fc from 'fast-check';
import {
  executionArnOf,
  executionName,
  MAX_EXECUTION_NAME_LENGTH,
  startPipeline,
  type ObjectCreatedDetail,
  type ObjectCreatedEvent,
  type StartExecutionApi,
} from '../lambdas/pipeline/start';

const BUCKET = 'mloop-databucket';
const STATE_MACHINE = 'arn:aws:states:eu-west-1:111122223333:stateMachine:Pipeline';
const NAME_PATTERN = /^[A-Za-z0-9_-]+$/;

const versioned = (key: string, versionId: string, sequencer = '0065A1B2C3D4E5F601'): ObjectCreatedDetail => ({
  bucket: { name: BUCKET },
  object: { key, etag: 'd41d8cd98f00b204e9800998ecf8427e', 'version-id': versionId, sequencer },
});

const unversioned = (key: string, sequencer: string, etag = 'd41d8cd98f00b204e9800998ecf8427e'): ObjectCreatedDetail => ({
  bucket: { name: BUCKET },
  object: { key, etag, sequencer },
});

describe('the execution name of an object version', () => {
  test('is the same for every delivery of the same version, whatever else the event carries', () => {
    const detail = versioned('datasets/churn/data.csv', '3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY');
    const again = { ...detail, object: { ...detail.object, size: 1234 }, 'request-id': 'another', reason: 'PutObject' };
    expect(executionName(again)).toBe(executionName(detail));
    expect(executionName(structuredClone(detail))).toBe(executionName(detail));
  });

  test('is the model, a hyphen and 32 hex digits', () => {
    expect(executionName(versioned('datasets/churn/data.csv', 'v1'))).toMatch(/^churn-[0-9a-f]{32}$/);
  });

  test('stays within 80 characters of letters, digits, hyphens and underscores for the longest model name', () => {
    const model = `a${'b'.repeat(38)}c`; // 40 characters, the longest model name
    const name = executionName(versioned(`datasets/${model}/${'x'.repeat(900)}.csv`, 'v'.repeat(1024)));
    expect(name.length).toBeLessThanOrEqual(MAX_EXECUTION_NAME_LENGTH);
    expect(name).toMatch(NAME_PATTERN);
    expect(name.startsWith(`${model}-`)).toBe(true);
  });

  test('differs between two versions of the same key', () => {
    const key = 'datasets/churn/data.csv';
    expect(executionName(versioned(key, 'version-one'))).not.toBe(executionName(versioned(key, 'version-two')));
  });

  test('differs between keys and between buckets for the same version id', () => {
    const a = versioned('datasets/churn/a.csv', 'v1');
    const b = versioned('datasets/churn/b.csv', 'v1');
    const otherBucket = { ...a, bucket: { name: 'another-bucket' } };
    expect(new Set([executionName(a), executionName(b), executionName(otherBucket)]).size).toBe(3);
  });

  test('without a version id, differs between two writes of the same bytes to the same key (their sequencers differ)', () => {
    const key = 'datasets/churn/data.csv';
    const first = unversioned(key, '0065A1B2C3D4E5F601');
    const second = unversioned(key, '0065A1B2C3D4E5F602');
    expect(executionName(first)).not.toBe(executionName(second));
    expect(executionName(first)).toBe(executionName(unversioned(key, '0065A1B2C3D4E5F601')));
  });

  test("treats the version id 'null' (versioning suspended: every write has it) as no version id", () => {
    const key = 'datasets/churn/data.csv';
    const first = { ...unversioned(key, '01'), object: { ...unversioned(key, '01').object, 'version-id': 'null' } };
    const second = { ...unversioned(key, '02'), object: { ...unversioned(key, '02').object, 'version-id': 'null' } };
    expect(executionName(first)).not.toBe(executionName(second));
    expect(executionName(first)).toBe(executionName(unversioned(key, '01')));
  });

  test("starts with 'dataset' when the key names no valid model (Ingest then rejects the key)", () => {
    expect(executionName(versioned('datasets/Not_A_Model/x.csv', 'v1'))).toMatch(/^dataset-[0-9a-f]{32}$/);
    expect(executionName(versioned('datasets/loose-file.csv', 'v1'))).toMatch(/^dataset-[0-9a-f]{32}$/);
  });

  test('cannot be made for an event with neither a version id nor a sequencer, and says why', () => {
    const detail: ObjectCreatedDetail = { bucket: { name: BUCKET }, object: { key: 'datasets/churn/data.csv', etag: 'abc' } };
    expect(() => executionName(detail)).toThrow(
      `The Object Created event for s3://${BUCKET}/datasets/churn/data.csv has neither a version-id nor a sequencer, so a repeated delivery of it could not be told from a new write; S3 always sends the sequencer.`,
    );
  });

  test('is a valid name for any bucket, key and version id, and distinct version ids give distinct names (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.string({ minLength: 1 }),
        fc.string({ minLength: 1 }),
        fc.string({ minLength: 1 }),
        (bucket, key, v1, v2) => {
          const detail = (versionId: string): ObjectCreatedDetail => ({
            bucket: { name: bucket },
            object: { key: `datasets/${key}`, 'version-id': versionId, sequencer: '01' },
          });
          const name = executionName(detail(v1));
          expect(name.length).toBeLessThanOrEqual(MAX_EXECUTION_NAME_LENGTH);
          expect(name).toMatch(NAME_PATTERN);
          // 'null' is no version id: both would fall back to the same sequencer.
          if (v1 !== v2 && v1 !== 'null' && v2 !== 'null') expect(executionName(detail(v2))).not.toBe(name);
        },
      ),
    );
  });
});

describe('the execution ARN', () => {
  test("is the state machine's with execution for stateMachine and the name appended", () => {
    expect(executionArnOf(STATE_MACHINE, 'churn-0123')).toBe('arn:aws:states:eu-west-1:111122223333:execution:Pipeline:churn-0123');
  });

  test('cannot be made from something that is not a state machine ARN', () => {
    expect(() => executionArnOf('arn:aws:lambda:eu-west-1:111122223333:function:f', 'x')).toThrow(
      "'arn:aws:lambda:eu-west-1:111122223333:function:f' is not a state machine ARN: expected arn:<partition>:states:<region>:<account>:stateMachine:<name>.",
    );
  });
});

// -------------------------------------------------------------------------------------------------

/** An S3 "Object Created" event as EventBridge delivers it. */
function objectCreated(detail: ObjectCreatedDetail, id = 'e1b2c3d4-0000-4000-8000-000000000001'): ObjectCreatedEvent {
  return {
    version: '0',
    id,
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '111122223333',
    time: '2025-01-01T00:00:00Z',
    region: 'eu-west-1',
    resources: [`arn:aws:s3:::${detail.bucket.name}`],
    detail: { version: '0', ...detail, reason: 'PutObject' },
  };
}

/** A Step Functions client that answers each StartExecution with `answer` and records the requests. */
function fakeStepFunctions(answer: (input: StartExecutionCommandInput) => StartExecutionCommandOutput | Error) {
  const requests: StartExecutionCommandInput[] = [];
  const client: StartExecutionApi = {
    send: async (command: StartExecutionCommand) => {
      requests.push(command.input);
      const out = answer(command.input);
      if (out instanceof Error) throw out;
      return out;
    },
  };
  return { client, requests };
}

describe('starting the pipeline', () => {
  const NOW = Date.parse('2025-01-01T00:00:05.000Z');
  const event = objectCreated(versioned('datasets/churn/data.csv', 'v1'));
  const name = executionName(event.detail);
  const arn = executionArnOf(STATE_MACHINE, name);
  const output = (startDate: Date): StartExecutionCommandOutput => ({ $metadata: {}, executionArn: arn, startDate });

  test('starts the state machine with the event itself as input, under the version name', async () => {
    const sfn = fakeStepFunctions(() => output(new Date(NOW + 12)));
    const result = await startPipeline(event, { stateMachineArn: STATE_MACHINE, client: sfn.client, now: () => NOW });
    expect(sfn.requests).toEqual([{ stateMachineArn: STATE_MACHINE, name, input: JSON.stringify(event) }]);
    expect(result).toEqual({ status: 'STARTED', executionName: name, executionArn: arn, startDate: new Date(NOW + 12).toISOString() });
  });

  test('reports ExecutionAlreadyExists as a duplicate delivery of the object version', async () => {
    const sfn = fakeStepFunctions(() => new ExecutionAlreadyExists({ message: `Execution Already Exists: '${arn}'`, $metadata: {} }));
    const result = await startPipeline(event, { stateMachineArn: STATE_MACHINE, client: sfn.client, now: () => NOW });
    expect(result).toEqual({
      status: 'DUPLICATE_EVENT',
      executionName: name,
      executionArn: arn,
      answer: 'ExecutionAlreadyExists',
      message: `Object version s3://${BUCKET}/datasets/churn/data.csv (version v1) already started execution ${name}: this delivery starts nothing.`,
    });
  });

  test('reports the running execution returned again (started before this request) as a duplicate delivery', async () => {
    const started = new Date(NOW - 2_000);
    const sfn = fakeStepFunctions(() => output(started));
    const result = await startPipeline(event, { stateMachineArn: STATE_MACHINE, client: sfn.client, now: () => NOW });
    expect(result).toEqual({
      status: 'DUPLICATE_EVENT',
      executionName: name,
      executionArn: arn,
      answer: 'SameExecutionReturned',
      message: `Object version s3://${BUCKET}/datasets/churn/data.csv (version v1) is already running as execution ${name} (started ${started.toISOString()}): this delivery starts nothing.`,
    });
  });

  test('reads a start in the same millisecond as the request as a new execution', async () => {
    const sfn = fakeStepFunctions(() => output(new Date(NOW)));
    expect((await startPipeline(event, { stateMachineArn: STATE_MACHINE, client: sfn.client, now: () => NOW })).status).toBe('STARTED');
  });

  test('throws any other error, so that the event is retried and then dead-lettered', async () => {
    const missing = new StateMachineDoesNotExist({ message: `State Machine Does Not Exist: '${STATE_MACHINE}'`, $metadata: {} });
    const sfn = fakeStepFunctions(() => missing);
    await expect(startPipeline(event, { stateMachineArn: STATE_MACHINE, client: sfn.client, now: () => NOW })).rejects.toBe(missing);
  });
});
