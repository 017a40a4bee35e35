/**
 * Handler-level tests against the local emulators: Ingest (accepted, duplicate, retried and
 * rejected datasets), the failure path's reason and stage, the registry store's conditional
 * writes under concurrency, and the local event bus (pattern matching, S3 events).
 *
 * Ingest is invoked by hand on datasets put in a scratch bucket, which no rule watches, so that
 * no pipeline starts behind the test's back (Ingest reads and writes the bucket of its event).
 * One rejected dataset also goes through the real pipeline, as a drop in the data bucket.
 */
import { createHash } from 'node:crypto';
import { CreateBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../lambdas/shared/clients';
import { s3Keys, s3Uri } from '../lambdas/shared/layout';
import type { IngestInput, IngestOutput, RecordFailureInput } from '../lambdas/shared/pipeline';
import type { Registry } from '../lambdas/shared/registry/registry';
import type { DatasetProfile, DatasetSchema } from '../lambdas/shared/types';
import { TARGET_METADATA_KEY, trainingJobName } from '../lambdas/data/ingest';
import { reasonFromCause, recordFailure } from '../lambdas/registry/record-failure';
import { matchesPattern, objectCreatedEvent } from '../local/events';
import type { S3NotificationRecord } from '../local/emulators';
import { binaryClassificationCsv, parseCsv } from './helpers/datasets';
import {
  csvRowCount,
  dropDataset,
  getObjectJson,
  getTags,
  getText,
  putObject,
  splitUri,
  startCloud,
  stopCloud,
  type TestCloud,
} from './helpers/cloud';

jest.setTimeout(60_000);

const SCRATCH = 'mloop-handlers-scratch';

let t: TestCloud;
let registry: Registry;

beforeAll(async () => {
  t = await startCloud();
  registry = t.registry;
  await s3Client().send(new CreateBucketCommand({ Bucket: SCRATCH }));
}, 120_000);

afterAll(async () => {
  await stopCloud(t);
}, 60_000);

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Put a dataset in the scratch bucket and ingest it as execution `execution`. */
async function ingestFile(model: string, fileName: string, csv: string, execution: string, target?: string): Promise<IngestOutput> {
  const key = s3Keys.dataset(model, fileName);
  await putObject(SCRATCH, key, csv, target ? { [TARGET_METADATA_KEY]: target } : undefined);
  return ingestKey(key, execution);
}

function ingestKey(key: string, execution: string): Promise<IngestOutput> {
  const input: IngestInput = {
    detail: { bucket: { name: SCRATCH }, object: { key } },
    execution,
    eventId: `event-${execution}`,
    eventTime: '2024-05-01T12:00:00Z',
  };
  return t.cloud.invoke('ingest', input) as Promise<IngestOutput>;
}

/** Replace the value of `column` in the first `n` data rows. */
function corrupt(csv: string, column: string, value: string, n: number): string {
  const [header, ...rows] = csv.trimEnd().split('\n');
  const index = header.split(',').indexOf(column);
  return (
    [
      header,
      ...rows.map((row, i) =>
        i < n
          ? row
              .split(',')
              .map((cell, j) => (j === index ? value : cell))
              .join(',')
          : row,
      ),
    ].join('\n') + '\n'
  );
}

describe('ingest: an accepted dataset', () => {
  const MODEL = 'ingest-a';
  const csv = binaryClassificationCsv(300, 21);
  let out: IngestOutput;

  beforeAll(async () => {
    out = await ingestFile(MODEL, 'first.csv', csv, 'exec-1', 'label');
  });

  it('returns ACCEPTED with the version, content hash, channels and a training job name', () => {
    expect(out).toEqual({
      status: 'ACCEPTED',
      model: MODEL,
      datasetVersion: 1,
      sha256: sha256(csv),
      target: 'label',
      task: 'classification',
      trainingJobName: trainingJobName(MODEL, 1, 'exec-1'),
      channels: {
        train: s3Uri(SCRATCH, `splits/${MODEL}/v1/train/`),
        validation: s3Uri(SCRATCH, `splits/${MODEL}/v1/validation/`),
      },
      testSplit: s3Uri(SCRATCH, s3Keys.split(MODEL, 1, 'test')),
      hyperparameters: {}, // no datasets/<model>/hyperparameters.json
      trainingSlot: 'acquired', // no other execution trains this model now
    });
    expect(out.status === 'ACCEPTED' && out.trainingJobName).toMatch(/^mloop-ingest-a-d1-[0-9a-f]{8}$/);
  });

  it('writes train/validation/test splits whose rows add up to the dataset, each with the header', async () => {
    const source = parseCsv(csv);
    const header = csv.split('\n')[0];
    const seen: Record<string, string>[] = [];
    const counts: Record<string, number> = {};
    for (const split of ['train', 'validation', 'test'] as const) {
      const text = await getText(SCRATCH, s3Keys.split(MODEL, 1, split));
      expect(text.split('\n')[0]).toBe(header);
      counts[split] = csvRowCount(text);
      seen.push(...parseCsv(text));
    }
    expect(counts.train + counts.validation + counts.test).toBe(300);
    expect(counts.train).toBeGreaterThan(counts.validation);
    expect(counts.validation).toBeGreaterThan(0);
    expect(counts.test).toBeGreaterThan(0);
    // The same rows, every one exactly once.
    const key = (r: Record<string, string>) => JSON.stringify(r);
    expect(seen.map(key).sort()).toEqual(source.map(key).sort());

    const record = await registry.datasets.get(MODEL, 1);
    expect(record?.splitRows).toEqual(counts);
  });

  it('writes profile.json and schema.json', async () => {
    const profile = await getObjectJson<DatasetProfile>(SCRATCH, s3Keys.profile(MODEL, 1));
    expect(profile.rows).toBe(300);
    expect(Object.keys(profile.columns).sort()).toEqual(['color', 'label', 'x1', 'x2', 'x3']);
    expect(profile.columns.x1.kind).toBe('numeric');
    expect(profile.columns.x1.missing).toBeGreaterThan(0); // about 5% of x1 is empty
    expect(profile.columns.color.kind).toBe('categorical');

    const schema = await getObjectJson<DatasetSchema>(SCRATCH, s3Keys.splitSchema(MODEL, 1));
    expect(schema).toMatchObject({ target: 'label', task: 'classification', classes: ['0', '1'] });
    expect(Object.fromEntries(schema.columns.map((c) => [c.name, c.type]))).toEqual({
      x1: 'numeric',
      x2: 'numeric',
      x3: 'numeric',
      color: 'categorical',
      label: expect.any(String),
    });
    expect(schema.columns.find((c) => c.name === 'x1')!.type).toBe('numeric');
    expect(schema.columns.find((c) => c.name === 'color')).toMatchObject({ type: 'categorical', categories: ['blue', 'green', 'red'] });
    // The model's schema is fixed by this first dataset.
    const meta = await registry.models.get(MODEL);
    expect(meta?.schema).toEqual(schema);
    expect(meta?.latestDataset).toBe(1);
  });

  it('records the dataset as accepted with its hash, splits and lineage', async () => {
    const record = await registry.datasets.get(MODEL, 1);
    expect(record).toMatchObject({
      model: MODEL,
      version: 1,
      status: 'accepted',
      sha256: sha256(csv),
      s3Uri: s3Uri(SCRATCH, `datasets/${MODEL}/first.csv`),
      bytes: Buffer.byteLength(csv),
      rows: 300,
      profileUri: s3Uri(SCRATCH, s3Keys.profile(MODEL, 1)),
      reportUri: s3Uri(SCRATCH, s3Keys.validationReport(MODEL, 1)),
      splits: {
        train: s3Uri(SCRATCH, s3Keys.split(MODEL, 1, 'train')),
        validation: s3Uri(SCRATCH, s3Keys.split(MODEL, 1, 'validation')),
        test: s3Uri(SCRATCH, s3Keys.split(MODEL, 1, 'test')),
      },
      sourceEvent: { execution: 'exec-1', eventId: 'event-exec-1', eventTime: '2024-05-01T12:00:00Z' },
    });
    expect(record?.reason).toBeUndefined();
    expect(record?.schemaHash).toMatch(/^[0-9a-f]{64}$/);
    const report = await getObjectJson<Record<string, unknown>>(SCRATCH, s3Keys.validationReport(MODEL, 1));
    expect(report).toMatchObject({ accepted: true, violations: [], rows: 300, sha256: sha256(csv), splitRows: record?.splitRows });
  });

  it('answers DUPLICATE for the same bytes dropped again by another execution', async () => {
    const again = await ingestFile(MODEL, 'same-bytes-other-name.csv', csv, 'exec-2', 'label');
    // exec-1 recorded no end: a run on the version is in progress, so no second run trains it.
    expect(again).toEqual({
      status: 'DUPLICATE',
      model: MODEL,
      datasetVersion: 1,
      duplicateOf: 'exec-1',
      modelVersion: null,
      reason: 'a run on dataset version 1 is in progress (execution exec-1)',
    });
    expect(await registry.datasets.list(MODEL)).toHaveLength(1);
    expect(await registry.runs.get(MODEL, 'exec-2')).toMatchObject({
      status: 'DUPLICATE',
      datasetVersion: 1,
      reason: expect.stringContaining('dataset version 1'),
    });
    // Nothing was written for it.
    expect((await registry.models.get(MODEL))?.datasetCounter).toBe(1);
  });

  it('does not count a retry of the same execution as a duplicate: it keeps its claim', async () => {
    const retry = await ingestKey(s3Keys.dataset(MODEL, 'first.csv'), 'exec-1');
    // A retry after the ingest completed answers what the first attempt answered: no new version.
    expect(retry).toMatchObject({ status: 'ACCEPTED', datasetVersion: 1 });
    expect(await registry.datasets.list(MODEL)).toHaveLength(1);
    const claim = await registry.content.get(MODEL, sha256(csv));
    expect(claim).toMatchObject({ execution: 'exec-1', datasetVersion: retry.datasetVersion });
    // Another execution with these bytes is still a duplicate of the claim's version.
    const third = await ingestFile(MODEL, 'yet-another.csv', csv, 'exec-3', 'label');
    expect(third).toMatchObject({
      status: 'DUPLICATE',
      model: MODEL,
      datasetVersion: retry.datasetVersion,
      duplicateOf: 'exec-1',
      modelVersion: null,
    });
  });

  it('lets exactly one of two concurrent executions ingest the same new bytes', async () => {
    const fresh = binaryClassificationCsv(120, 99);
    await putObject(SCRATCH, s3Keys.dataset('ingest-race', 'a.csv'), fresh, { [TARGET_METADATA_KEY]: 'label' });
    await putObject(SCRATCH, s3Keys.dataset('ingest-race', 'b.csv'), fresh, { [TARGET_METADATA_KEY]: 'label' });
    const outs = await Promise.all([
      ingestKey(s3Keys.dataset('ingest-race', 'a.csv'), 'race-a'),
      ingestKey(s3Keys.dataset('ingest-race', 'b.csv'), 'race-b'),
    ]);
    expect(outs.map((o) => o.status).sort()).toEqual(['ACCEPTED', 'DUPLICATE']);
    expect(await registry.datasets.list('ingest-race')).toHaveLength(1);
  });
});

describe('ingest: rejected datasets', () => {
  const MODEL = 'ingest-r';

  beforeAll(async () => {
    // Fix the model's schema (x1 numeric) with a good first dataset.
    await ingestFile(MODEL, 'good.csv', binaryClassificationCsv(100, 31), 'r-1', 'label');
  });

  it('rejects text in a numeric column of the fixed schema, naming the file and the problem', async () => {
    const bad = corrupt(binaryClassificationCsv(100, 32), 'x1', 'lots', 3);
    const key = s3Keys.dataset(MODEL, 'text-in-x1.csv');
    await putObject(SCRATCH, key, bad); // no target metadata: the schema's target applies
    const error = await ingestKey(key, 'r-2').then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.name).toBe('DatasetRejected');
    expect(error?.message).toContain(`Dataset ${s3Uri(SCRATCH, key)} was rejected:`);
    expect(error?.message).toContain("Column 'x1'");
    expect(error?.message).toContain('3 non-numeric values');
    expect(error?.message).toContain("'lots'");

    // Kept where it was dropped, tagged as quarantined.
    const head = await s3Client().send(new HeadObjectCommand({ Bucket: SCRATCH, Key: key }));
    expect(head.ContentLength).toBe(Buffer.byteLength(bad));
    expect(await getTags(SCRATCH, key)).toEqual({ 'mloop-status': 'quarantined', 'mloop-dataset-version': '2' });

    // Recorded as rejected, with its report in S3.
    const record = await registry.datasets.get(MODEL, 2);
    expect(record).toMatchObject({ status: 'rejected', sha256: sha256(bad), rows: 100, reason: error?.message, parentVersion: 1 });
    expect(record?.splits).toBeUndefined();
    const report = await getObjectJson<{
      accepted: boolean;
      violations: { check: string; column?: string; count: number; exampleRows: number[] }[];
    }>(SCRATCH, splitUri(record!.reportUri!).key);
    expect(report.accepted).toBe(false);
    expect(report.violations).toEqual([
      expect.objectContaining({ check: 'type_mismatch', column: 'x1', count: 3, exampleRows: [2, 3, 4] }),
    ]);
    // No splits, and the schema stayed as the first dataset fixed it.
    expect((await registry.models.get(MODEL))?.latestDataset).toBe(1);
  });

  it('rejects a dataset whose target column is missing', async () => {
    const noTarget = binaryClassificationCsv(50, 33)
      .split('\n')
      .map((line) => line.split(',').slice(0, 4).join(','))
      .join('\n');
    const key = s3Keys.dataset('ingest-t', 'no-label.csv');
    await putObject(SCRATCH, key, noTarget, { [TARGET_METADATA_KEY]: 'label' });
    await expect(ingestKey(key, 't-1')).rejects.toMatchObject({
      name: 'DatasetRejected',
      message: expect.stringContaining(`Target column 'label' is not in the header of ${s3Uri(SCRATCH, key)}; found the columns`),
    });
    expect(await getTags(SCRATCH, key)).toMatchObject({ 'mloop-status': 'quarantined' });
    const [record] = await registry.datasets.list('ingest-t');
    expect(record).toMatchObject({ status: 'rejected', version: 1 });
    const report = await getObjectJson<{ violations: { check: string }[] }>(SCRATCH, splitUri(record.reportUri!).key);
    expect(report.violations.map((v) => v.check)).toContain('missing_target');
    // A rejected dataset fixes no schema.
    expect((await registry.models.get('ingest-t'))?.schema).toBeUndefined();
  });

  it('fails the pipeline at Ingest and records the run, when dropped in the data bucket', async () => {
    const bad = binaryClassificationCsv(60, 34);
    const result = await dropDataset(t.cloud, 'ingest-p', 'bad.csv', bad, 'outcome');
    expect(result.status).toBe('FAILED');
    // The Fail state's error is the stage's error and its cause Record failure's reason, as on AWS.
    const file = s3Uri(t.cloud.dataBucket, 'datasets/ingest-p/bad.csv');
    expect(result.error).toBe('DatasetRejected');
    expect(result.cause).toMatch(/^Ingest failed: /);
    expect(result.cause).toContain(`Ingest failed: Dataset ${file} was rejected: Target column 'outcome' is not in the header`);
    const run = await registry.runs.get('ingest-p', result.execution);
    expect(run).toMatchObject({ status: 'FAILED', stage: 'Ingest', error: 'DatasetRejected', reason: expect.stringContaining(file) });
    expect(await getTags(t.cloud.dataBucket, 'datasets/ingest-p/bad.csv')).toMatchObject({ 'mloop-status': 'quarantined' });
  });
});

