/**
 * Issue 18, finding 3: the packed training code lives in a private per-user cache and is checked
 * against its hash on every use; an archive planted or modified there is rebuilt, never used, and
 * the version recorded is the hash of what the archive holds.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar';
import { archiveVersion, codeVersion, packTrainingCode, trainingCodeCacheDir } from '../lib/training-code';
import { tempDir } from './helpers/cloud';

let root: string;
let code: string;
let cache: string;

beforeEach(() => {
  root = tempDir('code-cache');
  code = path.join(root, 'src');
  fs.mkdirSync(code);
  fs.writeFileSync(path.join(code, 'train.py'), 'print("genuine")\n');
  fs.writeFileSync(path.join(code, 'util.py'), 'X = 1\n');
  cache = path.join(root, 'home-cache', 'mloop', 'training-code');
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** The files an archive holds, by path. */
function contents(archive: string): Record<string, string> {
  const out: Record<string, string> = {};
  tar.t({
    file: archive,
    sync: true,
    onReadEntry: (entry) => {
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => (out[entry.path] = Buffer.concat(chunks).toString('utf8')));
    },
  });
  return out;
}

/** A tar.gz of `files` written at `archive`, as someone planting code would write it. */
function plant(archive: string, files: Record<string, string>): void {
  const staging = path.join(root, 'evil');
  fs.mkdirSync(staging, { recursive: true });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(staging, name), text);
  fs.mkdirSync(path.dirname(archive), { recursive: true });
  tar.create({ gzip: true, file: archive, cwd: staging, portable: true, sync: true }, Object.keys(files));
}

test("the cache is the user's: XDG_CACHE_HOME when absolute, else ~/.cache; never the temp folder", () => {
  expect(trainingCodeCacheDir({ XDG_CACHE_HOME: '/srv/me/cache' })).toBe('/srv/me/cache/mloop/training-code');
  expect(trainingCodeCacheDir({ XDG_CACHE_HOME: 'relative' })).toBe(path.join(os.homedir(), '.cache', 'mloop', 'training-code'));
  expect(trainingCodeCacheDir({})).toBe(path.join(os.homedir(), '.cache', 'mloop', 'training-code'));
});

test('packs into folders only this user can enter, and the archive hashes to the version', () => {
  const packed = packTrainingCode(code, 'train.py', cache);
  expect(packed.version).toBe(codeVersion(code));
  expect(packed.archive).toBe(path.join(cache, packed.version, 'sourcedir.tar.gz'));
  for (const dir of [path.dirname(cache), cache, path.dirname(packed.archive)]) expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
  expect(fs.statSync(packed.archive).mode & 0o077).toBe(0);
  expect(archiveVersion(packed.archive)).toBe(packed.version);
  expect(contents(packed.archive)).toEqual({ 'train.py': 'print("genuine")\n', 'util.py': 'X = 1\n' });
});

test('an archive planted at the expected path before the first run is rebuilt, never used', () => {
  const version = codeVersion(code);
  const archive = path.join(cache, version, 'sourcedir.tar.gz');
  plant(archive, { 'train.py': 'import os; os.system("steal")\n', 'util.py': 'X = 1\n' });
  expect(archiveVersion(archive)).not.toBe(version);

  const packed = packTrainingCode(code, 'train.py', cache);
  expect(packed).toEqual({ archive, version });
  expect(contents(archive)['train.py']).toBe('print("genuine")\n');
  expect(archiveVersion(archive)).toBe(version);
});

test('a cached archive modified after it was packed is rebuilt on the next use', () => {
  const first = packTrainingCode(code, 'train.py', cache);
  fs.rmSync(first.archive);
  plant(first.archive, { 'train.py': 'print("modified")\n', 'util.py': 'X = 1\n' });
  const again = packTrainingCode(code, 'train.py', cache);
  expect(again).toEqual(first);
  expect(contents(again.archive)['train.py']).toBe('print("genuine")\n');
});

test('a cache folder opened to others is narrowed to 0700; a link in its place is refused', () => {
  fs.mkdirSync(cache, { recursive: true, mode: 0o777 });
  fs.chmodSync(cache, 0o777);
  packTrainingCode(code, 'train.py', cache);
  expect(fs.statSync(cache).mode & 0o777).toBe(0o700);

  const elsewhere = path.join(root, 'shared-tmp');
  fs.mkdirSync(elsewhere, { mode: 0o777 });
  const linked = path.join(root, 'linked', 'mloop', 'training-code');
  fs.mkdirSync(path.dirname(linked), { recursive: true });
  fs.symlinkSync(elsewhere, linked);
  expect(() => packTrainingCode(code, 'train.py', linked)).toThrow(
    `The training code cache ${linked} is not a directory (a link or a file is there): remove it.`,
  );
});

test('an unreadable archive or one holding a link has no version', () => {
  const bogus = path.join(root, 'bogus.tar.gz');
  fs.writeFileSync(bogus, 'not a tar');
  expect(archiveVersion(bogus)).toBeUndefined();
  fs.symlinkSync('/etc/passwd', path.join(code, 'link.py'));
  const withLink = path.join(root, 'link.tar.gz');
  tar.create({ gzip: true, file: withLink, cwd: code, portable: true, sync: true }, ['link.py', 'train.py']);
  expect(archiveVersion(withLink)).toBeUndefined();
});
