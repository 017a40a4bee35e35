/**
 * Probes of training interpreters, remembered across processes: a probe imports torch (about a
 * second of CPU), and every mloop command that trains would otherwise pay it again before the
 * training itself imports torch. A remembered answer is used only while the interpreter and the
 * files of the modules it imported (torch's and numpy's `__init__.py`) are the ones it was made
 * from; an interpreter that cannot train is asked again every time (its user may be installing
 * torch right now).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PROBE_CODE, runProbe, type PythonProbe } from './python-probe';

interface FileStamp {
  readonly file: string;
  readonly size: number;
  readonly mtimeMs: number;
}

interface Remembered {
  readonly probe: PythonProbe;
  readonly files: readonly FileStamp[];
}

function stamp(file: string): FileStamp | undefined {
  try {
    const stat = fs.statSync(file);
    return { file, size: stat.size, mtimeMs: stat.mtimeMs };
  } catch {
    return undefined;
  }
}

function realpath(file: string): string {
  try {
    return fs.realpathSync.native(file);
  } catch {
    return file;
  }
}

function same(a: FileStamp | undefined, b: FileStamp): boolean {
  return a !== undefined && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/**
 * A probe function that remembers the usable interpreters' answers under `<cacheDir>/probes/`.
 * `resolve` turns a name as tried (`python3`) into the file it runs (undefined: not found, and
 * then it is probed as it is). `probe` is the real probe (a stand-in in tests).
 */
export function rememberedProbe(
  cacheDir: string,
  resolve: (python: string) => string | undefined,
  probe: (python: string) => Promise<{ probe: PythonProbe; files: string[] }> = runProbe,
): (python: string) => Promise<PythonProbe> {
  return async (python) => {
    const file = resolve(python);
    const interpreter = file === undefined ? undefined : stamp(realpath(file));
    if (file === undefined || interpreter === undefined) return (await probe(python)).probe;
    // The path as given is part of the key: a venv's python is a link to the system's, with other packages.
    const key = createHash('sha256')
      .update(JSON.stringify({ file, interpreter, code: PROBE_CODE }))
      .digest('hex');
    const record = path.join(cacheDir, 'probes', `${key}.json`);
    try {
      const remembered = JSON.parse(fs.readFileSync(record, 'utf8')) as Remembered;
      if (remembered.files.length > 0 && remembered.files.every((f) => same(stamp(f.file), f))) {
        return { ...remembered.probe, python };
      }
    } catch {
      // none yet, or unreadable: ask the interpreter
    }
    const answer = await probe(python);
    const files = answer.files.map(stamp);
    if (answer.probe.ok && files.length > 0 && files.every((f) => f !== undefined)) {
      const remembered: Remembered = { probe: answer.probe, files: files as FileStamp[] };
      try {
        fs.mkdirSync(path.dirname(record), { recursive: true });
        // Whole or absent: another process may read it at any moment.
        const partial = `${record}.${process.pid}.tmp`;
        fs.writeFileSync(partial, JSON.stringify(remembered));
        fs.renameSync(partial, record);
      } catch {
        // A cache that cannot be written only costs the next command a probe.
      }
    }
    return answer.probe;
  };
}
