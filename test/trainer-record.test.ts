/**
 * Which trainer produced a model version: read from its card at Evaluate (`trainerOf`), shown by
 * `mloop models lineage` (`describeTrainer`) and as a column of `mloop models list`
 * (`modelVersionRows`, `formatModelVersionRow`). Pure functions; the pipeline test
 * (training-xgboost-pipeline.test.ts) checks the registered record end to end.
 */
import { formatModelVersionRow, modelVersionRows } from '../bin/cli';
import { describeTrainer } from '../bin/commands/models';
import { trainerOf } from '../lambdas/registry/champion-challenge';
import type { ModelVersionRecord } from '../lambdas/shared/registry/versions';

describe('trainerOf', () => {
  it("takes the card's trainer when auto chose it", () => {
    expect(trainerOf({ trainer: 'xgboost', framework: 'xgboost' })).toBe('xgboost');
    expect(trainerOf({ trainer: 'mlp', framework: 'pytorch' })).toBe('mlp');
  });

  it("names the trainer of a single-trainer card by its framework: pytorch is mloop's MLP", () => {
    expect(trainerOf({ framework: 'pytorch' })).toBe('mlp');
    expect(trainerOf({ framework: 'xgboost' })).toBe('xgboost');
  });

  it("keeps a custom trainer's own framework name", () => {
    expect(trainerOf({ framework: 'sklearn-hgb' })).toBe('sklearn-hgb');
  });
});

describe('describeTrainer (models lineage)', () => {
  it('names the trainer alone when one trainer ran', () => {
    expect(describeTrainer({ trainer: 'xgboost', candidates: null })).toBe('xgboost');
  });

  it("lists auto's candidates with their headline validation metric, and a candidate's failure", () => {
    expect(
      describeTrainer({
        trainer: 'xgboost',
        candidates: {
          mlp: { framework: 'pytorch', validationMetrics: { accuracy: 0.8, log_loss: 0.41234 } },
          xgboost: { framework: 'xgboost', validationMetrics: { accuracy: 0.85, log_loss: 0.38101 } },
        },
      }),
    ).toBe('xgboost (auto; mlp log_loss=0.4123, xgboost log_loss=0.3810)');
    expect(
      describeTrainer({
        trainer: 'mlp',
        candidates: { mlp: { validationMetrics: { rmse: 2.5, mae: 2 } }, xgboost: { error: 'xgboost cannot be imported' } },
      }),
    ).toBe('mlp (auto; mlp rmse=2.5000, xgboost failed: xgboost cannot be imported)');
  });

  it('says unrecorded for a version registered before the trainer was recorded', () => {
    expect(describeTrainer({ trainer: null, candidates: null })).toBe('unrecorded');
  });
});

describe('models list rows', () => {
  const version = (n: number, trainer?: string): ModelVersionRecord => ({
    model: 'm',
    version: n,
    status: 'registered',
    task: 'classification',
    metrics: { accuracy: 0.9 },
    artifact: { onnxUri: 's3://b/o', sha256: 'x', cardUri: 's3://b/c', evaluationUri: 's3://b/e' },
    lineage: {
      datasetVersion: 1,
      datasetSha256: 'd',
      trainingJob: 'j',
      trainingArtifact: 's3://b/a',
      codeVersion: 'c',
      hyperparameters: {},
      execution: 'e',
      ...(trainer ? { trainer } : {}),
    },
    promoted: n === 2,
    decision: 'd',
    createdAt: '2024-01-01T00:00:00.000Z',
  });

  it('carry the trainer in the --json rows, null when unrecorded', () => {
    const rows = modelVersionRows([version(1), version(2, 'xgboost')], [{ alias: 'champion', version: 2 }]);
    expect(rows.map((r) => r.trainer)).toEqual([null, 'xgboost']);
    expect(rows[1]).toMatchObject({ version: 2, aliases: ['champion'], datasetVersion: 1, metrics: { accuracy: 0.9 } });
  });

  it('show the trainer column in text, - when unrecorded', () => {
    const rows = modelVersionRows([version(1), version(2, 'xgboost')], [{ alias: 'champion', version: 2 }]);
    expect(rows.map(formatModelVersionRow)).toEqual([
      'v1  dataset v1  trainer -  accuracy=0.9000  2024-01-01T00:00:00.000Z',
      'v2 [champion]  dataset v1  trainer xgboost  accuracy=0.9000  2024-01-01T00:00:00.000Z',
    ]);
  });
});
