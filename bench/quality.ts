/**
 * Model quality benchmark (`npm run bench -- quality [--tables=penguins,cars] [--splits=2]`): mloop's
 * trainers against the standard baselines on public tables, on the same seeded 80/10/10 splits.
 *
 * - Data: vega-datasets from the npm registry, pinned (VEGA_VERSION), fetched once with `npm pack`
 *   into .mloop/cache (gitignored) when it is not there. Tables and their targets: see
 *   bench/quality_helper.py TABLES (date columns become numeric date parts, as ingestion derives
 *   them; identifiers and leaking columns are left out).
 * - mloop: training/train.py with trainer=mlp, xgboost and auto, each run as the local runner runs
 *   it (script mode: channels train/ and validation/ with schema.json, SM_* variables), default
 *   hyperparameters; the model.onnx each writes is scored on the test split by the serving path
 *   (ModelRuntime, onnxruntime-node) from the raw test rows.
 * - Baselines (bench/quality_helper.py baselines): scikit-learn's HistGradientBoosting, XGBoost's
 *   defaults and a linear model (logistic / ridge regression on imputed, standardized numbers and
 *   one-hot categories), fit on the train split (they do not use the validation split: HGB does
 *   its own early stopping split on large data); skipped with a note when scikit-learn is missing.
 * - Metrics on the test split, all by train.py's metric functions: accuracy, macro-F1 and log loss
 *   (classification), RMSE and R² (regression); `seconds` is the trainer's own time (the card's
 *   trainingSeconds: reading the CSV, training, export) or the baseline's fit time.
 *
 * It prints a table (mean ± std over the splits) on stderr and returns every figure.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'csv-parse/sync';
import { ModelRuntime } from '../lambdas/shared/model-runtime';
import type { ModelCard } from '../lambdas/shared/types';
import { REPO_ROOT } from '../lib/function-catalog';
import { findPython } from '../local/python';

const VEGA_VERSION = '3.2.1';
// Under .mloop/ (the local runtime's folder), which git, eslint, tsc and prettier all leave alone.
const CACHE = path.join(REPO_ROOT, '.mloop', 'cache');
const HELPER = path.join(__dirname, 'quality_helper.py');
const TRAIN_PY = path.join(REPO_ROOT, 'training', 'train.py');
const TABLES = ['penguins', 'seattle-weather', 'cars', 'movies', 'birdstrikes', 'flights-200k'];
const TRAINERS = ['auto', 'mlp', 'xgboost'] as const;
const SPLITS = 5;

type Metrics = Record<string, number>;
type Runs = Record<string, Metrics[]>;

function exec(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { ...options, maxBuffer: 256 * 1024 * 1024, timeout: 3_600_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${[command, ...args].join(' ')} failed: ${error.message}\n${String(stderr).slice(-3000)}`));
      else resolve(String(stdout));
    });
  });
}

function lastJson<T>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}

/** The data folder of vega-datasets VEGA_VERSION, fetched with `npm pack` into .mloop/cache when absent. */
async function vegaData(): Promise<string> {
  const root = path.join(CACHE, `vega-datasets-${VEGA_VERSION}`);
  const data = path.join(root, 'package', 'data');
  if (fs.existsSync(path.join(data, 'flights-200k.json'))) return data;
  fs.mkdirSync(root, { recursive: true });
  process.stderr.write(`  fetching vega-datasets@${VEGA_VERSION} from the npm registry into ${root}...\n`);
  const packed = (await exec('npm', ['pack', `vega-datasets@${VEGA_VERSION}`, '--silent'], { cwd: root })).trim().split('\n').pop()!;
  await exec('tar', ['xzf', path.join(root, packed), '-C', root]);
  fs.rmSync(path.join(root, packed), { force: true });
  if (!fs.existsSync(path.join(data, 'flights-200k.json')))
    throw new Error(`vega-datasets@${VEGA_VERSION} unpacked into ${root} has no data/flights-200k.json`);
  return data;
}

/** `--name=value` from the command line (bench/index.ts passes the rest of argv through). */
function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

async function trainAndScore(python: string, dir: string, trainer: (typeof TRAINERS)[number]): Promise<Metrics> {
  const root = path.join(dir, `run-${trainer}`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SM_CHANNEL_TRAIN: path.join(dir, 'train'),
    SM_CHANNEL_VALIDATION: path.join(dir, 'validation'),
    SM_MODEL_DIR: path.join(root, 'model'),
    SM_OUTPUT_DIR: path.join(root, 'output'),
    SM_INPUT_CONFIG_DIR: path.join(root, 'config'),
    PYTHONUNBUFFERED: '1',
  };
  delete env.SM_HPS;
  delete env.SM_CHECKPOINT_DIR;
  await exec(python, [TRAIN_PY, '--trainer', trainer], { env });
  const cardFile = path.join(root, 'model', 'model-card.json');
  const card = JSON.parse(fs.readFileSync(cardFile, 'utf8')) as ModelCard & { trainer?: string };
  const runtime = await ModelRuntime.load(fs.readFileSync(path.join(root, 'model', 'model.onnx')), card);
  const rows = parse(fs.readFileSync(path.join(dir, 'test.csv')), { columns: true }) as Record<string, string>[];
  const predictions = await runtime.predict(rows);
  const output = predictions.map((p) => ('value' in p ? [p.value] : (card.classes ?? []).map((c) => p.probabilities[c])));
  const file = path.join(root, 'predictions.json');
  fs.writeFileSync(file, JSON.stringify(output));
  const metrics = lastJson<Metrics>(await exec(python, [HELPER, 'score', '--out', dir, '--predictions', file, '--card', cardFile]));
  const result: Metrics = { ...metrics, seconds: card.trainingSeconds };
  // auto: which trainer won (1 = the trees), for the table's note.
  if (trainer === 'auto') result.kept_xgboost = card.trainer === 'xgboost' ? 1 : 0;
  return result;
}

