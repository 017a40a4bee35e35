/**
 * Issue 18, findings 2 and 2b: a file with more columns than maxColumns (10,000 by default) is
 * rejected while it is read, with a too_many_columns violation naming the limit, its value and the
 * setting that raises it: a CSV or Parquet header over the limit makes no column accumulator, and
 * JSON Lines whose lines keep bringing new keys stop at the first key past it.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { scanDataset } from '../../lambdas/data/scan';
import { DEFAULT_MAX_COLUMNS, type ScanOptions } from '../../lambdas/data/scan-types';
import { bufferSource } from '../../lambdas/data/formats';
import { ingestEnv } from '../../lambdas/shared/env';
import { inProcessApp } from '../../lib/app';
import { MloopStack } from '../../lib/mloop-stack';
import { chunks, gzip, tableParquet } from '../helpers/dataset-files';

const SETTING = "the ingestion setting maxColumns (the stack's training.maxColumns prop; MAX_COLUMNS on the Ingest function)";

const wideCsv = (columns: number, rows = 20): string => {
  const header = Array.from({ length: columns }, (_, i) => `c${i}`);
  header[0] = 'target';
  const row = Array.from({ length: columns }, (_, i) => String(i % 2));
  return [header.join(','), ...Array.from({ length: rows }, () => row.join(','))].join('\n') + '\n';
};

/** JSON Lines where every line brings a new key (the finding's 1M keys, scaled down). */
const newKeyEveryLine = (lines: number): string =>
  Array.from({ length: lines }, (_, i) => JSON.stringify({ target: i % 2, x: i, [`k${i}`]: 1 })).join('\n') + '\n';

const options = (fileName: string, maxColumns?: number): ScanOptions => ({ fileName, ...(maxColumns !== undefined ? { maxColumns } : {}) });

test('the default limit is 10,000, the same in the Ingest contract', () => {
  expect(DEFAULT_MAX_COLUMNS).toBe(10_000);
  expect(ingestEnv.parse({ REGISTRY_TABLE: 't', DATA_BUCKET: 'b' }).MAX_COLUMNS).toBe(DEFAULT_MAX_COLUMNS);
});

test('a CSV header of 200,000 columns is a too_many_columns violation naming the limit and the setting', async () => {
  const csv = wideCsv(200_000, 3);
  const started = Date.now();
  const result = await scanDataset(chunks(csv, 64 * 1024), options('wide.csv'));
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(result.accepted).toBe(false);
  expect(result.violations).toEqual([
    {
      check: 'too_many_columns',
      count: 200_000,
      exampleRows: [1],
      message: `wide.csv has 200000 columns in the header of wide.csv (line 1), over the column limit of 10000 (${SETTING} raises it); the file was not read further. Expected at most 10000 columns.`,
    },
  ]);
  expect(result.header).toEqual([]);
  expect(result.profile).toEqual({ rows: 0, columns: {} });
  // The content is still hashed whole (the version's identity), though not parsed.
  expect(result.bytes).toBe(Buffer.byteLength(csv));
});

test('exactly maxColumns columns are read; one more is refused', async () => {
  const at = await scanDataset(chunks(wideCsv(50), 4096), options('at.csv', 50));
  expect(at.violations.filter((v) => v.check === 'too_many_columns')).toEqual([]);
  expect(at.header).toHaveLength(50);
  const over = await scanDataset(chunks(wideCsv(51), 4096), options('over.csv', 50));
  expect(over.violations.map((v) => v.message)).toEqual([
    `over.csv has 51 columns in the header of over.csv (line 1), over the column limit of 50 (${SETTING} raises it); the file was not read further. Expected at most 50 columns.`,
  ]);
});

test('JSON Lines bringing a new key on every line stop at the first key past the limit, gzip-compressed too', async () => {
  const text = newKeyEveryLine(50_000);
  for (const [name, bytes] of [
    ['keys.jsonl', Buffer.from(text)],
    ['keys.jsonl.gz', gzip(text)],
  ] as const) {
    const result = await scanDataset(chunks(bytes, 64 * 1024), options(name, 1_000));
    expect(result.accepted).toBe(false);
    // target, x, then one key per line: the 1,001st column comes on line 999.
    expect(result.violations).toEqual([
      {
        check: 'too_many_columns',
        count: 1001,
        exampleRows: [999],
        message: `${name} has more than 1000 distinct keys (the key past the limit is on line 999), over the column limit of 1000 (${SETTING} raises it); the file was not read further. Expected at most 1000 columns.`,
      },
    ]);
    expect(result.rows).toBe(998);
  }
});

test('a Parquet file over the limit is refused before any row group is read', async () => {
  const header = ['target', ...Array.from({ length: 30 }, (_, i) => `f${i}`)];
  const bytes = tableParquet({ header, rows: Array.from({ length: 20 }, (_, r) => header.map((_, i) => (r + i) % 2)) });
  const result = await scanDataset(bufferSource(bytes), options('wide.parquet', 20));
  expect(result.violations).toEqual([
    {
      check: 'too_many_columns',
      count: 31,
      exampleRows: [],
      message: `wide.parquet has 31 columns in the columns of wide.parquet, over the column limit of 20 (${SETTING} raises it); the file was not read further. Expected at most 20 columns.`,
    },
  ]);
  expect(result.rows).toBe(0);
});

test("the stack's training.maxColumns reaches the ingestion functions as MAX_COLUMNS, checked at synth", () => {
  const stack = new MloopStack(inProcessApp(), 'Cols', { training: { maxColumns: 20_000 } });
  const template = Template.fromStack(stack);
  const ingest = Object.values(template.findResources('AWS::Lambda::Function')).filter(
    (f) =>
      (f as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }).Properties.Environment?.Variables?.MAX_COLUMNS !==
      undefined,
  );
  expect(
    ingest.map(
      (f) => (f as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties.Environment.Variables.MAX_COLUMNS,
    ),
  ).toEqual(['20000', '20000']); // Ingest and IngestParts share the environment
  expect(() => new MloopStack(inProcessApp(), 'Bad', { training: { maxColumns: 0 } })).toThrow(
    'maxColumns must be an integer >= 1, got 0.',
  );
});
