/**
 * Ingestion in parts through the local pipeline: the synthesized state machine's Distributed Map
 * states run in-process (the interpreter runs them as inline Maps) with the same handlers as on
 * AWS. Small thresholds (CDK context, as `cdk deploy -c` would set them) make a 100 KB file a
 * file of many parts.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { PassThrough } from 'node:stream';
import { scanDataset } from '../lambdas/data/scan';
import { SplitFeatures } from '../lambdas/data/split-features';
import { writeSplits, type SplitName } from '../lambdas/data/splits';
import { s3Keys } from '../lambdas/shared/layout';
import { DEFAULT_SPLIT_HASH, type SplitHash } from '../lambdas/shared/split-scheme';
import type { DatasetProfile, DatasetSchema, NumericColumnProfile } from '../lambdas/shared/types';
import { buildApp, inProcessApp } from '../lib/app';
import { resolveIngestionParts } from '../lib/data';
import { Size } from 'aws-cdk-lib';
import { binaryClassificationCsv, mulberry32 } from './helpers/datasets';
import * as arrow from 'apache-arrow';
import { chunks, type Cell } from './helpers/dataset-files';
import { arrowParquet, arrowValues, arrowVector, footer } from './helpers/parquet-files';
import { bufferSource } from '../lambdas/data/formats';
import { dropDataset, getObjectJson, getTags, getText, listKeys, splitUri, startCloud, stopCloud, type TestCloud } from './helpers/cloud';
import { once } from './helpers/once';

const PARTS_ABOVE = 50_000;
const PART_BYTES = 16_384;

let test_: TestCloud;
beforeAll(async () => {
  test_ = await startCloud({ context: { 'mloop:ingestPartsAbove': PARTS_ABOVE, 'mloop:ingestPartBytes': PART_BYTES } });
}, 120_000);
afterAll(async () => stopCloud(test_));

/** The single pass's split files' data lines (no header), in order. */
async function singlePassSplits(csv: string, splitHash: SplitHash = DEFAULT_SPLIT_HASH): Promise<Record<SplitName, string[]>> {
  const sinks = { train: new PassThrough(), validation: new PassThrough(), test: new PassThrough() };
  const texts: Record<SplitName, string[]> = { train: [], validation: [], test: [] };
  for (const s of ['train', 'validation', 'test'] as SplitName[]) sinks[s].on('data', (d: Buffer) => texts[s].push(d.toString('utf8')));
  await writeSplits(chunks(csv, 4096), { format: 'csv', splitHash }, sinks);
  return Object.fromEntries(Object.entries(texts).map(([s, t]) => [s, t.join('').split('\n').slice(1, -1)])) as Record<SplitName, string[]>;
}

