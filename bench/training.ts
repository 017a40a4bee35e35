/**
 * Training benchmarks (`npm run bench -- training`), on the CPU with the local interpreter:
 *
 * - local training time and peak memory of train.py for 10k, 100k and (with MLOOP_BENCH_LARGE=1)
 *   1M-row datasets, run under the script-mode environment the local runner gives it (channels
 *   with the pipeline's 80/10 train/validation shares, SM_* variables), with a fixed number of
 *   epochs and early stopping off so that sizes compare: wall time, the part spent reading the
 *   CSV, seconds per epoch, the trainer process's peak resident memory;
 * - the trainer's overhead: one epoch of train.py's fit() against a bare PyTorch loop over the
 *   same tensors in the same process (bench/training_helper.py epoch), as a ratio.
 *
 * Datasets: 8 numeric features (2% missing) and 2 categorical ones, a binary target.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../lib/function-catalog';
import { findPython, torchVersion } from '../local/python';
import { prng } from '../local/demo-data';

const HELPER = path.join(__dirname, 'training_helper.py');
const TRAIN_PY = path.join(REPO_ROOT, 'training', 'train.py');
const EPOCHS = 10;

/** Write `rows` rows as train.csv (80%) and validation.csv (10%) channels, as ingest splits them. */
function writeChannels(dir: string, rows: number, seed: number): void {
  const random = prng(seed);
  const header = 'n0,n1,n2,n3,n4,n5,n6,n7,color,size,label\n';
  const colors = ['red', 'green', 'blue', 'black'];
  const sizes = ['s', 'm', 'l'];
  const channels = { train: Math.round(rows * 0.8), validation: Math.round(rows * 0.1) };
  for (const [channel, count] of Object.entries(channels)) {
    fs.mkdirSync(path.join(dir, channel), { recursive: true });
    const fd = fs.openSync(path.join(dir, channel, `${channel}.csv`), 'w');
    fs.writeSync(fd, header);
    let chunk: string[] = [];
    for (let i = 0; i < count; i++) {
      const x = Array.from({ length: 8 }, () => random() * 2 - 1);
      const color = Math.floor(random() * colors.length);
      const size = Math.floor(random() * sizes.length);
      const score = x[0] + 0.5 * x[1] - 0.7 * x[2] * x[3] + (color === 2 ? 0.6 : 0) - (size === 0 ? 0.4 : 0) + (random() - 0.5) * 0.4;
      const cells = x.map((v) => (random() < 0.02 ? '' : v.toFixed(4)));
      chunk.push(`${cells.join(',')},${colors[color]},${sizes[size]},${score > 0 ? 1 : 0}`);
      if (chunk.length === 10_000) {
        fs.writeSync(fd, chunk.join('\n') + '\n');
        chunk = [];
      }
    }
    if (chunk.length > 0) fs.writeSync(fd, chunk.join('\n') + '\n');
    fs.closeSync(fd);
  }
}

function runJson<T>(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, maxBuffer: 64 * 1024 * 1024, timeout: 3_600_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${path.basename(args[0] ?? command)} failed: ${error.message}\n${String(stderr).slice(-2000)}`));
      const lines = String(stdout).trim().split('\n');
      try {
        resolve(JSON.parse(lines[lines.length - 1]) as T);
      } catch {
        reject(new Error(`no JSON line from ${args.join(' ')}: ${String(stdout).slice(-500)}`));
      }
    });
  });
}

interface TrainingRun {
  exit_code: number;
  seconds: number;
  read_seconds: number | null;
  epochs: number;
  epoch_seconds: number | null;
  peak_rss_mb: number;
  tail: string[];
}

async function trainingRun(python: string, rows: number): Promise<TrainingRun & { rows: number }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `mloop-bench-${rows}-`));
  try {
    const data = path.join(root, 'input', 'data');
    writeChannels(data, rows, rows);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SM_CHANNEL_TRAIN: path.join(data, 'train'),
      SM_CHANNEL_VALIDATION: path.join(data, 'validation'),
      SM_MODEL_DIR: path.join(root, 'model'),
      SM_OUTPUT_DIR: path.join(root, 'output'),
      SM_INPUT_CONFIG_DIR: path.join(root, 'input', 'config'),
      SM_CHECKPOINT_DIR: path.join(root, 'checkpoints'),
      PYTHONUNBUFFERED: '1',
    };
    delete env.SM_HPS;
    for (const dir of [env.SM_MODEL_DIR!, env.SM_OUTPUT_DIR!]) fs.mkdirSync(dir, { recursive: true });
    const result = await runJson<TrainingRun>(
      python,
      [HELPER, 'measure', '--', python, TRAIN_PY, '--target', 'label', '--epochs', String(EPOCHS), '--patience', '0'],
      env,
    );
    if (result.exit_code !== 0) throw new Error(`train.py failed on ${rows} rows: ${result.tail.join(' | ')}`);
    return { rows, ...result };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export async function run(): Promise<unknown> {
  const python = await findPython();
  const large = process.env.MLOOP_BENCH_LARGE === '1';
  const sizes = [10_000, 100_000, ...(large ? [1_000_000] : [])];
  const training = [];
  for (const rows of sizes) {
    process.stderr.write(`  train.py on ${rows} rows, ${EPOCHS} epochs...\n`);
    training.push(await trainingRun(python, rows));
  }
  const overhead = [];
  for (const rows of large ? [100_000, 1_000_000] : [100_000]) {
    process.stderr.write(`  one epoch of fit() against a bare loop, ${rows} rows...\n`);
    overhead.push(
      await runJson<Record<string, unknown>>(python, [HELPER, 'epoch', '--rows', String(rows), '--features', '10', '--repeats', '3']),
    );
  }
  return {
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, python, torch: await torchVersion(python) },
    epochs: EPOCHS,
    training: training.map(({ tail: _tail, exit_code: _code, ...rest }) => rest),
    epochOverhead: overhead,
    note: large ? undefined : '1M rows only with MLOOP_BENCH_LARGE=1',
  };
}
