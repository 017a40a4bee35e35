/**
 * One training at a time per model (issue 3): the model's training lease in the registry, and two
 * datasets dropped for the same model at once, whose trainings must run one after the other (the
 * later execution waits in 'Wait for training slot' and runs Ingest again).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../lambdas/shared/clients';
import { s3Keys } from '../lambdas/shared/layout';
import { TARGET_METADATA_KEY } from '../lambdas/data/ingest';
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
