/**
 * Splits by a time column (schema.json `timeColumn`): the earliest 80% of the rows train, the next
 * 10% validate, the latest 10% test, with every row of one time in one split, the same way on every
 * run; bad or missing times are violations; a file ingested in parts gets the same cut points where
 * the sketch is exact.
 */
import { PassThrough } from 'node:stream';
import { PartMerger, partLayout, scanPart } from '../lambdas/data/part-scan';
import { readTime } from '../lambdas/data/cells';
import { scanDataset } from '../lambdas/data/scan';
import { writeSplits, type SplitName } from '../lambdas/data/splits';
import type { ScanOptions } from '../lambdas/data/scan-types';
import { parseSchemaFile, type SchemaInput } from '../lambdas/shared/schema-file';
import { chunks } from './helpers/dataset-files';
import { mulberry32 } from './helpers/datasets';
import { dropDataset, getObjectJson, getText, listKeys, putObject, splitUri, startCloud, stopCloud, type TestCloud } from './helpers/cloud';
import { s3Keys } from '../lambdas/shared/layout';

const schema: SchemaInput = {
  target: 'label',
  timeColumn: 'day',
  columns: [
    { name: 'x', type: 'numeric', nullable: true },
    { name: 'label', type: 'categorical', nullable: false },
  ],
};

/** Rows over 100 days (shuffled, several per day), with `day` as a date. */
function dailyCsv(rows: number, seed: number): string {
  const random = mulberry32(seed);
  const lines = ['day,x,label'];
  for (let i = 0; i < rows; i++) {
    const day = new Date(Date.UTC(2024, 0, 1) + Math.floor(random() * 100) * 86_400_000).toISOString().slice(0, 10);
    const x = (random() * 10).toFixed(3);
    lines.push(`${day},${x},${Number(x) > 5 ? 1 : 0}`);
  }
  return lines.join('\n') + '\n';
}

async function splitTexts(csv: string, options: Parameters<typeof writeSplits>[1]): Promise<Record<SplitName, string[]>> {
  const sinks = { train: new PassThrough(), validation: new PassThrough(), test: new PassThrough() };
  const parts: Record<SplitName, string[]> = { train: [], validation: [], test: [] };
  for (const s of ['train', 'validation', 'test'] as SplitName[]) sinks[s].on('data', (d: Buffer) => parts[s].push(d.toString('utf8')));
  await writeSplits(chunks(csv, 1000), options, sinks);
  return Object.fromEntries(Object.entries(parts).map(([s, t]) => [s, t.join('').split('\n').slice(1, -1)])) as Record<SplitName, string[]>;
}

const dayOf = (line: string) => Date.parse(line.split(',')[0]);

describe('reading a time', () => {
  test('ISO dates and date-times (UTC without a zone) and numbers; nothing else', () => {
    expect(readTime('2024-05-01')).toBe(Date.UTC(2024, 4, 1));
    expect(readTime('2024-05-01T12:30')).toBe(Date.UTC(2024, 4, 1, 12, 30));
    expect(readTime('2024-05-01 12:30:00.5')).toBe(Date.UTC(2024, 4, 1, 12, 30, 0, 500));
    expect(readTime('2024-05-01T12:30:00+02:00')).toBe(Date.UTC(2024, 4, 1, 10, 30));
    expect(readTime(' 1714564800 ')).toBe(1714564800);
    for (const bad of ['May 1, 2024', '01/05/2024', '2024-13-45', 'yesterday', 'NaN'])
      expect([bad, readTime(bad)]).toEqual([bad, undefined]);
  });

  test('schema.json takes a timeColumn, but not the target', () => {
    const ok = parseSchemaFile(JSON.stringify({ ...schema }), 'schema.json');
    expect(ok).toMatchObject({ ok: true, schema: { timeColumn: 'day' } });
    const bad = parseSchemaFile(JSON.stringify({ ...schema, timeColumn: 'label' }), 'datasets/m/schema.json');
    expect(bad).toMatchObject({
      ok: false,
      message: 'datasets/m/schema.json is not a valid schema: timeColumn: the target cannot be the time column the rows are split by.',
    });
  });
});