function meanStd(values: number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.length > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, std: Math.sqrt(variance) };
}

const HIGHER_IS_BETTER: Record<string, boolean> = { accuracy: true, macro_f1: true, log_loss: false, rmse: false, r2: true };

function summarize(
  runs: Runs,
  task: string,
): { summary: Record<string, Record<string, { mean: number; std: number }>>; goal: Record<string, string> } {
  const metrics = task === 'classification' ? ['accuracy', 'macro_f1', 'log_loss', 'seconds'] : ['rmse', 'r2', 'seconds'];
  const summary: Record<string, Record<string, { mean: number; std: number }>> = {};
  for (const [model, list] of Object.entries(runs)) {
    summary[model] = {};
    for (const m of [...metrics, 'kept_xgboost']) {
      const values = list.map((r) => r[m]).filter((v) => typeof v === 'number');
      if (values.length > 0) summary[model][m] = meanStd(values);
    }
  }
  // The goal: auto at or above the best baseline's mean, or within one of auto's standard deviations.
  const goal: Record<string, string> = {};
  const baselines = Object.keys(runs).filter((m) => !TRAINERS.includes(m as (typeof TRAINERS)[number]));
  for (const m of metrics.filter((x) => x !== 'seconds')) {
    if (!summary.auto?.[m] || baselines.length === 0) continue;
    const sign = HIGHER_IS_BETTER[m] ? 1 : -1;
    const best = baselines.map((b) => ({ b, ...summary[b][m] })).sort((x, y) => sign * (y.mean - x.mean))[0];
    const { mean, std } = summary.auto[m];
    const gap = sign * (mean - best.mean);
    goal[m] =
      gap >= 0
        ? `met (best baseline ${best.b})`
        : -gap <= std
          ? `within 1 std of ${best.b}`
          : `missed: ${best.b} better by ${(-gap).toPrecision(3)}`;
  }
  return { summary, goal };
}

function format(summary: Record<string, Record<string, { mean: number; std: number }>>, task: string): string {
  const metrics = task === 'classification' ? ['accuracy', 'macro_f1', 'log_loss', 'seconds'] : ['rmse', 'r2', 'seconds'];
  const digits = (m: string, v: number) => (m === 'seconds' ? v.toFixed(2) : Math.abs(v) >= 10 ? v.toFixed(2) : v.toFixed(3));
  const lines = [`| model | ${metrics.join(' | ')} |`, `| --- | ${metrics.map(() => '---').join(' | ')} |`];
  for (const [model, values] of Object.entries(summary)) {
    lines.push(
      `| ${model} | ${metrics.map((m) => (values[m] ? `${digits(m, values[m].mean)} ± ${digits(m, values[m].std)}` : '—')).join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

export async function run(): Promise<unknown> {
  const python = await findPython();
  const tables = option('tables')?.split(',') ?? TABLES;
  const unknown = tables.filter((t) => !TABLES.includes(t));
  if (unknown.length > 0) throw new Error(`--tables: no table ${unknown.join(', ')} (there are: ${TABLES.join(', ')})`);
  const splits = Number(option('splits') ?? SPLITS);
  if (!Number.isInteger(splits) || splits < 1) throw new Error(`--splits must be a positive integer, got ${option('splits')}`);
  const data = await vegaData();
  const results: Record<string, unknown> = {};
  const notes = new Set<string>();
  for (const table of tables) {
    const runs: Runs = {};
    let task = '';
    for (let seed = 0; seed < splits; seed++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mloop-quality-${table}-`));
      try {
        process.stderr.write(`  ${table}, split ${seed + 1}/${splits}...\n`);
        const prepared = lastJson<{ task: string }>(
          await exec(python, [HELPER, 'prepare', '--data', data, '--table', table, '--seed', String(seed), '--out', dir]),
        );
        task = prepared.task;
        for (const trainer of TRAINERS) (runs[trainer] ??= []).push(await trainAndScore(python, dir, trainer));
        const baselines = lastJson<Record<string, Metrics> & { note?: string }>(await exec(python, [HELPER, 'baselines', '--out', dir]));
        if (typeof baselines.note === 'string') notes.add(baselines.note);
        else for (const [name, metrics] of Object.entries(baselines)) if (typeof metrics !== 'string') (runs[name] ??= []).push(metrics);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    const { summary, goal } = summarize(runs, task);
    process.stderr.write(
      `\n${table} (${task}, ${splits} splits)\n${format(summary, task)}\nauto against the best baseline: ${JSON.stringify(goal)}\n\n`,
    );
    results[table] = { task, splits, summary, goal };
  }
  return { vegaDatasets: VEGA_VERSION, machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model }, tables: results, notes: [...notes] };
}
