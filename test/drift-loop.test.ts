/**
 * The monitor and the retraining loop on the local runtime, end to end: a model is trained through
 * the pipeline, answers requests through the API's handler (captured), receives feedback through
 * the API, and the drift function (invoked as the schedule invokes it) flags shifted inputs and not
 * unshifted ones, detects prediction drift and a quality drop, and starts a retraining that runs
 * through the pipeline's normal rule; then the storm guard and the cooldown hold.
 */
import * as fs from 'node:fs';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { predictThroughApi } from '../bin/cli';
import { runDriftCommand } from '../bin/commands/drift';
import type { PredictResponse } from '../lambdas/inference/predict';
import type { DriftRun } from '../lambdas/monitoring/drift-run';
import { dynamoClient, s3Client } from '../lambdas/shared/clients';
import { registryKeys } from '../lambdas/shared/layout';
import { apiEvent } from '../local/api-server';
import { binaryClassificationCsv, parseCsv } from './helpers/datasets';
import { dropDataset, getText, startCloud, stopCloud, trainModel, type TestCloud } from './helpers/cloud';
import { once } from './helpers/once';

jest.setTimeout(240_000);

const MODEL = 'loop';
let t: TestCloud | undefined;
const saved = process.env.RETRAIN_ON_DRIFT;

beforeAll(async () => {
  // The stack's default leaves RETRAIN_ON_DRIFT out of the function's environment: locally, the
  // process's own environment decides (set before the drift handler is first loaded).
  process.env.RETRAIN_ON_DRIFT = 'true';
  t = await startCloud();
  await trainModel(t, MODEL, binaryClassificationCsv(400, 21), 'label');
}, 240_000);

afterAll(async () => {
  await stopCloud(t);
  if (saved === undefined) delete process.env.RETRAIN_ON_DRIFT;
  else process.env.RETRAIN_ON_DRIFT = saved;
}, 120_000);

type Instance = Record<string, string | number | null>;

function instances(rows: number, seed: number, shift = 0): Instance[] {
  return parseCsv(binaryClassificationCsv(rows, seed)).map((r) => ({
    x1: r.x1 === '' ? null : Number(r.x1) + shift,
    // Both shifts push the label's score (2 x1 - (x2 - 10) / 1.5) up: the outputs move too.
    x2: r.x2 === '' ? null : Number(r.x2) - 3 * shift,
    x3: Number(r.x3),
    color: r.color,
  }));
}

/** Predict in requests of 100; returns each request's id and predictions. */
async function predict(items: Instance[]): Promise<PredictResponse[]> {
  const out: PredictResponse[] = [];
  for (let i = 0; i < items.length; i += 100) {
    const response = await predictThroughApi(t!.cloud, MODEL, { instances: items.slice(i, i + 100) });
    expect(response.statusCode).toBe(200);
    out.push(JSON.parse(response.body) as PredictResponse);
  }
  return out;
}

/** Labels for every prediction: the other class than the one predicted (the world changed its mind). */
async function sendWrongLabels(responses: PredictResponse[]): Promise<void> {
  for (const response of responses) {
    const feedback = response.predictions.map((p, index) => ({
      requestId: response.requestId,
      index,
      label: 'label' in p && p.label === '1' ? '0' : '1',
    }));
    const url = new URL(`http://127.0.0.1/v1/models/${MODEL}/feedback`);
    const event = apiEvent(t!.cloud.apiRoutes, 'POST', url, JSON.stringify({ feedback }));
    const answer = (await t!.cloud.invoke('predict', event)) as APIGatewayProxyResult;
    expect([answer.statusCode, answer.body]).toEqual([200, expect.any(String)]);
  }
}

async function drift(input: Record<string, unknown> = {}): Promise<DriftRun> {
  await t!.cloud.flush();
  const runs = (await t!.cloud.invoke('drift', { model: MODEL, settleSeconds: 0, ...input })) as DriftRun[];
  return runs[0];
}

async function retrainItems(): Promise<Record<string, unknown>[]> {
  const out = await dynamoClient().send(
    new QueryCommand({
      TableName: t!.cloud.registryTable,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': registryKeys.pk(MODEL), ':p': registryKeys.retrainPrefix },
    }),
  );
  return out.Items ?? [];
}

/*
 * The loop's steps on MODEL, each run once by whichever test asks first, each after the step
 * before it (a test asks for the step it looks at, which makes the ones before it happen first).
 * What the registry held right after a step is read in the step, so that later steps do not show
 * in what its test checks.
 */

