/**
 * The trees trainer through the local pipeline: `trainer: xgboost` in the model's
 * hyperparameters.json makes the default training code (train.py) train XGBoost, and the rest of
 * the pipeline (evaluation, the gate, the registry, the API) takes its model.onnx as it takes the
 * MLP's: same inputs, same outputs, same card.
 */
import { lineage } from '../lambdas/registry/lineage';
import { s3Keys } from '../lambdas/shared/layout';
import type { ModelCard } from '../lambdas/shared/types';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { predictThroughApi, run, runPipeline, trainAgain } from '../bin/cli';
import { binaryClassificationCsv } from './helpers/datasets';
import { dropDataset, getObjectJson, startCloud, stopCloud, trainModel, type TestCloud } from './helpers/cloud';

jest.setTimeout(240_000);

let test_: TestCloud | undefined;
const t = () => test_!;

beforeAll(async () => {
  test_ = await startCloud();
}, 120_000);

afterAll(async () => {
  await stopCloud(test_);
}, 60_000);

test('a model whose hyperparameters.json says trainer xgboost is trained by XGBoost, promoted, registered and served', async () => {
  const MODEL = 'trees';
  const config = await dropDataset(t().cloud, MODEL, 'hyperparameters.json', JSON.stringify({ trainer: 'xgboost', num_round: 60 }));
  expect(config.status).toBe('SUCCEEDED');

  const report = await trainModel(t(), MODEL, binaryClassificationCsv(1200, 21), 'label');
  expect(report).toMatchObject({ status: 'SUCCEEDED', modelVersion: 1, promoted: true });
  expect(report.metrics!.accuracy).toBeGreaterThan(0.85);
  expect(t().logs.some((line) => /trainer=xgboost xgboost=\S+ max_epochs=60/.test(line))).toBe(true);

  const version = (await t().registry.versions.get(MODEL, 1))!;
  expect(version.lineage.hyperparameters).toMatchObject({ trainer: 'xgboost', num_round: 60, target: 'label' });
  expect(version.lineage.trainer).toBe('xgboost');
  expect(version.lineage.trainerCandidates).toBeUndefined();
  const card = await getObjectJson<ModelCard>(t().cloud.dataBucket, s3Keys.modelCard(MODEL, 1));
  expect(card).toMatchObject({ framework: 'xgboost', formatVersion: 2 });
  expect(card.hyperparameters).toMatchObject({ trainer: 'xgboost', num_round: 60 });

  const res = await predictThroughApi(t().cloud, MODEL, {
    instances: [
      { x1: 2, x2: 1.5, x3: 0.5, color: 'red' },
      { x1: null, x2: null, x3: null, color: 'never-seen' },
    ],
  });
  expect(res.statusCode).toBe(200);
  const body = JSON.parse(res.body) as { predictions: { label: string; probabilities: Record<string, number> }[] };
  expect(body.predictions).toHaveLength(2);
  for (const p of body.predictions) expect(p.probabilities['0'] + p.probabilities['1']).toBeCloseTo(1, 5);
});

test('trainer auto trains both in one job; the version records the winner and both candidates, and lineage shows them', async () => {
  const MODEL = 'either';
  const config = await dropDataset(
    t().cloud,
    MODEL,
    'hyperparameters.json',
    JSON.stringify({ trainer: 'auto', epochs: 40, num_round: 100 }),
  );
  expect(config.status).toBe('SUCCEEDED');

  const report = await trainModel(t(), MODEL, binaryClassificationCsv(1200, 22), 'label');
  expect(report).toMatchObject({ status: 'SUCCEEDED', modelVersion: 1, promoted: true });
  expect(t().logs.some((line) => /torch=\S+ max_epochs=40/.test(line))).toBe(true);
  expect(t().logs.some((line) => /trainer=xgboost xgboost=\S+ max_epochs=100/.test(line))).toBe(true);

  const card = await getObjectJson<ModelCard>(t().cloud.dataBucket, s3Keys.modelCard(MODEL, 1));
  expect(['mlp', 'xgboost']).toContain(card.trainer);
  expect(Object.keys(card.candidates!)).toEqual(['mlp', 'xgboost']);
  const version = (await t().registry.versions.get(MODEL, 1))!;
  expect(version.lineage.trainer).toBe(card.trainer);
  expect(version.lineage.trainerCandidates).toEqual(card.candidates);
  expect(version.validationMetrics).toEqual(card.validationMetrics);

  const shown = await lineage(t().registry, MODEL, 1);
  expect(shown.training).toMatchObject({ trainer: card.trainer, candidates: card.candidates });
  expect(shown.training.hyperparameters).toMatchObject({ trainer: 'auto' });
});

