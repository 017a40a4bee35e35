/**
 * `mloop models promote|rollback|history|lineage` on models trained end to end: the commands run
 * against the local cloud of the test (the same function the CLI invokes), then, once that cloud
 * is stopped, through the real CLI (bin/mloop.js) as separate processes on the same home, for the
 * --json contract (exactly one JSON document on stdout) and the one-line errors.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../lambdas/shared/clients';
import type { EvaluationOutput } from '../lambdas/shared/pipeline';
import type { AliasChange, AliasHistory } from '../lambdas/registry/aliases';
import type { Lineage } from '../lambdas/registry/lineage';
import { runModelsCommand } from '../bin/commands/models';
import { run } from '../bin/cli';
import { REPO_ROOT } from '../lib/function-catalog';
import { readLocalEvents } from '../local/events-journal';
import { codeVersion } from '../lib/training-code';
import { churnRows, toCsv } from '../local/demo-data';
import { getObjectJson, splitUri, startCloud, stopCloud, trainModel, type TestCloud } from './helpers/cloud';
import { once } from './helpers/once';

jest.setTimeout(300_000);

let t: TestCloud | undefined;
const csv1 = toCsv(churnRows({ rows: 1500, seed: 1 }));
const csv2 = toCsv(churnRows({ rows: 1500, seed: 5 }));

beforeAll(async () => {
  t = await startCloud();
  await trainModel(t, 'churn', csv1, 'churned', 'churn-1.csv');
  await trainModel(t, 'churn', csv2, 'churned', 'churn-2.csv');
}, 600_000);

afterAll(async () => {
  await stopCloud(t);
}, 60_000);

const USER = `user:${os.userInfo().username}`;

/** Run a `models` subcommand against the test's cloud; return stdout. */
async function models(sub: string, values: Record<string, string | boolean | undefined>, json = true): Promise<string> {
  const out: string[] = [];
  const io = { json, out: (line: string) => out.push(line), err: () => undefined };
  expect(await runModelsCommand(t!.cloud, io, sub, values)).toBe(0);
  return out.join('\n');
}

/** The champion's version now. */
const championNow = async () => (await t!.registry.aliases.get('churn', 'champion'))!.version;

/** Version 2 promoted to 'challenger' (the alias's first move), as text: needs the test's cloud running. */
const challenger = once(() => models('promote', { model: 'churn', version: '2', alias: 'challenger', reason: 'shadow test' }, false));

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

describe('lineage of a version trained end to end', () => {
  it('is complete: dataset bytes and S3 version, training job, code version, hyperparameters, metrics, evaluation report', async () => {
    const l = JSON.parse(await models('lineage', { model: 'churn', version: '1' })) as Lineage;
    const dataset = (await t!.registry.datasets.get('churn', 1))!;
    expect(l.dataset).toEqual({
      version: 1,
      sha256: sha256(csv1),
      s3Uri: dataset.s3Uri,
      s3VersionId: dataset.s3VersionId ?? null,
      rows: 1500,
      bytes: Buffer.byteLength(csv1),
      schemaHash: dataset.schemaHash ?? null,
      splits: dataset.splits,
      profileUri: dataset.profileUri,
      validationReportUri: dataset.reportUri,
    });
    expect(l.dataset.s3Uri).toMatch(/\/datasets\/churn\/churn-1\.csv$/);
    expect(l.training.job).toMatch(/^mloop-churn-/);
    expect(l.training.artifact).toMatch(/^s3:\/\/.+\/training\/.+\/output\/model\.tar\.gz$/);
    expect(l.training.codeVersion).toBe(codeVersion(path.join(REPO_ROOT, 'training')));
    expect(Object.keys(l.training.hyperparameters).length).toBeGreaterThan(0);
    expect(l.metrics.accuracy).toBeGreaterThan(0.6);
    expect(l.metrics.roc_auc).toBeGreaterThan(0.5);
    expect(l.status).toBe('registered');
    expect(l.evaluation.promoted).toBe(true); // the first version of a model has no champion to beat
    expect(l.evaluation.decision).toBe('No champion yet: the candidate is promoted.');
    // The artifact's hash is that of the registered bytes.
    const onnx = splitUri(l.artifact.onnxUri);
    const bytes = await (await s3Client().send(new GetObjectCommand({ Bucket: onnx.bucket, Key: onnx.key }))).Body!.transformToByteArray();
    expect(l.artifact.sha256).toBe(sha256(Buffer.from(bytes)));

    // The evaluation report is stored with the version, with the confusion matrix of the test split.
    const { bucket, key } = splitUri(l.evaluation.reportUri);
    expect(key).toBe('models/churn/v1/evaluation.json');
    const report = await getObjectJson<EvaluationOutput & { version: number }>(bucket, key);
    const details = report.details!.candidate!;
    expect(report.version).toBe(1);
    expect(details.labels).toEqual(['0', '1']);
    const total = details.confusionMatrix.flat().reduce((a, b) => a + b, 0);
    expect(total).toBe(dataset.splitRows!.test);
    const diagonal = details.confusionMatrix[0][0] + details.confusionMatrix[1][1];
    expect(diagonal / total).toBeCloseTo(report.candidate.metrics.accuracy, 12);
    expect(details.perClass.map((c) => c.label)).toEqual(['0', '1']);
    for (const c of details.perClass) {
      expect(c.precision).toBeGreaterThanOrEqual(0);
      expect(c.recall).toBeLessThanOrEqual(1);
    }
    expect(details.perClass[0].support + details.perClass[1].support).toBe(total);
    expect(report.details!.champion).toBeNull();
  });

  it('reads as text', async () => {
    const text = await models('lineage', { model: 'churn', version: '1' }, false);
    expect(text).toMatch(/^churn v1 \(registered(, champion)?\), classification, registered /);
    expect(text).toContain(`  dataset:     v1 sha256 ${sha256(csv1)}`);
    expect(text).toContain('  evaluation:  s3://');
  });
});

