/**
 * The Python interpreter the local runtime trains with: one that can import torch and numpy,
 * found or provisioned on first use (local/provision.ts). MLOOP_PYTHON overrides the search.
 *
 * On Debian the system interpreter (/usr/bin/python3, with `apt-get install python3-torch`) is
 * often the only one with torch, while the `python3` first on PATH may be a pyenv or venv Python
 * without it, so /usr/bin/python3 is tried first.
 */
import { defaultHost, probePython, resolveTrainingPython, type TrainingPython } from './provision';

/** Resolved interpreters by MLOOP_PYTHON value ('' when unset), so a search runs once per process. */
const cache = new Map<string, Promise<TrainingPython>>();

/**
 * The interpreter that can `import torch`: MLOOP_PYTHON if set, else the first candidate that can,
 * else one mloop sets up (its progress to `log`).
 */
export async function findPython(log?: (line: string) => void): Promise<string> {
  return (await findTrainingPython(log)).python;
}

/** findPython, with how the interpreter was found and what it reported. */
export function findTrainingPython(log?: (line: string) => void): Promise<TrainingPython> {
  const override = process.env.MLOOP_PYTHON?.trim() ?? '';
  let found = cache.get(override);
  if (!found) {
    found = resolveTrainingPython(defaultHost(), log);
    // A failed search is not cached: the user may install torch and try again in the same process.
    found.catch(() => cache.delete(override));
    cache.set(override, found);
  }
  return found;
}

/** torch.__version__ as the given interpreter reports it, e.g. "1.13.0a0" or "2.5.1+cu124". */
export async function torchVersion(python: string): Promise<string> {
  const probe = await probePython(python);
  if (probe.torch === undefined) throw new Error(`${python}: ${probe.detail ?? 'torch cannot be imported'}`);
  return probe.torch;
}
