/**
 * The gradient-boosted trees trainer (training/train.py with trainer=xgboost, i.e.
 * training/train_xgboost.py) end to end: it trains under the same script-mode contract as the MLP,
 * and its model.onnx, written without the onnx package (training/onnx_trees.py), is scored here by
 * the serving path (ModelRuntime, onnxruntime-node) from raw values. On random inputs with missing
 * values, +-inf and categories the model never saw, the graph's outputs equal XGBoost's own
 * predictions (Booster.predict on the saved booster) to 1e-5, for regression, binary and
 * multi-class models, and for both categorical contracts (formatVersion 2 and 1).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ModelRuntime } from '../lambdas/shared/model-runtime';
import type { ModelCard } from '../lambdas/shared/types';
import { binaryClassificationCsv, multiclassCsv, mulberry32, parseCsv } from './helpers/datasets';
import { expectSuccess, readCard, runTrainScript, spawnPython, TRAINING, type ScriptRun } from './helpers/train-script';

jest.setTimeout(180_000);

const TOLERANCE = 1e-5;
/** Small and quick: the point is the export, not the model's quality. */
const FAST = ['--trainer', 'xgboost', '--num_round', '40', '--max_depth', '4', '--early_stopping_rounds', '0'];

type Row = Record<string, string>;
type Instance = Record<string, string | number | null>;

type Run = ScriptRun;

let workDir: string;
let runs = 0;

beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-xgboost-'));
});

afterAll(() => {
  fs.rmSync(workDir, { recursive: true, force: true });
});

/** Runs train.py as SageMaker would, on the given train and validation CSVs. */
function train(trainCsv: string, validationCsv: string, args: string[]): Promise<Run> {
  return runTrainScript(path.join(workDir, `run-${++runs}`), trainCsv, validationCsv, args);
}

function loadRuntime(run: Run, card: ModelCard): Promise<ModelRuntime> {
  return ModelRuntime.load(fs.readFileSync(path.join(run.modelDir, 'model.onnx')), card);
}

/**
 * Random instances for a card: numbers over (a bit beyond) the train range, 15% missing and 3%
 * +-inf; categories 70% known, 15% missing ('') and 15% never seen in training.
 */
function randomInstances(card: ModelCard, trainRows: Row[], count: number, seed: number): Instance[] {
  const random = mulberry32(seed);
  const ranges = new Map<string, [number, number]>();
  for (const f of card.features.filter((feature) => feature.type === 'numeric')) {
    const values = trainRows
      .map((row) => row[f.name])
      .filter((cell) => cell !== '')
      .map(Number);
    const [low, high] = [Math.min(...values), Math.max(...values)];
    const margin = (high - low) * 0.1;
    ranges.set(f.name, [low - margin, high + margin]);
  }
  return Array.from({ length: count }, () => {
    const instance: Instance = {};
    for (const f of card.features) {
      const draw = random();
      if (f.type === 'numeric') {
        const [low, high] = ranges.get(f.name)!;
        instance[f.name] = draw < 0.15 ? null : draw < 0.18 ? (random() < 0.5 ? Infinity : -Infinity) : low + random() * (high - low);
      } else {
        const categories = f.categories ?? [];
        instance[f.name] =
          draw < 0.15 ? '' : draw < 0.3 ? `never-seen-${Math.floor(random() * 5)}` : categories[Math.floor(random() * categories.length)];
      }
    }
    return instance;
  });
}

/**
 * XGBoost's own predictions for the instances: the saved booster (xgboost-model.json) on the
 * training layout (train_xgboost.booster_features) of the card's encoding: numbers as float32
 * with missing and +-inf as NaN, categories as indices (i + 1 for categories[i], 0 for unknown or
 * missing). Rows of probabilities [1 - p, p] / softprob, or [value].
 */
async function xgboostPredictions(run: Run, card: ModelCard, instances: Instance[]): Promise<number[][]> {
  const numeric = card.features.filter((f) => f.type === 'numeric');
  const categorical = card.features.filter((f) => f.type === 'categorical');
  const request = {
    model: path.join(run.modelDir, 'xgboost-model.json'),
    rows: instances.length,
    binary: card.task === 'classification' && card.classes?.length === 2,
    numeric: instances.map((instance) =>
      numeric.map((f) => {
        const value = instance[f.name];
        return typeof value === 'number' && Number.isFinite(value) ? value : null;
      }),
    ),
    categorical: instances.map((instance) => categorical.map((f) => (f.categories ?? []).indexOf(String(instance[f.name])) + 1)),
  };
  const script = [
    'import json, sys',
    `sys.path.insert(0, ${JSON.stringify(TRAINING)})`,
    'import numpy as np, xgboost, train_xgboost',
    'r = json.load(sys.stdin)',
    "numeric = np.array([[np.nan if v is None else v for v in row] for row in r['numeric']], dtype=np.float32).reshape(r['rows'], -1)",
    "categorical = np.array(r['categorical'], dtype=np.int64).reshape(r['rows'], -1)",
    "booster = xgboost.Booster(model_file=r['model'])",
    'out = booster.predict(xgboost.DMatrix(train_xgboost.booster_features(numeric, categorical), missing=np.nan))',
    "out = np.stack([1 - out, out], axis=1) if r['binary'] else out.reshape(r['rows'], -1)",
    'print(json.dumps(out.astype(float).tolist()))',
  ].join('\n');
  const result = await spawnPython(['-c', script], process.env, JSON.stringify(request));
  if (result.code !== 0) throw new Error(`the XGBoost prediction script failed:\n${result.stderr}`);
  return JSON.parse(result.stdout) as number[][];
}

