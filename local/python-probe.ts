/**
 * Asking a Python interpreter what it is: its version, whether it imports numpy and torch (and
 * which files those are), whether torch sees CUDA, whether it can make a venv. One short run of
 * the interpreter on a probe script; local/probe-cache.ts remembers the answers across processes.
 */
import { spawn } from 'node:child_process';

/** What an interpreter says about itself. */
export interface PythonProbe {
  readonly python: string;
  /** It runs, and imports torch and numpy. */
  readonly ok: boolean;
  /** sys.version's first word, e.g. "3.11.2". */
  readonly version?: string;
  readonly torch?: string;
  readonly numpy?: string;
  /** torch.cuda.is_available(). */
  readonly cuda?: boolean;
  /** It can make a virtual environment with pip in it (venv and ensurepip import). */
  readonly venv?: boolean;
  /** Why it is not usable (it does not run, or what failed to import). */
  readonly detail?: string;
}

/** How long an interpreter may take to import torch (cold, on a slow disk). */
const PROBE_TIMEOUT_MS = 120_000;

export const PROBE_CODE = `
import json, sys
out = {"version": sys.version.split()[0]}
problems = []
try:
    import venv, ensurepip
    out["venv"] = True
except Exception:
    out["venv"] = False
files = []
try:
    import numpy
    out["numpy"] = numpy.__version__
    files.append(numpy.__file__)
except Exception as e:
    problems.append("numpy: %s" % e)
try:
    import torch
    out["torch"] = torch.__version__
    out["cuda"] = bool(torch.cuda.is_available())
    files.append(torch.__file__)
except Exception as e:
    problems.append("torch: %s" % e)
out["files"] = files
if problems:
    out["detail"] = "; ".join(problems)
print(json.dumps(out))
`;

/** Run `python` on the probe script: what it is and whether it imports torch and numpy. */
export async function probePython(python: string): Promise<PythonProbe> {
  return (await runProbe(python)).probe;
}

/** probePython, with the files of the modules it imported (what a remembered probe checks). */
export function runProbe(python: string): Promise<{ probe: PythonProbe; files: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(python, ['-c', PROBE_CODE], { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', (error) => {
      clearTimeout(timer);
      const detail = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : error.message;
      resolve({ probe: { python, ok: false, detail }, files: [] });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        const { files, ...parsed } = JSON.parse(line) as Omit<PythonProbe, 'python' | 'ok'> & { files?: string[] };
        resolve({ probe: { python, ok: parsed.torch !== undefined && parsed.numpy !== undefined, ...parsed }, files: files ?? [] });
      } catch {
        const last = stderr.trim().split('\n').pop();
        resolve({ probe: { python, ok: false, detail: last || `exited with ${code ?? 'a signal'} without answering` }, files: [] });
      }
    });
  });
}