describe('rejected bytes', () => {
  it('can be dropped again once what rejected them changed: the rejection releases the claim', async () => {
    const bytes = binaryClassificationCsv(80, 35);
    await putObject(SCRATCH, s3Keys.dataset('ingest-again', 'f.csv'), bytes);
    await expect(ingestKey(s3Keys.dataset('ingest-again', 'f.csv'), 'again-1')).rejects.toThrow(
      /Target column 'target' is not in the header/,
    );
    await putObject(SCRATCH, s3Keys.dataset('ingest-again', 'f.csv'), bytes, { [TARGET_METADATA_KEY]: 'label' });
    const second = await ingestKey(s3Keys.dataset('ingest-again', 'f.csv'), 'again-2');
    expect(second).toMatchObject({ status: 'ACCEPTED', datasetVersion: 2 });
    expect((await registry.datasets.list('ingest-again')).map((d) => d.status)).toEqual(['rejected', 'accepted']);
  });
});

describe('reasonFromCause', () => {
  it("reads a Lambda error's JSON", () => {
    const cause = JSON.stringify({
      errorType: 'DatasetRejected',
      errorMessage: 'Dataset s3://b/k was rejected: too few rows.',
      trace: ['at x'],
    });
    expect(reasonFromCause('DatasetRejected', cause)).toBe('Dataset s3://b/k was rejected: too few rows.');
  });

  it("reads SageMaker's job description with FailureReason", () => {
    const cause = JSON.stringify({
      TrainingJobName: 'mloop-m-d1-abcdef12',
      TrainingJobStatus: 'Failed',
      FailureReason: 'AlgorithmError: out of memory',
    });
    expect(reasonFromCause('States.TaskFailed', cause)).toBe('Training job mloop-m-d1-abcdef12 failed: AlgorithmError: out of memory');
    const unnamed = JSON.stringify({ TrainingJobStatus: 'Failed', FailureReason: 'ClientError: no data' });
    expect(reasonFromCause('States.TaskFailed', unnamed)).toBe('Training job failed: ClientError: no data');
  });

  it('keeps plain text, other JSON, and falls back to the error name', () => {
    expect(reasonFromCause('States.Timeout', 'The task timed out after 930 seconds.')).toBe('The task timed out after 930 seconds.');
    expect(reasonFromCause('X', '{"something":"else"}')).toBe('{"something":"else"}');
    expect(reasonFromCause('X', 'null')).toBe('null');
    expect(reasonFromCause('X', '{not json')).toBe('{not json');
    expect(reasonFromCause('States.Runtime', undefined)).toBe('States.Runtime');
    expect(reasonFromCause('States.Runtime', '')).toBe('States.Runtime');
  });
});