test("the stack's trainers setting is auto; --trainer chooses one run's trainer over hyperparameters.json, and a trainer mloop lacks fails the run naming it", async () => {
  // No hyperparameters.json: the stack's `trainers` (default auto) is the job's trainer.
  const plain = await trainModel(t(), 'plain', binaryClassificationCsv(600, 41), 'label');
  expect(plain).toMatchObject({ status: 'SUCCEEDED', modelVersion: 1 });
  const first = (await t().registry.versions.get('plain', 1))!;
  expect(first.lineage.hyperparameters).toMatchObject({ trainer: 'auto' });
  expect(Object.keys(first.lineage.trainerCandidates!)).toEqual(['mlp', 'xgboost']);

  const MODEL = 'chosen';
  const config = await dropDataset(t().cloud, MODEL, 'hyperparameters.json', JSON.stringify({ trainer: 'mlp', epochs: 20, num_round: 40 }));
  expect(config.status).toBe('SUCCEEDED');
  const dir = path.join(t().home, 'inputs');
  fs.mkdirSync(dir, { recursive: true });
  const file = (name: string, seed: number) => {
    fs.writeFileSync(path.join(dir, name), binaryClassificationCsv(800, seed));
    return path.join(dir, name);
  };

  // mloop run --trainer xgboost: the object's mloop-trainer metadata, over the file's mlp.
  const dropped = await runPipeline(t().cloud, MODEL, file('chosen.csv', 42), 'label', { trainer: 'xgboost' });
  expect(dropped).toMatchObject({ status: 'SUCCEEDED', modelVersion: 1 });
  const v1 = (await t().registry.versions.get(MODEL, 1))!;
  expect(v1.lineage.trainer).toBe('xgboost');
  expect(v1.lineage.hyperparameters).toMatchObject({ trainer: 'xgboost', num_round: 40 });

  // mloop train --trainer auto: the TrainRequest's trainer, on the same dataset version.
  const again = await trainAgain(t().cloud, { model: MODEL, trainer: 'auto', reason: 'compare both' });
  expect(again.error).toBeNull();
  expect(again).toMatchObject({ status: 'SUCCEEDED', modelVersion: 2 });
  const v2 = (await t().registry.versions.get(MODEL, 2))!;
  expect(v2.lineage.hyperparameters).toMatchObject({ trainer: 'auto' });
  expect(Object.keys(v2.lineage.trainerCandidates!)).toEqual(['mlp', 'xgboost']);

  // Without --trainer the file's choice holds again.
  const plainAgain = await trainAgain(t().cloud, { model: MODEL });
  expect(plainAgain).toMatchObject({ status: 'SUCCEEDED', modelVersion: 3 });
  expect((await t().registry.versions.get(MODEL, 3))!.lineage.trainer).toBe('mlp');

  // The metadata set by hand (aws s3 cp --metadata mloop-trainer=...) to a trainer mloop lacks.
  const bad = await runPipeline(t().cloud, MODEL, file('bad.csv', 43), 'label', { trainer: 'lightgbm' });
  expect(bad.status).toBe('FAILED');
  expect(bad.error).toContain('the object metadata mloop-trainer must be one of mlp, xgboost, auto, got "lightgbm"');
  expect(bad.error).toContain('datasets/chosen/bad.csv');
  expect(await t().registry.versions.get(MODEL, 4)).toBeUndefined();
});

test('the CLI refuses a --trainer it does not know before it drops anything', async () => {
  const err: string[] = [];
  const io = { json: false, out: () => undefined, err: (line: string) => err.push(line) };
  await expect(run(['train', '--model', 'chosen', '--trainer', 'trees'], io)).rejects.toThrow(
    /^--trainer must be one of mlp, xgboost, auto, got "trees"\.$/,
  );
  await expect(run(['run', '--model', 'chosen', '--data', 'x.csv', '--trainer', 'AUTO'], io)).rejects.toThrow(/^--trainer must be one of/);
});
