/**
 * One training at a time per model (issue 3): the model's training lease in the registry, and two
 * datasets dropped for the same model at once, whose trainings must run one after the other (the
 * later execution waits in 'Wait for training slot' and runs Ingest again), for a bounded time
 * (issue 14: the wait no longer ends the execution TIMED_OUT; it ends recorded).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../lambdas/shared/clients';
import { s3Keys } from '../lambdas/shared/layout';
import { TARGET_METADATA_KEY } from '../lambdas/data/ingest';
import { withTrainingSlot, type Accepted } from '../lambdas/data/known-data';
import { recordFailure } from '../lambdas/registry/record-failure';
import { TrainingSlotWaitExceeded } from '../lambdas/shared/errors';
import { binaryClassificationCsv } from './helpers/datasets';
import { startCloud, stopCloud, type TestCloud } from './helpers/cloud';

jest.setTimeout(120_000);

let t: TestCloud;
/** Every line the cloud logged, with when (ms since the epoch). */
const stamped: { at: number; line: string }[] = [];

beforeAll(async () => {
  t = await startCloud();
  const push = t.logs.push.bind(t.logs);
  t.logs.push = (...lines: string[]) => {
    for (const line of lines) stamped.push({ at: Date.now(), line });
    return push(...lines);
  };
});

afterAll(async () => {
  await stopCloud(t);
}, 60_000);

describe('the training lease', () => {
  const MODEL = 'leased';

  test('is taken by one execution at a time, renewed by its holder, and given back only by its holder', async () => {
    const { registry } = t;
    expect(await registry.leases.acquireTraining(MODEL, 'exec-a', 3600)).toBe(true);
    expect((await registry.models.get(MODEL))?.trainingLease?.execution).toBe('exec-a');

    // Another execution finds it busy; the holder (a retried Ingest) takes it again.
    expect(await registry.leases.acquireTraining(MODEL, 'exec-b', 3600)).toBe(false);
    expect(await registry.leases.acquireTraining(MODEL, 'exec-a', 3600)).toBe(true);

    // Only the holder gives it back.
    await registry.leases.releaseTraining(MODEL, 'exec-b');
    expect((await registry.models.get(MODEL))?.trainingLease?.execution).toBe('exec-a');
    expect(await registry.leases.acquireTraining(MODEL, 'exec-b', 3600)).toBe(false);
    await registry.leases.releaseTraining(MODEL, 'exec-a');
    expect((await registry.models.get(MODEL))?.trainingLease).toBeUndefined();

    // Free again: the next execution takes it.
    expect(await registry.leases.acquireTraining(MODEL, 'exec-b', 3600)).toBe(true);
    await registry.leases.releaseTraining(MODEL, 'exec-b');
  });

  test('that ran out (its execution died) is taken over by another execution', async () => {
    const { registry } = t;
    // A lease whose time ended a minute ago.
    expect(await registry.leases.acquireTraining(MODEL, 'exec-dead', -60)).toBe(true);
    expect(await registry.leases.acquireTraining(MODEL, 'exec-c', 3600)).toBe(true);
    const lease = (await registry.models.get(MODEL))?.trainingLease;
    expect(lease?.execution).toBe('exec-c');
    expect(Date.parse(lease!.until)).toBeGreaterThan(Date.now() + 3500 * 1000);
    // The dead execution's late release changes nothing.
    await registry.leases.releaseTraining(MODEL, 'exec-dead');
    expect((await registry.models.get(MODEL))?.trainingLease?.execution).toBe('exec-c');
    await registry.leases.releaseTraining(MODEL, 'exec-c');
  });
});

