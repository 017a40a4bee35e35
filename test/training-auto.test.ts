/**
 * trainer=auto (training/train_auto.py): one job trains the MLP and the trees, keeps the one with
 * the better validation loss (log loss, or RMSE for regression) as the job's model, and records
 * both in the card. Each candidate must be exactly what its trainer alone makes of the same data,
 * the metric lines SageMaker reads must be the winner's, and a missing xgboost package (the
 * SageMaker PyTorch image) must leave the MLP's model with the reason in the card.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelRuntime } from '../lambdas/shared/model-runtime';
import type { ModelCard } from '../lambdas/shared/types';
import { binaryClassificationCsv, mulberry32, parseCsv } from './helpers/datasets';
import { expectSuccess, readCard, runTrainScript, type ScriptRun } from './helpers/train-script';

jest.setTimeout(240_000);

/** Quick settings for both trainers: the point is the selection, not the models' quality. */
const QUICK = ['--epochs', '40', '--num_round', '200'];

let workDir: string;
let runs = 0;

beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-auto-'));
});

afterAll(() => {
  fs.rmSync(workDir, { recursive: true, force: true });
});

function train(trainCsv: string, validationCsv: string, args: string[], env?: NodeJS.ProcessEnv): Promise<ScriptRun> {
  return runTrainScript(path.join(workDir, `run-${++runs}`), trainCsv, validationCsv, args, env);
}

/** The value SageMaker keeps for a metric definition `validation_<name>=([-+0-9.eE]+)`: its last match. */
function lastLoggedMetric(stdout: string, name: string): number | undefined {
  const matches = [...stdout.matchAll(new RegExp(`validation_${name}=([-+0-9.eE]+)`, 'g'))];
  return matches.length ? Number(matches[matches.length - 1][1]) : undefined;
}

/**
 * Regression where trees are the right model: the target jumps at thresholds of x1 and x2 (a
 * staircase), which boosted stumps fit exactly and a small MLP only smooths over.
 */
function staircaseCsv(rows: number, seed: number): string {
  const random = mulberry32(seed);
  const lines = ['x1,x2,y'];
  for (let i = 0; i < rows; i++) {
    const x1 = random() * 10;
    const x2 = random() * 10;
    const y = Math.floor(x1) * 3 + (Math.floor(x2) % 2) * 5 + (random() - 0.5) * 0.1;
    lines.push([x1.toFixed(4), x2.toFixed(4), y.toFixed(4)].join(','));
  }
  return lines.join('\n') + '\n';
}

