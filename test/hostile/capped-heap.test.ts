/**
 * Issue 18: each bomb of the findings runs through the scan in a Node process whose heap is capped
 * at the Ingest Lambda's memory (lib/function-catalog.ts), as on Lambda, and ends with its named
 * violation (or, for the plausible rows, accepted) while the process's peak resident memory stays
 * under that memory: the Parquet row-group bomb (finding 1), the wide CSV header and the JSON Lines
 * of ever-new keys (2, 2b), the gzip bombs of one line and of identical rows (6), the gzip of
 * plausible rows (6, accepted by the scan; the trainer's row cap is test/hostile/trainer-rows.test.ts)
 * and a 5 MB category value (10). The bombs are made here and written to files; the child is
 * test/fixtures/hostile/scan-file.ts.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import * as arrow from 'apache-arrow';
import { DEFAULT_ROW_GROUP_LIMITS } from '../../lambdas/data/parquet-file';
import { FUNCTIONS, REPO_ROOT } from '../../lib/function-catalog';
import { tempDir } from '../helpers/cloud';
import { arrowParquet, arrowVector } from '../helpers/parquet-files';

jest.setTimeout(600_000);

const MEMORY_MB = FUNCTIONS.ingest.memoryMb;
const CHILD = path.join(REPO_ROOT, 'test', 'fixtures', 'hostile', 'scan-file.ts');

interface Scanned {
  accepted: boolean;
  rows: number;
  checks: string[];
  messages: string[];
  seconds: number;
  peakRssMb: number;
}

let dir: string;
beforeAll(() => {
  dir = tempDir('capped-heap');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Scan `file` in a child with the heap capped at the Ingest function's memory. */
function scanCapped(file: string, name: string): Promise<Scanned> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [`--max-old-space-size=${MEMORY_MB}`, '--import', 'tsx', CHILD, file, name],
      { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error)
          return reject(
            new Error(`the scan of ${name} exited ${String(error.code)} (heap capped at ${MEMORY_MB} MiB): ${stderr.slice(-2000)}`),
          );
        resolve(JSON.parse(stdout.trim().split('\n').pop()!) as Scanned);
      },
    );
  });
}

/** Write `chunks` gzip-compressed to a file of `dir`. */
async function gzipFile(name: string, chunks: () => Iterable<Buffer>): Promise<string> {
  const file = path.join(dir, name);
  await pipeline(Readable.from(chunks()), createGzip({ level: 9 }), fs.createWriteStream(file));
  return file;
}

function* repeat(head: string, unit: Buffer, times: number): Iterable<Buffer> {
  yield Buffer.from(head);
  for (let i = 0; i < times; i++) yield unit;
}

const expectUnder = (scanned: Scanned) => expect(scanned.peakRssMb).toBeLessThan(MEMORY_MB);

test('the Ingest function has 1 GiB, the cap these scans run under', () => {
  expect(MEMORY_MB).toBe(1024);
});

test('a Parquet file of a few KB declaring one row group over the cell limit: a corrupt_file violation naming the limit', async () => {
  const rows = DEFAULT_ROW_GROUP_LIMITS.maxCells + 1;
  const file = path.join(dir, 'bomb.parquet');
  fs.writeFileSync(file, arrowParquet({ target: arrowVector(new arrow.Int8(), new Int8Array(rows)) }, { rowGroupSize: rows }));
  const scanned = await scanCapped(file, 'bomb.parquet');
  expect(scanned.checks).toEqual(['corrupt_file']);
  expect(scanned.messages[0]).toContain('cells a row group may hold (the ingestion setting maxRowGroupCells');
  expectUnder(scanned);
});

test('a CSV header of 200,000 columns: too_many_columns', async () => {
  const file = path.join(dir, 'wide.csv');
  const header = ['target', ...Array.from({ length: 199_999 }, (_, i) => `c${i}`)].join(',');
  fs.writeFileSync(file, `${header}\n${Array.from({ length: 200_000 }, () => '1').join(',')}\n`);
  const scanned = await scanCapped(file, 'wide.csv');
  expect(scanned.checks).toEqual(['too_many_columns']);
  expectUnder(scanned);
});

test('JSON Lines bringing 1M new keys: too_many_columns at the key past the limit', async () => {
  const file = path.join(dir, 'keys.jsonl');
  const lines = Array.from({ length: 1_000_000 }, (_, i) => `{"target":${i % 2},"k${i}":1}`).join('\n');
  fs.writeFileSync(file, lines + '\n');
  const scanned = await scanCapped(file, 'keys.jsonl');
  expect(scanned.checks).toEqual(['too_many_columns']);
  expectUnder(scanned);
});

test('a gzip bomb of one line (256 MiB inflated): refused at the ratio or the record limit, without inflating it all', async () => {
  const file = await gzipFile('line.csv.gz', () => repeat('target,x\n', Buffer.alloc(1024 * 1024, 'x'), 256));
  const scanned = await scanCapped(file, 'line.csv.gz');
  expect(scanned.accepted).toBe(false);
  expect(scanned.messages.join(' ')).toMatch(/gzip bomb|longer than/);
  expectUnder(scanned);
});

test('a gzip bomb of identical rows (1 GiB inflated): refused as a gzip bomb at the ratio, naming the setting', async () => {
  const file = await gzipFile('rows.csv.gz', () => repeat('x,target\n', Buffer.alloc(1024 * 1024, '1,0\n'), 1024));
  const scanned = await scanCapped(file, 'rows.csv.gz');
  expect(scanned.checks).toContain('corrupt_file');
  expect(scanned.messages.join(' ')).toContain('the ingestion setting maxGzipRatio');
  expectUnder(scanned);
});

test('gzip of plausible rows (about 100 MiB inflated): accepted by the scan in bounded memory', async () => {
  const row = (i: number) => `${i % 97},${(i * 7919) % 1000},${['red', 'green', 'blue'][i % 3]},${i % 2}\n`;
  const file = await gzipFile('plausible.csv.gz', function* () {
    yield Buffer.from('a,b,color,target\n');
    for (let block = 0; block < 600; block++) yield Buffer.from(Array.from({ length: 10_000 }, (_, j) => row(block * 10_000 + j)).join(''));
  });
  const scanned = await scanCapped(file, 'plausible.csv.gz');
  expect([scanned.accepted, scanned.rows]).toEqual([true, 6_000_000]);
  expectUnder(scanned);
});

test('a 5 MB category value: category_too_long', async () => {
  const file = path.join(dir, 'category.csv');
  const rows = Array.from({ length: 50 }, (_, i) => `${i === 7 ? 'x'.repeat(5 * 1024 * 1024) : ['a', 'b'][i % 2]},${i % 2}`);
  fs.writeFileSync(file, ['plan,target', ...rows].join('\n') + '\n');
  const scanned = await scanCapped(file, 'category.csv');
  expect(scanned.checks).toEqual(['category_too_long']);
  expectUnder(scanned);
});