/** 300 unshifted requests and the first drift run on MODEL (no feedback yet). */
const unshifted = once(async () => {
  await predict(instances(300, 22));
  return drift();
});

/** 300 shifted requests with contradicting labels, the drift run that starts a retraining, and its pipeline run. */
const shifted = once(async () => {
  await unshifted();
  const responses = await predict(instances(300, 23, 1.5));
  await sendWrongLabels(responses);
  const run = await drift();
  // The dropped file started the pipeline through its rule: wait for it, as S3 and EventBridge would.
  const results = await t!.cloud.settle();
  const datasets = await t!.registry.datasets.list(MODEL);
  const versions = await t!.registry.versions.list(MODEL);
  const items = await retrainItems();
  return { run, retrainKey: run.retrain?.datasetKey as string, results, datasets, versions, items };
});

/** 100 more shifted requests with contradicting labels and the drift run after the retraining finished. */
const releasedAfterRetraining = once(async () => {
  await shifted();
  const responses = await predict(instances(100, 24, 1.5));
  await sendWrongLabels(responses);
  const run = await drift();
  const state = await t!.registry.leases.retrainingState(MODEL);
  const items = await retrainItems();
  return { run, state, items };
});

/** A retraining lease whose file is a DUPLICATE of the retraining's bytes, and the drift run after 50 requests. */
const duplicateReleased = once(async () => {
  // After the retraining's lease was released (else 'dup' could not take it).
  await releasedAfterRetraining();
  const { retrainKey } = await shifted();
  const table = t!.cloud.registryTable;
  const dupKey = `datasets/${MODEL}/retrain-duplicate.csv`;
  const acquired = await t!.registry.leases.acquireRetraining(MODEL, 'dup', new Date(), { cooldownSeconds: 0, leaseSeconds: 6 * 3600 });
  await dynamoClient().send(
    new UpdateCommand({
      TableName: table,
      Key: { pk: registryKeys.pk(MODEL), sk: registryKeys.meta },
      UpdateExpression: 'SET retrainLeaseKey = :k',
      ExpressionAttributeValues: { ':k': dupKey },
    }),
  );
  // The same bytes as the earlier retraining, which trained model version 2.
  const result = await dropDataset(t!.cloud, MODEL, 'retrain-duplicate.csv', await getText(t!.cloud.dataBucket, retrainKey), 'label');
  await predict(instances(50, 25));
  const run = await drift();
  const state = await t!.registry.leases.retrainingState(MODEL);
  return { dupKey, acquired, result, run, state };
});

