/**
 * The local template cache: a command whose app did not change reads the template instead of
 * synthesizing it; anything that decides the template (context, a file a context value names,
 * CDK_CONTEXT_JSON, the sources) makes a new key.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCachedTemplate, templateCacheDirectory, templateKey } from '../local/template-cache';
import { loadLocalTemplate, synthesizeLocal } from '../local/template';
import { tempDir } from './helpers/cloud';

jest.setTimeout(120_000);

let dir: string;
const saved = { cache: process.env.MLOOP_CACHE_DIR, context: process.env.CDK_CONTEXT_JSON, off: process.env.MLOOP_TEMPLATE_CACHE };

beforeAll(() => {
  dir = tempDir('template-cache');
});

// Each test starts with an empty cache of its own and neither CDK_CONTEXT_JSON nor
// MLOOP_TEMPLATE_CACHE set, whichever tests ran before it.
beforeEach(() => {
  process.env.MLOOP_CACHE_DIR = fs.mkdtempSync(path.join(dir, 'cache-'));
  delete process.env.CDK_CONTEXT_JSON;
  delete process.env.MLOOP_TEMPLATE_CACHE;
});

afterAll(() => {
  for (const [name, value] of [
    ['MLOOP_CACHE_DIR', saved.cache],
    ['CDK_CONTEXT_JSON', saved.context],
    ['MLOOP_TEMPLATE_CACHE', saved.off],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the key is the same while nothing changes, and changes with the context, CDK_CONTEXT_JSON and the files a context value names', () => {
  const key = templateKey({});
  expect(key).toMatch(/^[0-9a-f]{64}$/);
  expect(templateKey({})).toBe(key);
  expect(templateKey({ 'mloop:requireApproval': true })).not.toBe(key);

  process.env.CDK_CONTEXT_JSON = JSON.stringify({ 'mloop:requireApproval': true });
  try {
    expect(templateKey({})).not.toBe(key);
  } finally {
    delete process.env.CDK_CONTEXT_JSON;
  }

  const schemas = path.join(dir, 'schemas.json');
  fs.writeFileSync(schemas, JSON.stringify({ churn: { target: 'churned', columns: [{ name: 'a', type: 'numeric' }] } }));
  const withFile = templateKey({ 'mloop:datasetSchemas': schemas });
  fs.writeFileSync(schemas, JSON.stringify({ churn: { target: 'churned', columns: [{ name: 'b', type: 'numeric' }] } }));
  expect(templateKey({ 'mloop:datasetSchemas': schemas })).not.toBe(withFile);

  const code = path.join(dir, 'code');
  fs.mkdirSync(code);
  fs.writeFileSync(path.join(code, 'train.py'), 'print(1)\n');
  const withCode = templateKey({ 'mloop:trainingCodeDir': code });
  fs.writeFileSync(path.join(code, 'train.py'), 'print(2)\n');
  expect(templateKey({ 'mloop:trainingCodeDir': code })).not.toBe(withCode);
});

test('the first load synthesizes and caches the template with its assets; the next reads it, equal but for where the assets are', () => {
  const key = templateKey({})!;
  expect(readCachedTemplate(key)).toBeUndefined();
  const first = loadLocalTemplate(path.join(dir, 'out-1'), {});
  const entry = path.join(templateCacheDirectory(), key);
  expect(fs.existsSync(path.join(entry, 'template.json'))).toBe(true);
  expect(first.assets.length).toBeGreaterThan(0);
  for (const asset of first.assets) {
    expect(asset.file.startsWith(path.join(entry, 'assets'))).toBe(true);
    expect(fs.existsSync(asset.file)).toBe(true);
  }

  // Nothing is synthesized the second time: the folder it would synthesize into stays empty.
  const second = loadLocalTemplate(path.join(dir, 'out-2'), {});
  expect(fs.existsSync(path.join(dir, 'out-2'))).toBe(false);
  expect(second).toEqual(first);

  // And it is the template a synthesis gives (the archive's bytes included).
  const fresh = synthesizeLocal(path.join(dir, 'out-3'), {});
  expect({ ...second, assets: [] }).toEqual({ ...fresh, assets: [] });
  expect(
    second.assets.map((a) => [
      a.bucket,
      a.key,
      fs.readFileSync(a.file).equals(fs.readFileSync(fresh.assets.find((f) => f.key === a.key)!.file)),
    ]),
  ).toEqual(fresh.assets.map((a) => [a.bucket, a.key, true]));
});

test('an entry whose asset is gone is not used; MLOOP_TEMPLATE_CACHE=off neither reads nor writes', () => {
  // The entry this test damages is its own: the first load into this test's empty cache writes it.
  const key = templateKey({})!;
  loadLocalTemplate(path.join(dir, 'out-entry'), {});
  const cached = readCachedTemplate(key)!;
  expect(cached.assets.length).toBeGreaterThan(0);
  fs.rmSync(cached.assets[0].file);
  expect(readCachedTemplate(key)).toBeUndefined();

  process.env.MLOOP_TEMPLATE_CACHE = 'off';
  try {
    const other = { 'mloop:stackName': 'CacheOff' };
    loadLocalTemplate(path.join(dir, 'out-4'), other);
    expect(fs.existsSync(path.join(templateCacheDirectory(), templateKey(other)!))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'out-4'))).toBe(true);
  } finally {
    delete process.env.MLOOP_TEMPLATE_CACHE;
  }
});
