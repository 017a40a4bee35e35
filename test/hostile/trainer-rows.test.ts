/**
 * Issue 18, finding 6 (the trainer's part): the trainer holds its channels in memory, so it reads at
 * most `max_rows` rows per channel (a hyperparameter, 10,000,000 by default, sized for the default
 * ml.g5.xlarge); a channel with more stops the job with a TrainingError naming the channel, the
 * limit and the hyperparameter, before the rows past it are kept. Both trainers know the name.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../../lib/function-catalog';
import { findPython } from '../../local/python';
import { tempDir } from '../helpers/cloud';

jest.setTimeout(120_000);

const csv = (rows: number): string =>
  ['x,color,label', ...Array.from({ length: rows }, (_, i) => `${i % 13},${['red', 'blue'][i % 2]},${i % 2}`)].join('\n') + '\n';

async function trainPy(
  script: string,
  train: string,
  hyperparameters: Record<string, string>,
): Promise<{ code: number | null; failure: string | null; stderr: string }> {
  const root = tempDir('trainer-rows');
  const dirs = {
    train: path.join(root, 'input', 'data', 'train'),
    validation: path.join(root, 'input', 'data', 'validation'),
    config: path.join(root, 'input', 'config'),
    model: path.join(root, 'model'),
    output: path.join(root, 'output'),
  };
  for (const dir of Object.values(dirs)) fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dirs.train, 'train.csv'), train);
  fs.writeFileSync(path.join(dirs.validation, 'validation.csv'), csv(20));
  fs.writeFileSync(path.join(dirs.config, 'hyperparameters.json'), JSON.stringify(hyperparameters));
  const python = await findPython();
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    SM_CHANNEL_TRAIN: dirs.train,
    SM_CHANNEL_VALIDATION: dirs.validation,
    SM_MODEL_DIR: dirs.model,
    SM_OUTPUT_DIR: dirs.output,
    SM_INPUT_CONFIG_DIR: dirs.config,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(python, [path.join(REPO_ROOT, 'training', script)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const file = path.join(dirs.output, 'failure');
      resolve({ code, failure: fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null, stderr });
    });
  });
}

test('a train channel over max_rows fails the job naming the channel, the limit and the hyperparameter', async () => {
  const run = await trainPy('train.py', csv(5000), { target: 'label', max_rows: '1000', epochs: '1' });
  expect(run.code).toBe(1);
  expect(run.failure).toMatch(
    /^the train channel has more than 1000 rows \(the limit was passed in train\.csv by line \d+\); raise the hyperparameter max_rows to train on more, or sample the data/,
  );
});

test('a channel within max_rows trains', async () => {
  const run = await trainPy('train.py', csv(200), { target: 'label', max_rows: '200', epochs: '1' });
  if (run.code !== 0) throw new Error(run.stderr);
  expect(run.failure).toBeNull();
});

test('max_rows must be at least 1', async () => {
  const run = await trainPy('train.py', csv(50), { target: 'label', max_rows: '0' });
  expect(run.code).toBe(1);
  expect(run.failure).toMatch(/hyperparameter max_rows must be at least 1, got 0/);
});