/** The serving path's outputs as rows in the same layout. */
async function onnxPredictions(runtime: ModelRuntime, card: ModelCard, instances: Instance[]): Promise<number[][]> {
  const predictions = await runtime.predict(instances);
  return predictions.map((p) => ('value' in p ? [p.value] : (card.classes ?? []).map((c) => p.probabilities[c])));
}

function maxAbsDifference(a: number[][], b: number[][]): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  a.forEach((row, i) => {
    expect(row.length).toBe(b[i].length);
    row.forEach((v, j) => (max = Math.max(max, Math.abs(v - b[i][j]))));
  });
  return max;
}

/** Regression data on a unit scale (float32 sums of values near 1 keep 1e-5 meaningful). */
function unitRegressionCsv(rows: number, seed: number): string {
  const random = mulberry32(seed);
  const cities = ['lyon', 'oslo', 'porto', 'quito'];
  const lines = ['x1,x2,city,y'];
  for (let i = 0; i < rows; i++) {
    const x1 = random() * 4 - 2;
    const x2 = random() * 4 - 2;
    const city = cities[Math.floor(random() * cities.length)];
    const y = Math.sin(x1) + 0.5 * x2 + cities.indexOf(city) * 0.3 + (random() - 0.5) * 0.2;
    lines.push([random() < 0.1 ? '' : x1.toFixed(4), x2.toFixed(4), random() < 0.05 ? '' : city, y.toFixed(5)].join(','));
  }
  return lines.join('\n') + '\n';
}

