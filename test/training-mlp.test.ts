/**
 * The MLP's weak spots (issue 17), through training/train.py:
 * - heavy-tailed numeric columns get a signed log inside the graph (training/mlp_model.py
 *   robust_plan), listed in the card's `numericTransforms`; the exported graph, run by the serving
 *   path (ModelRuntime, onnxruntime-node) on raw values far into the tails, missing and +-inf
 *   included, computes what the trained torch module computes;
 * - imbalanced classes get class weights by default (`classWeights` in the card), and the model
 *   then beats the majority-class baseline's macro-F1.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelRuntime } from '../lambdas/shared/model-runtime';
import type { ModelCard } from '../lambdas/shared/types';
import { mulberry32, parseCsv } from './helpers/datasets';
import { expectSuccess, readCard, runTrainScript, spawnPython, TRAINING } from './helpers/train-script';

jest.setTimeout(120_000);

/** The card fields this change adds (the TypeScript ModelCard type gains them separately). */
type MlpCard = ModelCard & {
  numericTransforms?: { feature: string; transform: string; center: number; scale: number; skew: number }[];
  classWeights?: Record<string, number>;
};

let workDir: string;

beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-mlp-'));
});

afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Regression with two heavy-tailed columns (log-normal money, a cubed count) beside a normal one and a category. */
function skewedCsv(rows: number, seed: number): string {
  const random = mulberry32(seed);
  const cities = ['lyon', 'oslo', 'porto'];
  const lines = ['income,visits,x,city,y'];
  for (let i = 0; i < rows; i++) {
    const income = Math.exp(10 + 1.5 * gaussian(random));
    const visits = Math.floor(random() ** 8 * 5000);
    const x = gaussian(random);
    const city = cities[Math.floor(random() * cities.length)];
    const y = 0.8 * Math.log(income) + 0.3 * Math.log1p(visits) + x + cities.indexOf(city) * 0.5 + 0.2 * gaussian(random);
    lines.push([random() < 0.05 ? '' : income.toFixed(2), visits, x.toFixed(4), city, y.toFixed(4)].join(','));
  }
  return lines.join('\n') + '\n';
}

/** Three classes, 85% / 10% / 5%, each told apart by x1 and x2 with some overlap. */
function imbalancedCsv(rows: number, seed: number): string {
  const random = mulberry32(seed);
  const lines = ['x1,x2,x3,kind'];
  for (let i = 0; i < rows; i++) {
    const draw = random();
    const kind = draw < 0.85 ? 'common' : draw < 0.95 ? 'rare' : 'scarce';
    const [m1, m2] = kind === 'common' ? [0, 0] : kind === 'rare' ? [1.6, 0] : [0, 1.8];
    lines.push([(m1 + gaussian(random)).toFixed(4), (m2 + gaussian(random)).toFixed(4), gaussian(random).toFixed(4), kind].join(','));
  }
  return lines.join('\n') + '\n';
}

/**
 * Trains with train.train_model (the job's own code path) while keeping the torch module it
 * builds, then prints that module's outputs (train.predict: CPU, float32, what the export traces)
 * for the given inputs in the training layout (numbers with NaN, category indices).
 */
const CAPTURE = [
  'import json, sys, time',
  `sys.path.insert(0, ${JSON.stringify(TRAINING)})`,
  'import numpy as np, train',
  'built = []',
  'original = train.TabularMLP',
  'train.TabularMLP = lambda *args: built.append(original(*args)) or built[-1]',
  'paths = train.Paths()',
  'train.train_model(train.read_hyperparameters(sys.argv[1:], paths), paths, time.time())',
  'request = json.load(sys.stdin)',
  "numeric = np.array([[np.nan if v is None else v for v in row] for row in request['numeric']], dtype=np.float32)",
  "categorical = np.array(request['categorical'], dtype=np.int64).reshape(len(numeric), -1)",
  "print('OUTPUT ' + json.dumps(train.predict(built[0], numeric, categorical).tolist()))",
].join('\n');