test('unshifted inputs are not flagged; outputs like those on the test split are not either', async () => {
  const run = await unshifted();
  expect(run.rows).toBe(300);
  expect(run.datasetDrift).toBe(false);
  expect(run.features.map((f) => [f.name, f.test])).toEqual([
    ['x1', 'ks'],
    ['x2', 'ks'],
    ['x3', 'ks'],
    ['color', 'chisquare'],
  ]);
  expect(run.predictionDrift).not.toBeNull();
  expect(run.predictionDrift!.detected).toBe(false);
  expect(run.predictionDrift!.features.map((f) => f.name)).toEqual(['label', 'probability:1']);
  expect(run.quality).toBeNull(); // no feedback at all yet
  expect(run.retrain).toMatchObject({ action: 'skip', blockedBy: 'no-signal' });
  // The JSON and HTML reports are in S3, side by side.
  expect(run.report.html).toBe(run.report.json.replace(/\.json$/, '.html'));
  const html = await getText(t!.cloud.dataBucket, run.report.html.replace(/^s3:\/\/[^/]+\//, ''));
  expect((html.match(/<svg /g) ?? []).length).toBe(4 + 2);
});

test('shifted inputs with contradicting labels: data drift, prediction drift, a quality drop, and a retraining through the pipeline', async () => {
  const { run, retrainKey, results, datasets, versions, items } = await shifted();
  expect(run.rows).toBe(300);
  expect(run.datasetDrift).toBe(true);
  const byName = Object.fromEntries(run.features.map((f) => [f.name, f.drifted]));
  expect(byName).toMatchObject({ x1: true, x2: true });
  expect(run.predictionDrift!.detected).toBe(true);
  expect(run.quality).toMatchObject({ rows: 300, metric: 'accuracy', value: 0, dropped: true });
  expect(run.retrain).toMatchObject({ action: 'retrain', baseDatasetVersion: 1, feedbackRows: 300 });
  expect(retrainKey).toMatch(/^datasets\/loop\/retrain-.+\.csv$/);

  // The dropped file started the pipeline through its rule (the step waited for it).
  expect(results.at(-1)!.status).toBe('SUCCEEDED');
  const retrained = datasets.find((d) => d.s3Uri.endsWith(retrainKey))!;
  expect(retrained).toMatchObject({ version: 2, status: 'accepted', rows: 700 });
  expect((await t!.registry.runs.get(MODEL, retrained.sourceEvent.execution))?.status).toBe('SUCCEEDED');
  expect(versions.map((v) => v.lineage.datasetVersion)).toEqual([1, 2]);

  // The file: the first dataset's 400 rows (from its splits) and the 300 labelled predictions.
  const csv = await getText(t!.cloud.dataBucket, retrainKey);
  const rows = parseCsv(csv);
  expect(Object.keys(rows[0])).toEqual(['x1', 'x2', 'x3', 'color', 'label']);
  expect(rows).toHaveLength(700);
  const head = await s3Client().send(new HeadObjectCommand({ Bucket: t!.cloud.dataBucket, Key: retrainKey }));
  expect(head.Metadata).toMatchObject({ 'mloop-target': 'label', 'mloop-retrain-cause': 'data-drift,quality-drop' });

  // The cause is in the registry's history.
  expect(items).toHaveLength(1);
  expect(items[0]).toMatchObject({ datasetKey: retrainKey, baseDatasetVersion: 1, feedbackRows: 300, baseRows: 400, modelVersion: 1 });
  expect(String(items[0].cause)).toMatch(
    /^data drift \(share 0\.\d\d of features\) and quality drop \(accuracy 0\.0000 against 0\.\d+ at evaluation\)$/,
  );
});

test('the next run releases the finished retraining and the cooldown holds the next one back', async () => {
  const { retrainKey } = await shifted();
  const { run, state, items } = await releasedAfterRetraining();
  expect(run.quality?.dropped).toBe(true);
  expect(run.retrain).toMatchObject({ action: 'skip', blockedBy: 'cooldown', released: retrainKey });
  expect(state.lease).toBeUndefined();
  expect(state.lastRetrainAt).toBeDefined();
  expect(items).toHaveLength(1);
});

test('two runs racing for the lease: exactly one takes it', async () => {
  // A retraining started within the policy's cooldown, and its lease was given back.
  await releasedAfterRetraining();
  const policy = { enabled: true, cooldownSeconds: 0, leaseSeconds: 3600, minFeedbackRows: 1 };
  const now = new Date();
  const won = await Promise.all(['a', 'b', 'c'].map((id) => t!.registry.leases.acquireRetraining(MODEL, id, now, policy)));
  expect(won.filter(Boolean)).toHaveLength(1);
  const holder = ['a', 'b', 'c'][won.indexOf(true)];
  expect((await t!.registry.leases.retrainingState(MODEL)).lease?.id).toBe(holder);
  // With the cooldown of the policy (24 h) no one could take it, even after release.
  expect(await t!.registry.leases.releaseRetraining(MODEL, holder)).toBe(true);
  expect(await t!.registry.leases.acquireRetraining(MODEL, 'd', now, { ...policy, cooldownSeconds: 86400 })).toBe(false);
});

test('a retraining whose file holds bytes that already produced a model version (DUPLICATE) is released at the next run, not after the lease expires', async () => {
  const { dupKey, acquired, result, run, state } = await duplicateReleased();
  expect(acquired).toBe(true);
  expect(result.output?.ingest).toMatchObject({ status: 'DUPLICATE', modelVersion: 2 });
  expect(run.retrain).toMatchObject({ released: dupKey });
  expect(state.lease).toBeUndefined();
});

test('a window run inspects the last hour: it neither moves the watermark nor retrains, and writes the HTML locally', async () => {
  // The requests of all the steps above (750 rows), all within the last hour.
  await duplicateReleased();
  const before = (await t!.registry.models.get(MODEL))?.driftWatermark;
  const result = await runDriftCommand(t!.cloud, MODEL, '1h');
  expect(result.window).toMatchObject({ mode: 'window', seconds: 3600, label: '1h' });
  expect(result.rows).toBeGreaterThanOrEqual(700);
  expect(result.retrain).toMatchObject({ action: 'skip' });
  expect((await t!.registry.models.get(MODEL))?.driftWatermark).toBe(before);
  expect(result.report.file.startsWith(`${t!.home}/reports/${MODEL}/drift-`)).toBe(true);
  const html = fs.readFileSync(result.report.file, 'utf8');
  expect(html).toContain('<svg ');
  expect(html).toContain('the last 1h');
  await expect(runDriftCommand(t!.cloud, MODEL, 'soon')).rejects.toThrow(/not a window/);
});
