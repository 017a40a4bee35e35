/**
 * training/gpu_check.py (`npm run gpu-check`), smoke-tested on a tiny generated dataset. Without
 * CUDA (as here) it must still run, on the CPU only, say so, and end with its one JSON line; the
 * ONNX graph it exports from train.py's model is checked here with onnxruntime-node against the
 * PyTorch outputs it saved. Its figures are measurements for a GPU machine, not asserted here.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { REPO_ROOT } from '../lib/function-catalog';
import { findPython } from '../local/python';
import { tempDir } from './helpers/cloud';

jest.setTimeout(180_000);

const SCRIPT = path.join(REPO_ROOT, 'training', 'gpu_check.py');

interface DeviceFigures {
  device: string;
  epochs: number;
  seconds: number;
  samples_per_second: number;
  validation_accuracy: number;
}

interface GpuCheck {
  check: string;
  rows: number;
  features: number;
  cuda: boolean;
  gpu: DeviceFigures | null;
  cpu: DeviceFigures | null;
  gpu_cpu_speedup: number | null;
  onnx: { status: 'ok' | 'mismatch' | 'skipped'; max_abs_difference?: number; tolerance?: number; rows: number; reason?: string };
  notes: string[];
  xgboost: {
    version: string;
    cpu: DeviceFigures & { rounds: number; tree_method: string };
    gpu: (DeviceFigures & { rounds: number; tree_method: string }) | null;
    gpu_cpu_speedup: number | null;
  } | null;
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return findPython().then(
    (python) =>
      new Promise((resolve, reject) => {
        const child = spawn(python, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      }),
  );
}

let saveDir: string;
let result: GpuCheck;
let cudaHere: boolean;

beforeAll(async () => {
  saveDir = tempDir('gpu-check');
  const out = await run(['--rows', '2000', '--features', '10', '--epochs', '1', '--cpu-epochs', '1', '--save', saveDir]);
  if (out.code !== 0) throw new Error(`gpu_check.py exited ${out.code}: ${out.stderr}\n${out.stdout}`);
  const lines = out.stdout.trim().split('\n');
  result = JSON.parse(lines[lines.length - 1]) as GpuCheck;
  cudaHere = result.cuda;
});

afterAll(() => fs.rmSync(saveDir, { recursive: true, force: true }));

test('ends with one JSON line of figures for each device it trained on', () => {
  expect(result).toMatchObject({ check: 'mloop-gpu-check', rows: 2000, features: 10 });
  expect(result.cpu).toMatchObject({ device: 'cpu', epochs: 1 });
  expect(result.cpu!.samples_per_second).toBeGreaterThan(0);
  expect(result.cpu!.validation_accuracy).toBeGreaterThan(0);
  if (cudaHere) {
    expect(result.gpu).toMatchObject({ device: 'cuda', epochs: 1 });
    expect(result.gpu_cpu_speedup).toBeCloseTo(result.gpu!.samples_per_second / result.cpu!.samples_per_second, 1);
  } else {
    expect(result.gpu).toBeNull();
    expect(result.gpu_cpu_speedup).toBeNull();
  }
});

test('without CUDA, says it trained on the CPU only', () => {
  if (cudaHere) return; // a CUDA machine has its GPU figures instead
  expect(result.notes).toContain('CUDA is not available: trained on the CPU only, no GPU figures');
});

test('times the trees trainer on the same data, on CUDA beside the CPU when there is one', () => {
  // xgboost is installed wherever these tests run (the trees trainer's own tests need it).
  expect(result.xgboost).not.toBeNull();
  const trees = result.xgboost!;
  expect(trees.cpu).toMatchObject({ device: 'cpu', rounds: 50, tree_method: 'hist' });
  expect(trees.cpu.samples_per_second).toBeGreaterThan(0);
  expect(trees.cpu.validation_accuracy).toBeGreaterThan(0.6); // a learnable target, learned
  if (cudaHere) {
    expect(trees.gpu).toMatchObject({ device: 'cuda', rounds: 50 });
    expect(trees.gpu_cpu_speedup).toBeCloseTo(trees.gpu!.samples_per_second / trees.cpu.samples_per_second, 1);
  } else {
    expect(trees.gpu).toBeNull();
    expect(trees.gpu_cpu_speedup).toBeNull();
  }
});

test('compares ONNX with PyTorch when onnxruntime imports, and says why when it does not', () => {
  if (result.onnx.status === 'skipped') {
    expect(result.onnx.reason).toMatch(/onnxruntime cannot be imported/);
    expect(result.notes.some((n) => n.startsWith('ONNX comparison skipped'))).toBe(true);
  } else {
    expect(result.onnx.status).toBe('ok');
    expect(result.onnx.max_abs_difference!).toBeLessThanOrEqual(result.onnx.tolerance!);
  }
});

test('exports a graph whose outputs in onnxruntime-node match the PyTorch outputs it saved (unknown categories and gaps included)', async () => {
  const check = JSON.parse(fs.readFileSync(path.join(saveDir, 'check.json'), 'utf8')) as {
    numeric: (number | null)[][];
    categorical_features: string[];
    categorical: string[][];
    probabilities: number[][];
  };
  const session = await ort.InferenceSession.create(path.join(saveDir, 'model.onnx'));
  // The graph takes raw category strings, one input per categorical feature, named by it.
  expect(session.inputNames).toEqual(['numeric', ...check.categorical_features]);
  const rows = check.numeric.length;
  const numeric = new Float32Array(check.numeric.flat().map((v) => (v === null ? NaN : v)));
  expect(check.numeric.flat().some((v) => v === null)).toBe(true);
  expect(check.categorical.some((row) => row[0] === '')).toBe(true); // missing
  expect(check.categorical.some((row) => row[row.length - 1] === 'v12')).toBe(true); // unseen
  const feeds: Record<string, ort.Tensor> = { numeric: new ort.Tensor('float32', numeric, [rows, check.numeric[0].length]) };
  check.categorical_features.forEach((name, j) => {
    feeds[name] = new ort.Tensor(
      'string',
      check.categorical.map((row) => row[j]),
      [rows, 1],
    );
  });
  const out = await session.run(feeds);
  const got = out.probabilities.data as Float32Array;
  const expected = check.probabilities.flat();
  expect(got.length).toBe(expected.length);
  const worst = Math.max(...expected.map((e, i) => Math.abs(e - got[i])));
  expect(worst).toBeLessThan(1e-4);
});

test('rejects sizes it cannot run with exit code 2', async () => {
  const out = await run(['--rows', '10']);
  expect(out.code).toBe(2);
  expect(out.stderr).toContain('need --rows >= 100');
});
