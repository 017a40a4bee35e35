/**
 * A file scanned as byte-range parts (scanPart) and merged (PartMerger) gives what one pass over
 * the whole file gives (scanDataset): the same rows, checks, messages and line numbers, and the
 * same profile, exactly where the sketches are exact and within their stated error elsewhere.
 */
import { PartMerger, partLayout, scanParquetPart, scanPart, type PartScan } from '../lambdas/data/part-scan';
import { scanDataset } from '../lambdas/data/scan';
import type { ScanOptions, ScanResult } from '../lambdas/data/scan-types';
import { bufferSource } from '../lambdas/data/formats';
import { parquetPartRanges } from '../lambdas/data/parts';
import type { NumericColumnProfile } from '../lambdas/shared/types';
import { chunks, tableParquet, type Cell } from './helpers/dataset-files';
import { binaryClassificationCsv, mulberry32 } from './helpers/datasets';

interface Parted {
  result: ScanResult;
  parts: PartScan[];
  rescanned: number;
}

/** Cut `bytes` into parts of `partBytes`, scan them (concurrently, as the Map state does) and merge. */
async function scanInParts(bytes: Buffer, options: ScanOptions, partBytes: number, format: 'csv' | 'jsonl' = 'csv'): Promise<Parted> {
  const layout = await partLayout(bytes.subarray(0, 64 * 1024), format, options.delimiter);
  if (!layout) throw new Error('not splittable');
  const size = bytes.length;
  const count = Math.ceil(size / partBytes);
  const nominal = (i: number) => ({ start: i * partBytes, end: Math.min(size, (i + 1) * partBytes) });
  const parts = await Promise.all(
    Array.from({ length: count }, (_, index) => {
      const { start, end } = nominal(index);
      const from = start > 0 ? start - 1 : 0;
      return scanPart(chunks(bytes.subarray(from), 997), options, { index, start, end, size, from, layout });
    }),
  );
  const merger = new PartMerger(options);
  let rescanned = 0;
  for (const part of parts) {
    const again = await merger.addOrRescan(part, (from) =>
      scanPart(chunks(bytes.subarray(from), 997), options, {
        index: part.index,
        ...nominal(part.index),
        size,
        from,
        aligned: true,
        layout,
      }),
    );
    if (again) rescanned++;
  }
  // The hash comes from one pass elsewhere (the Hash dataset state); here, the single pass's.
  const single = await scanDataset(chunks(bytes, 4096), options);
  return { result: merger.result(single.sha256, single.bytes), parts, rescanned };
}

function expectSameScan(parted: ScanResult, single: ScanResult, exactHistograms: boolean): void {
  expect(parted.rows).toBe(single.rows);
  expect(parted.header).toEqual(single.header);
  expect(parted.schema).toEqual(single.schema);
  expect(parted.violations).toEqual(single.violations);
  expect(parted.accepted).toBe(single.accepted);
  expect(Object.keys(parted.profile.columns)).toEqual(Object.keys(single.profile.columns));
  for (const [name, column] of Object.entries(single.profile.columns)) {
    const merged = parted.profile.columns[name];
    if (column.kind === 'categorical') {
      expect(merged).toEqual(column);
      continue;
    }
    const m = merged as NumericColumnProfile;
    expect({ kind: m.kind, count: m.count, missing: m.missing, min: m.min, max: m.max }).toEqual({
      kind: column.kind,
      count: column.count,
      missing: column.missing,
      min: column.min,
      max: column.max,
    });
    expect(m.mean).toBeCloseTo(column.mean, 9);
    expect(m.std).toBeCloseTo(column.std, 9);
    expect(m.histogram.edges).toEqual(column.histogram.edges);
    expect(m.histogram.counts.reduce((a, b) => a + b, 0)).toBe(column.count);
    if (exactHistograms) expect(m.histogram.counts).toEqual(column.histogram.counts);
    else {
      // Stated error: a value within two fine bins (8/1024 of the range) of an edge may change bins.
      const moved = m.histogram.counts.reduce((sum, c, i) => sum + Math.abs(c - column.histogram.counts[i]), 0) / 2;
      expect(moved / column.count).toBeLessThan(0.02);
    }
  }
}

/** A CSV whose `note` column is quoted text holding line feeds, commas and quotes. */
function notesCsv(rows: number, seed: number, eol = '\n'): string {
  const random = mulberry32(seed);
  const lines = [['id', 'x', 'note', 'color', 'label'].join(',')];
  for (let i = 0; i < rows; i++) {
    const x = (random() * 100 - 50).toFixed(3);
    const note = random() < 0.3 ? `"line one\nline ""two"", and\nthree ${i}"` : `plain ${i}`;
    const color = ['red', 'green', 'blue'][Math.floor(random() * 3)];
    lines.push([String(i), x, note, color, random() < 0.5 ? '0' : '1'].join(','));
  }
  return lines.join(eol) + eol;
}

