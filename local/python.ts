/**
 * Finds the Python interpreter the local runtime trains with: the one that can `import torch`.
 *
 * On Debian the system interpreter (/usr/bin/python3, with `apt-get install python3-torch`) is
 * often the only one with torch, while the `python3` first on PATH may be a pyenv or venv Python
 * without it, so /usr/bin/python3 is tried first. MLOOP_PYTHON overrides the search.
 */
import { execFile } from 'node:child_process';

/** Importing torch cold can take several seconds on a slow disk. */
const PROBE_TIMEOUT_MS = 120_000;

const CANDIDATES = ['/usr/bin/python3', 'python3', 'python'];

/** Resolved interpreters by MLOOP_PYTHON value ('' when unset), so a probe runs once per process. */
const cache = new Map<string, Promise<string>>();

function runPython(python: string, code: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(python, ['-c', code], { timeout: PROBE_TIMEOUT_MS, windowsHide: true }, (error, stdout, stderr) => {
      if (error) {
        const detail = String(stderr).trim().split('\n').pop() || error.message;
        reject(new Error(`${python}: ${detail}`));
      } else {
        resolve(String(stdout).trim());
      }
    });
  });
}

async function canImportTorch(python: string): Promise<boolean> {
  try {
    await runPython(python, 'import torch');
    return true;
  } catch {
    return false;
  }
}

async function search(override: string): Promise<string> {
  if (override) {
    try {
      await runPython(override, 'import torch');
      return override;
    } catch (error) {
      throw new Error(
        `MLOOP_PYTHON=${override} cannot import torch (${(error as Error).message}). ` +
          'Point MLOOP_PYTHON at an interpreter with PyTorch installed, or unset it to search ' +
          `${CANDIDATES.join(', ')}.`,
      );
    }
  }
  for (const python of CANDIDATES) {
    if (await canImportTorch(python)) return python;
  }
  throw new Error(
    `PyTorch (torch) was not found: none of ${CANDIDATES.join(', ')} can import torch. ` +
      'Install it (on Debian or Ubuntu: apt-get install python3-torch; elsewhere: pip install torch numpy), ' +
      'or set MLOOP_PYTHON to a Python interpreter that has it.',
  );
}

/** The interpreter that can `import torch`: MLOOP_PYTHON if set, else the first candidate that can. */
export function findPython(): Promise<string> {
  const override = process.env.MLOOP_PYTHON?.trim() ?? '';
  let found = cache.get(override);
  if (!found) {
    found = search(override);
    // A failed search is not cached: the user may install torch and try again in the same process.
    found.catch(() => cache.delete(override));
    cache.set(override, found);
  }
  return found;
}

/** torch.__version__ as the given interpreter reports it, e.g. "1.13.0a0" or "2.5.1+cu124". */
export function torchVersion(python: string): Promise<string> {
  return runPython(python, 'import torch; print(torch.__version__)');
}
