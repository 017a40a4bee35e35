/**
 * Ingest on the local emulators for every format and for schema.json: JSON Lines, gzip and Parquet
 * (read by S3 ranged GETs) are accepted and split as CSV; a schema.json beside the data is checked
 * and enforced, and dropping it starts no training; a schema given in the CDK context
 * (`mloop:datasetSchemas`) reaches Ingest through the template's environment and is enforced, and a
 * schema.json dropped beside the data wins over it; malformed files of the corpus end as
 * rejections with the object kept and tagged quarantined and the dataset version recorded rejected.
 *
 * Ingest is invoked by hand on files in a scratch bucket that no rule watches (as in
 * handlers.test.ts); the drops through the real pipeline go to the data bucket.
 */
import { CreateBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { parse } from 'csv-parse/sync';
import { s3Client } from '../lambdas/shared/clients';
import { s3Keys, s3Uri } from '../lambdas/shared/layout';
import type { SchemaFile } from '../lambdas/shared/schema-file';
import { DATASET_SCHEMAS_CONTEXT_KEY } from '../lib/dataset-schemas';
import type { IngestInput, IngestOutput } from '../lambdas/shared/pipeline';
import { splitOf } from '../lambdas/data/splits';
import { MALFORMED } from './helpers/malformed';
import { gzip, sampleTable, tableCsv, tableJsonl, tableParquet } from './helpers/dataset-files';
import { dropDataset, getObjectJson, getTags, getText, putObject, splitUri, startCloud, stopCloud, type TestCloud } from './helpers/cloud';
import { once } from './helpers/once';

jest.setTimeout(60_000);

const SCRATCH = 'mloop-ingest-formats-scratch';
let t: TestCloud;

/** The schema the CDK context declares for the `props-*` models (sampleTable's columns). */
const PROPS_SCHEMA: SchemaFile = {
  target: 'target',
  columns: [
    { name: 'x', type: 'numeric', nullable: false },
    { name: 'color', type: 'categorical', categories: ['red', 'green', 'blue'] },
    { name: 'target', type: 'categorical' },
  ],
};
const PROPS_MODELS = ['props-declared', 'props-override', 'props-pipeline'];

beforeAll(async () => {
  // As `cdk deploy -c mloop:datasetSchemas=...` would: only the props-* models have a declared schema.
  t = await startCloud({ context: { [DATASET_SCHEMAS_CONTEXT_KEY]: Object.fromEntries(PROPS_MODELS.map((m) => [m, PROPS_SCHEMA])) } });
  await s3Client().send(new CreateBucketCommand({ Bucket: SCRATCH }));
}, 120_000);

afterAll(async () => {
  await stopCloud(t);
}, 60_000);

async function ingestFile(model: string, fileName: string, body: string | Buffer, execution: string): Promise<IngestOutput> {
  const key = s3Keys.dataset(model, fileName);
  await putObject(SCRATCH, key, body);
  const input: IngestInput = {
    detail: { bucket: { name: SCRATCH }, object: { key } },
    execution,
    eventId: `event-${execution}`,
    eventTime: '2024-05-01T12:00:00Z',
  };
  return t.cloud.invoke('ingest', input) as Promise<IngestOutput>;
}

const table = sampleTable(200);
const expectedRows = parse(tableCsv(table)) as string[][];

describe('each format is accepted and split as CSV', () => {
  test.each([
    ['jsonl', 'data.jsonl', () => tableJsonl(table), false],
    ['jsonl-gz', 'data.jsonl.gz', () => gzip(tableJsonl(table)), true],
    ['csv-gz', 'data.csv.gz', () => gzip(tableCsv(table)), true],
    ['parquet', 'data.parquet', () => tableParquet(table, { rowGroupSize: 64 }), false],
  ])('%s (%s)', async (model, fileName, make, gzipped) => {
    const out = await ingestFile(`fmt-${model}`, fileName, make(), `exec-${model}`);
    if (out.status !== 'ACCEPTED') throw new Error(`expected ACCEPTED, got ${JSON.stringify(out)}`);
    // The trainer reads CSV: the splits are CSV with the header, every row in the split of its cells.
    const rows: string[][] = [];
    for (const split of ['train', 'validation', 'test'] as const) {
      const text = await getText(SCRATCH, s3Keys.split(`fmt-${model}`, out.datasetVersion, split));
      const [header, ...body] = parse(text) as string[][];
      expect(header).toEqual(['x', 'color', 'target']);
      for (const row of body) expect(splitOf(row)).toBe(split);
      rows.push(...body);
    }
    expect(rows.sort()).toEqual(expectedRows.slice(1).sort());
    const report = await getObjectJson<Record<string, unknown>>(SCRATCH, s3Keys.validationReport(`fmt-${model}`, out.datasetVersion));
    expect(report).toMatchObject({
      format: model.startsWith('parquet') ? 'parquet' : model.replace('-gz', ''),
      gzip: gzipped,
      accepted: true,
      rows: 200,
      schemaSource: 'inferred',
    });
  });
});

describe('the split scheme: fixed per model, recorded on the model, the version and the report', () => {
  /** Each data row of the version's splits, by split. */
  async function splitRows(model: string, version: number): Promise<Record<'train' | 'validation' | 'test', string[][]>> {
    const out = { train: [] as string[][], validation: [] as string[][], test: [] as string[][] };
    for (const split of ['train', 'validation', 'test'] as const)
      out[split] = (parse(await getText(SCRATCH, s3Keys.split(model, version, split))) as string[][]).slice(1);
    return out;
  }

  test('a new model splits by murmur3-csv, and its next dataset too', async () => {
    const model = 'scheme-new';
    const first = await ingestFile(model, 'a.csv', tableCsv(table), 'exec-scheme-new-1');
    if (first.status !== 'ACCEPTED') throw new Error(`expected ACCEPTED, got ${JSON.stringify(first)}`);
    expect(await t.registry.models.get(model)).toMatchObject({ splitHash: 'murmur3-csv' });
    const splits = await splitRows(model, first.datasetVersion);
    for (const [split, rows] of Object.entries(splits))
      for (const row of rows) expect([row, splitOf(row, 'murmur3-csv')]).toEqual([row, split]);
    // Some rows go elsewhere under the other scheme: the test above could not pass by accident.
    expect(Object.entries(splits).some(([split, rows]) => rows.some((row) => splitOf(row, 'sha1-json') !== split))).toBe(true);
    expect(await t.registry.datasets.get(model, first.datasetVersion)).toMatchObject({ splitHash: 'murmur3-csv' });
    const report = await getObjectJson<Record<string, unknown>>(SCRATCH, s3Keys.validationReport(model, first.datasetVersion));
    expect(report).toMatchObject({ splitBy: 'hash', splitHash: 'murmur3-csv' });

    // The same rows in JSON Lines, plus more: every shared row is in the split it had.
    const more = sampleTable(300);
    const second = await ingestFile(model, 'b.jsonl', tableJsonl(more), 'exec-scheme-new-2');
    if (second.status !== 'ACCEPTED') throw new Error(`expected ACCEPTED, got ${JSON.stringify(second)}`);
    const again = await splitRows(model, second.datasetVersion);
    for (const split of ['train', 'validation', 'test'] as const) {
      const now = new Set(again[split].map((r) => r.join('\u0000')));
      for (const row of splits[split]) expect([split, row, now.has(row.join('\u0000'))]).toEqual([split, row, true]);
    }
  });

  test('a model whose first dataset was accepted before schemes were recorded keeps sha1-json, and records it', async () => {
    const model = 'scheme-legacy';
    // As an earlier release left it: a schema and a latest dataset, no scheme.
    const earlier = await ingestFile('scheme-legacy-source', 'a.csv', tableCsv(table), 'exec-scheme-legacy-0');
    if (earlier.status !== 'ACCEPTED') throw new Error(`expected ACCEPTED, got ${JSON.stringify(earlier)}`);
    const schema = await t.registry.models.schemaOf(await t.registry.models.get('scheme-legacy-source'));
    await t.registry.models.fixSchema(model, schema!, 1, SCRATCH);
    expect((await t.registry.models.get(model))?.splitHash).toBeUndefined();

    const out = await ingestFile(model, 'b.csv', tableCsv(table), 'exec-scheme-legacy-1');
    if (out.status !== 'ACCEPTED') throw new Error(`expected ACCEPTED, got ${JSON.stringify(out)}`);
    for (const [split, rows] of Object.entries(await splitRows(model, out.datasetVersion)))
      for (const row of rows) expect([row, splitOf(row, 'sha1-json')]).toEqual([row, split]);
    expect(await t.registry.models.get(model)).toMatchObject({ splitHash: 'sha1-json' });
    expect(await t.registry.datasets.get(model, out.datasetVersion)).toMatchObject({ splitHash: 'sha1-json' });
    const report = await getObjectJson<Record<string, unknown>>(SCRATCH, s3Keys.validationReport(model, out.datasetVersion));
    expect(report).toMatchObject({ splitHash: 'sha1-json' });
  });
});

describe('schema.json beside the data', () => {
  const MODEL = 'declared';
  const schemaJson = {
    target: 'target',
    columns: [
      { name: 'x', type: 'numeric', nullable: false },
      { name: 'color', type: 'categorical', categories: ['red', 'green', 'blue'] },
      { name: 'target', type: 'categorical' },
    ],
  };

  /** schema.json put beside the model's data and ingested, whichever test asks first. */
  const schemaIngested = once(() => ingestFile(MODEL, 'schema.json', JSON.stringify(schemaJson), 'schema-1'));

  test('ingesting schema.json itself checks it and answers CONFIG (nothing to train)', async () => {
    // Fixture: schemaIngested.
    const out = await schemaIngested();
    expect(out).toEqual({
      status: 'CONFIG',
      model: MODEL,
      datasetVersion: null,
      file: 'schema.json',
      uri: s3Uri(SCRATCH, `datasets/${MODEL}/schema.json`),
    });
  });

  test('a dataset is checked against it: categories outside the declared ones are rejected', async () => {
    // Fixture: schemaIngested (the schema.json this dataset is checked against).
    expect(await schemaIngested()).toMatchObject({ status: 'CONFIG' });
    const rows = tableCsv(sampleTable(30)).replace('\n2,blue,0\n', '\n2,purple,0\n');
    await expect(ingestFile(MODEL, 'bad.csv', rows, 'declared-bad')).rejects.toThrow(
      `Column 'color' in ${s3Uri(SCRATCH, `datasets/${MODEL}/bad.csv`)} has 1 value outside the categories schema.json declares (row 10), such as 'purple'; expected one of 'red', 'green', 'blue'.`,
    );
    const out = await ingestFile(MODEL, 'good.csv', tableCsv(sampleTable(30)), 'declared-good');
    if (out.status !== 'ACCEPTED') throw new Error(JSON.stringify(out));
    // The declared types win over inference: the 0/1 target is categorical, as schema.json says.
    const schema = await getObjectJson<{ columns: { name: string; type: string }[]; task: string; classes: string[] }>(
      SCRATCH,
      s3Keys.splitSchema(MODEL, out.datasetVersion),
    );
    expect(schema.columns.find((c) => c.name === 'target')?.type).toBe('categorical');
    expect(schema).toMatchObject({ task: 'classification', classes: ['0', '1'] });
    const report = await getObjectJson<Record<string, unknown>>(SCRATCH, s3Keys.validationReport(MODEL, out.datasetVersion));
    expect(report.schemaSource).toBe(s3Uri(SCRATCH, `datasets/${MODEL}/schema.json`));
  });

  test('an invalid schema.json is reported with the field it concerns', async () => {
    const bad = { ...schemaJson, columns: [{ name: 'x', type: 'number' }] };
    await expect(ingestFile('declared-bad', 'schema.json', JSON.stringify(bad), 'schema-bad')).rejects.toThrow(
      `${s3Uri(SCRATCH, 'datasets/declared-bad/schema.json')} is not a valid schema: columns[0].type: expected 'numeric', 'categorical' or 'datetime'.`,
    );
    // ...and stops the datasets of the model until it is fixed.
    await expect(ingestFile('declared-bad', 'data.csv', tableCsv(sampleTable(30)), 'schema-bad-data')).rejects.toThrow(
      /columns\[0\]\.type: expected 'numeric', 'categorical' or 'datetime'/,
    );
  });

  test("the state machine ends a CONFIG ingest in success without training (the synthesized 'New dataset?' choice)", () => {
    const machine = t.cloud.template.stateMachines[0].definition as {
      States: Record<string, { Type: string; Choices?: { Variable: string; StringEquals: string; Next: string }[] }>;
    };
    const choice = machine.States['New dataset?'];
    const config = choice.Choices?.find((c) => c.Variable === '$.ingest.status' && c.StringEquals === 'CONFIG');
    expect(config).toBeDefined();
    expect(machine.States[config!.Next].Type).toBe('Succeed');
  });

  test('dropped in the data bucket, schema.json starts a run that succeeds without a dataset version', async () => {
    const result = await dropDataset(t.cloud, 'declared-drop', 'schema.json', JSON.stringify(schemaJson));
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output?.ingest).toMatchObject({ status: 'CONFIG', file: 'schema.json' });
    expect(await t.registry.datasets.list('declared-drop')).toEqual([]);
  });
});