describe('scanning a file in parts', () => {
  test('a CSV cut into parts anywhere merges into the single-pass result (numbers past the exact sketch)', async () => {
    const bytes = Buffer.from(binaryClassificationCsv(20_000, 7));
    const options: ScanOptions = { fileName: 's3://b/datasets/m/data.csv', target: 'label' };
    const single = await scanDataset(chunks(bytes, 4096), options);
    expect(single.accepted).toBe(true);
    for (const partBytes of [50_000, 77_777, 131_072]) {
      const parted = await scanInParts(bytes, options, partBytes);
      expect(parted.parts.length).toBe(Math.ceil(bytes.length / partBytes));
      expect(parted.rescanned).toBe(0);
      expectSameScan(parted.result, single, false);
      // The parts tile the file: each starts where the one before ends.
      parted.parts.forEach((part, i) => expect(part.start).toBe(i === 0 ? 0 : parted.parts[i - 1].end));
      expect(parted.parts[parted.parts.length - 1].end).toBe(bytes.length);
    }
  });

  test('small columns merge exactly: histograms, value counts and drift sketches equal the single pass', async () => {
    const bytes = Buffer.from(binaryClassificationCsv(900, 3));
    const options: ScanOptions = { fileName: 'small.csv', target: 'label' };
    const single = await scanDataset(chunks(bytes, 4096), options);
    const parted = await scanInParts(bytes, options, 4_000);
    expect(parted.parts.length).toBeGreaterThan(5);
    expectSameScan(parted.result, single, true);
    // Everything but the moments (equal up to rounding, checked above) is identical.
    const withoutMoments = (profile: ScanResult['profile']) =>
      JSON.parse(JSON.stringify(profile, (key, value: unknown) => (key === 'mean' || key === 'std' ? undefined : value)));
    expect(withoutMoments(parted.result.profile)).toEqual(withoutMoments(single.profile));
    expect(parted.result.profile.sketches).toEqual(single.profile.sketches);
  });

  test('quoted line feeds across a cut: the misplaced part is scanned again and the result is exact', async () => {
    const bytes = Buffer.from(notesCsv(3_000, 11));
    const options: ScanOptions = { fileName: 'notes.csv', target: 'label' };
    const single = await scanDataset(chunks(bytes, 4096), options);
    expect(single.accepted).toBe(true);
    expect(single.rows).toBe(3_000);
    let rescans = 0;
    for (const partBytes of [5_000, 9_973, 20_000]) {
      const parted = await scanInParts(bytes, options, partBytes);
      rescans += parted.rescanned;
      expectSameScan(parted.result, single, false);
    }
    // About 30% of the records hold line feeds: some cuts must have fallen inside one.
    expect(rescans).toBeGreaterThan(0);
  });

  test('CRLF files: line ends and line numbers as in one pass', async () => {
    const text = notesCsv(800, 5, '\r\n');
    // A bad number deep in the file, and one more near the end.
    const bad = text.replace(/\r\n(412),[^,]*,/, '\r\n$1,oops,').replace(/\r\n(790),[^,]*,/, '\r\n$1,n/a,');
    const bytes = Buffer.from(bad);
    const options: ScanOptions = { fileName: 'crlf.csv', target: 'label' };
    const single = await scanDataset(chunks(bytes, 4096), options);
    expect(single.violations.map((v) => v.check)).toEqual(['type_mismatch']);
    const parted = await scanInParts(bytes, options, 3_000);
    expectSameScan(parted.result, single, true);
    expect(parted.result.violations[0].message).toBe(single.violations[0].message);
  });

  test('violations found in different parts carry the file line numbers of a single pass', async () => {
    const lines = binaryClassificationCsv(5_000, 9).split('\n');
    lines[1_200] = lines[1_200].replace(/^[^,]*/, 'NaN');
    lines[3_900] = lines[3_900] + ',extra';
    lines[4_500] = lines[4_500].replace(/,[^,]*$/, ',');
    const bytes = Buffer.from(lines.join('\n'));
    const options: ScanOptions = { fileName: 'bad.csv', target: 'label' };
    const single = await scanDataset(chunks(bytes, 4096), options);
    expect(single.accepted).toBe(false);
    expect(single.violations.map((v) => v.check).sort()).toEqual(['completeness', 'malformed_row', 'non_finite']);
    const parted = await scanInParts(bytes, options, 10_000);
    expect(parted.result.violations).toEqual(single.violations);
  });

  test('a parse error stops the scan where one pass stops: later parts do not count', async () => {
    const lines = binaryClassificationCsv(3_000, 2).split('\n');
    lines[1_500] = `1,2,"unclosed,3,red,1`;
    const bytes = Buffer.from(lines.join('\n'));
    const options: ScanOptions = { fileName: 'quote.csv', target: 'label' };
    const single = await scanDataset(chunks(bytes, 4096), options);
    const parted = await scanInParts(bytes, options, 8_000);
    expect(parted.result.rows).toBe(single.rows);
    expect(parted.result.violations).toEqual(single.violations);
    expect(parted.result.violations[0].message).toMatch(/cannot be parsed as CSV from the row starting on line 1501/);
  });

  test('JSON Lines: keys first seen in a later part are missing in the rows before, as in one pass', async () => {
    const random = mulberry32(4);
    const objects = Array.from({ length: 4_000 }, (_, i) => {
      const o: Record<string, unknown> = { a: Math.round(random() * 1000) / 10, c: ['x', 'y', 'z'][i % 3], label: i % 2 };
      if (i >= 2_500) o.late = i % 7; // a column that appears three parts in
      if (i === 3_333) o.a = 'text';
      return o;
    });
    const text = objects.map((o) => JSON.stringify(o)).join('\n') + '\n{not json}\n';
    const bytes = Buffer.from(text);
    const options: ScanOptions = { fileName: 'data.jsonl', target: 'label', maxNullShare: 0.9 };
    const single = await scanDataset(chunks(bytes, 4096), options);
    const parted = await scanInParts(bytes, options, 20_000, 'jsonl');
    expect(parted.parts.length).toBeGreaterThan(5);
    expect(parted.rescanned).toBe(0);
    expectSameScan(parted.result, single, false);
    expect(parted.result.violations.map((v) => v.check)).toEqual(['malformed_row', 'type_mismatch']);
  });

  test('non-UTF-8 bytes in a later part are reported at their file offset and line', async () => {
    const text = binaryClassificationCsv(2_000, 8);
    const at = text.indexOf('\n', 40_000) + 3;
    const bytes = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([0xff]), Buffer.from(text.slice(at + 1))]);
    const options: ScanOptions = { fileName: 'latin.csv', target: 'label' };
    const single = await scanDataset(chunks(bytes, 4096), options);
    const encoding = single.violations.find((v) => v.check === 'encoding');
    expect(encoding).toBeDefined();
    const parted = await scanInParts(bytes, options, 7_000);
    expect(parted.result.violations.find((v) => v.check === 'encoding')).toEqual(encoding);
  });

  test('Parquet: runs of whole row groups, rows numbered as in the file, merge into the single-pass result', async () => {
    const random = mulberry32(12);
    const rows: Cell[][] = Array.from({ length: 5_000 }, (_, i) => [
      i === 4_321 ? null : Math.round(random() * 1e4) / 100,
      ['red', 'green', 'blue'][i % 3],
      random() < 0.5 ? 1 : 0,
    ]);
    const bytes = tableParquet({ header: ['x', 'color', 'label'], rows }, { rowGroupSize: 700 });
    const options: ScanOptions = { fileName: 'data.parquet', target: 'label', maxNullShare: 0.1 };
    const single = await scanDataset(bufferSource(bytes), options);
    expect(single.accepted).toBe(true);
    const { parts } = parquetPartRanges(
      Array.from({ length: 8 }, (_, i) => ({ rows: i < 7 ? 700 : 100, bytes: 1_000 })),
      2_000,
      1000,
    );
    expect(parts.map((p) => [p.start, p.end])).toEqual([
      [0, 1_400],
      [1_400, 2_800],
      [2_800, 4_200],
      [4_200, 5_000],
    ]);
    const merger = new PartMerger(options);
    for (const part of parts) merger.add(await scanParquetPart(bufferSource(bytes), options, part));
    const merged = merger.result(single.sha256, single.bytes);
    expectSameScan(merged, single, false);
    expect(merged.profile.columns.x).toMatchObject({ missing: 1 });
    // A bad value's row is its position in the file, whichever part read it.
    const strict = {
      ...options,
      schema: {
        target: 'label',
        columns: [
          { name: 'x', type: 'numeric' as const, nullable: false },
          { name: 'color', type: 'categorical' as const, nullable: true },
          { name: 'label', type: 'categorical' as const, nullable: false },
        ],
      },
      strictSchema: true,
    };
    const strictMerger = new PartMerger(strict);
    for (const part of parts) strictMerger.add(await scanParquetPart(bufferSource(bytes), strict, part));
    const rejected = strictMerger.result(single.sha256, single.bytes);
    expect(rejected.violations.map((v) => [v.check, v.exampleRows])).toEqual([['completeness', [4_322]]]);
    expect(rejected.violations).toEqual((await scanDataset(bufferSource(bytes), strict)).violations);
  });

  test('a file whose lines end with CR alone, or with no line after the header, is not cut', async () => {
    expect(await partLayout(Buffer.from('a,b\rl,2\r'), 'csv')).toBeUndefined();
    expect(await partLayout(Buffer.from('a,b,label'), 'csv')).toBeUndefined();
    expect(await partLayout(Buffer.from('\ufeffa;b\r\n1;2\r\n'), 'csv', ';')).toEqual({
      format: 'csv',
      header: ['a', 'b'],
      recordDelimiter: '\r\n',
      delimiter: ';',
    });
  });
});
