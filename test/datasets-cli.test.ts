/**
 * `mloop datasets show|diff` through the CLI's run() on a home that holds three dataset versions
 * of one model (two accepted, one rejected), ingested by hand on the local emulators.
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../lambdas/shared/clients';
import { s3Keys } from '../lambdas/shared/layout';
import type { IngestInput } from '../lambdas/shared/pipeline';
import { run } from '../bin/cli';
import { putObject, startCloud, stopCloud, tempDir, type TestCloud } from './helpers/cloud';
import { gzip, tableCsv, tableJsonl, type Cell } from './helpers/dataset-files';

jest.setTimeout(120_000);

const MODEL = 'cli-data';
const ESCAPE_MODEL = 'cli-escape';
const SCRATCH = 'mloop-datasets-cli-scratch';
const home = tempDir('datasets-cli');
let t: TestCloud | undefined;

function rows(n: number, f: (i: number) => Cell[]): Cell[][] {
  return Array.from({ length: n }, (_, i) => f(i));
}

beforeAll(async () => {
  t = await startCloud({ home });
  await s3Client().send(new CreateBucketCommand({ Bucket: SCRATCH }));
  const ingest = async (fileName: string, body: string | Buffer, execution: string): Promise<void> => {
    const key = s3Keys.dataset(MODEL, fileName);
    await putObject(SCRATCH, key, body);
    const input: IngestInput = { detail: { bucket: { name: SCRATCH }, object: { key } }, execution };
    await t!.cloud.invoke('ingest', input).catch(() => undefined);
  };
  const header = ['x', 'color', 'target'];
  await ingest('v1.csv', tableCsv({ header, rows: rows(300, (i) => [i % 100, ['red', 'green', 'blue'][i % 3], i % 2]) }), 'e1');
  await ingest(
    'v2.jsonl.gz',
    gzip(tableJsonl({ header, rows: rows(200, (i) => [60 + (i % 100), i % 10 === 0 ? 'blue' : 'red', i % 2]) })),
    'e2',
  );
  await ingest('v3.csv', 'x,color,target\n1,red,0\n', 'e3');
  // A column whose name and values hold a terminal escape (ESC[31m) and a C1 CSI (U+009B).
  const escapeKey = s3Keys.dataset(ESCAPE_MODEL, 'escape.csv');
  await putObject(
    SCRATCH,
    escapeKey,
    tableCsv({ header: ['x\u001b[31m', 'c', 'target'], rows: rows(300, (i) => [i % 100, i % 2 ? 'a\u009b2J' : 'b', i % 2]) }),
  );
  await t.cloud
    .invoke('ingest', { detail: { bucket: { name: SCRATCH }, object: { key: escapeKey } }, execution: 'e4' } satisfies IngestInput)
    .catch(() => undefined);
  await stopCloud(t, true);
  t = undefined;
}, 180_000);

afterAll(async () => {
  await stopCloud(t);
  delete process.env.MLOOP_HOME;
});

async function mloop(...argv: string[]): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  process.env.MLOOP_HOME = home;
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await run(argv, { json: false, out: (s) => stdout.push(s), err: (s) => stderr.push(s) });
  return { code, stdout, stderr };
}

test('datasets show --json: the latest version by default, with its violations', async () => {
  const { code, stdout } = await mloop('datasets', 'show', '--model', MODEL, '--json');
  expect(code).toBe(0);
  expect(stdout).toHaveLength(1);
  const doc = JSON.parse(stdout[0]);
  expect(doc.dataset).toMatchObject({ version: 3, status: 'rejected', rows: 1 });
  expect(doc.profile).toBeNull();
  expect(doc.violations.map((v: { check: string }) => v.check)).toContain('too_few_rows');
});

test('datasets show --version N: the record, schema and a profile summary', async () => {
  const { code, stdout } = await mloop('datasets', 'show', '--model', MODEL, '--version', '2', '--json');
  expect(code).toBe(0);
  const doc = JSON.parse(stdout[0]);
  expect(doc.dataset).toMatchObject({ version: 2, status: 'accepted', rows: 200 });
  expect(doc.schema).toMatchObject({ target: 'target', task: 'classification' });
  const color = doc.profile.columns.find((c: { name: string }) => c.name === 'color');
  expect(color).toMatchObject({
    kind: 'categorical',
    count: 200,
    top: [
      ['red', 180],
      ['blue', 20],
    ],
  });
  const text = await mloop('datasets', 'show', '--model', MODEL, '--version', 'v2');
  expect(text.stdout.join('\n')).toMatch(/^cli-data dataset v2: accepted, 200 rows/);
  // The split counts and the model's row hash (a new model's: murmur3-csv), in text and in JSON.
  const { train, validation, test: testRows } = doc.dataset.splitRows;
  expect(train + validation + testRows).toBe(200);
  expect(doc.dataset.splitHash).toBe('murmur3-csv');
  expect(text.stdout.join('\n')).toContain(`  splits: train ${train}, validation ${validation}, test ${testRows} (row hash murmur3-csv)`);
});

test('datasets diff A B --json: row, column and distribution changes', async () => {
  const { code, stdout } = await mloop('datasets', 'diff', '--model', MODEL, '1', '2', '--json');
  expect(code).toBe(0);
  expect(stdout).toHaveLength(1);
  const doc = JSON.parse(stdout[0]);
  expect(doc).toMatchObject({ model: MODEL, a: 1, b: 2, rows: { a: 300, b: 200, delta: -100 }, schemaChanges: [] });
  expect(doc.shifted).toEqual(expect.arrayContaining(['x', 'color']));
  const x = doc.columns.find((c: { column: string }) => c.column === 'x');
  expect(x.mean.delta).toBeCloseTo(60, 6);
  const text = await mloop('datasets', 'diff', '--model', MODEL, 'v1', 'v2');
  expect(text.stdout.join('\n')).toContain('cli-data dataset v1 -> v2: rows 300 -> 200 (-100)');
});

test('datasets diff with a rejected version, or the wrong arguments, fails with one line', async () => {
  await expect(mloop('datasets', 'diff', '--model', MODEL, '1', '3')).rejects.toThrow(
    /cli-data dataset v3 was rejected and has no profile to compare/,
  );
  await expect(mloop('datasets', 'diff', '--model', MODEL, '1')).rejects.toThrow('datasets diff needs two dataset versions');
  await expect(mloop('datasets', 'show', '--model', MODEL, '--version', '9')).rejects.toThrow('cli-data has no dataset version 9.');
});

test('datasets list still works', async () => {
  const { code, stdout } = await mloop('datasets', 'list', '--model', MODEL, '--json');
  expect(code).toBe(0);
  expect(JSON.parse(stdout[0]).datasets).toHaveLength(3);
});

test('datasets show escapes the control characters of column names and values in text, and --json stays exact', async () => {
  const text = await mloop('datasets', 'show', '--model', ESCAPE_MODEL);
  expect(text.code).toBe(0);
  const printed = text.stdout.join('\n');
  expect(printed).not.toMatch(/[\u001b\u009b]/);
  expect(printed).toContain('x\\u001b[31m');
  expect(printed).toContain('a\\u009b2J=150');

  const json = await mloop('datasets', 'show', '--model', ESCAPE_MODEL, '--json');
  expect(json.stdout.join('')).not.toMatch(/[\u001b\u009b]/);
  const doc = JSON.parse(json.stdout[0]);
  expect(doc.profile.columns.map((c: { name: string }) => c.name)).toContain('x\u001b[31m');
});
