/**
 * Packs a training source directory the way SageMaker script mode wants it (a sourcedir.tar.gz,
 * referenced by the `sagemaker_submit_directory` hyperparameter) and versions it by content: the
 * code version recorded in the registry is the SHA-256 over its files' paths and bytes.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar';

const IGNORED = new Set(['__pycache__', '.pytest_cache', '.ipynb_checkpoints', 'node_modules', '.git']);

/** Files under `dir`, relative, sorted, skipping caches and compiled Python. */
export function listCodeFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (IGNORED.has(entry.name) || entry.name.endsWith('.pyc')) continue;
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile()) out.push(child);
    }
  };
  walk('');
  return out;
}

export function codeVersion(dir: string): string {
  const hash = createHash('sha256');
  for (const file of listCodeFiles(dir)) {
    hash
      .update(file)
      .update('\0')
      .update(fs.readFileSync(path.join(dir, file)))
      .update('\0');
  }
  return hash.digest('hex');
}

/** Write `dir` as a tar.gz (portable headers, fixed mtimes) and return its path and version. */
export function packTrainingCode(dir: string, entryPoint: string): { archive: string; version: string } {
  if (!fs.existsSync(path.join(dir, entryPoint))) {
    throw new Error(
      `Training code directory ${dir} has no entry point '${entryPoint}': set trainingEntryPoint to the script SageMaker should run.`,
    );
  }
  const version = codeVersion(dir);
  const outDir = path.join(os.tmpdir(), 'mloop-training-code', version);
  const archive = path.join(outDir, 'sourcedir.tar.gz');
  if (!fs.existsSync(archive)) {
    fs.mkdirSync(outDir, { recursive: true });
    const partial = `${archive}.${process.pid}.partial`;
    tar.create({ gzip: true, file: partial, cwd: dir, portable: true, mtime: new Date(0), sync: true }, listCodeFiles(dir));
    fs.renameSync(partial, archive);
  }
  return { archive, version };
}