describe('recordFailure', () => {
  const MODEL = 'failing';
  const env = () => ({ REGISTRY_TABLE: t.cloud.registryTable, DATA_BUCKET: t.cloud.dataBucket });
  const detail = { bucket: { name: 'mloop-bucket' }, object: { key: `datasets/${MODEL}/data.csv` } };
  const ingest = {
    status: 'ACCEPTED' as const,
    model: MODEL,
    datasetVersion: 7,
    sha256: 'a'.repeat(64),
    target: 'y',
    task: 'regression' as const,
    trainingJobName: 'mloop-failing-d7-00000000',
    channels: { train: 's3://b/splits/failing/v7/train/', validation: 's3://b/splits/failing/v7/validation/' },
    testSplit: 's3://b/splits/failing/v7/test/test.csv',
    hyperparameters: {},
  };
  const training = { trainingJobName: ingest.trainingJobName, modelArtifacts: 's3://b/training/x/output/model.tar.gz' };
  const lambdaCause = (message: string) => JSON.stringify({ errorType: 'Boom', errorMessage: message });

  it('records an Ingest failure against the model named by the dropped key', async () => {
    const input: RecordFailureInput = {
      execution: 'f-ingest',
      state: { detail, error: { Error: 'DatasetRejected', Cause: lambdaCause('bad data') } },
    };
    expect(await recordFailure(input, env())).toEqual({
      model: MODEL,
      stage: 'Ingest',
      error: 'DatasetRejected',
      reason: 'Ingest failed: bad data',
    });
    const run = await registry.runs.get(MODEL, 'f-ingest');
    expect(run).toMatchObject({
      model: MODEL,
      execution: 'f-ingest',
      status: 'FAILED',
      stage: 'Ingest',
      error: 'DatasetRejected',
      reason: 'bad data',
    });
    expect(run?.datasetVersion).toBeUndefined();
  });

  it('records a Train failure with the dataset version and the job failure reason', async () => {
    const cause = JSON.stringify({ TrainingJobName: ingest.trainingJobName, FailureReason: 'AlgorithmError: the GPU caught fire' });
    const input: RecordFailureInput = {
      execution: 'f-train',
      state: { detail, ingest, error: { Error: 'States.TaskFailed', Cause: cause } },
    };
    const out = await recordFailure(input, env());
    expect(out).toEqual({
      model: MODEL,
      stage: 'Train',
      error: 'States.TaskFailed',
      reason: `Train failed: Training job ${ingest.trainingJobName} failed: AlgorithmError: the GPU caught fire`,
    });
    expect(await registry.runs.get(MODEL, 'f-train')).toMatchObject({
      status: 'FAILED',
      stage: 'Train',
      datasetVersion: 7,
      reason: expect.stringContaining('the GPU caught fire'),
    });
  });

  it('derives Evaluate and Register from what the state already holds', async () => {
    const evaluation = { candidate: {}, champion: null, baseline: {}, decision: { better: true, reason: 'r', metric: 'rmse' } } as never;
    const evaluateFailure = await recordFailure(
      { execution: 'f-eval', state: { detail, ingest, training, error: { Error: 'ModelArtifactInvalid', Cause: lambdaCause('no onnx') } } },
      env(),
    );
    expect(evaluateFailure.stage).toBe('Evaluate');
    const registerFailure = await recordFailure(
      { execution: 'f-reg', state: { detail, ingest, training, evaluation, error: { Error: 'States.Timeout' } } },
      env(),
    );
    expect(registerFailure).toMatchObject({ stage: 'Register', reason: 'Register failed: States.Timeout' });
    expect(await registry.runs.get(MODEL, 'f-eval')).toMatchObject({ stage: 'Evaluate', reason: 'no onnx' });
    expect(await registry.runs.get(MODEL, 'f-reg')).toMatchObject({ stage: 'Register', error: 'States.Timeout' });
  });

  it('records nothing when the event is not a dataset key, and says so', async () => {
    const input: RecordFailureInput = {
      execution: 'f-none',
      state: {
        detail: { bucket: { name: 'b' }, object: { key: 'elsewhere/file.csv' } },
        error: { Error: 'InvalidInput', Cause: lambdaCause('not a dataset') },
      },
    };
    expect(await recordFailure(input, env())).toEqual({
      model: null,
      stage: 'Ingest',
      error: 'InvalidInput',
      reason: 'Ingest failed: not a dataset',
    });
  });

  it('is what the recordFailure function runs', async () => {
    const out = await t.cloud.invoke('recordFailure', { execution: 'f-handler', state: { detail, error: { Error: 'E', Cause: 'plain' } } });
    expect(out).toEqual({ model: MODEL, stage: 'Ingest', error: 'E', reason: 'Ingest failed: plain' });
    expect(await registry.runs.get(MODEL, 'f-handler')).toMatchObject({ status: 'FAILED' });
  });
});

