/**
 * Issue 18 ("the local trainer gets only the environment the SageMaker contract defines"): a local
 * training job's process gets the SM_* variables and, of the user's shell, only what Python needs;
 * AWS credentials and other secrets of the shell stay out unless MLOOP_TRAINER_AWS_ENV=1 asks.
 * local/trainer.ts spawns the training script with trainerEnvironment(process.env, ...).
 */
import { spawnSync } from 'node:child_process';
import { findPython } from '../../local/python';
import { TRAINER_AWS_ENV, trainerEnvironment } from '../../local/trainer-env';

const shell = {
  PATH: '/usr/bin:/bin',
  HOME: '/home/u',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
  PYTHONPATH: '/opt/lib',
  MLOOP_PYTHON: '/usr/bin/python3',
  AWS_ACCESS_KEY_ID: 'AKIAUSER',
  AWS_SECRET_ACCESS_KEY: 'user-secret',
  AWS_SESSION_TOKEN: 'user-token',
  GITHUB_TOKEN: 'ghp_secret',
  SM_HPS: '{"planted":1}',
};

test('the trainer gets the contract and what Python needs, not the shell’s AWS credentials or other secrets', () => {
  const env = trainerEnvironment(shell, { SM_MODEL_DIR: '/job/model', SM_HPS: '{}' });
  expect(env).toEqual({
    PATH: '/usr/bin:/bin',
    HOME: '/home/u',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    PYTHONPATH: '/opt/lib',
    MLOOP_PYTHON: '/usr/bin/python3',
    SM_MODEL_DIR: '/job/model',
    SM_HPS: '{}',
  });
});

test(`${TRAINER_AWS_ENV}=1 passes the shell's AWS_* variables, and only those more`, () => {
  const env = trainerEnvironment({ ...shell, [TRAINER_AWS_ENV]: '1' }, {});
  expect(env.AWS_SECRET_ACCESS_KEY).toBe('user-secret');
  expect(env.AWS_SESSION_TOKEN).toBe('user-token');
  expect(env.GITHUB_TOKEN).toBeUndefined();
});

test('a Python child started with it sees no AWS_SECRET_ACCESS_KEY set in the parent, and runs', async () => {
  const python = await findPython();
  const parent = { ...process.env, AWS_SECRET_ACCESS_KEY: 'parent-secret', AWS_ACCESS_KEY_ID: 'AKIAPARENT' };
  const script = 'import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith("AWS_") or k == "SM_MODEL_DIR"}))';
  const child = spawnSync(python, ['-c', script], { env: trainerEnvironment(parent, { SM_MODEL_DIR: '/m' }), encoding: 'utf8' });
  expect(child.status).toBe(0);
  expect(JSON.parse(child.stdout)).toEqual({ SM_MODEL_DIR: '/m' });
});
