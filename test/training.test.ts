/**
 * The default training script (training/train.py) end to end: it runs as SageMaker would run it
 * (channels, SM_* variables, hyperparameters as arguments), and its model.onnx is then scored
 * here with onnxruntime-node from raw CSV values (numbers, and category strings as they are).
 * Matching the card's metrics proves the graph carries all preprocessing, the category lookup
 * included, and computes what PyTorch computed.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ModelRuntime } from '../lambdas/shared/model-runtime';
import type { ModelCard } from '../lambdas/shared/types';
import { findPython, torchVersion } from '../local/python';
import { binaryClassificationCsv, multiclassCsv, parseCsv, regressionCsv } from './helpers/datasets';

jest.setTimeout(180_000);

const TRAIN_PY = path.resolve(__dirname, '..', 'training', 'train.py');

type Row = Record<string, string>;

interface TrainingRun {
  code: number | null;
  stdout: string;
  stderr: string;
  modelDir: string;
  outputDir: string;
}

interface TrainingSetup {
  train: string;
  /** Omit to leave the validation channel empty. */
  validation?: string;
  args?: string[];
  env?: Record<string, string>;
  schema?: unknown;
}

let workDir: string;

beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-training-'));
});

afterAll(() => {
  fs.rmSync(workDir, { recursive: true, force: true });
});

let runs = 0;

/** Lays the data out as SageMaker channels in a fresh directory and runs train.py on them. */
async function train(setup: TrainingSetup): Promise<TrainingRun> {
  const root = path.join(workDir, `run-${++runs}`);
  const dirs = {
    train: path.join(root, 'input', 'data', 'train'),
    validation: path.join(root, 'input', 'data', 'validation'),
    model: path.join(root, 'model'),
    output: path.join(root, 'output'),
  };
  fs.mkdirSync(dirs.train, { recursive: true });
  fs.mkdirSync(dirs.validation, { recursive: true });
  fs.writeFileSync(path.join(dirs.train, 'train.csv'), setup.train);
  if (setup.validation !== undefined) fs.writeFileSync(path.join(dirs.validation, 'validation.csv'), setup.validation);
  if (setup.schema !== undefined) fs.writeFileSync(path.join(dirs.train, 'schema.json'), JSON.stringify(setup.schema));

  const python = await findPython();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SM_CHANNEL_TRAIN: dirs.train,
    SM_CHANNEL_VALIDATION: dirs.validation,
    SM_MODEL_DIR: dirs.model,
    SM_OUTPUT_DIR: dirs.output,
    SM_INPUT_CONFIG_DIR: path.join(root, 'config'), // absent: no hyperparameters.json
    ...setup.env,
  };
  if (!setup.env?.SM_HPS) delete env.SM_HPS;

  return new Promise((resolve, reject) => {
    const child = spawn(python, [TRAIN_PY, ...(setup.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, modelDir: dirs.model, outputDir: dirs.output }));
  });
}

function expectSuccess(run: TrainingRun): void {
  if (run.code !== 0) throw new Error(`train.py exited ${run.code}\n${run.stderr}\n${run.stdout.slice(-2000)}`);
}

function readCard(run: TrainingRun): ModelCard {
  return JSON.parse(fs.readFileSync(path.join(run.modelDir, 'model-card.json'), 'utf8')) as ModelCard;
}

function openModel(run: TrainingRun): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(path.join(run.modelDir, 'model.onnx'));
}

/** The ONNX feeds for raw CSV rows, built from the card alone, as an inference service would. */
function feeds(card: ModelCard, rows: Row[]): Record<string, ort.Tensor> {
  const numeric = card.features.filter((f) => f.type === 'numeric');
  const categorical = card.features.filter((f) => f.type === 'categorical');
  const result: Record<string, ort.Tensor> = {};
  if (numeric.length) {
    const data = new Float32Array(rows.length * numeric.length);
    rows.forEach((row, i) =>
      numeric.forEach((f, j) => {
        const cell = (row[f.name] ?? '').trim();
        data[i * numeric.length + j] = cell === '' ? NaN : Number(cell);
      }),
    );
    result.numeric = new ort.Tensor('float32', data, [rows.length, numeric.length]);
  }
  // formatVersion 2: each categorical feature is its own string input, fed the raw cell; the graph
  // looks the category up ('' and unseen values are its unknown bucket). No vocabulary here.
  expect(card.formatVersion).toBe(2);
  for (const f of categorical) {
    result[f.name] = new ort.Tensor(
      'string',
      rows.map((row) => row[f.name] ?? ''),
      [rows.length, 1],
    );
  }
  return result;
}

