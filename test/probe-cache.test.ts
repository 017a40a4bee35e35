/**
 * Remembered probes of training interpreters (local/probe-cache.ts): asked once across processes
 * while nothing they depend on changed, asked again when it did, never remembered when unusable.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { rememberedProbe } from '../local/probe-cache';
import type { PythonProbe } from '../local/python-probe';

let dir: string;
let python: string;
let torchFile: string;
let asked: string[];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-probe-cache-'));
  python = path.join(dir, 'python3');
  torchFile = path.join(dir, 'torch', '__init__.py');
  fs.writeFileSync(python, '#!/bin/sh\n');
  fs.mkdirSync(path.dirname(torchFile));
  fs.writeFileSync(torchFile, '# torch 1.13\n');
  asked = [];
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A stand-in for the real probe: answers `ok` (with torch's file) and counts the questions. */
function standIn(ok = true) {
  return async (name: string): Promise<{ probe: PythonProbe; files: string[] }> => {
    asked.push(name);
    return ok
      ? { probe: { python: name, ok: true, version: '3.11.2', torch: '1.13.0', numpy: '1.24.2', cuda: false }, files: [torchFile] }
      : { probe: { python: name, ok: false, detail: 'torch: No module named torch' }, files: [] };
  };
}

/** A new process's probe: nothing shared but the cache directory. */
const fresh = (ok = true) => rememberedProbe(path.join(dir, 'cache'), (name) => (path.isAbsolute(name) ? name : undefined), standIn(ok));

test('a usable interpreter is asked once, and the next process reads the answer', async () => {
  const first = await fresh()(python);
  const second = await fresh()(python);
  expect(asked).toEqual([python]);
  expect(second).toEqual(first);
  expect(second).toMatchObject({ python, ok: true, torch: '1.13.0' });
});

test('it is asked again once torch changed, or the interpreter did', async () => {
  await fresh()(python);
  fs.writeFileSync(torchFile, '# torch 2.5.1, a longer file\n');
  await fresh()(python);
  expect(asked).toHaveLength(2);
  await fresh()(python);
  expect(asked).toHaveLength(2);
  fs.writeFileSync(python, '#!/bin/sh\n# another build\n');
  await fresh()(python);
  expect(asked).toHaveLength(3);
});

test('an interpreter that cannot train is asked every time', async () => {
  expect(await fresh(false)(python)).toMatchObject({ ok: false, detail: 'torch: No module named torch' });
  await fresh(false)(python);
  expect(asked).toEqual([python, python]);
  expect(fs.existsSync(path.join(dir, 'cache', 'probes'))).toBe(false);
});

test('a link to the interpreter is its own entry (a venv links to the system python, with other packages)', async () => {
  const link = path.join(dir, 'venv-python');
  fs.symlinkSync(python, link);
  await fresh()(python);
  await fresh()(link);
  expect(asked).toEqual([python, link]);
});

test('a name that is not found on PATH is probed as it is, each time', async () => {
  await fresh()('python3');
  await fresh()('python3');
  expect(asked).toEqual(['python3', 'python3']);
});

test('an unreadable record is asked again and replaced', async () => {
  await fresh()(python);
  const probes = path.join(dir, 'cache', 'probes');
  for (const file of fs.readdirSync(probes)) fs.writeFileSync(path.join(probes, file), '{"probe": ');
  await fresh()(python);
  await fresh()(python);
  expect(asked).toEqual([python, python]);
});
