/**
 * The environment a local training job's process gets: what SageMaker's training contract gives a
 * container (the SM_* variables, built by local/trainer.ts), and from the user's shell only what
 * running Python needs (PATH, HOME, locale, temp folder, PYTHON*, library paths, MLOOP_PYTHON*).
 * Training code, ours or a user's, runs with the user's rights; it does not also get the user's
 * AWS credentials or other secrets of the shell, unless MLOOP_TRAINER_AWS_ENV=1 asks to pass the
 * AWS_* variables (for code that reads AWS itself, as a job with a role would on AWS).
 */

/** Variables of the parent's environment passed by name. */
const PASSED = new Set([
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'TMPDIR',
  'TEMP',
  'TMP',
  'TZ',
  'LANG',
  'LANGUAGE',
  'LD_LIBRARY_PATH',
  'DYLD_LIBRARY_PATH',
  'VIRTUAL_ENV',
  'CUDA_VISIBLE_DEVICES',
  'OMP_NUM_THREADS',
  'MKL_NUM_THREADS',
  // Windows needs these to start any process.
  'SYSTEMROOT',
  'WINDIR',
  'COMSPEC',
  'PATHEXT',
]);

/** Variables passed by prefix: locale, Python's own, and mloop's choice of interpreter. */
const PASSED_PREFIXES = ['LC_', 'PYTHON', 'MLOOP_PYTHON'];

/** The opt-in that passes the shell's AWS_* variables to the training process. */
export const TRAINER_AWS_ENV = 'MLOOP_TRAINER_AWS_ENV';

/** The training process's environment: the contract's variables over what Python needs of `parent`. */
export function trainerEnvironment(parent: NodeJS.ProcessEnv, contract: Record<string, string>): NodeJS.ProcessEnv {
  const passAws = parent[TRAINER_AWS_ENV] === '1' || parent[TRAINER_AWS_ENV] === 'true';
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined) continue;
    const upper = name.toUpperCase();
    if (PASSED.has(upper) || PASSED_PREFIXES.some((p) => upper.startsWith(p)) || (passAws && upper.startsWith('AWS_'))) env[name] = value;
  }
  return { ...env, ...contract };
}