/** Rows of class probabilities (classification) or values (regression). */
async function score(session: ort.InferenceSession, card: ModelCard, rows: Row[]): Promise<number[][]> {
  const output = card.task === 'classification' ? 'probabilities' : 'value';
  const results = await session.run(feeds(card, rows));
  const tensor = results[output];
  const width = tensor.dims[1] as number;
  expect(tensor.dims).toEqual([rows.length, width]);
  const data = tensor.data as Float32Array;
  return rows.map((_, i) => Array.from(data.subarray(i * width, (i + 1) * width)));
}

function classificationMetrics(probabilities: number[][], labels: string[], classes: string[]) {
  let correct = 0;
  let logLoss = 0;
  labels.forEach((label, i) => {
    const truth = classes.indexOf(label);
    const p = probabilities[i];
    const predicted = p.indexOf(Math.max(...p));
    if (predicted === truth) correct++;
    logLoss -= Math.log(Math.min(1, Math.max(1e-15, p[truth])));
  });
  return { accuracy: correct / labels.length, log_loss: logLoss / labels.length };
}

function regressionMetrics(values: number[], targets: number[]) {
  const errors = values.map((v, i) => v - targets[i]);
  return {
    rmse: Math.sqrt(errors.reduce((s, e) => s + e * e, 0) / errors.length),
    mae: errors.reduce((s, e) => s + Math.abs(e), 0) / errors.length,
  };
}

function std(values: number[]): number {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  return Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
}

/** The `validation_<name>=<value>` lines SageMaker's metric definitions parse. */
function loggedMetrics(stdout: string): Record<string, number> {
  const metrics: Record<string, number> = {};
  for (const match of stdout.matchAll(/^validation_([a-z0-9_]+)=([-+0-9.eE]+)$/gm)) metrics[match[1]] = Number(match[2]);
  return metrics;
}

/** CSV text with only the given columns. */
function selectColumns(csv: string, columns: string[]): string {
  const rows = parseCsv(csv);
  return [columns.join(','), ...rows.map((row) => columns.map((c) => row[c]).join(','))].join('\n') + '\n';
}

const EPOCHS = '30';

