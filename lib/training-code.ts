/**
 * Packs a training source directory the way SageMaker script mode wants it (a sourcedir.tar.gz,
 * referenced by the `sagemaker_submit_directory` hyperparameter) and versions it by content: the
 * code version recorded in the registry is the SHA-256 over its files' paths and bytes. The
 * archive is cached per user (trainingCodeCacheDir, folders 0700) and its content is hashed again
 * on every use, so the version recorded is the hash of the code that runs.
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

/**
 * The per-user cache of packed training code: `$XDG_CACHE_HOME/mloop/training-code` (an absolute
 * XDG_CACHE_HOME), else `~/.cache/mloop/training-code`. Never a shared temp folder: another user
 * of the machine could plant an archive there before the first run, and it would run as the user
 * (locally) and be what `cdk deploy` uploads.
 */
export function trainingCodeCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
  return path.join(base, 'mloop', 'training-code');
}

/**
 * Make `dir` (and the parents it needs) a directory only this user can enter: created 0700; an
 * existing one must be a real directory (not a link) owned by this user, and is narrowed to 0700.
 */
function ensurePrivateDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new Error(
      `The training code cache ${dir} could not be created (${(error as Error).message}): set XDG_CACHE_HOME to a folder of yours.`,
    );
  }
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory()) throw new Error(`The training code cache ${dir} is not a directory (a link or a file is there): remove it.`);
  if (process.getuid && stat.uid !== process.getuid()) {
    throw new Error(`The training code cache ${dir} is owned by user ${stat.uid}, not by this user (${process.getuid()}): remove it.`);
  }
  if ((stat.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
}

/**
 * The code version of what an archive holds: the same hash as codeVersion's, over its entries'
 * paths and bytes in archive order; undefined when the archive cannot be read or holds anything
 * but plain files (a link, a device, a folder entry: packTrainingCode writes none).
 */
export function archiveVersion(archive: string): string | undefined {
  const hash = createHash('sha256');
  let valid = true;
  try {
    tar.t({
      file: archive,
      sync: true,
      strict: true,
      onReadEntry: (entry) => {
        if (entry.type !== 'File') valid = false;
        hash.update(entry.path).update('\0');
        entry.on('data', (chunk: Buffer) => hash.update(chunk));
        entry.on('end', () => hash.update('\0'));
      },
    });
  } catch {
    return undefined;
  }
  return valid ? hash.digest('hex') : undefined;
}

/**
 * Write `dir` as a tar.gz (portable headers, fixed mtimes) in the per-user cache and return its
 * path and version. A cached archive is used only when its content hashes to the source's
 * version, checked on every call: a modified or planted one is replaced by a fresh build. The
 * version returned is therefore the hash of the code in the archive, the code that runs.
 */
export function packTrainingCode(
  dir: string,
  entryPoint: string,
  cacheDir: string = trainingCodeCacheDir(),
): { archive: string; version: string } {
  if (!fs.existsSync(path.join(dir, entryPoint))) {
    throw new Error(
      `Training code directory ${dir} has no entry point '${entryPoint}': set trainingEntryPoint to the script SageMaker should run.`,
    );
  }
  const version = codeVersion(dir);
  ensurePrivateDir(path.dirname(cacheDir));
  ensurePrivateDir(cacheDir);
  const outDir = path.join(cacheDir, version);
  ensurePrivateDir(outDir);
  const archive = path.join(outDir, 'sourcedir.tar.gz');
  if (fs.existsSync(archive) && archiveVersion(archive) === version) return { archive, version };
  const partial = `${archive}.${process.pid}.partial`;
  fs.rmSync(partial, { force: true });
  tar.create({ gzip: true, file: partial, cwd: dir, portable: true, mtime: new Date(0), sync: true }, listCodeFiles(dir));
  fs.chmodSync(partial, 0o600);
  const packed = archiveVersion(partial);
  if (packed !== version) {
    fs.rmSync(partial, { force: true });
    throw new Error(
      `Training code directory ${dir} changed while it was being packed (version ${version}, packed ${packed}): pack it again.`,
    );
  }
  fs.renameSync(partial, archive);
  return { archive, version };
}
