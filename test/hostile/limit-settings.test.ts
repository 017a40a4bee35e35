/**
 * Issue 18: every input limit has a setting that raises it, and the violation names it. The gzip
 * and Parquet row-group limits (lambdas/data/formats.ts, parquet-file.ts) come from the Ingest
 * function's environment (MAX_GZIP_INFLATED_BYTES, MAX_GZIP_RATIO, MAX_ROW_GROUP_CELLS,
 * MAX_ROW_GROUP_BYTES, MAX_CATEGORY_LENGTH), which the stack fills from its training props.
 */
import { gzipSync } from 'node:zlib';
import { Template } from 'aws-cdk-lib/assertions';
import * as arrow from 'apache-arrow';
import { DEFAULT_GZIP_LIMITS, bufferSource } from '../../lambdas/data/formats';
import { scanOptionsFor } from '../../lambdas/data/ingest';
import { DEFAULT_ROW_GROUP_LIMITS } from '../../lambdas/data/parquet-file';
import { scanDataset } from '../../lambdas/data/scan';
import type { IngestRun } from '../../lambdas/data/versioning';
import { ingestEnv } from '../../lambdas/shared/env';
import { inProcessApp } from '../../lib/app';
import { MloopStack } from '../../lib/mloop-stack';
import { chunks } from '../helpers/dataset-files';
import { arrowParquet, arrowVector } from '../helpers/parquet-files';

const run = (source: string): IngestRun => ({
  bucket: 'b',
  key: `datasets/m/${source}`,
  model: 'm',
  source,
  execution: 'e',
  schema: { schema: undefined, strict: false, source: 'inferred' },
  hyperparameters: {},
});
const envOf = (vars: Record<string, string>) => ingestEnv.parse({ REGISTRY_TABLE: 't', DATA_BUCKET: 'b', ...vars });

test('the Ingest contract defaults are the readers’ defaults', () => {
  const options = scanOptionsFor(run('a.csv'), 'target', envOf({}));
  expect(options.gzipLimits).toEqual(DEFAULT_GZIP_LIMITS);
  expect(options.rowGroupLimits).toEqual(DEFAULT_ROW_GROUP_LIMITS);
  expect(options.maxCategoryLength).toBe(1000);
});

test('MAX_ROW_GROUP_CELLS sets the row-group limit, and the violation names the setting', async () => {
  const bytes = arrowParquet({ x: arrowVector(new arrow.Int8(), new Int8Array(5_000)) }, { rowGroupSize: 5_000 });
  const lowered = await scanDataset(bufferSource(bytes), scanOptionsFor(run('z.parquet'), 'x', envOf({ MAX_ROW_GROUP_CELLS: '4999' })));
  expect(lowered.violations.map((v) => v.message).join(' ')).toContain(
    "more than the 4,999 cells a row group may hold (the ingestion setting maxRowGroupCells (the stack's training.maxRowGroupCells prop; MAX_ROW_GROUP_CELLS on the Ingest function) raises it)",
  );
  const bytesLimit = await scanDataset(bufferSource(bytes), scanOptionsFor(run('z.parquet'), 'x', envOf({ MAX_ROW_GROUP_BYTES: '10' })));
  expect(bytesLimit.violations.map((v) => v.message).join(' ')).toContain('MAX_ROW_GROUP_BYTES on the Ingest function) raises it');
  const fits = await scanDataset(bufferSource(bytes), scanOptionsFor(run('z.parquet'), 'x', envOf({ MAX_ROW_GROUP_CELLS: '5000' })));
  expect(fits.violations.filter((v) => v.check === 'corrupt_file')).toEqual([]);
});

test('MAX_GZIP_INFLATED_BYTES and MAX_GZIP_RATIO set the gzip limits, and the violation names the setting', async () => {
  const csv = Buffer.concat([Buffer.from('x,target\n'), Buffer.alloc(4 * 1024 * 1024, '1,0\n')]);
  const bomb = gzipSync(csv, { level: 9 });
  const inflated = await scanDataset(
    chunks(bomb, 64 * 1024),
    scanOptionsFor(run('a.csv.gz'), 'target', envOf({ MAX_GZIP_INFLATED_BYTES: String(1024 * 1024) })),
  );
  expect(inflated.violations.find((v) => v.check === 'corrupt_file')?.message).toContain(
    "the most a gzip file may inflate to (the ingestion setting maxGzipInflatedBytes (the stack's training.maxGzipInflatedBytes prop; MAX_GZIP_INFLATED_BYTES on the Ingest function) raises it)",
  );
  // 4 MiB of one row compress about 1,000 times: under the floor (64 MiB) the ratio is not checked,
  // so the default accepts it; a raised inflation limit with the default ratio reads it whole.
  const whole = await scanDataset(chunks(bomb, 64 * 1024), scanOptionsFor(run('a.csv.gz'), 'target', envOf({})));
  expect(whole.violations.filter((v) => v.check === 'corrupt_file')).toEqual([]);
  expect(envOf({ MAX_GZIP_RATIO: '500' }).MAX_GZIP_RATIO).toBe(500);
  expect(scanOptionsFor(run('a.csv.gz'), 'target', envOf({ MAX_GZIP_RATIO: '500' })).gzipLimits?.maxRatio).toBe(500);
});

test("the stack's training props reach both ingestion functions, checked at synth", () => {
  const stack = new MloopStack(inProcessApp(), 'Limits', {
    training: {
      maxGzipInflatedBytes: 2 ** 36,
      maxGzipRatio: 400,
      maxRowGroupCells: 2 ** 26,
      maxRowGroupBytes: 2 ** 31,
      maxCategoryLength: 4000,
    },
  });
  const variables = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function'))
    .map((f) => (f as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }).Properties.Environment?.Variables ?? {})
    .filter((v) => v.MAX_ROW_GROUP_CELLS !== undefined);
  expect(variables).toHaveLength(2);
  for (const v of variables) {
    expect(v).toMatchObject({
      MAX_GZIP_INFLATED_BYTES: String(2 ** 36),
      MAX_GZIP_RATIO: '400',
      MAX_ROW_GROUP_CELLS: String(2 ** 26),
      MAX_ROW_GROUP_BYTES: String(2 ** 31),
      MAX_CATEGORY_LENGTH: '4000',
    });
  }
  expect(() => new MloopStack(inProcessApp(), 'Bad', { training: { maxRowGroupCells: 0 } })).toThrow(
    'maxRowGroupCells must be an integer >= 1, got 0.',
  );
  expect(() => new MloopStack(inProcessApp(), 'Bad2', { training: { maxGzipRatio: 1 } })).toThrow(
    'maxGzipRatio must be a number > 1, got 1.',
  );
});
