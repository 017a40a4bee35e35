/**
 * Formats of dropped datasets: JSON Lines, Parquet and gzip-compressed text give the same checks,
 * schema and profile as the same table in CSV; splits are CSV whatever the format; problems
 * particular to a format (an invalid JSON line, a truncated gzip stream, a corrupt Parquet file)
 * end as violations that name the file and the line or row.
 */
import { createHash } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import { scanDataset } from '../lambdas/data/scan';
import { splitOf, type SplitName } from '../lambdas/data/splits';
import type { ScanOptions, ScanResult, Violation } from '../lambdas/data/scan-types';
import { bufferSource, formatFromName, LineReader, type RandomAccessSource } from '../lambdas/data/formats';
import type { DatasetSchema } from '../lambdas/shared/types';
import { chunks, gzip, sampleTable, splitsOf, tableCsv, tableJsonl, tableParquet, type Table } from './helpers/dataset-files';

function scan(fileName: string, data: string | Buffer, options: Partial<ScanOptions> = {}, size = 7): Promise<ScanResult> {
  return scanDataset(chunks(data, size), { fileName, ...options });
}

function one(result: ScanResult, check: Violation['check']): Violation {
  const found = result.violations.filter((v) => v.check === check);
  expect(found).toHaveLength(1);
  return found[0];
}

const sha = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** What must not depend on the format: rows, header, schema, profile, violations. */
function content(result: ScanResult): unknown {
  return { rows: result.rows, header: result.header, schema: result.schema, profile: result.profile, accepted: result.accepted };
}

describe('formatFromName', () => {
  test.each([
    ['datasets/m/a.csv', 'csv', false],
    ['datasets/m/a.CSV.GZ', 'csv', true],
    ['a.tsv', 'csv', false],
    ['a.jsonl', 'jsonl', false],
    ['a.ndjson', 'jsonl', false],
    ['a.jsonl.gz', 'jsonl', true],
    ['a.ndjson.gz', 'jsonl', true],
    ['a.parquet', 'parquet', false],
    ['s3://bucket/datasets/m/part-0.pq', 'parquet', false],
    ['a.gz', 'csv', true],
    ['data', 'csv', false],
  ])('%s is %s (gzip %s)', (name, format, gz) => {
    expect(formatFromName(name)).toEqual({ format, gzip: gz });
  });
});