describe('promote, history and rollback', () => {
  it('promote moves the champion, history records it with who and why, rollback returns to the previous holder', async () => {
    // The champion and the aliases as this test finds them (other tests move aliases too).
    const champion = await championNow();
    const before = JSON.parse(await models('history', { model: 'churn' })) as AliasHistory;
    const eventsBefore = readLocalEvents(path.join(t!.home, 'events.jsonl')).length;
    const other = champion === 1 ? 2 : 1;
    const promoted = JSON.parse(
      await models('promote', { model: 'churn', version: String(other), reason: 'canary looked fine' }),
    ) as AliasChange;
    expect(promoted).toMatchObject({
      changed: true,
      alias: 'champion',
      fromVersion: champion,
      toVersion: other,
      by: USER,
      reason: 'canary looked fine',
      eventsPublished: true,
    });

    const history = JSON.parse(await models('history', { model: 'churn' })) as AliasHistory;
    // The champion moved; any other alias is as it was.
    expect(history.aliases).toEqual(
      before.aliases.map((a) =>
        a.alias === 'champion' ? expect.objectContaining({ alias: 'champion', version: other, updatedBy: USER }) : a,
      ),
    );
    const last = history.history[history.history.length - 1];
    expect(last).toMatchObject({
      alias: 'champion',
      fromVersion: champion,
      toVersion: other,
      by: USER,
      reason: 'canary looked fine',
      action: 'promote',
    });
    // The history lists each alias's moves in turn (by alias name): the champion's begins with the
    // pipeline's first promotion, and the other aliases' moves are as they were.
    expect(history.history.find((e) => e.alias === 'champion')).toMatchObject({
      revision: 1,
      fromVersion: null,
      toVersion: 1,
      by: expect.stringMatching(/^pipeline:/),
    });
    expect(history.history.filter((e) => e.alias !== 'champion')).toEqual(before.history.filter((e) => e.alias !== 'champion'));

    const rolledBack = JSON.parse(await models('rollback', { model: 'churn' })) as AliasChange;
    expect(rolledBack).toMatchObject({ changed: true, action: 'rollback', fromVersion: other, toVersion: champion, by: USER });
    expect((await t!.registry.aliases.get('churn', 'champion'))!.version).toBe(champion);

    // Each move went out as a "Model Alias Changed" event.
    const changes = readLocalEvents(path.join(t!.home, 'events.jsonl'))
      .slice(eventsBefore)
      .flatMap((l) =>
        l.kind === 'eventbridge' && l.event['detail-type'] === 'Model Alias Changed'
          ? [l.event.detail as { fromVersion: number; toVersion: number; action: string }]
          : [],
      );
    expect(changes.map((c) => [c.fromVersion, c.toVersion, c.action])).toEqual([
      [champion, other, 'promote'],
      [other, champion, 'rollback'],
    ]);
  });

  it('prints readable text', async () => {
    const text = await challenger(); // promotes version 2 to challenger (once per file)
    expect(text).toBe(`churn: challenger none -> v2 (promote by ${USER}, revision 1)\n  reason: shadow test`);
    const history = await models('history', { model: 'churn', alias: 'challenger' }, false);
    expect(history.split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^churn challenger -> v2 \\(since .+, by ${USER}\\)$`)),
      'history (oldest first):',
      expect.stringMatching(new RegExp(`^  challenger #1 \\S+  none -> v2  promote by ${USER}: shadow test$`)),
    ]);
  });

  it('answers unknown models, versions and aliases, and bad arguments, with one clear line', async () => {
    await challenger(); // version 2 holds 'challenger'
    const fails = (sub: string, values: Record<string, string>) =>
      runModelsCommand(t!.cloud, { json: true, out: () => undefined, err: () => undefined }, sub, values);
    await expect(fails('promote', { model: 'ghost', version: '1' })).rejects.toThrow("Model 'ghost' is not in the registry.");
    await expect(fails('lineage', { model: 'churn', version: '9' })).rejects.toThrow("Model 'churn' has no version 9 (its versions: 1-2).");
    await expect(fails('rollback', { model: 'churn', alias: 'shadow' })).rejects.toThrow(
      "Model 'churn' has no alias 'shadow' (its aliases: challenger, champion).",
    );
    await expect(fails('history', { model: 'churn', alias: 'shadow' })).rejects.toThrow(
      "Model 'churn' has no alias 'shadow' (its aliases: challenger, champion).",
    );
    await expect(fails('promote', { model: 'churn' })).rejects.toThrow('--version N is required.');
    await expect(fails('promote', { model: 'churn', version: 'abc' })).rejects.toThrow("--version must be a positive integer, got 'abc'.");
    await expect(fails('approve', { model: 'churn', version: '1' })).rejects.toThrow('--reason TEXT is required to approve a version.');
    await expect(fails('approve', { model: 'churn', version: '1', reason: 'ok' })).rejects.toThrow(
      "Version 1 of model 'churn' is not waiting for approval: it is registered.",
    );
    await expect(fails('frobnicate', { model: 'churn' })).rejects.toThrow(
      "Unknown command 'models frobnicate': expected one of 'models list', 'models promote', 'models rollback', 'models history', 'models lineage', 'models approve', 'models reject', 'models tag', 'models archive'.",
    );
  });
});