describe('the registry handlers refuse a malformed event, naming the field and what was expected', () => {
  const ingest = {
    status: 'ACCEPTED',
    model: 'malformed',
    datasetVersion: 1,
    sha256: 'b'.repeat(64),
    target: 'y',
    task: 'regression',
    trainingJobName: 'mloop-malformed-d1-00000000',
    channels: { train: 's3://b/splits/malformed/v1/train/', validation: 's3://b/splits/malformed/v1/validation/' },
    testSplit: 's3://b/splits/malformed/v1/test/test.csv',
    hyperparameters: {},
  };
  const invalid = (message: string) => expect.objectContaining({ name: 'InvalidInput', message });

  it('Evaluate: a training output without its model artifacts', async () => {
    await expect(t.cloud.invoke('evaluate', { execution: 'm-1', ingest, training: { trainingJobName: 'j' } })).rejects.toEqual(
      invalid('Evaluate input is invalid: training.modelArtifacts: expected string, received undefined.'),
    );
  });

  it('Evaluate: a dataset that was not accepted', async () => {
    await expect(
      t.cloud.invoke('evaluate', {
        execution: 'm-1',
        ingest: { ...ingest, status: 'DUPLICATE' },
        training: { trainingJobName: 'j', modelArtifacts: 's3://b/m.tar.gz' },
      }),
    ).rejects.toEqual(invalid('Evaluate input is invalid: ingest.status: expected "ACCEPTED".'));
  });

  it('Register: an unknown stage, and an event that is not an object', async () => {
    await expect(t.cloud.invoke('register', { stage: 'approve-later', execution: 'm-1' })).rejects.toEqual(
      invalid("Register input is invalid: stage: expected 'await-approval', 'promote-approved', or no stage (Register)."),
    );
    await expect(t.cloud.invoke('register', 'promote')).rejects.toEqual(
      invalid('Register input is invalid: (event): expected object, received string.'),
    );
  });

  it('Register: the approval wait with a version that is not a number', async () => {
    await expect(
      t.cloud.invoke('register', { stage: 'await-approval', taskToken: 'token', execution: 'm-1', model: 'malformed', version: '3' }),
    ).rejects.toEqual(invalid('Register input is invalid: version: expected number, received string.'));
  });

  it('Register: an empty event lists the first five problems and counts the rest', async () => {
    await expect(t.cloud.invoke('register', {})).rejects.toEqual(
      invalid(
        'Register input is invalid: execution: expected string, received undefined; promote: expected boolean, received undefined; ' +
          'codeVersion: expected string, received undefined; ingest: expected object, received undefined; ' +
          'training: expected object, received undefined; and 1 more.',
      ),
    );
  });

  it('Record failure: a state without the error the Catch puts there', async () => {
    await expect(
      t.cloud.invoke('recordFailure', {
        execution: 'm-1',
        state: { detail: { bucket: { name: 'b' }, object: { key: 'datasets/malformed/d.csv' } } },
      }),
    ).rejects.toEqual(invalid('Record-failure input is invalid: state.error: expected object, received undefined.'));
  });

  it('Record failure: a detail that is neither a dropped object nor a train request names the closest one', async () => {
    await expect(
      t.cloud.invoke('recordFailure', {
        execution: 'm-1',
        state: { detail: { bucket: { name: 'b' }, object: {} }, error: { Error: 'E' } },
      }),
    ).rejects.toEqual(invalid('Record-failure input is invalid: state.detail.object.key: expected string, received undefined.'));
  });

  it('Models: an unknown action, a version given as text, and no request at all', async () => {
    await expect(t.cloud.invoke('models', { action: 'frobnicate', model: 'malformed' })).rejects.toEqual(
      invalid('Models request is invalid: action: expected promote, rollback, history, lineage, approve, reject, tag or archive.'),
    );
    await expect(t.cloud.invoke('models', { action: 'lineage', model: 'malformed', version: '1' })).rejects.toEqual(
      invalid('Models request is invalid: version: expected number, received string.'),
    );
    await expect(t.cloud.invoke('models', null)).rejects.toEqual(
      invalid('Models request is invalid: (event): expected object, received null.'),
    );
  });
});