describe('every format gives what CSV gives', () => {
  const table = sampleTable(60);
  let reference: ScanResult;
  beforeAll(async () => {
    reference = await scan('d.csv', tableCsv(table));
    expect(reference.accepted).toBe(true);
    expect(reference.format).toBe('csv');
  });

  test('JSON Lines: same schema and profile, hash of its own bytes', async () => {
    const text = tableJsonl(table);
    const result = await scan('d.jsonl', text);
    expect(result.violations).toEqual([]);
    expect(result.format).toBe('jsonl');
    expect(content(result)).toEqual(content(reference));
    expect(result.sha256).toBe(sha(text));
    expect(result.bytes).toBe(Buffer.byteLength(text));
  });

  test('.ndjson, CRLF line ends, a BOM and blank lines', async () => {
    const text = '\ufeff' + tableJsonl(table).replace(/\n/g, '\r\n\r\n');
    const result = await scan('d.ndjson', text, {}, 5);
    expect(content(result)).toEqual(content(reference));
  });

  test('gzip: csv.gz and jsonl.gz as the plain files, hashed as stored (compressed)', async () => {
    const gz = gzip(tableCsv(table));
    const result = await scan('d.csv.gz', gz, {}, 3);
    expect(result.violations).toEqual([]);
    expect([result.format, result.gzip]).toEqual(['csv', true]);
    expect(content(result)).toEqual(content(reference));
    expect(result.sha256).toBe(sha(gz));
    expect(result.bytes).toBe(gz.length);
    const jsonl = await scan('d.jsonl.gz', gzip(tableJsonl(table)), {}, 1);
    expect([jsonl.format, jsonl.gzip]).toEqual(['jsonl', true]);
    expect(content(jsonl)).toEqual(content(reference));
  });

  test('gzip is found by its magic bytes whatever the name', async () => {
    const result = await scan('d.csv', gzip(tableCsv(table)));
    expect([result.format, result.gzip]).toEqual(['csv', true]);
    expect(content(result)).toEqual(content(reference));
  });

  test('Parquet: from a stream, by ranges, in several row groups; found by its magic bytes', async () => {
    const bytes = tableParquet(table, { rowGroupSize: 17 });
    const streamed = await scan('d.parquet', bytes, {}, 1000);
    expect(streamed.violations).toEqual([]);
    expect(streamed.format).toBe('parquet');
    expect(content(streamed)).toEqual(content(reference));
    expect(streamed.sha256).toBe(sha(bytes));
    const ranged = await scanDataset(bufferSource(bytes), { fileName: 'd.parquet' });
    expect(content(ranged)).toEqual(content(reference));
    expect(ranged.sha256).toBe(sha(bytes));
    expect(ranged.bytes).toBe(bytes.length);
    const misnamed = await scan('d.csv', bytes, {}, 3);
    expect(content(misnamed)).toEqual(content(reference));
  });

  test('Parquet integer, boolean, timestamp and null values become cells', async () => {
    const rows = Array.from({ length: 12 }, (_, i) => [
      BigInt(i) * 10n ** 12n,
      i % 3 === 0,
      new Date(Date.UTC(2024, 0, 1 + (i % 2))),
      i % 4 === 0 ? null : i % 2,
    ]);
    const bytes = tableParquet(
      { header: ['big', 'flag', 'day', 'target'], rows: rows as never },
      { types: { big: 'INT64', day: 'TIMESTAMP', target: 'INT32' } },
    );
    const result = await scan('t.parquet', bytes);
    // A timestamp is a datetime column: profiled as its time (days since 1970-01-01), and its
    // derived features each as a numeric column.
    const jan1 = Date.UTC(2024, 0, 1) / 86_400_000;
    expect(result.profile.columns.day).toMatchObject({ kind: 'numeric', count: 12, min: jan1, max: jan1 + 1 });
    expect(result.profile.columns['day.dom']).toMatchObject({ kind: 'numeric', count: 12, min: 1, max: 2 });
    expect(result.profile.columns['day.dow']).toMatchObject({ kind: 'numeric', min: 0, max: 1 }); // Monday, Tuesday
    expect(result.violations).toEqual([expect.objectContaining({ check: 'completeness', column: 'target', exampleRows: [1, 5, 9] })]);
    expect(result.schema.columns.map((c) => [c.name, c.type])).toEqual([
      ['big', 'numeric'],
      ['flag', 'categorical'],
      ['day', 'datetime'],
      ['target', 'numeric'],
    ]);
    // Midnight every time: whole days, so only the calendar's parts (no hour, minute).
    expect(result.schema.columns[2].parts).toEqual(['dow', 'dom', 'month', 'doy', 'time', 'doy_sin', 'doy_cos']);
    expect(result.schema.columns[1].boolean).toEqual(['false', 'true']);
    expect(result.profile.columns.big).toMatchObject({ kind: 'numeric', count: 12, max: 11e12 });
    expect(result.profile.columns.flag).toMatchObject({ kind: 'categorical', frequencies: { true: 4, false: 8 } });
  });

  test('a random-access CSV source is read as a stream', async () => {
    const result = await scanDataset(bufferSource(Buffer.from(tableCsv(table))), { fileName: 'd.csv' });
    expect(content(result)).toEqual(content(reference));
  });
});