describe('a dataset bigger than the parts threshold', () => {
  const csv = binaryClassificationCsv(4_000, 21);

  /**
   * The first drop of the big file (ingested in parts and trained), whichever test asks first:
   * its result and the lines the cloud logged while it ran (and no other execution's).
   */
  const bigIngested = once(async () => {
    const before = test_.logs.length;
    const result = await dropDataset(test_.cloud, 'big', 'big.csv', csv, 'label');
    return { result, logs: test_.logs.slice(before) };
  });

  test('is scanned, merged and split in parts, trains, and gives the single pass profile and splits', async () => {
    expect(csv.length).toBeGreaterThan(PARTS_ABOVE);
    const { registry } = test_;
    // Fixture: bigIngested (the first drop of big.csv).
    const { result, logs } = await bigIngested();
    expect(result).toMatchObject({ status: 'SUCCEEDED' });
    // The parts' states ran: the Map items are the parts.
    const expectedParts = Math.ceil(Buffer.byteLength(csv) / PART_BYTES);
    for (const state of ['[Hash dataset]', '[Scan part]', '[Merge parts]', '[Split part]', '[Finish ingest]']) {
      expect([state, logs.filter((l) => l.startsWith(state)).length]).toEqual([
        state,
        state === '[Scan part]' || state === '[Split part]' ? expectedParts : 1,
      ]);
    }

    const record = (await registry.datasets.list('big'))[0];
    expect(record).toMatchObject({ status: 'accepted', version: 1, rows: 4_000, parts: expectedParts, bytes: Buffer.byteLength(csv) });
    const single = await scanDataset(chunks(csv, 4096), { fileName: record.s3Uri, target: 'label' });
    expect(record.sha256).toBe(single.sha256);
    // Splits are prefixes of parts, one CSV object per part and split.
    expect(record.splits!.train).toMatch(/\/splits\/big\/v1\/train\/$/);
    const { bucket } = splitUri(record.splits!.train);
    const trainKeys = (await listKeys(bucket, 'splits/big/v1/train/')).filter((k) => k.endsWith('.csv'));
    expect(trainKeys).toHaveLength(expectedParts);

    // The same rows in the same order as a single pass's split files.
    const expected = await singlePassSplits(csv);
    for (const s of ['train', 'validation', 'test'] as SplitName[]) {
      const keys = (await listKeys(bucket, `splits/big/v1/${s}/`)).filter((k) => k.endsWith('.csv'));
      const lines: string[] = [];
      for (const key of keys) {
        const [header, ...rows] = (await getText(bucket, key)).split('\n').slice(0, -1);
        expect(header).toBe('x1,x2,x3,color,label');
        lines.push(...rows);
      }
      expect([s, lines]).toEqual([s, expected[s]]);
      expect(record.splitRows![s]).toBe(expected[s].length);
    }

    // The splits' schema.json: each part's train counts, merged, give the vocabularies one pass counts.
    const onePass = new SplitFeatures(single.schema);
    const drains = { train: new PassThrough(), validation: new PassThrough(), test: new PassThrough() };
    for (const sink of Object.values(drains)) sink.resume();
    await writeSplits(chunks(csv, 4096), { format: 'csv', features: onePass }, drains);
    const trainingSchema = await getObjectJson<DatasetSchema>(bucket, s3Keys.splitSchema('big', 1));
    expect(trainingSchema).toEqual(onePass.trainingSchema());
    expect(trainingSchema.columns.find((c) => c.name === 'color')?.categories?.length).toBeGreaterThan(1);

    // The profile: counts, bounds and categories exact; moments to rounding; histograms within the sketch's error.
    const profile = await getObjectJson<DatasetProfile>(bucket, s3Keys.profile('big', 1));
    expect(profile.rows).toBe(single.profile.rows);
    for (const [name, column] of Object.entries(single.profile.columns)) {
      const merged = profile.columns[name];
      if (column.kind === 'categorical') expect(merged).toEqual(column);
      else {
        const m = merged as NumericColumnProfile;
        expect([name, m.count, m.missing, m.min, m.max]).toEqual([name, column.count, column.missing, column.min, column.max]);
        expect(m.mean).toBeCloseTo(column.mean, 9);
        expect(m.std).toBeCloseTo(column.std, 9);
        const moved = m.histogram.counts.reduce((sum, c, i) => sum + Math.abs(c - column.histogram.counts[i]), 0) / 2;
        expect(moved / column.count).toBeLessThan(0.02);
      }
    }
    const report = await getObjectJson<{ parts: number; rescannedParts: number; accepted: boolean }>(
      bucket,
      s3Keys.validationReport('big', 1),
    );
    expect(report).toMatchObject({ parts: expectedParts, rescannedParts: 0, accepted: true });

    // Trained on the parts and evaluated on the test parts: a registered champion.
    const schema = await registry.models.schemaOf(await registry.models.get('big'));
    expect(schema?.target).toBe('label');
    expect(await registry.aliases.get('big', 'champion')).toMatchObject({ version: 1 });
  }, 240_000);

  test("the parts split by the model's scheme: a model from before schemes were recorded keeps sha1-json", async () => {
    const { registry } = test_;
    // As an earlier release left a model: its schema and a latest dataset, no split scheme.
    const single = await scanDataset(chunks(csv, 4096), { fileName: 'big.csv', target: 'label' });
    await registry.models.fixSchema('big-legacy', single.schema, 1, test_.cloud.dataBucket);
    const result = await dropDataset(test_.cloud, 'big-legacy', 'big.csv', csv, 'label');
    expect(result.status).toBe('SUCCEEDED');
    const record = (await registry.datasets.list('big-legacy'))[0];
    expect(record).toMatchObject({ status: 'accepted', splitHash: 'sha1-json', parts: Math.ceil(Buffer.byteLength(csv) / PART_BYTES) });
    expect(await registry.models.get('big-legacy')).toMatchObject({ splitHash: 'sha1-json' });
    const { bucket } = splitUri(record.splits!.train);
    const legacy = await singlePassSplits(csv, 'sha1-json');
    const current = await singlePassSplits(csv, 'murmur3-csv');
    expect(legacy.test).not.toEqual(current.test);
    for (const s of ['train', 'validation', 'test'] as SplitName[]) {
      const lines: string[] = [];
      for (const key of (await listKeys(bucket, `splits/big-legacy/v${record.version}/${s}/`)).filter((k) => k.endsWith('.csv')))
        lines.push(...(await getText(bucket, key)).split('\n').slice(1, -1));
      expect([s, lines]).toEqual([s, legacy[s]]);
    }
    // The new model beside it (fixture: bigIngested): the default scheme.
    expect((await bigIngested()).result.status).toBe('SUCCEEDED');
    expect((await registry.datasets.list('big'))[0]).toMatchObject({ splitHash: DEFAULT_SPLIT_HASH });
  }, 360_000);

  test('the same bytes again are a DUPLICATE with the existing version, found by the hash of the whole file', async () => {
    // Fixture: bigIngested (the first drop of big.csv, version 1).
    expect((await bigIngested()).result.status).toBe('SUCCEEDED');
    const result = await dropDataset(test_.cloud, 'big', 'again.csv', csv, 'label');
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output?.ingest).toMatchObject({ status: 'DUPLICATE', datasetVersion: 1 });
    expect((await test_.registry.datasets.list('big')).map((d) => d.version)).toEqual([1]);
  }, 360_000);

  test('a bad value deep in the file rejects it with the line a single pass names; the file stays, quarantined', async () => {
    const lines = binaryClassificationCsv(4_000, 22).split('\n');
    lines[3_210] = lines[3_210].replace(/^[^,]*/, 'inf');
    const bad = lines.join('\n');
    const single = await scanDataset(chunks(bad, 4096), { fileName: 'x', target: 'label' });
    const result = await dropDataset(test_.cloud, 'bigbad', 'bad.csv', bad, 'label');
    expect(result.status).toBe('FAILED');
    expect(result.cause).toContain("Column 'x1' in s3://");
    expect(result.cause).toContain('1 non-finite value (row 3211)');
    expect(single.violations[0].exampleRows).toEqual([3211]);
    const record = (await test_.registry.datasets.list('bigbad'))[0];
    expect(record).toMatchObject({ status: 'rejected', parts: Math.ceil(Buffer.byteLength(bad) / PART_BYTES) });
    const { bucket, key } = splitUri(record.s3Uri);
    expect(await getTags(bucket, key)).toMatchObject({ 'mloop-status': 'quarantined' });
    expect(await getText(bucket, key)).toBe(bad);
  }, 120_000);

  test('a ZSTD Parquet file of many row groups is ingested in runs of row groups, with the splits of one pass', async () => {
    const random = mulberry32(31);
    const rows: Cell[][] = Array.from({ length: 6_000 }, () => {
      const x = Math.round(random() * 1e6) / 1e3;
      return [x, Math.round(random() * 1e6) / 1e3, ['red', 'green', 'blue'][Math.floor(random() * 3)], x > 500 ? 1 : 0];
    });
    // Compressed as Polars, DuckDB and Spark write by default (arrow-rs here).
    const column = (i: number) => rows.map((r) => r[i]);
    const bytes = arrowParquet(
      {
        a: arrowVector(new arrow.Float64(), Float64Array.from(column(0) as number[])),
        b: arrowVector(new arrow.Float64(), Float64Array.from(column(1) as number[])),
        color: arrowValues(new arrow.Utf8(), column(2)),
        label: arrowVector(new arrow.Int32(), Int32Array.from(column(3) as number[])),
      },
      { codec: 'ZSTD', rowGroupSize: 500 },
    );
    expect(footer(bytes).row_groups.map((g) => g.columns[0].meta_data?.codec)).toEqual(Array(12).fill('ZSTD'));
    expect(bytes.length).toBeGreaterThan(PARTS_ABOVE);
    const result = await dropDataset(test_.cloud, 'pq', 'data.parquet', bytes, 'label');
    expect(result.status).toBe('SUCCEEDED');
    const record = (await test_.registry.datasets.list('pq'))[0];
    expect(record.status).toBe('accepted');
    expect(record.parts).toBeGreaterThan(1);
    expect(record.rows).toBe(6_000);
    const single = await scanDataset(bufferSource(bytes), { fileName: record.s3Uri, target: 'label' });
    expect(record.sha256).toBe(single.sha256);
    const sinks = { train: new PassThrough(), validation: new PassThrough(), test: new PassThrough() };
    const texts: Record<SplitName, string[]> = { train: [], validation: [], test: [] };
    for (const s of ['train', 'validation', 'test'] as SplitName[]) sinks[s].on('data', (d: Buffer) => texts[s].push(d.toString('utf8')));
    await writeSplits(bufferSource(bytes), { format: 'parquet' }, sinks);
    const { bucket } = splitUri(record.splits!.train);
    for (const s of ['train', 'validation', 'test'] as SplitName[]) {
      const keys = (await listKeys(bucket, `splits/pq/v1/${s}/`)).filter((k) => k.endsWith('.csv'));
      expect(keys).toHaveLength(record.parts!);
      const lines: string[] = [];
      for (const key of keys) lines.push(...(await getText(bucket, key)).split('\n').slice(1, -1));
      expect([s, lines]).toEqual([s, texts[s].join('').split('\n').slice(1, -1)]);
    }
  }, 240_000);

  test('a gzip file over the threshold is read in one pass (a gzip stream cannot be entered midway)', async () => {
    const { gzipSync } = await import('node:zlib');
    // Incompressible enough to stay over the threshold once compressed.
    const body = gzipSync(Buffer.from(binaryClassificationCsv(6_000, 23)), { level: 1 });
    expect(body.length).toBeGreaterThan(PARTS_ABOVE);
    const before = test_.logs.filter((l) => l.startsWith('[Scan part]')).length;
    const result = await dropDataset(test_.cloud, 'gz', 'gz.csv.gz', body, 'label');
    expect([result.status, result.cause]).toEqual(['SUCCEEDED', undefined]);
    expect(result.output?.ingest).toMatchObject({ status: 'ACCEPTED', datasetVersion: 1 });
    expect(test_.logs.filter((l) => l.startsWith('[Scan part]')).length).toBe(before);
    const record = (await test_.registry.datasets.list('gz'))[0];
    expect(record.parts).toBeUndefined();
    expect(record.status).toBe('accepted');
  }, 240_000);
});