describe('a binary classification', () => {
  const trainCsv = binaryClassificationCsv(1000, 31);
  const validationCsv = binaryClassificationCsv(300, 32);
  let auto: ScriptRun;
  let card: ModelCard;
  const alone: Record<string, { run: ScriptRun; card: ModelCard }> = {};

  beforeAll(async () => {
    auto = await train(trainCsv, validationCsv, ['--target', 'label', '--trainer', 'auto', ...QUICK]);
    expectSuccess(auto);
    card = readCard(auto);
    for (const trainer of ['mlp', 'xgboost']) {
      const run = await train(trainCsv, validationCsv, ['--target', 'label', '--trainer', trainer, ...QUICK]);
      expectSuccess(run);
      alone[trainer] = { run, card: readCard(run) };
    }
  });

  it('records both trainers as candidates, each with the metrics that trainer alone gets on the same data', () => {
    expect(Object.keys(card.candidates ?? {})).toEqual(['mlp', 'xgboost']);
    for (const trainer of ['mlp', 'xgboost']) {
      expect(card.candidates![trainer]).toMatchObject({
        framework: alone[trainer].card.framework,
        validationMetrics: alone[trainer].card.validationMetrics,
        epochs: alone[trainer].card.epochs,
      });
    }
  });

  it('keeps the candidate with the lower validation log loss: its model.onnx, its card and its metrics', () => {
    const losses = Object.fromEntries(Object.entries(card.candidates!).map(([name, c]) => [name, c.validationMetrics!.log_loss]));
    const winner = losses.xgboost < losses.mlp ? 'xgboost' : 'mlp';
    expect(card).toMatchObject({ trainer: winner, selectedBy: 'log_loss', framework: alone[winner].card.framework });
    expect(card.validationMetrics).toEqual(alone[winner].card.validationMetrics);
    expect(card.features).toEqual(alone[winner].card.features);
    expect(card.hyperparameters).toMatchObject({ trainer: 'auto', target: 'label', task: 'classification' });
    const onnx = (run: ScriptRun) => fs.readFileSync(path.join(run.modelDir, 'model.onnx'));
    expect(onnx(auto).equals(onnx(alone[winner].run))).toBe(true);
    expect(fs.readdirSync(auto.modelDir).sort()).toEqual(fs.readdirSync(alone[winner].run.modelDir).sort());
  });

  it("scores the validation split, through the serving path, as the winner's card says", async () => {
    const runtime = await ModelRuntime.load(fs.readFileSync(path.join(auto.modelDir, 'model.onnx')), card);
    const rows = parseCsv(validationCsv);
    const predictions = (await runtime.predict(rows)) as { label: string }[];
    const accuracy = predictions.filter((p, i) => p.label === rows[i].label).length / rows.length;
    expect(accuracy).toBeCloseTo(card.validationMetrics.accuracy, 6);
  });

  it("ends with the winner's validation_* lines, and logs the candidates' where SageMaker's metric definitions do not read them", () => {
    for (const [name, value] of Object.entries(card.validationMetrics)) {
      expect(lastLoggedMetric(auto.stdout, name)).toBeCloseTo(value, 6);
    }
    const metricLines = auto.stdout.split('\n').filter((line) => /^validation_/.test(line));
    expect(metricLines).toEqual(Object.entries(card.validationMetrics).map(([name, value]) => `validation_${name}=${value.toFixed(6)}`));
    expect(auto.stdout).toMatch(/^candidate trainer=mlp accuracy=[0-9.]+ log_loss=[0-9.]+ macro_f1=[0-9.]+$/m);
    expect(auto.stdout).toMatch(/^candidate trainer=xgboost accuracy=/m);
    expect(auto.stdout).toMatch(new RegExp(`^auto: kept ${card.trainer} \\(validation log_loss mlp [0-9.]+, xgboost [0-9.]+\\)$`, 'm'));
  });
});

/** Two features and an 85/15 label: `rare` where x1 + noise passes a high cut. */
function imbalancedCsv(rows: number, seed: number): string {
  const random = mulberry32(seed);
  const lines = ['x1,x2,label'];
  for (let i = 0; i < rows; i++) {
    const x1 = random() * 10;
    const x2 = random() * 10;
    lines.push(`${x1.toFixed(4)},${x2.toFixed(4)},${x1 + (random() - 0.5) * 3 > 8.4 ? 'rare' : 'common'}`);
  }
  return lines.join('\n') + '\n';
}

describe('imbalanced classes', () => {
  it('keeps the candidate with the higher validation macro-F1, not the lower log loss', async () => {
    const run = await train(imbalancedCsv(1200, 51), imbalancedCsv(400, 52), ['--target', 'label', '--trainer', 'auto', ...QUICK]);
    expectSuccess(run);
    const card = readCard(run);
    const f1 = (name: string) => card.candidates![name].validationMetrics!.macro_f1;
    const winner = f1('xgboost') > f1('mlp') ? 'xgboost' : 'mlp';
    expect(card).toMatchObject({ trainer: winner, selectedBy: 'macro_f1' });
    expect(card.validationMetrics.macro_f1).toBe(f1(winner));
    expect(run.stdout).toMatch(new RegExp(`^auto: kept ${winner} \\(validation macro_f1 mlp [0-9.]+, xgboost [0-9.]+\\)$`, 'm'));
  });
});