describe('a schema given in the CDK props (mloop:datasetSchemas)', () => {
  /** sampleTable's CSV with row 10 (the 9th data row, '2,blue,0') changed. */
  const withRow10 = (row: string) => tableCsv(sampleTable(30)).replace('\n2,blue,0\n', `\n${row}\n`);

  test("the local runtime gives the Ingest function the template's DATASET_SCHEMAS", () => {
    const ingest = t.cloud.template.functions.find((f) => f.functionId === 'ingest');
    expect(JSON.parse(ingest!.environment.DATASET_SCHEMAS)).toEqual(Object.fromEntries(PROPS_MODELS.map((m) => [m, PROPS_SCHEMA])));
  });

  test('a dataset with a column the schema does not declare is rejected with the extra_column violation', async () => {
    const model = 'props-declared';
    const extra = tableCsv({ header: ['x', 'color', 'target', 'region'], rows: sampleTable(30).rows.map((r) => [...r, 'eu']) });
    const uri = s3Uri(SCRATCH, `datasets/${model}/extra.csv`);
    // The model's other tests record versions too: the record is the one this ingest added.
    const before = (await t.registry.datasets.list(model)).map((r) => r.version);
    await expect(ingestFile(model, 'extra.csv', extra, 'props-extra')).rejects.toThrow(
      `Dataset ${uri} was rejected: Column 'region' in ${uri} is not in the CDK props' schema (datasetSchemas); expected only the columns 'x', 'color', 'target'.`,
    );
    const after = await t.registry.datasets.list(model);
    expect(after.map((r) => r.version)).toEqual([...before, Math.max(0, ...before) + 1]);
    const record = after[after.length - 1];
    expect(record.s3Uri).toBe(uri);
    const report = await getObjectJson<{ schemaSource: string; violations: { check: string; column: string }[] }>(
      SCRATCH,
      splitUri(record.reportUri!).key,
    );
    expect(report.schemaSource).toBe('cdk-props');
    expect(report.violations).toEqual([expect.objectContaining({ check: 'extra_column', column: 'region' })]);
  });

  test('a dataset with a value outside the declared categories is rejected with the category_domain violation', async () => {
    const model = 'props-declared';
    const uri = s3Uri(SCRATCH, `datasets/${model}/purple.csv`);
    await expect(ingestFile(model, 'purple.csv', withRow10('2,purple,0'), 'props-purple')).rejects.toThrow(
      `Dataset ${uri} was rejected: Column 'color' in ${uri} has 1 value outside the categories the CDK props' schema (datasetSchemas) declares (row 10), such as 'purple'; expected one of 'red', 'green', 'blue'.`,
    );
  });

  test("a dataset that keeps to it is accepted with the declared types, its report's schemaSource 'cdk-props'", async () => {
    const model = 'props-declared';
    const out = await ingestFile(model, 'good.csv', tableCsv(sampleTable(30)), 'props-good');
    if (out.status !== 'ACCEPTED') throw new Error(JSON.stringify(out));
    // Inference would make the 0/1 target numeric (a regression); the props declare it categorical.
    const schema = await getObjectJson<{ columns: { name: string; type: string }[]; task: string }>(
      SCRATCH,
      s3Keys.splitSchema(model, out.datasetVersion),
    );
    expect(schema.columns.find((c) => c.name === 'target')?.type).toBe('categorical');
    expect(schema.task).toBe('classification');
    const report = await getObjectJson<Record<string, unknown>>(SCRATCH, s3Keys.validationReport(model, out.datasetVersion));
    expect(report.schemaSource).toBe('cdk-props');
  });

  test('a schema.json dropped beside the data wins over it: the same bytes, refused before, are accepted after', async () => {
    const model = 'props-override';
    const purple = withRow10('2,purple,0');
    await expect(ingestFile(model, 'colors.csv', purple, 'override-before')).rejects.toThrow(
      "outside the categories the CDK props' schema (datasetSchemas) declares (row 10), such as 'purple'",
    );
    const dropped = {
      ...PROPS_SCHEMA,
      columns: [
        PROPS_SCHEMA.columns[0],
        { name: 'color', type: 'categorical', categories: ['red', 'green', 'blue', 'purple'] },
        PROPS_SCHEMA.columns[2],
      ],
    };
    await putObject(SCRATCH, s3Keys.dataset(model, 'schema.json'), JSON.stringify(dropped));
    const out = await ingestFile(model, 'colors.csv', purple, 'override-after');
    if (out.status !== 'ACCEPTED') throw new Error(JSON.stringify(out));
    const report = await getObjectJson<Record<string, unknown>>(SCRATCH, s3Keys.validationReport(model, out.datasetVersion));
    expect(report.schemaSource).toBe(s3Uri(SCRATCH, `datasets/${model}/schema.json`));
  });

  test('dropped in the data bucket, a dataset that breaks it ends the pipeline FAILED at Ingest with the violation', async () => {
    const model = 'props-pipeline';
    const result = await dropDataset(t.cloud, model, 'purple.csv', withRow10('2,purple,0'));
    expect(result.status).toBe('FAILED');
    expect(result.cause).toContain(
      `Column 'color' in ${s3Uri(t.cloud.dataBucket, `datasets/${model}/purple.csv`)} has 1 value outside the categories`,
    );
    const [record] = await t.registry.datasets.list(model);
    expect(record.status).toBe('rejected');
  });
});