describe('binary classification', () => {
  const trainCsv = binaryClassificationCsv(2000, 1);
  const validationCsv = binaryClassificationCsv(500, 2);
  const validationRows = parseCsv(validationCsv);
  let run: TrainingRun;
  let card: ModelCard;
  let session: ort.InferenceSession;

  beforeAll(async () => {
    run = await train({ train: trainCsv, validation: validationCsv, args: ['--target', 'label', '--epochs', EPOCHS] });
    expectSuccess(run);
    card = readCard(run);
    session = await openModel(run);
  });

  it('writes model.onnx and a model card that follows the contract', async () => {
    expect(fs.existsSync(path.join(run.modelDir, 'model.onnx'))).toBe(true);
    expect(card).toMatchObject({
      formatVersion: 2,
      task: 'classification',
      target: 'label',
      features: [
        { name: 'x1', type: 'numeric' },
        { name: 'x2', type: 'numeric' },
        { name: 'x3', type: 'numeric' },
        { name: 'color', type: 'categorical', categories: ['blue', 'green', 'red'] },
      ],
      classes: ['0', '1'],
      device: 'cpu',
      framework: 'pytorch',
      torchVersion: await torchVersion(await findPython()),
    });
    expect(card.features[0]).not.toHaveProperty('categories');
    expect(card.hyperparameters).toMatchObject({
      target: 'label',
      task: 'classification',
      epochs: 30,
      batch_size: 256,
      learning_rate: 0.003,
      hidden: 64,
      layers: 2,
      seed: 42,
      device: 'cpu',
    });
    expect(card.epochs).toBeGreaterThanOrEqual(1);
    expect(card.epochs).toBeLessThanOrEqual(30);
    // The card's lossCurve holds the epoch lines' losses, one entry per epoch run (mloop ui draws it).
    const logged = [...run.stdout.matchAll(/^epoch=(\d+) train_loss=([0-9.]+) validation_loss=([0-9.]+)$/gm)].map((m) =>
      m.slice(1).map(Number),
    );
    expect(logged.length).toBeGreaterThanOrEqual(card.epochs);
    expect(card.lossCurve!.map(([epoch]) => epoch)).toEqual(logged.map(([epoch]) => epoch));
    card.lossCurve!.forEach(([, trainLoss, validationLoss], i) => {
      expect(trainLoss).toBeCloseTo(logged[i][1], 5);
      expect(validationLoss).toBeCloseTo(logged[i][2], 5);
    });
    expect(card.trainingSeconds).toBeGreaterThan(0);
    expect(Object.keys(card.validationMetrics).sort()).toEqual(['accuracy', 'log_loss', 'macro_f1']);
    expect(fs.existsSync(path.join(run.outputDir, 'failure'))).toBe(false);
  });

  it('exports the inputs and output the card promises: numeric, then one string input per categorical feature', () => {
    const categorical = card.features.filter((f) => f.type === 'categorical').map((f) => f.name);
    expect(categorical).toEqual(['color']);
    expect(session.inputNames).toEqual(['numeric', ...categorical]);
    expect(session.outputNames).toEqual(['probabilities']);
  });

  it('scores the validation split in onnxruntime exactly as PyTorch did', async () => {
    const probabilities = await score(session, card, validationRows);
    const labels = validationRows.map((row) => row.label);
    const metrics = classificationMetrics(probabilities, labels, card.classes!);
    expect(Math.abs(metrics.accuracy - card.validationMetrics.accuracy)).toBeLessThanOrEqual(1e-4);
    expect(Math.abs(metrics.log_loss - card.validationMetrics.log_loss)).toBeLessThanOrEqual(1e-4);
    for (const p of probabilities) expect(p.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
  });

  it('learns the rule well beyond a trivial baseline', () => {
    const ones = validationRows.filter((row) => row.label === '1').length / validationRows.length;
    expect(card.validationMetrics.accuracy).toBeGreaterThan(0.8);
    expect(card.validationMetrics.accuracy).toBeGreaterThan(Math.max(ones, 1 - ones) + 0.2);
    expect(card.validationMetrics.macro_f1).toBeGreaterThan(0.8);
  });

  it('logs one line per epoch and each metric in the form SageMaker metric definitions parse', () => {
    expect(run.stdout).toMatch(/^epoch=1 train_loss=[0-9.]+ validation_loss=[0-9.]+$/m);
    const logged = loggedMetrics(run.stdout);
    expect(Object.keys(logged).sort()).toEqual(['accuracy', 'log_loss', 'macro_f1']);
    for (const [name, value] of Object.entries(logged)) expect(value).toBeCloseTo(card.validationMetrics[name], 5);
  });

  it('gives finite probabilities for unknown categories, missing values and any batch size', async () => {
    const rows: Row[] = [
      { x1: '', x2: '', x3: '', color: '' },
      { x1: '0.5', x2: '', x3: '12', color: 'purple' },
      { x1: '', x2: '9', x3: '', color: 'red' },
    ];
    const probabilities = await score(session, card, rows);
    for (const p of probabilities) {
      expect(p).toHaveLength(2);
      for (const v of p) expect(Number.isFinite(v)).toBe(true);
      expect(p[0] + p[1]).toBeCloseTo(1, 5);
    }
    // An unseen category and a missing one fall in the same unknown bucket inside the graph, and a
    // known category is not that bucket.
    const buckets = await session.run({
      numeric: new ort.Tensor('float32', new Float32Array([0, 10, 50, 0, 10, 50, 0, 10, 50, 0, 10, 50]), [4, 3]),
      color: new ort.Tensor('string', ['purple', '', 'RED', 'red'], [4, 1]),
    });
    const p = Array.from(buckets.probabilities.data as Float32Array);
    expect(p.slice(2, 4)).toEqual(p.slice(0, 2));
    expect(p.slice(4, 6)).toEqual(p.slice(0, 2));
    expect(p.slice(6, 8)).not.toEqual(p.slice(0, 2));
    // ModelRuntime feeds the raw values (a missing key, null, '' and unseen ones) the same way.
    const runtime = await ModelRuntime.load(fs.readFileSync(path.join(run.modelDir, 'model.onnx')), card);
    const predictions = await runtime.predict([
      { x1: 0, x2: 10, x3: 50, color: 'purple' },
      { x1: 0, x2: 10, x3: 50 },
      { x1: 0, x2: 10, x3: 50, color: null },
      { x1: 0, x2: 10, x3: 50, color: 'red' },
    ]);
    const probabilityOf1 = predictions.map((prediction) => ('probabilities' in prediction ? prediction.probabilities['1'] : NaN));
    expect(probabilityOf1[0]).toBeCloseTo(p[1], 6);
    expect(probabilityOf1[1]).toBe(probabilityOf1[0]);
    expect(probabilityOf1[2]).toBe(probabilityOf1[0]);
    expect(probabilityOf1[3]).toBeCloseTo(p[7], 6);
    // One row scores the same alone as inside a batch (the batch axis is dynamic).
    const [single] = await score(session, card, [validationRows[7]]);
    const batch = await score(session, card, validationRows.slice(0, 10));
    expect(single[0]).toBeCloseTo(batch[7][0], 6);
  });

  it('gives identical metrics for the same data and seed, with hyperparameters from SM_HPS', async () => {
    const again = await train({
      train: trainCsv,
      validation: validationCsv,
      env: { SM_HPS: JSON.stringify({ target: 'label', epochs: 30 }) },
    });
    expectSuccess(again);
    const second = readCard(again);
    expect(second.validationMetrics).toEqual(card.validationMetrics);
    expect(second.epochs).toBe(card.epochs);
    expect(second.hyperparameters).toEqual(card.hyperparameters);
  });
});

describe('multiclass classification', () => {
  // Without `region` the model has numeric features only, so it must export `numeric` alone.
  const columns = ['petal_length', 'petal_width', 'sepal_length', 'species'];
  const trainCsv = selectColumns(multiclassCsv(1500, 3), columns);
  const validationCsv = selectColumns(multiclassCsv(400, 4), columns);
  let run: TrainingRun;
  let card: ModelCard;

  beforeAll(async () => {
    run = await train({ train: trainCsv, validation: validationCsv, args: ['--target', 'species', '--epochs', EPOCHS] });
    expectSuccess(run);
    card = readCard(run);
  });

  it('orders string classes and exports only the numeric input', async () => {
    expect(card.task).toBe('classification');
    expect(card.classes).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(card.features.map((f) => f.name)).toEqual(['petal_length', 'petal_width', 'sepal_length']);
    const session = await openModel(run);
    expect(session.inputNames).toEqual(['numeric']);
    expect(session.outputNames).toEqual(['probabilities']);
  });

  it('matches the card on the validation split and learns the clusters', async () => {
    const session = await openModel(run);
    const rows = parseCsv(validationCsv);
    const probabilities = await score(session, card, rows);
    expect(probabilities[0]).toHaveLength(3);
    const metrics = classificationMetrics(
      probabilities,
      rows.map((row) => row.species),
      card.classes!,
    );
    expect(Math.abs(metrics.accuracy - card.validationMetrics.accuracy)).toBeLessThanOrEqual(1e-4);
    expect(Math.abs(metrics.log_loss - card.validationMetrics.log_loss)).toBeLessThanOrEqual(1e-4);
    expect(card.validationMetrics.accuracy).toBeGreaterThan(0.9);
    expect(card.validationMetrics.macro_f1).toBeGreaterThan(0.9);
  });
});

describe('regression', () => {
  const trainCsv = regressionCsv(2000, 5);
  const validationCsv = regressionCsv(500, 6);
  let run: TrainingRun;
  let card: ModelCard;

  beforeAll(async () => {
    run = await train({ train: trainCsv, validation: validationCsv, args: ['--target', 'price', '--epochs', EPOCHS] });
    expectSuccess(run);
    card = readCard(run);
  });

  it('infers the task and writes a card without classes', () => {
    expect(card.task).toBe('regression');
    expect(card).not.toHaveProperty('classes');
    expect(card.features).toEqual([
      { name: 'area', type: 'numeric' },
      { name: 'rooms', type: 'numeric' },
      { name: 'age', type: 'numeric' },
      { name: 'city', type: 'categorical', categories: ['lille', 'lyon', 'paris'] },
    ]);
    expect(Object.keys(card.validationMetrics).sort()).toEqual(['mae', 'r2', 'rmse']);
  });

  it('outputs values in target units that match the card and beat predicting the mean', async () => {
    const session = await openModel(run);
    expect(session.inputNames).toEqual(['numeric', 'city']);
    expect(session.outputNames).toEqual(['value']);
    const rows = parseCsv(validationCsv);
    const values = (await score(session, card, rows)).map((v) => v[0]);
    const targets = rows.map((row) => Number(row.price));
    const metrics = regressionMetrics(values, targets);
    // Relative: values near 300,000 carry float32 rounding of a few hundredths.
    expect(Math.abs(metrics.rmse - card.validationMetrics.rmse)).toBeLessThanOrEqual(1e-4 * card.validationMetrics.rmse);
    expect(Math.abs(metrics.mae - card.validationMetrics.mae)).toBeLessThanOrEqual(1e-4 * card.validationMetrics.mae);
    expect(card.validationMetrics.rmse).toBeLessThan(std(targets));
    expect(card.validationMetrics.r2).toBeGreaterThan(0.9);
  });
});

describe('schema.json in the train channel', () => {
  it('decides the feature types, the categories and the class order', async () => {
    const validationCsv = binaryClassificationCsv(300, 8);
    const schema = {
      columns: [
        { name: 'x1', type: 'numeric', nullable: true },
        { name: 'x2', type: 'numeric', nullable: true },
        { name: 'color', type: 'categorical', nullable: false, categories: ['blue', 'green', 'red', 'yellow'] },
        { name: 'label', type: 'categorical', nullable: false, categories: ['0', '1'] },
      ],
      target: 'label',
      task: 'classification',
      classes: ['1', '0'],
    };
    // No --target: schema.json names it. x3 is not in the schema, so the model ignores it.
    const run = await train({ train: binaryClassificationCsv(1000, 7), validation: validationCsv, schema, args: ['--epochs', '20'] });
    expectSuccess(run);
    const card = readCard(run);
    expect(card.target).toBe('label');
    expect(card.classes).toEqual(['1', '0']);
    expect(card.features).toEqual([
      { name: 'x1', type: 'numeric' },
      { name: 'x2', type: 'numeric' },
      { name: 'color', type: 'categorical', categories: ['blue', 'green', 'red', 'yellow'] },
    ]);
    const session = await openModel(run);
    const rows = parseCsv(validationCsv);
    const metrics = classificationMetrics(
      await score(session, card, rows),
      rows.map((r) => r.label),
      card.classes!,
    );
    expect(Math.abs(metrics.accuracy - card.validationMetrics.accuracy)).toBeLessThanOrEqual(1e-4);
    expect(card.validationMetrics.accuracy).toBeGreaterThan(0.8);
  });
});

describe('categorical features only, no validation channel', () => {
  it('exports only the categorical input and holds out part of the train split', async () => {
    const run = await train({
      train: selectColumns(binaryClassificationCsv(400, 9), ['color', 'label']),
      args: ['--target', 'label', '--epochs', '5'],
    });
    expectSuccess(run);
    expect(run.stdout).toMatch(/holding out 80 of 400 training rows/);
    const card = readCard(run);
    expect(card.features).toEqual([{ name: 'color', type: 'categorical', categories: ['blue', 'green', 'red'] }]);
    const session = await openModel(run);
    expect(session.inputNames).toEqual(['color']);
    const [p] = await score(session, card, [{ color: 'green' }]);
    expect(p.every(Number.isFinite)).toBe(true);
  });
});

describe('a categorical feature whose name the graph already uses', () => {
  it('keeps the index contract (formatVersion 1), which ModelRuntime still scores exactly', async () => {
    // A categorical column named `numeric` cannot become a string input of that name, so train.py
    // falls back to the int64 `categorical` input and says so in the card.
    const rename = (csv: string) => csv.replace(/^x1,x2,x3,color,label$/m, 'x1,x2,x3,numeric,label');
    const validationCsv = rename(binaryClassificationCsv(300, 12));
    const run = await train({
      train: rename(binaryClassificationCsv(1000, 11)),
      validation: validationCsv,
      args: ['--target', 'label', '--epochs', '10'],
    });
    expectSuccess(run);
    expect(run.stdout).toMatch(/category lookup stays outside the graph \(model card formatVersion 1\)/);
    const card = readCard(run);
    expect(card.formatVersion).toBe(1);
    expect(card.features[3]).toEqual({ name: 'numeric', type: 'categorical', categories: ['blue', 'green', 'red'] });
    const session = await openModel(run);
    expect(session.inputNames).toEqual(['numeric', 'categorical']);
    const runtime = await ModelRuntime.load(fs.readFileSync(path.join(run.modelDir, 'model.onnx')), card);
    const rows = parseCsv(validationCsv);
    const instances = rows.map((row) => ({ x1: row.x1, x2: row.x2, x3: row.x3, numeric: row.numeric }));
    const predictions = await runtime.predict(instances);
    const probabilities = predictions.map((prediction) =>
      card.classes!.map((c) => ('probabilities' in prediction ? prediction.probabilities[c] : NaN)),
    );
    const metrics = classificationMetrics(
      probabilities,
      rows.map((row) => row.label),
      card.classes!,
    );
    expect(Math.abs(metrics.accuracy - card.validationMetrics.accuracy)).toBeLessThanOrEqual(1e-4);
    expect(Math.abs(metrics.log_loss - card.validationMetrics.log_loss)).toBeLessThanOrEqual(1e-4);
    // Unknown and missing categories are index 0 under this contract.
    const [unknown, missing] = await runtime.predict([
      { x1: 0, x2: 10, x3: 50, numeric: 'purple' },
      { x1: 0, x2: 10, x3: 50, numeric: '' },
    ]);
    expect(unknown).toEqual(missing);
  });
});

describe('failures', () => {
  const csv = binaryClassificationCsv(100, 10);

  async function expectFailure(setup: TrainingSetup, mention: RegExp): Promise<string> {
    const run = await train(setup);
    expect(run.code).toBe(1);
    const failure = fs.readFileSync(path.join(run.outputDir, 'failure'), 'utf8');
    expect(failure).toMatch(mention);
    expect(run.stderr).toContain(failure.trim());
    expect(fs.existsSync(path.join(run.modelDir, 'model.onnx'))).toBe(false);
    return failure;
  }

  it('names a missing target column', async () => {
    await expectFailure({ train: csv, validation: csv, args: ['--target', 'churned'] }, /target column 'churned'.*train\.csv/);
  });

  it('refuses a target with a single class', async () => {
    const single = csv.replace(/,1$/gm, ',0');
    await expectFailure({ train: single, validation: csv, args: ['--target', 'label'] }, /single class/);
  });

  it('names a bad hyperparameter', async () => {
    await expectFailure({ train: csv, validation: csv, args: ['--target', 'label', '--epochs', 'many'] }, /epochs.*'many'/);
  });

  it('says the train channel is empty', async () => {
    await expectFailure({ train: '', validation: csv, args: ['--target', 'label'] }, /train file train\.csv is empty/);
  });
});