describe('JSON Lines records', () => {
  test('keys in any order; a missing or null key is an empty cell; a key first seen later is a column empty before', async () => {
    const lines = [];
    for (let i = 0; i < 12; i++) {
      const row: Record<string, unknown> = i % 2 ? { target: i % 2, x: i } : { x: i, target: i % 2 };
      if (i === 3) row.x = null;
      if (i >= 8) row.late = 'yes';
      lines.push(JSON.stringify(row));
    }
    const result = await scan('d.jsonl', lines.join('\n'));
    expect(result.header).toEqual(['x', 'target', 'late']);
    expect(result.profile.columns.x).toMatchObject({ count: 11, missing: 1 });
    expect(result.profile.columns.late).toMatchObject({ count: 4, missing: 8 });
    const v = one(result, 'completeness');
    expect(v.column).toBe('late');
    expect(v.exampleRows).toEqual([1, 2, 3, 4, 5]);
    expect(v.message).toBe(
      "Column 'late' in d.jsonl is empty in 8 of 12 rows (67%; rows 1, 2, 3, 4, 5 and 3 more); expected at most 50% empty cells.",
    );
  });

  test('an invalid JSON line is named with its line number and the parser reason; the rest is still read', async () => {
    const good = tableJsonl(sampleTable(12)).split('\n');
    good.splice(3, 0, '{"x": 1, "color": "red", "target": 0', '');
    good.splice(8, 0, '[1, 2, 3]');
    const text = good.join('\n');
    const result = await scan('datasets/m/d.jsonl', text, {}, 4);
    expect(result.rows).toBe(14);
    const [invalid, notObject] = result.violations;
    expect(invalid.check).toBe('malformed_row');
    expect(invalid.exampleRows).toEqual([4]);
    expect(invalid.message).toMatch(
      /^datasets\/m\/d\.jsonl has 1 line that is not valid JSON \(line 4\); line 4: .+; expected one JSON object per line\.$/,
    );
    expect(notObject.message).toBe(
      "datasets/m/d.jsonl has 1 line that is JSON but not an object (line 9), such as '[1, 2, 3]'; expected one JSON object per line, with the columns as keys.",
    );
    expect(result.profile.columns.x.count).toBe(12);
  });

  test('a nested value is a type_mismatch naming the column and line', async () => {
    const lines = tableJsonl(sampleTable(12)).trim().split('\n');
    lines[6] = JSON.stringify({ x: { a: 1 }, color: 'red', target: 0 });
    const v = one(await scan('d.jsonl', lines.join('\n')), 'type_mismatch');
    expect(v).toMatchObject({ column: 'x', exampleRows: [7], count: 1 });
    expect(v.message).toBe(
      "Column 'x' in d.jsonl has 1 nested or binary value (row 7), such as an object, an array or raw bytes; expected a number, a string, a boolean or null in every row.",
    );
  });

  test('invalid UTF-8 names its line', async () => {
    const text = Buffer.concat([
      Buffer.from(tableJsonl(sampleTable(12)).split('\n').slice(0, 5).join('\n') + '\n{"x": 1, "color": "'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('", "target": 1}\n'),
    ]);
    const v = one(await scan('d.jsonl', text, {}, 3), 'encoding');
    expect(v.exampleRows).toEqual([6]);
    expect(v.message).toMatch(/^d\.jsonl is not valid UTF-8: the byte sequence at byte offset \d+ \(line 6\) is invalid/);
  });

  test('LineReader: lines across chunks, CR LF, no final line end', () => {
    const seen: [string, number][] = [];
    const reader = new LineReader((text, line) => seen.push([text, line]), 100);
    for (const part of ['{"a"', ':1}\r', '\n\n  \n{"b":2}\n{"c"', ':3}']) reader.push(Buffer.from(part));
    reader.end();
    expect(seen).toEqual([
      ['{"a":1}', 1],
      ['{"b":2}', 4],
      ['{"c":3}', 5],
    ]);
  });
});

describe('gzip problems', () => {
  test('a truncated gzip stream is corrupt_file, with the rest hashed', async () => {
    const whole = gzip(tableCsv(sampleTable(2000)));
    const cut = whole.subarray(0, Math.floor(whole.length / 2));
    const result = await scan('datasets/m/big.csv.gz', cut, {}, 500);
    expect(result.accepted).toBe(false);
    expect(result.sha256).toBe(sha(cut));
    const v = one(result, 'corrupt_file');
    expect(v.message).toBe(
      'datasets/m/big.csv.gz is not a complete gzip stream (unexpected end of file); expected a whole gzip file (was it cut short while uploading?).',
    );
    // Nothing is judged on a part of the data.
    expect(result.violations.map((x) => x.check)).toEqual(['corrupt_file']);
  });

  test('corrupt gzip data is corrupt_file too', async () => {
    const bytes = Buffer.from(gzip(tableCsv(sampleTable(200))));
    bytes.fill(0x55, 40, 80);
    const v = one(await scan('d.csv.gz', bytes), 'corrupt_file');
    expect(v.message).toMatch(/^d\.csv\.gz is not a complete gzip stream \(.+\); expected a whole gzip file/);
  });
});

describe('Parquet problems', () => {
  const schema: DatasetSchema = {
    columns: [
      { name: 'x', type: 'numeric', nullable: false },
      { name: 'color', type: 'categorical', nullable: false, categories: ['blue', 'green', 'red'] },
      { name: 'target', type: 'numeric', nullable: false },
    ],
    target: 'target',
    task: 'classification',
    classes: ['0', '1'],
  };

  test('a Parquet file with another schema: missing and extra columns, named', async () => {
    const table = sampleTable(20);
    const other: Table = { header: ['x', 'colour', 'target'], rows: table.rows };
    const result = await scanDataset(bufferSource(tableParquet(other)), { fileName: 'datasets/m/v2.parquet', schema });
    expect(result.violations.map((v) => [v.check, v.column])).toEqual([
      ['missing_column', 'color'],
      ['extra_column', 'colour'],
    ]);
    expect(result.violations[0].message).toBe(
      "Column 'color' of the model's schema is missing from datasets/m/v2.parquet; expected the columns 'x', 'color', 'target'.",
    );
  });

  test('a Parquet string column where the schema has numbers is a type_mismatch with row numbers', async () => {
    const table = sampleTable(20);
    const rows = table.rows.map((r, i) => [i === 4 ? 'n/a' : String(r[0]), r[1], r[2]]);
    const result = await scanDataset(bufferSource(tableParquet({ header: table.header, rows })), { fileName: 'v3.parquet', schema });
    const v = one(result, 'type_mismatch');
    expect(v).toMatchObject({ column: 'x', exampleRows: [5] });
    expect(v.message).toBe(
      "Column 'x' in v3.parquet has 1 non-numeric value (row 5), such as 'n/a'; expected numbers as in the model's schema.",
    );
  });

  test('NaN and Infinity in a DOUBLE column are non_finite', async () => {
    const table = sampleTable(20);
    const rows = table.rows.map((r, i) => [i === 2 ? NaN : i === 9 ? Infinity : r[0], r[1], r[2]]);
    const v = one(await scan('n.parquet', tableParquet({ header: table.header, rows })), 'non_finite');
    expect(v).toMatchObject({ column: 'x', exampleRows: [3, 10], count: 2 });
    expect(v.message).toBe(
      "Column 'x' in n.parquet has 2 non-finite values (rows 3, 10), such as 'NaN'; expected finite numbers, with an empty cell for a missing value.",
    );
  });

  test('a .parquet file that is not Parquet, and a truncated one, are corrupt_file', async () => {
    const notParquet = one(await scan('datasets/m/x.parquet', tableCsv(sampleTable(20))), 'corrupt_file');
    expect(notParquet.message).toBe(
      'datasets/m/x.parquet is not a readable Parquet file (it does not start with the Parquet magic bytes PAR1); expected a Parquet file written whole (magic bytes, row groups, footer).',
    );
    const bytes = tableParquet(sampleTable(50));
    const truncated = await scanDataset(bufferSource(bytes.subarray(0, bytes.length - 10)), { fileName: 'datasets/m/t.parquet' });
    expect(truncated.accepted).toBe(false);
    expect(one(truncated, 'corrupt_file').message).toMatch(
      /^datasets\/m\/t\.parquet is not a readable Parquet file \(.+\); expected a Parquet file written whole/,
    );
  });

  test('an empty .parquet file is empty_file', async () => {
    expect(one(await scan('e.parquet', ''), 'empty_file').message).toBe('e.parquet is empty; expected at least 10 rows.');
  });

  test('a failed ranged read throws (it is not the data)', async () => {
    const bytes = tableParquet(sampleTable(20));
    let reads = 0;
    const flaky: RandomAccessSource = {
      byteLength: bytes.length,
      read: async (start, end) => {
        if (++reads > 2) throw new Error('connection reset');
        return bytes.subarray(start, end);
      },
    };
    await expect(scanDataset(flaky, { fileName: 'f.parquet' })).rejects.toThrow('connection reset');
  });
});

describe('splits are CSV whatever the format', () => {
  const table = sampleTable(300);
  let expected: Record<SplitName, string>;
  beforeAll(async () => {
    expected = await splitsOf(chunks(tableCsv(table)), {});
    const train = parse(expected.train) as string[][];
    expect(train[0]).toEqual(['x', 'color', 'target']);
    expect(train.slice(1).every((r) => splitOf(r) === 'train')).toBe(true);
  });

  test.each([
    ['d.jsonl', () => tableJsonl(table)],
    ['d.csv.gz', () => gzip(tableCsv(table))],
    ['d.jsonl.gz', () => gzip(tableJsonl(table))],
    ['d.parquet', () => tableParquet(table, { rowGroupSize: 64 })],
  ])('%s', async (fileName, make) => {
    const bytes = make();
    expect(await splitsOf(chunks(bytes, 4096), { fileName })).toEqual(expected);
    if (fileName.endsWith('.parquet')) expect(await splitsOf(bufferSource(Buffer.from(bytes)), { format: 'parquet' })).toEqual(expected);
  });

  test('JSON Lines follow the header the scan found, with empty cells for missing keys', async () => {
    const text = ['{"a": 1, "t": 0}', '{"t": 1, "b": "x,y"}'].join('\n');
    const out = await splitsOf(chunks(text), { format: 'jsonl', header: ['a', 'b', 't'] });
    const all = [out.train, out.validation, out.test].map((s) => s.split('\n').filter(Boolean));
    expect(all.every((lines) => lines[0] === 'a,b,t')).toBe(true);
    expect(all.flatMap((lines) => lines.slice(1)).sort()).toEqual([',"x,y",1', '1,,0']);
  });

  test('a truncated gzip stream rejects', async () => {
    const whole = gzip(tableCsv(table));
    await expect(splitsOf(chunks(whole.subarray(0, 100)), { fileName: 'd.csv.gz' })).rejects.toThrow(
      /Not a complete gzip stream: unexpected end of file/,
    );
  });
});