describe('splitting by time', () => {
  const csv = dailyCsv(3_000, 5);
  const options: ScanOptions = { fileName: 'daily.csv', schema, strictSchema: true };

  test('the earliest rows train, the latest test; one day never straddles two splits; the same every run', async () => {
    const scan = await scanDataset(chunks(csv, 4096), options);
    expect(scan.violations).toEqual([]);
    expect(scan.timeSplit?.column).toBe('day');
    const splits = await splitTexts(csv, { format: 'csv', timeSplit: scan.timeSplit });
    const [train, validation, test] = [splits.train, splits.validation, splits.test];
    expect(train.length + validation.length + test.length).toBe(3_000);
    expect(Math.max(...train.map(dayOf))).toBeLessThan(Math.min(...validation.map(dayOf)));
    expect(Math.max(...validation.map(dayOf))).toBeLessThan(Math.min(...test.map(dayOf)));
    // About 80/10/10: whole days move together, and 100 days of about 30 rows each.
    expect(train.length / 3_000).toBeGreaterThan(0.75);
    expect(train.length / 3_000).toBeLessThan(0.85);
    expect(test.length / 3_000).toBeGreaterThan(0.05);
    const again = await splitTexts(csv, { format: 'csv', timeSplit: (await scanDataset(chunks(csv, 999), options)).timeSplit });
    expect(again).toEqual(splits);
    // The cut points lie inside the data's time range, in order.
    const [first, second] = scan.timeSplit!.cutoffs;
    expect(first).toBeGreaterThan(Date.UTC(2024, 0, 1));
    expect(second).toBeGreaterThan(first);
    expect(second).toBeLessThan(Date.UTC(2024, 0, 1) + 100 * 86_400_000);
  });

  test('a shuffled copy of the rows splits the same rows the same way (by time, not by position)', async () => {
    const [header, ...rows] = csv.trim().split('\n');
    const random = mulberry32(9);
    const shuffled = [...rows].sort(() => random() - 0.5);
    const text = [header, ...shuffled].join('\n') + '\n';
    const a = await splitTexts(csv, { format: 'csv', timeSplit: (await scanDataset(chunks(csv, 4096), options)).timeSplit });
    const b = await splitTexts(text, { format: 'csv', timeSplit: (await scanDataset(chunks(text, 4096), options)).timeSplit });
    for (const s of ['train', 'validation', 'test'] as SplitName[]) expect([s, [...b[s]].sort()]).toEqual([s, [...a[s]].sort()]);
  });

  test('bad and missing times and a missing time column are violations that name the column and rows', async () => {
    const lines = csv.split('\n');
    lines[10] = lines[10].replace(/^[^,]*/, '10/01/2024');
    lines[20] = lines[20].replace(/^[^,]*/, '');
    const scan = await scanDataset(chunks(lines.join('\n'), 4096), options);
    expect(scan.accepted).toBe(false);
    expect(scan.violations.map((v) => v.message)).toEqual([
      "Time column 'day' in daily.csv has 1 value that is not a time (row 11), such as '10/01/2024'; expected an ISO 8601 date or date-time (2024-05-01, 2024-05-01T12:30:00Z; UTC when no zone is given) or a number.",
      "Time column 'day' in daily.csv is empty in 1 row (row 21); expected a time in every row, since the rows are split by it.",
    ]);
    const noDay = csv.replace(/^day,/gm, '').replace(/^\d{4}-\d{2}-\d{2},/gm, '');
    const missing = await scanDataset(chunks(noDay, 4096), options);
    expect(missing.violations.map((v) => v.message)).toEqual([
      "Time column 'day' of schema.json is missing from daily.csv; expected a column of times, which the rows are split by; found the columns 'x', 'label'.",
    ]);
  });

  test('in parts: the same cut points as one pass while the times fit the exact sketch', async () => {
    const small = dailyCsv(900, 6);
    const single = await scanDataset(chunks(small, 4096), options);
    const layout = (await partLayout(Buffer.from(small).subarray(0, 4096), 'csv'))!;
    const bytes = Buffer.from(small);
    const merger = new PartMerger(options);
    for (let index = 0, start = 0; start < bytes.length; index++, start += 3_000) {
      const from = start > 0 ? start - 1 : 0;
      const part = await scanPart(chunks(bytes.subarray(from), 500), options, {
        index,
        start,
        end: Math.min(bytes.length, start + 3_000),
        size: bytes.length,
        from,
        layout,
      });
      merger.add(part);
    }
    expect(merger.result(single.sha256, single.bytes).timeSplit).toEqual(single.timeSplit);
  });
});

describe('through the local pipeline', () => {
  let cloud: TestCloud;
  beforeAll(async () => {
    cloud = await startCloud();
  }, 120_000);
  afterAll(async () => stopCloud(cloud));

  test('a model whose schema.json names a time column trains on its earliest rows and is tested on its latest', async () => {
    await putObject(cloud.cloud.dataBucket, s3Keys.dataset('daily', 'schema.json'), JSON.stringify(schema));
    const result = await dropDataset(cloud.cloud, 'daily', 'daily.csv', dailyCsv(2_000, 7));
    expect(result.status).toBe('SUCCEEDED');
    const record = (await cloud.registry.datasets.list('daily'))[0];
    const { bucket } = splitUri(record.splits!.train);
    const text = async (s: SplitName) => (await getText(bucket, s3Keys.split('daily', 1, s))).trim().split('\n').slice(1);
    const [train, test] = [await text('train'), await text('test')];
    expect(Math.max(...train.map(dayOf))).toBeLessThan(Math.min(...test.map(dayOf)));
    const report = await getObjectJson<{ splitBy: { timeColumn: string; cutoffs: number[] } }>(bucket, s3Keys.validationReport('daily', 1));
    expect(report.splitBy.timeColumn).toBe('day');
    expect(report.splitBy.cutoffs).toHaveLength(2);
    // The time orders the rows; it is not a feature of the model.
    const fixed = await cloud.registry.models.schemaOf(await cloud.registry.models.get('daily'));
    expect(fixed?.timeColumn).toBe('day');
    const version = await cloud.registry.versions.get('daily', 1);
    expect(version).toBeDefined();
    const card = await getObjectJson<{ features: { name: string }[] }>(bucket, `models/daily/v1/model-card.json`);
    expect(card.features.map((f) => f.name)).toEqual(['x']);
    expect((await listKeys(bucket, 'splits/daily/v1/')).length).toBeGreaterThanOrEqual(4);
  }, 240_000);
});