describe('the mloop CLI (separate processes on the same home)', () => {
  let championBefore: number;
  beforeAll(async () => {
    // While the cloud still runs: version 2 holds 'challenger'; the champion as these tests find it.
    await challenger();
    championBefore = await championNow();
    await stopCloud(t, true);
    t = { ...t!, cloud: { stop: async () => undefined } as never };
  }, 60_000);

  // The describes that run after this one (in any order) find the cloud running again, on the same home.
  afterAll(async () => {
    t = await startCloud({ home: t!.home });
  }, 120_000);

  const mloop = (...args: string[]) => {
    const result = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'mloop.js'), ...args], {
      env: { ...process.env, MLOOP_HOME: t!.home },
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  it('models history --json prints exactly one JSON document', () => {
    const { code, stdout } = mloop('models', 'history', '--model', 'churn', '--json');
    expect(code).toBe(0);
    const doc = JSON.parse(stdout) as AliasHistory; // throws unless stdout is one document
    expect(doc.aliases.map((a) => a.alias)).toEqual(['challenger', 'champion']);
    expect(stdout.trim().split('\n')).toHaveLength(1);
  });

  it('an unknown version fails with exit 1, a FAILED document on stdout and one line on stderr', () => {
    const { code, stdout, stderr } = mloop('models', 'promote', '--model', 'churn', '--version', '99', '--json');
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toEqual({ status: 'FAILED', error: "Model 'churn' has no version 99 (its versions: 1-2)." });
    expect(stderr.trim().split('\n').pop()).toBe("mloop: Model 'churn' has no version 99 (its versions: 1-2).");
  });

  it('promote, then the models list shows the new champion', () => {
    const other = championBefore === 1 ? 2 : 1;
    const promoted = mloop('models', 'promote', '--model', 'churn', '--version', String(other), '--reason', 'from the CLI', '--json');
    expect(promoted.code).toBe(0);
    expect(JSON.parse(promoted.stdout)).toMatchObject({ changed: true, toVersion: other, reason: 'from the CLI' });
    const listed = mloop('models', 'list', '--model', 'churn', '--json');
    const list = JSON.parse(listed.stdout) as { champion: number; versions: { version: number; aliases: string[] }[] };
    expect(list.champion).toBe(other);
    expect(list.versions.find((x) => x.version === other)!.aliases).toContain('champion');
    expect(list.versions.find((x) => x.version === 2)!.aliases).toContain('challenger');
  });

  it('a bad argument fails before anything starts', async () => {
    const out: string[] = [];
    await expect(
      run(['models', 'rollback', '--model', 'churn', '--version', '0'], { json: false, out: (l) => out.push(l), err: () => undefined }),
    ).rejects.toThrow("--version must be a positive integer, got '0'.");
    expect(fs.existsSync(t!.home)).toBe(true);
  });
});