describe('malformed files through the real Ingest handler: kept, tagged quarantined, recorded rejected', () => {
  const cases = MALFORMED.filter((c) =>
    [
      'truncated.csv.gz',
      'invalid-json.jsonl',
      'not-parquet.parquet',
      'nan.parquet',
      'non-utf8.csv',
      'crlf-mixed.csv',
      'all-null-column.csv',
    ].includes(c.fileName),
  );

  test.each(cases.map((c) => [c.fileName, c] as const))('%s', async (fileName, c) => {
    const model = `bad-${fileName.replace(/[^a-z0-9]+/g, '-')}`.replace(/-+$/, '');
    const key = s3Keys.dataset(model, fileName);
    const bytes = c.bytes();
    await expect(ingestFile(model, fileName, bytes, `reject-${model}`)).rejects.toThrow(`Dataset ${s3Uri(SCRATCH, key)} was rejected: `);
    // Nothing lost: the object is where it was dropped, byte for byte, and tagged.
    const head = await s3Client().send(new HeadObjectCommand({ Bucket: SCRATCH, Key: key }));
    expect(head.ContentLength).toBe(bytes.length);
    expect(await getTags(SCRATCH, key)).toMatchObject({ 'mloop-status': 'quarantined' });
    const [record] = await t.registry.datasets.list(model);
    expect(record).toMatchObject({ status: 'rejected', bytes: bytes.length, reason: expect.stringContaining(s3Uri(SCRATCH, key)) });
    const report = await getObjectJson<{ violations: { check: string; column?: string; exampleRows: number[] }[] }>(
      SCRATCH,
      splitUri(record.reportUri!).key,
    );
    expect(report.violations).toContainEqual(
      expect.objectContaining({ check: c.check, ...(c.column ? { column: c.column } : {}), ...(c.rows ? { exampleRows: c.rows } : {}) }),
    );
  });

  test('a corrupt Parquet file dropped in the data bucket ends the pipeline FAILED, kept and quarantined', async () => {
    const whole = tableParquet(sampleTable(100));
    const result = await dropDataset(t.cloud, 'bad-drop', 'cut.parquet', whole.subarray(0, whole.length - 30));
    expect(result.status).toBe('FAILED');
    expect(result.cause).toContain(`${s3Uri(t.cloud.dataBucket, 'datasets/bad-drop/cut.parquet')} is not a readable Parquet file`);
    expect(await getTags(t.cloud.dataBucket, 'datasets/bad-drop/cut.parquet')).toMatchObject({ 'mloop-status': 'quarantined' });
    const [record] = await t.registry.datasets.list('bad-drop');
    expect(record.status).toBe('rejected');
  });
});