describe('heavy-tailed numeric columns', () => {
  let card: MlpCard;
  let modelDir: string;
  let instances: Record<string, string | number | null>[];
  let torchOutput: number[][];

  beforeAll(async () => {
    const root = path.join(workDir, 'skewed');
    const dirs = ['train', 'validation', 'model', 'output'].map((d) => path.join(root, d));
    dirs.forEach((d) => fs.mkdirSync(d, { recursive: true }));
    fs.writeFileSync(path.join(dirs[0], 'train.csv'), skewedCsv(1200, 1));
    fs.writeFileSync(path.join(dirs[1], 'validation.csv'), skewedCsv(300, 2));
    modelDir = dirs[2];
    // Far into both tails, at 0, missing and +-inf; categories known, unknown and missing.
    const random = mulberry32(7);
    const incomes = [null, 0, 1, 3.5e9, -250, Infinity, -Infinity, 12_000];
    instances = Array.from({ length: 64 }, (_, i) => ({
      income: i < incomes.length ? incomes[i] : Math.exp(6 + 10 * random()),
      visits: i % 5 === 0 ? null : Math.floor(random() ** 6 * 1e6),
      x: gaussian(random) * 3,
      city: ['lyon', 'oslo', 'porto', '', 'atlantis'][i % 5],
    }));
    const categories = ['lyon', 'oslo', 'porto'];
    const request = {
      numeric: instances.map((r) => [r.income, r.visits, r.x].map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : null))),
      categorical: instances.map((r) => [categories.indexOf(String(r.city)) + 1]),
    };
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SM_CHANNEL_TRAIN: dirs[0],
      SM_CHANNEL_VALIDATION: dirs[1],
      SM_MODEL_DIR: dirs[2],
      SM_OUTPUT_DIR: dirs[3],
      SM_INPUT_CONFIG_DIR: path.join(root, 'config'),
    };
    delete env.SM_HPS;
    const run = await spawnPython(['-c', CAPTURE, '--target', 'y', '--epochs', '15'], env, JSON.stringify(request));
    if (run.code !== 0) throw new Error(`the capture script failed:\n${run.stderr}\n${run.stdout.slice(-2000)}`);
    const line = run.stdout.split('\n').find((l) => l.startsWith('OUTPUT '));
    torchOutput = JSON.parse(line!.slice('OUTPUT '.length)) as number[][];
    card = JSON.parse(fs.readFileSync(path.join(modelDir, 'model-card.json'), 'utf8')) as MlpCard;
  });

  test('the skewed columns, and only they, get the signed log, recorded in the card', () => {
    const transformed = (card.numericTransforms ?? []).map((t) => t.feature).sort();
    expect(transformed).toEqual(['income', 'visits']);
    for (const t of card.numericTransforms!) {
      expect(t.transform).toBe('signed_log1p');
      expect(Math.abs(t.skew)).toBeGreaterThan(2);
      expect(t.scale).toBeGreaterThan(0);
    }
    expect(card.hyperparameters).toMatchObject({ robust_numeric: 'auto' });
  });

  test("the ONNX graph computes the torch module's outputs, tails, gaps and +-inf included", async () => {
    // A non-finite number reaches the graph as itself (NaN or +-inf), which it treats as missing.
    const runtime = await ModelRuntime.load(fs.readFileSync(path.join(modelDir, 'model.onnx')), card);
    const predictions = await runtime.predict(instances);
    const onnx = predictions.map((p) => ('value' in p ? p.value : NaN));
    let max = 0;
    onnx.forEach((v, i) => (max = Math.max(max, Math.abs(v - torchOutput[i][0]) / Math.max(1, Math.abs(torchOutput[i][0])))));
    expect(onnx.every(Number.isFinite)).toBe(true);
    expect(max).toBeLessThan(1e-5);
  });

  test('robust_numeric=off leaves every column as it is', async () => {
    const run = await runTrainScript(path.join(workDir, 'off'), skewedCsv(400, 3), skewedCsv(100, 4), [
      '--target',
      'y',
      '--epochs',
      '2',
      '--robust_numeric',
      'off',
    ]);
    expectSuccess(run);
    expect((readCard(run) as MlpCard).numericTransforms).toBeUndefined();
  });
});

describe('imbalanced classes', () => {
  const validationCsv = imbalancedCsv(800, 12);
  const labels = parseCsv(validationCsv).map((row) => row.kind);

  /** Macro-F1 of always predicting the most frequent class (train.py's definition, over the classes present). */
  function majorityMacroF1(): number {
    const counts = new Map<string, number>();
    labels.forEach((l) => counts.set(l, (counts.get(l) ?? 0) + 1));
    const majority = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
    const share = majority[1] / labels.length;
    return (2 * share) / (1 + share) / counts.size;
  }

  test('class weights are on by default, recorded in the card, and the model beats the majority baseline on macro-F1', async () => {
    const run = await runTrainScript(path.join(workDir, 'imbalanced'), imbalancedCsv(3000, 11), validationCsv, [
      '--target',
      'kind',
      '--epochs',
      '40',
    ]);
    expectSuccess(run);
    const card = readCard(run) as MlpCard;
    expect(Object.keys(card.classWeights ?? {}).sort()).toEqual(['common', 'rare', 'scarce']);
    expect(card.classWeights!.common).toBeLessThan(card.classWeights!.rare);
    expect(card.classWeights!.rare).toBeLessThan(card.classWeights!.scarce);
    const baseline = majorityMacroF1();
    expect(baseline).toBeGreaterThan(0.3);
    expect(card.validationMetrics.macro_f1).toBeGreaterThan(baseline + 0.1);
  });

  test('class_weights=none trains on the plain loss and records no weights', async () => {
    const run = await runTrainScript(path.join(workDir, 'unweighted'), imbalancedCsv(600, 13), imbalancedCsv(200, 14), [
      '--target',
      'kind',
      '--epochs',
      '2',
      '--class_weights',
      'none',
    ]);
    expectSuccess(run);
    expect((readCard(run) as MlpCard).classWeights).toBeUndefined();
  });
});

describe('batch size for the data size (mlp_model.batch_plan)', () => {
  test('256 on small data and on CUDA, about 80 steps per epoch on large data on the CPU, an explicit batch_size as given', async () => {
    const script = [
      'import json, sys',
      `sys.path.insert(0, ${JSON.stringify(TRAINING)})`,
      'import mlp_model',
      "auto = {'batch_size': 0, 'learning_rate': 0.003}",
      'print(json.dumps([mlp_model.batch_plan(rows, hp, device) for rows, hp, device in [',
      "  (10_000, auto, 'cpu'), (160_000, auto, 'cpu'), (160_000, auto, 'cuda'), (5_000_000, auto, 'cpu'),",
      "  (160_000, {'batch_size': 512, 'learning_rate': 0.01}, 'cpu')]]))",
    ].join('\n');
    const run = await spawnPython(['-c', script], process.env);
    if (run.code !== 0) throw new Error(run.stderr);
    const plans = JSON.parse(run.stdout) as [number, number][];
    expect(plans.map(([batch]) => batch)).toEqual([256, 2048, 256, 4096, 512]);
    expect(plans[0][1]).toBe(0.003);
    expect(plans[1][1]).toBeCloseTo(0.003 * Math.sqrt(8), 10);
    expect(plans[2][1]).toBe(0.003);
    expect(plans[4][1]).toBe(0.01);
  });
});