describe.each([
  {
    name: 'binary classification',
    trainCsv: binaryClassificationCsv(1500, 1),
    validationCsv: binaryClassificationCsv(400, 2),
    target: 'label',
    width: 2,
  },
  {
    name: 'multi-class classification',
    trainCsv: multiclassCsv(1500, 3),
    validationCsv: multiclassCsv(400, 4),
    target: 'species',
    width: 3,
  },
  { name: 'regression', trainCsv: unitRegressionCsv(1500, 5), validationCsv: unitRegressionCsv(400, 6), target: 'y', width: 1 },
])('$name', ({ trainCsv, validationCsv, target, width }) => {
  let run: Run;
  let card: ModelCard;
  let runtime: ModelRuntime;

  beforeAll(async () => {
    run = await train(trainCsv, validationCsv, ['--target', target, ...FAST]);
    expectSuccess(run);
    card = readCard(run);
    runtime = await loadRuntime(run, card);
  });

  it('writes a model card of the MLP contract, framework xgboost, and the booster beside model.onnx', () => {
    expect(card).toMatchObject({ formatVersion: 2, target, framework: 'xgboost', device: 'cpu', epochs: 40 });
    expect(card.xgboostVersion).toMatch(/^\d+\.\d+/);
    expect(card.hyperparameters).toMatchObject({ trainer: 'xgboost', num_round: 40, max_depth: 4, eta: 0.1 });
    expect(fs.existsSync(path.join(run.modelDir, 'xgboost-model.json'))).toBe(true);
    expect(fs.existsSync(path.join(run.outputDir, 'failure'))).toBe(false);
  });

  it('logs a line per round and the metric lines the pipeline parses', () => {
    expect(run.stdout).toMatch(/^epoch=40 train_loss=[0-9.]+ validation_loss=[0-9.]+$/m);
    expect(run.stdout).toMatch(/\bmax_epochs=40\b/);
    for (const [name, value] of Object.entries(card.validationMetrics)) {
      expect(run.stdout).toContain(`validation_${name}=${value.toFixed(6)}`);
    }
  });

  it('has the raw-feature inputs and the output the MLP graph has', async () => {
    const session = await ort.InferenceSession.create(path.join(run.modelDir, 'model.onnx'));
    const categorical = card.features.filter((f) => f.type === 'categorical').map((f) => f.name);
    expect(session.inputNames).toEqual([...(card.features.some((f) => f.type === 'numeric') ? ['numeric'] : []), ...categorical]);
    expect(session.outputNames).toEqual([card.task === 'classification' ? 'probabilities' : 'value']);
    const out = await runtime.predict(randomInstances(card, parseCsv(trainCsv), 3, 7));
    expect(out).toHaveLength(3);
    if (card.task === 'classification') expect(Object.keys((out[0] as { probabilities: object }).probabilities)).toHaveLength(width);
  });

  it("equals XGBoost's own predictions to 1e-5 on random inputs with missing values, +-inf and unknown categories", async () => {
    const instances = randomInstances(card, parseCsv(trainCsv), 1000, 11);
    const expected = await xgboostPredictions(run, card, instances);
    const actual = await onnxPredictions(runtime, card, instances);
    expect(maxAbsDifference(actual, expected)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('scores the validation split as the card says', async () => {
    const rows = parseCsv(validationCsv);
    const actual = await onnxPredictions(runtime, card, rows);
    if (card.task === 'regression') {
      const rmse = Math.sqrt(actual.reduce((s, [v], i) => s + (v - Number(rows[i][target])) ** 2, 0) / rows.length);
      expect(rmse).toBeCloseTo(card.validationMetrics.rmse, 5);
    } else {
      const classes = card.classes ?? [];
      const correct = actual.filter((p, i) => classes[p.indexOf(Math.max(...p))] === rows[i][target]).length;
      expect(correct / rows.length).toBeCloseTo(card.validationMetrics.accuracy, 6);
    }
  });
});

describe('the graph itself', () => {
  it('reads +-inf as missing and any string outside the categories as unknown, like ""', async () => {
    const run = await train(binaryClassificationCsv(800, 8), binaryClassificationCsv(200, 9), ['--target', 'label', ...FAST]);
    expectSuccess(run);
    const session = await ort.InferenceSession.create(path.join(run.modelDir, 'model.onnx'));
    const feed = (x1: number, color: string) => ({
      numeric: new ort.Tensor('float32', Float32Array.from([x1, 0.5, -0.2]), [1, 3]),
      color: new ort.Tensor('string', [color], [1, 1]),
    });
    const probability = async (x1: number, color: string) =>
      Array.from((await session.run(feed(x1, color))).probabilities.data as Float32Array);
    const missing = await probability(NaN, '');
    expect(await probability(Infinity, '')).toEqual(missing);
    expect(await probability(-Infinity, 'purple')).toEqual(missing);
  });
});

describe('a categorical feature named like an output of the graph', () => {
  it('keeps the index contract (formatVersion 1), which ModelRuntime scores exactly as XGBoost', async () => {
    const rename = (csv: string) => csv.replace(/^(.*)\bcolor\b/, '$1value');
    const trainCsv = rename(binaryClassificationCsv(1000, 12));
    const run = await train(trainCsv, rename(binaryClassificationCsv(300, 13)), ['--target', 'label', ...FAST]);
    expectSuccess(run);
    const card = readCard(run);
    expect(card.formatVersion).toBe(1);
    expect(run.stdout).toContain('the category lookup stays outside the graph');
    const runtime = await loadRuntime(run, card);
    const instances = randomInstances(card, parseCsv(trainCsv), 500, 14);
    const expected = await xgboostPredictions(run, card, instances);
    expect(maxAbsDifference(await onnxPredictions(runtime, card, instances), expected)).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe('failures', () => {
  const csv = binaryClassificationCsv(200, 15);

  it('names a bad XGBoost hyperparameter', async () => {
    const run = await train(csv, csv, ['--target', 'label', '--trainer', 'xgboost', '--max_depth', '-1']);
    expect(run.code).toBe(1);
    expect(fs.readFileSync(path.join(run.outputDir, 'failure'), 'utf8')).toBe(
      'hyperparameter max_depth must be 0 (chosen from the data size) or more, got -1\n',
    );
  });

  it('chooses the tree depth from the train rows when max_depth is 0 (the default), and records it', async () => {
    const depth = async (rows: number) => {
      const run = await train(binaryClassificationCsv(rows, 16), csv, ['--target', 'label', '--trainer', 'xgboost', '--num_round', '5']);
      expect(run.code).toBe(0);
      return (JSON.parse(fs.readFileSync(path.join(run.modelDir, 'model-card.json'), 'utf8')) as ModelCard).hyperparameters.max_depth;
    };
    expect(await depth(9_999)).toBe(3);
    expect(await depth(10_000)).toBe(6);
  });

  it('names an unknown trainer and the ones there are', async () => {
    const run = await train(csv, csv, ['--target', 'label', '--trainer', 'lightgbm']);
    expect(run.code).toBe(1);
    expect(fs.readFileSync(path.join(run.outputDir, 'failure'), 'utf8')).toBe(
      "hyperparameter trainer must be one of mlp, xgboost, auto, got 'lightgbm'\n",
    );
  });
});
