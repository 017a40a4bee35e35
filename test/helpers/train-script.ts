/**
 * Runs training/train.py as SageMaker's script mode would (channels, model and output folders in
 * SM_* variables), on CSV text, in a folder of the caller's; for the tests of the trainers.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelCard } from '../../lambdas/shared/types';
import { findPython } from '../../local/python';

export const TRAINING = path.resolve(__dirname, '..', '..', 'training');

export interface ScriptRun {
  code: number | null;
  stdout: string;
  stderr: string;
  modelDir: string;
  outputDir: string;
}

export function spawnPython(
  args: string[],
  env: NodeJS.ProcessEnv,
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return findPython().then(
    (python) =>
      new Promise((resolve, reject) => {
        const child = spawn(python, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk) => (stdout += chunk));
        child.stderr.on('data', (chunk) => (stderr += chunk));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
        child.stdin.end(input ?? '');
      }),
  );
}

/** Runs train.py in `root` (created) on the given train and validation CSVs; `env` adds to the environment. */
export async function runTrainScript(
  root: string,
  trainCsv: string,
  validationCsv: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<ScriptRun> {
  const dirs = {
    train: path.join(root, 'train'),
    validation: path.join(root, 'validation'),
    model: path.join(root, 'model'),
    output: path.join(root, 'output'),
  };
  fs.mkdirSync(dirs.train, { recursive: true });
  fs.mkdirSync(dirs.validation, { recursive: true });
  fs.writeFileSync(path.join(dirs.train, 'train.csv'), trainCsv);
  fs.writeFileSync(path.join(dirs.validation, 'validation.csv'), validationCsv);
  const fullEnv: NodeJS.ProcessEnv = {
    ...process.env,
    SM_CHANNEL_TRAIN: dirs.train,
    SM_CHANNEL_VALIDATION: dirs.validation,
    SM_MODEL_DIR: dirs.model,
    SM_OUTPUT_DIR: dirs.output,
    SM_INPUT_CONFIG_DIR: path.join(root, 'config'),
    ...env,
  };
  delete fullEnv.SM_HPS;
  const result = await spawnPython([path.join(TRAINING, 'train.py'), ...args], fullEnv);
  return { ...result, modelDir: dirs.model, outputDir: dirs.output };
}

export function expectSuccess(run: ScriptRun): void {
  if (run.code !== 0) throw new Error(`train.py exited ${run.code}\n${run.stderr}\n${run.stdout.slice(-2000)}`);
}

export function readCard(run: ScriptRun): ModelCard {
  return JSON.parse(fs.readFileSync(path.join(run.modelDir, 'model-card.json'), 'utf8')) as ModelCard;
}