describe('a regression the trees fit better (a staircase)', () => {
  it('keeps the XGBoost model, chosen by validation RMSE, with its booster beside model.onnx', async () => {
    const run = await train(staircaseCsv(1500, 33), staircaseCsv(400, 34), ['--target', 'y', '--trainer', 'auto', ...QUICK]);
    expectSuccess(run);
    const card = readCard(run);
    const rmse = (name: string) => card.candidates![name].validationMetrics!.rmse;
    expect(rmse('xgboost')).toBeLessThan(rmse('mlp'));
    expect(card).toMatchObject({ trainer: 'xgboost', selectedBy: 'rmse', framework: 'xgboost', task: 'regression' });
    expect(card.validationMetrics.rmse).toBe(rmse('xgboost'));
    expect(fs.existsSync(path.join(run.modelDir, 'xgboost-model.json'))).toBe(true);
    expect(lastLoggedMetric(run.stdout, 'rmse')).toBeCloseTo(rmse('xgboost'), 6);
  });
});

describe('where xgboost cannot be imported (the SageMaker PyTorch image)', () => {
  it("falls back to the MLP and says why in the card's candidates", async () => {
    // A package named xgboost that fails to import, found before the installed one.
    const shadow = path.join(workDir, 'no-xgboost');
    fs.mkdirSync(path.join(shadow, 'xgboost'), { recursive: true });
    fs.writeFileSync(path.join(shadow, 'xgboost', '__init__.py'), "raise ImportError('No module named xgboost (hidden by the test)')\n");
    const csv = binaryClassificationCsv(400, 35);
    const run = await train(csv, binaryClassificationCsv(100, 36), ['--target', 'label', '--trainer', 'auto', ...QUICK], {
      PYTHONPATH: shadow,
    });
    expectSuccess(run);
    const card = readCard(run);
    expect(card).toMatchObject({ trainer: 'mlp', framework: 'pytorch' });
    expect(card.candidates!.mlp.validationMetrics).toEqual(card.validationMetrics);
    expect(card.candidates!.xgboost).toEqual({
      error:
        'trainer xgboost needs the xgboost package, which this Python cannot import (No module named xgboost (hidden by the test)); ' +
        'locally `apt-get install python3-xgboost`, on SageMaker training/requirements.txt pins it (the job needs a route to the package index)',
    });
    expect(run.stdout).toContain('auto: candidate xgboost produced no model: trainer xgboost needs the xgboost package');
    expect(fs.existsSync(path.join(run.outputDir, 'failure'))).toBe(false);
  });
});

describe('hyperparameters', () => {
  const csv = binaryClassificationCsv(300, 37);

  it("gives each trainer its own names, and neither rejects the other's", async () => {
    const run = await train(csv, csv, [
      '--target',
      'label',
      '--trainer',
      'auto',
      '--epochs',
      '3',
      '--patience',
      '0',
      '--num_round',
      '7',
      '--early_stopping_rounds',
      '0',
    ]);
    expectSuccess(run);
    const card = readCard(run);
    expect(card.candidates!.mlp.epochs).toBe(3);
    expect(card.candidates!.xgboost.epochs).toBe(7);
    expect(run.stdout).not.toContain('ignoring unknown');
  });

  it('logs once a name neither trainer knows', async () => {
    const run = await train(csv, csv, ['--target', 'label', '--trainer', 'auto', ...QUICK, '--n_estimators', '5']);
    expectSuccess(run);
    expect(run.stdout.match(/ignoring unknown arguments: --n_estimators 5/g)).toHaveLength(1);
  });

  it("fails the job on one trainer's bad value, naming it", async () => {
    const run = await train(csv, csv, ['--target', 'label', '--trainer', 'auto', '--eta', '0']);
    expect(run.code).toBe(1);
    expect(fs.readFileSync(path.join(run.outputDir, 'failure'), 'utf8')).toBe('hyperparameter eta must be positive, got 0.0\n');
  });
});