describe('registry store under concurrency', () => {
  const alias = (model: string, version: number, by: string) => ({
    model,
    alias: 'champion',
    version,
    updatedAt: new Date().toISOString(),
    updatedBy: by,
    reason: 'test',
  });

  it('moveAlias: the first holder is set once; a second "no holder yet" move fails', async () => {
    expect(await registry.aliases.move(alias('alias-a', 1, 'a'), undefined)).toBe(true);
    expect(await registry.aliases.move(alias('alias-a', 9, 'b'), undefined)).toBe(false);
    expect(await registry.aliases.get('alias-a', 'champion')).toMatchObject({ version: 1, updatedBy: 'a' });
  });

  it('moveAlias: of two concurrent moves from the same expected version, exactly one wins', async () => {
    for (let round = 0; round < 5; round++) {
      const model = `alias-race-${round}`;
      expect(await registry.aliases.move(alias(model, 1, 'setup'), undefined)).toBe(true);
      const results = await Promise.all([
        registry.aliases.move(alias(model, 2, 'run-2'), 1),
        registry.aliases.move(alias(model, 3, 'run-3'), 1),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results[0] ? 2 : 3;
      expect(await registry.aliases.get(model, 'champion')).toMatchObject({
        version: winner,
        previousVersion: 1,
        updatedBy: `run-${winner}`,
      });
      // The loser's view is stale: moving from 1 fails now, moving from the winner works.
      expect(await registry.aliases.move(alias(model, 4, 'late'), 1)).toBe(false);
      expect(await registry.aliases.move(alias(model, 4, 'late'), winner)).toBe(true);
    }
  });

  it('moveAlias: of many concurrent first moves, exactly one wins', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => registry.aliases.move(alias('alias-many', i + 1, `w${i + 1}`), undefined)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true) + 1;
    expect(await registry.aliases.get('alias-many', 'champion')).toMatchObject({ version: winner, updatedBy: `w${winner}` });
  });

  it('nextNumber: 20 concurrent calls give 1..20 without gaps or duplicates', async () => {
    const numbers = await Promise.all(Array.from({ length: 20 }, () => registry.models.nextNumber('counter-model', 'versionCounter')));
    expect([...numbers].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // Counters are independent, per model and per kind.
    expect(await registry.models.nextNumber('counter-model', 'datasetCounter')).toBe(1);
    expect(await registry.models.nextNumber('counter-other', 'versionCounter')).toBe(1);
    expect(await registry.models.nextNumber('counter-model', 'versionCounter')).toBe(21);
    expect(await registry.models.list()).toEqual(expect.arrayContaining(['counter-model', 'counter-other']));
  });
});

describe('the local event bus', () => {
  const event = {
    source: 'aws.s3',
    'detail-type': 'Object Created',
    detail: { bucket: { name: 'data' }, object: { key: 'datasets/churn/a.csv', size: 10 }, tags: ['x', 'y'] },
  };

  it('matches exact values (a list means any of them)', () => {
    expect(matchesPattern({ source: ['aws.s3'] }, event)).toBe(true);
    expect(matchesPattern({ source: ['aws.ec2', 'aws.s3'] }, event)).toBe(true);
    expect(matchesPattern({ source: ['aws.ec2'] }, event)).toBe(false);
    expect(matchesPattern({ 'detail-type': ['Object Created'], source: ['aws.s3'] }, event)).toBe(true);
    expect(matchesPattern({ 'detail-type': ['Object Deleted'], source: ['aws.s3'] }, event)).toBe(false);
    expect(matchesPattern({ detail: { object: { size: [10] } } }, event)).toBe(true);
    expect(matchesPattern({ detail: { object: { size: ['10'] } } }, event)).toBe(false); // types count
  });

  it('matches nested fields, and fails on a field the event lacks', () => {
    expect(matchesPattern({ detail: { bucket: { name: ['data'] } } }, event)).toBe(true);
    expect(matchesPattern({ detail: { bucket: { name: ['other'] } } }, event)).toBe(false);
    expect(matchesPattern({ detail: { missing: { deeper: ['x'] } } }, event)).toBe(false);
    expect(matchesPattern({}, event)).toBe(true);
  });

  it('matches prefix and suffix', () => {
    expect(matchesPattern({ detail: { object: { key: [{ prefix: 'datasets/' }] } } }, event)).toBe(true);
    expect(matchesPattern({ detail: { object: { key: [{ prefix: 'capture/' }] } } }, event)).toBe(false);
    expect(matchesPattern({ detail: { object: { key: [{ suffix: '.csv' }] } } }, event)).toBe(true);
    expect(matchesPattern({ detail: { object: { key: [{ suffix: '.json' }] } } }, event)).toBe(false);
    expect(matchesPattern({ detail: { object: { size: [{ prefix: '1' }] } } }, event)).toBe(false); // not a string
    expect(matchesPattern({ detail: { object: { key: [{ prefix: 'capture/' }, { suffix: '.csv' }] } } }, event)).toBe(true);
  });

  it('matches anything-but (a value, a list, a prefix), never on a missing field', () => {
    expect(matchesPattern({ source: [{ 'anything-but': 'aws.ec2' }] }, event)).toBe(true);
    expect(matchesPattern({ source: [{ 'anything-but': 'aws.s3' }] }, event)).toBe(false);
    expect(matchesPattern({ source: [{ 'anything-but': ['aws.ec2', 'aws.s3'] }] }, event)).toBe(false);
    expect(matchesPattern({ detail: { object: { key: [{ 'anything-but': { prefix: 'capture/' } }] } } }, event)).toBe(true);
    expect(matchesPattern({ detail: { object: { key: [{ 'anything-but': { prefix: 'datasets/' } }] } } }, event)).toBe(false);
    expect(matchesPattern({ detail: { nothing: [{ 'anything-but': 'x' }] } }, event)).toBe(false);
  });

  it('matches exists and equals-ignore-case', () => {
    expect(matchesPattern({ detail: { object: { size: [{ exists: true }] } } }, event)).toBe(true);
    expect(matchesPattern({ detail: { object: { etag: [{ exists: true }] } } }, event)).toBe(false);
    expect(matchesPattern({ detail: { object: { etag: [{ exists: false }] } } }, event)).toBe(true);
    expect(matchesPattern({ source: [{ 'equals-ignore-case': 'AWS.S3' }] }, event)).toBe(true);
  });

  it('matches array values when any element matches', () => {
    expect(matchesPattern({ detail: { tags: ['y'] } }, event)).toBe(true);
    expect(matchesPattern({ detail: { tags: ['z'] } }, event)).toBe(false);
    expect(matchesPattern({ detail: { tags: [{ prefix: 'x' }] } }, event)).toBe(true);
  });

  it('refuses an operator it does not implement instead of matching wrongly', () => {
    expect(() => matchesPattern({ detail: { object: { size: [{ numeric: ['>', 5] }] } } }, event)).toThrow(
      /does not support the pattern operator numeric/,
    );
  });

  const record = (eventName: string, key: string, versionId?: string): S3NotificationRecord => ({
    eventName,
    eventTime: '2024-05-01T12:34:56.789Z',
    awsRegion: 'us-east-1',
    s3: { bucket: { name: 'my-bucket' }, object: { key, size: 42, eTag: 'abc', versionId, sequencer: '01' } },
  });

  it('turns an S3 ObjectCreated record into the "Object Created" event S3 sends to EventBridge', () => {
    const e = objectCreatedEvent(record('ObjectCreated:Put', 'datasets/churn/a.csv'))!;
    expect(e).toMatchObject({
      version: '0',
      'detail-type': 'Object Created',
      source: 'aws.s3',
      time: '2024-05-01T12:34:56Z',
      resources: ['arn:aws:s3:::my-bucket'],
      detail: { bucket: { name: 'my-bucket' }, object: { key: 'datasets/churn/a.csv', size: 42, etag: 'abc' }, reason: 'PutObject' },
    });
    expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(e.detail.object).not.toHaveProperty('version-id');
    expect(objectCreatedEvent(record('ObjectCreated:Copy', 'k', 'v1'))!.detail).toMatchObject({
      reason: 'CopyObject',
      object: { 'version-id': 'v1' },
    });
    expect(objectCreatedEvent(record('ObjectRemoved:Delete', 'k'))).toBeUndefined();
  });

  it('gives two writes with the same emulated sequencer (s3rver: the same millisecond) increasing sequencers, as S3 does', () => {
    const sequencer = (e: ReturnType<typeof objectCreatedEvent>) => (e!.detail.object as { sequencer: string }).sequencer;
    const first = sequencer(objectCreatedEvent(record('ObjectCreated:Put', 'datasets/churn/a.csv')));
    const second = sequencer(objectCreatedEvent(record('ObjectCreated:Put', 'datasets/churn/a.csv')));
    expect(first).toMatch(/^[0-9A-F]{18}$/);
    expect(second).toMatch(/^[0-9A-F]{18}$/);
    expect(second > first).toBe(true);
  });

  it("is matched by the template's dataset rule only for datasets/ keys in the data bucket", () => {
    const rule = t.cloud.template.rules.find((r) => r.pattern)!;
    const inData = (key: string) => ({
      ...objectCreatedEvent(record('ObjectCreated:Put', key))!,
      detail: { ...objectCreatedEvent(record('ObjectCreated:Put', key))!.detail, bucket: { name: t.cloud.dataBucket } },
    });
    expect(matchesPattern(rule.pattern!, inData('datasets/churn/a.csv'))).toBe(true);
    expect(matchesPattern(rule.pattern!, inData('capture/churn/x.jsonl'))).toBe(false);
    expect(matchesPattern(rule.pattern!, objectCreatedEvent(record('ObjectCreated:Put', 'datasets/churn/a.csv')))).toBe(false); // other bucket
  });
});
