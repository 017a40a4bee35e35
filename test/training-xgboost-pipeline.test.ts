/**
 * The trees trainer through the local pipeline: `trainer: xgboost` in the model's
 * hyperparameters.json makes the default training code (train.py) train XGBoost, and the rest of
 * the pipeline (evaluation, the gate, the registry, the API) takes its model.onnx as it takes the
 * MLP's: same inputs, same outputs, same card.
 */
import { lineage } from '../lambdas/registry/lineage';
import { s3Keys } from '../lambdas/shared/layout';
import type { ModelCard } from '../lambdas/shared/types';
import { predictThroughApi } from '../bin/cli';
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