describe('two datasets dropped for the same model at once', () => {
  const MODEL = 'twice';

  test('both train, one after the other, and both register a version', async () => {
    const keys = [s3Keys.dataset(MODEL, 'first.csv'), s3Keys.dataset(MODEL, 'second.csv')];
    const started = keys.map((key) => t.cloud.nextExecutionFor(key));
    const since = stamped.length;
    await Promise.all(
      keys.map((key, i) =>
        s3Client().send(
          new PutObjectCommand({
            Bucket: t.cloud.dataBucket,
            Key: key,
            Body: binaryClassificationCsv(300, 31 + i),
            Metadata: { [TARGET_METADATA_KEY]: 'label' },
          }),
        ),
      ),
    );
    const executions = await Promise.all(started);
    const results = await Promise.all(executions.map((name) => t.cloud.execution(name)));
    expect(results.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);

    const versions = await t.registry.versions.list(MODEL);
    expect(versions.map((v) => v.version).sort()).toEqual([1, 2]);
    expect(new Set(versions.map((v) => v.lineage.execution))).toEqual(new Set(executions));

    // The trainings did not overlap: the second Train started after the first run registered
    // (Register gives the lease back), and the waiting execution ran Ingest again meanwhile.
    const lines = stamped.slice(since);
    const trains = lines.filter((l) => l.line.startsWith('[Train model]'));
    const registers = lines.filter((l) => /^\[Register (and promote|without promotion)\]/.test(l.line));
    expect(trains).toHaveLength(2);
    expect(registers).toHaveLength(2);
    expect(lines.indexOf(trains[1])).toBeGreaterThan(lines.indexOf(registers[0]));
    expect(trains[1].at).toBeGreaterThanOrEqual(registers[0].at);
    // The waiting run said so once, naming the run that held the slot and since when, and once
    // that it got the slot; its repeated Ingest passes are not printed one by one.
    const waits = lines.filter((l) => l.line.startsWith('[Wait for training slot]'));
    expect(waits).toHaveLength(2);
    expect(waits[0].line).toMatch(
      new RegExp(`twice trains one run at a time: execution (${executions.join('|')}) holds its training slot since \\d{4}-\\d\\d-\\d\\dT`),
    );
    expect(waits[1].line).toMatch(/training slot is free: this run trains now/);
    expect(lines.filter((l) => l.line.startsWith('[Ingest dataset]'))).toHaveLength(2);

    // The registry agrees: the version trained second belongs to the run that finished second.
    const runs = await Promise.all(executions.map((name) => t.registry.runs.get(MODEL, name)));
    expect(runs.map((r) => r?.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const [earlier, later] = [...runs].sort((a, b) => a!.modelVersion! - b!.modelVersion!);
    expect(Date.parse(later!.updatedAt)).toBeGreaterThan(Date.parse(earlier!.updatedAt));
    expect(new Set(runs.map((r) => r!.datasetVersion))).toEqual(new Set([1, 2]));

    // Nobody holds the slot once both are done.
    expect((await t.registry.models.get(MODEL))?.trainingLease).toBeUndefined();
  });
});

describe("a run waiting for its model's training slot (bounded: TRAINING_SLOT_WAIT_SECONDS)", () => {
  const MODEL = 'queued';
  const HOUR = 3600 * 1000;
  const env = { TRAINING_LEASE_SECONDS: 3600, TRAINING_SLOT_WAIT_SECONDS: 2 * 3600 };
  const accepted: Accepted = {
    status: 'ACCEPTED',
    model: MODEL,
    datasetVersion: 4,
    sha256: 'ab'.repeat(32),
    target: 'label',
    task: 'classification',
    trainingJobName: 'mloop-queued-d4-00000000',
    channels: { train: 's3://b/splits/queued/v4/train/', validation: 's3://b/splits/queued/v4/validation/' },
    testSplit: 's3://b/splits/queued/v4/test/test.csv',
    hyperparameters: {},
  };
  /** The fake clock: t0 plus some hours. */
  const t0 = new Date('2026-12-01T10:00:00.000Z');
  const at = (hours: number, seconds = 0) => new Date(t0.getTime() + hours * HOUR + seconds * 1000);

  test('records when the wait began and for whom, keeps waiting up to the bound, and records when it got the slot', async () => {
    const { registry } = t;
    expect(await registry.leases.acquireTraining(MODEL, 'exec-holder', 3600)).toBe(true);

    const first = await withTrainingSlot(registry, accepted, 'exec-waiter', env, at(0));
    expect(first).toMatchObject({ trainingSlot: 'busy', heldBy: 'exec-holder' });
    expect(await registry.runs.get(MODEL, 'exec-waiter')).toMatchObject({
      status: 'RUNNING',
      datasetVersion: 4,
      waitingSince: t0.toISOString(),
      waitingFor: 'exec-holder',
    });

    // Exactly at the bound: still waiting, and the wait's start is not moved.
    expect((await withTrainingSlot(registry, accepted, 'exec-waiter', env, at(2))).trainingSlot).toBe('busy');
    expect((await registry.runs.get(MODEL, 'exec-waiter'))?.waitingSince).toBe(t0.toISOString());

    await registry.leases.releaseTraining(MODEL, 'exec-holder');
    expect((await withTrainingSlot(registry, accepted, 'exec-waiter', env, at(2))).trainingSlot).toBe('acquired');
    expect(await registry.runs.get(MODEL, 'exec-waiter')).toMatchObject({
      waitingSince: t0.toISOString(),
      slotAcquiredAt: at(2).toISOString(),
    });
    await registry.leases.releaseTraining(MODEL, 'exec-waiter');
  });

  test('a run that never waited records no wait', async () => {
    const { registry } = t;
    expect((await withTrainingSlot(registry, accepted, 'exec-free', env, at(0))).trainingSlot).toBe('acquired');
    expect(await registry.runs.get(MODEL, 'exec-free')).toBeUndefined();
    await registry.leases.releaseTraining(MODEL, 'exec-free');
  });

  test('past the bound the run ends with TrainingSlotWaitExceeded, and the failure path records it at the wait', async () => {
    const { registry } = t;
    expect(await registry.leases.acquireTraining(MODEL, 'exec-long', 3600)).toBe(true);
    const since = (await registry.models.get(MODEL))!.trainingLease!.since!;
    await withTrainingSlot(registry, accepted, 'exec-late', env, at(0));

    const message =
      `Run exec-late waited 2 h for the training slot of model 'queued' (held by execution exec-long since ${since}), ` +
      `longer than its bound of 2 h (TRAINING_SLOT_WAIT_SECONDS, the trainingSlotWait prop). ` +
      `Dataset version 4 is ingested and kept: train it once the model is free with ` +
      `'mloop train --model queued --dataset-version 4', or drop the same file again.`;
    const late = withTrainingSlot(registry, accepted, 'exec-late', env, at(2, 1));
    await expect(late).rejects.toThrow(TrainingSlotWaitExceeded);
    await expect(late).rejects.toThrow(message);

    // The state a Catch hands over: $.ingest is the last pass's answer (busy), the error Lambda's.
    const out = await recordFailure(
      {
        execution: 'exec-late',
        state: {
          ingest: { status: 'ACCEPTED', model: MODEL, datasetVersion: 4, trainingSlot: 'busy' },
          error: {
            Error: 'TrainingSlotWaitExceeded',
            Cause: JSON.stringify({ errorType: 'TrainingSlotWaitExceeded', errorMessage: message }),
          },
        },
      },
      { REGISTRY_TABLE: t.cloud.registryTable, DATA_BUCKET: t.cloud.dataBucket },
    );
    expect(out).toEqual({
      model: MODEL,
      stage: 'Wait for training slot',
      error: 'TrainingSlotWaitExceeded',
      reason: `Wait for training slot failed: ${message}`,
    });
    expect(await registry.runs.get(MODEL, 'exec-late')).toMatchObject({
      status: 'FAILED',
      stage: 'Wait for training slot',
      error: 'TrainingSlotWaitExceeded',
      reason: message,
      datasetVersion: 4,
      waitingSince: t0.toISOString(),
      waitingFor: 'exec-long',
    });
    // The holder keeps its slot: the waiter's failure gives back only what the waiter held.
    expect((await registry.models.get(MODEL))?.trainingLease?.execution).toBe('exec-long');
    await registry.leases.releaseTraining(MODEL, 'exec-long');
  });
});