describe('the parts states in the template', () => {
  const template = Template.fromStack(
    buildApp(inProcessApp(undefined, { 'mloop:ingestPartsAbove': 1_000_000, 'mloop:ingestPartBytes': 65_536 })),
  );
  const definition = () => {
    const machine = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0] as {
      Properties: { DefinitionString: unknown };
    };
    const text = JSON.stringify(machine.Properties.DefinitionString);
    return text;
  };

  test('scan and split the parts in Distributed Maps of STANDARD child executions, beside one hash pass', () => {
    const text = definition();
    expect(text).toContain('\\"Scan dataset in parts\\":{\\"Type\\":\\"Parallel\\"');
    expect(text.match(/\\"Mode\\":\\"DISTRIBUTED\\",\\"ExecutionType\\":\\"STANDARD\\"/g)).toHaveLength(2);
    expect(text).toContain('\\"ItemsPath\\":\\"$.ingest.parts\\"');
    expect(text).toContain('\\"MaxConcurrency\\":100');
  });

  test('the state machine may start, describe and stop its own executions: the child executions of both Maps', () => {
    // CDK writes this policy for a Distributed Map at the top level of the definition; one inside a
    // Parallel state alone would get none (aws/aws-cdk#29266): 'Split parts' is at the top level.
    const policy = Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) => id.includes('DistributedMapPolicy'));
    expect(policy).toBeDefined();
    const statements = (policy![1] as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } })
      .Properties.PolicyDocument.Statement;
    expect(statements[0]).toEqual({
      Action: 'states:StartExecution',
      Effect: 'Allow',
      Resource: { Ref: expect.stringMatching(/^TrainingStateMachine/) },
    });
    expect(statements[1].Action).toEqual(['states:DescribeExecution', 'states:StopExecution']);
  });

  test('the thresholds reach both ingest functions from the context', () => {
    const fns = Object.values(template.findResources('AWS::Lambda::Function')).filter(
      (f) =>
        (f as { Properties: { Environment?: { Variables?: Record<string, string> } } }).Properties.Environment?.Variables
          ?.PARTS_ABOVE_BYTES,
    ) as { Properties: { Environment: { Variables: Record<string, string> } } }[];
    expect(fns).toHaveLength(2);
    for (const f of fns)
      expect(f.Properties.Environment.Variables).toMatchObject({ PARTS_ABOVE_BYTES: '1000000', PART_BYTES: '65536', MAX_PARTS: '1000' });
  });

  test('the working files expire after 14 days', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Prefix: 'ingest-parts/', ExpirationInDays: 14, Status: 'Enabled' })]),
      },
    });
  });

  test('bad options are refused at synth, naming the option', () => {
    expect(() => resolveIngestionParts({ maxParts: 5000 })).toThrow(/ingestionParts\.maxParts must be an integer from 1 to 1000, got 5000/);
    expect(() => resolveIngestionParts({ partSize: Size.bytes(10) })).toThrow(/ingestionParts\.partSize must be at least 1 KiB/);
    expect(() => buildApp(inProcessApp(undefined, { 'mloop:ingestPartBytes': 'lots' }))).toThrow(
      /Context mloop:ingestPartBytes must be a whole number of bytes, got 'lots'/,
    );
  });
});
