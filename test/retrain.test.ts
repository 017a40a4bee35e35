/**
 * Training again (issue 11): the same bytes are a DUPLICATE only when their dataset version
 * produced a model version or a run on it is in progress; a version whose runs all failed trains
 * again when its bytes are dropped again; `mloop train` (a TrainRequest) and `run --retrain` train
 * an existing version on purpose. On the local runtime, with the real trainer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { decideOnKnownData } from '../lambdas/data/known-data';
import { s3Client } from '../lambdas/shared/clients';
import { s3Keys } from '../lambdas/shared/layout';
import type { RunRecord } from '../lambdas/shared/registry/runs';
import { TARGET_METADATA_KEY } from '../lambdas/data/ingest';
import { runPipeline, trainAgain } from '../bin/cli';
import { binaryClassificationCsv } from './helpers/datasets';
import { startCloud, stopCloud, type TestCloud } from './helpers/cloud';
import { once } from './helpers/once';

jest.setTimeout(180_000);

const run = (status: RunRecord['status'], extra: Partial<RunRecord> = {}): RunRecord => ({
  model: 'm',
  execution: 'e1',
  status,
  updatedAt: '2026-01-01T00:00:00Z',
  ...extra,
});

describe('the rule for bytes the registry holds', () => {
  const claim = { execution: 'e1', datasetVersion: 4 };

  test('a version whose last run succeeded is a duplicate, naming the model version it produced', () => {
    expect(decideOnKnownData(claim, run('SUCCEEDED', { modelVersion: 7 }), false)).toEqual({
      action: 'duplicate',
      modelVersion: 7,
      inProgress: false,
      reason: 'dataset version 4 already produced model version 7 (execution e1)',
    });
  });

  test('a run in progress (no end recorded, or RUNNING) makes a duplicate even when training is asked for', () => {
    for (const last of [undefined, run('RUNNING')]) {
      for (const force of [false, true]) {
        expect(decideOnKnownData(claim, last, force)).toMatchObject({ action: 'duplicate', modelVersion: null, inProgress: true });
      }
    }
  });

  test('a version whose last run failed, or was stopped, trains again; the cause names that run', () => {
    expect(decideOnKnownData(claim, run('FAILED', { stage: 'Train', reason: 'PyTorch (torch) was not found' }), false)).toEqual({
      action: 'train',
      cause: 'the last run on dataset version 4 (e1) ended FAILED at Train: PyTorch (torch) was not found',
    });
    expect(decideOnKnownData(claim, run('FAILED', { stage: 'execution', error: 'States.Aborted' }), false)).toMatchObject({
      action: 'train',
    });
  });

  test('asked for, a version that produced a model version trains again', () => {
    expect(decideOnKnownData(claim, run('SUCCEEDED', { modelVersion: 7 }), true)).toMatchObject({
      action: 'train',
      cause: expect.stringMatching(/produced model version 7/),
    });
  });
});

describe('on the local runtime', () => {
  let t: TestCloud;
  const MODEL = 'again';
  const csv = binaryClassificationCsv(300, 11);
  let file: string;

  beforeAll(async () => {
    t = await startCloud();
    file = path.join(t.home, 'again.csv');
    fs.writeFileSync(file, csv);
  });
  afterAll(async () => stopCloud(t), 60_000);

  /**
   * The first drops of `again.csv` on MODEL, run once per file by whichever test asks first: a
   * training that fails (no usable Python), then the same bytes dropped again, which train. What
   * the registry held right after is read here, so that later tests' runs on MODEL do not show in it.
   */
  const failedThenRetried = once(async () => {
    const saved = process.env.MLOOP_PYTHON;
    process.env.MLOOP_PYTHON = path.join(t.home, 'no-such-python');
    let failed;
    try {
      failed = await runPipeline(t.cloud, MODEL, file, 'label');
    } finally {
      if (saved === undefined) delete process.env.MLOOP_PYTHON;
      else process.env.MLOOP_PYTHON = saved;
    }
    const failedRecord = await t.registry.runs.get(MODEL, failed.execution);
    const leaseAfterFailure = (await t.registry.models.get(MODEL))?.trainingLease;

    const retried = await runPipeline(t.cloud, MODEL, file, 'label');
    const retriedRecord = await t.registry.runs.get(MODEL, retried.execution);
    const datasetVersions = (await t.registry.datasets.list(MODEL)).map((d) => d.version);
    const versions = await t.registry.versions.list(MODEL);
    return { failed, failedRecord, leaseAfterFailure, retried, retriedRecord, datasetVersions, versions };
  });

  test('a failed training leaves the bytes trainable: dropping them again trains the same dataset version and promotes it', async () => {
    const {
      failed,
      failedRecord,
      leaseAfterFailure,
      retried,
      retriedRecord: record,
      datasetVersions,
      versions,
    } = await failedThenRetried();
    expect(failed).toMatchObject({ status: 'FAILED', datasetVersion: 1, modelVersion: null });
    expect(failed.error).toMatch(/MLOOP_PYTHON=.*no-such-python cannot be used for training/);
    expect(failedRecord).toMatchObject({ status: 'FAILED', stage: 'Train' });
    expect(leaseAfterFailure).toBeUndefined();

    expect(retried).toMatchObject({ status: 'SUCCEEDED', datasetVersion: 1, modelVersion: 1, promoted: true, retryOf: failed.execution });
    expect(retried.execution).not.toBe(failed.execution);
    expect(record).toMatchObject({
      status: 'SUCCEEDED',
      datasetVersion: 1,
      modelVersion: 1,
      retryOf: failed.execution,
      source: expect.stringMatching(/again\.csv$/),
    });
    expect(record?.cause).toMatch(
      new RegExp(`the last run on dataset version 1 \\(${failed.execution}\\) ended FAILED at Train: MLOOP_PYTHON=`),
    );
    // One dataset version, its claim now held by the run that trained it.
    expect(datasetVersions).toEqual([1]);
    const version = versions[0];
    expect(version.lineage).toMatchObject({ datasetVersion: 1, execution: retried.execution });
  });

  test('the same bytes again are a duplicate that names the model version they produced', async () => {
    await failedThenRetried(); // the bytes produced model version 1
    const dup = await runPipeline(t.cloud, MODEL, file, 'label');
    expect(dup).toMatchObject({ status: 'DUPLICATE', datasetVersion: 1, modelVersion: 1, error: null });
    expect(dup.reason).toMatch(/dataset version 1 already produced model version 1/);
    expect(await t.registry.runs.get(MODEL, dup.execution)).toMatchObject({
      status: 'DUPLICATE',
      modelVersion: 1,
      source: expect.stringMatching(/again\.csv$/),
    });
  });

  test('run --retrain trains the known bytes again; mloop train trains a version without a drop', async () => {
    // A model of its own (its versions would otherwise change what MODEL's bytes produced), whose
    // bytes are known: their first drop trains model version 1.
    const model = 'again-retrain';
    expect(await runPipeline(t.cloud, model, file, 'label')).toMatchObject({ status: 'SUCCEEDED', datasetVersion: 1, modelVersion: 1 });

    const retrained = await runPipeline(t.cloud, model, file, 'label', { retrain: true });
    expect(retrained).toMatchObject({ status: 'SUCCEEDED', datasetVersion: 1, modelVersion: 2 });

    const trained = await trainAgain(t.cloud, { model, requestedBy: 'user:test', reason: 'new hyperparameters' });
    expect(trained).toMatchObject({ status: 'SUCCEEDED', datasetVersion: 1, modelVersion: 3, retryOf: retrained.execution });
    expect(trained.execution).toMatch(/^again-retrain-train-[0-9a-f]{24}$/);
    expect((await t.registry.runs.get(model, trained.execution))?.cause).toMatch(
      /^training asked for by user:test \(new hyperparameters\); training again as asked/,
    );
    expect((await t.registry.versions.list(model)).map((v) => v.lineage.datasetVersion)).toEqual([1, 1, 1]);
  });

  test('mloop train on a version that does not exist, or was rejected, fails naming it', async () => {
    await failedThenRetried(); // MODEL holds dataset version 1 (accepted), not 9
    const missing = await trainAgain(t.cloud, { model: MODEL, datasetVersion: 9 });
    expect(missing).toMatchObject({ status: 'FAILED', modelVersion: null });
    expect(missing.error).toMatch(/Model 'again' has no dataset version 9 to train on/);

    const bad = await runPipeline(t.cloud, MODEL, writeFile('bad.csv', 'x,label\n1,0\n'), 'label');
    expect(bad.status).toBe('FAILED');
    const rejected = await trainAgain(t.cloud, { model: MODEL, datasetVersion: bad.datasetVersion! });
    expect(rejected.error).toMatch(
      new RegExp(`Dataset version ${bad.datasetVersion} of 'again' is rejected .*only an accepted dataset version can be trained on`),
    );

    const none = await trainAgain(t.cloud, { model: 'never-seen' });
    expect(none.error).toMatch(/Model 'never-seen' has no accepted dataset version to train on/);
  });

  test('two drops of the same failed bytes at once: exactly one trains, the other is a duplicate of it', async () => {
    const model = 'race';
    const body = binaryClassificationCsv(200, 5);
    const saved = process.env.MLOOP_PYTHON;
    process.env.MLOOP_PYTHON = path.join(t.home, 'no-such-python');
    try {
      expect((await runPipeline(t.cloud, model, writeFile('race.csv', body), 'label')).status).toBe('FAILED');
    } finally {
      if (saved === undefined) delete process.env.MLOOP_PYTHON;
      else process.env.MLOOP_PYTHON = saved;
    }
    const keys = [s3Keys.dataset(model, 'a.csv'), s3Keys.dataset(model, 'b.csv')];
    const started = keys.map((key) => t.cloud.nextExecutionFor(key));
    await Promise.all(
      keys.map((Key) =>
        s3Client().send(
          new PutObjectCommand({ Bucket: t.cloud.dataBucket, Key, Body: body, Metadata: { [TARGET_METADATA_KEY]: 'label' } }),
        ),
      ),
    );
    const results = await Promise.all((await Promise.all(started)).map((name) => t.cloud.execution(name)));
    const ingests = results.map((r) => (r.output?.ingest as { status: string; duplicateOf?: string } | undefined)?.status);
    expect([...ingests].sort()).toEqual(['ACCEPTED', 'DUPLICATE']);
    const winner = results[ingests.indexOf('ACCEPTED')];
    const loser = results[ingests.indexOf('DUPLICATE')];
    expect(winner.status).toBe('SUCCEEDED');
    expect((loser.output?.ingest as { duplicateOf: string }).duplicateOf).toBe(winner.execution);
    expect((await t.registry.versions.list(model)).map((v) => v.lineage.datasetVersion)).toEqual([1]);
    expect((await t.registry.models.get(model))?.trainingLease).toBeUndefined();
  });

  function writeFile(name: string, text: string): string {
    const target = path.join(t.home, name);
    fs.writeFileSync(target, text);
    return target;
  }
});
