/**
 * Parquet in every codec the format defines: one file per codec, written by arrow-rs
 * (parquet-wasm), is read by the scan the pipeline uses (scanDataset, by ranges and as a stream)
 * and written to the splits (writeSplits) with every value back exactly; a ZSTD file of several
 * row groups is read in parts (scanParquetPart, PartMerger, writeSplits by row range) as in one
 * pass; a file labelled LZO, which nothing reads, is named as such.
 */
import * as arrow from 'apache-arrow';
import { bufferSource } from '../lambdas/data/formats';
import { PartMerger, scanParquetPart } from '../lambdas/data/part-scan';
import { parquetPartRanges } from '../lambdas/data/parts';
import { scanDataset } from '../lambdas/data/scan';
import type { ScanOptions } from '../lambdas/data/scan-types';
import type { NumericColumnProfile } from '../lambdas/shared/types';
import { chunks, splitsOf } from './helpers/dataset-files';
import { CODECS, arrowParquet, arrowValues, arrowVector, footer, schemaParquet } from './helpers/parquet-files';

const CITIES = ['Lisbon', 'Porto', 'Faro', 'Braga', 'Évora'];

/** n rows of deterministic values in six types, some null, and the CSV line each must become. */
function flightsLike(n: number): {
  columns: Record<string, arrow.Vector>;
  header: string;
  lines: string[];
  cities: Record<string, number>;
} {
  const valid = (every: number) => Array.from({ length: n }, (_, i) => i % every !== every - 1);
  const id = Int32Array.from({ length: n }, (_, i) => i - 50);
  const amount = Float64Array.from({ length: n }, (_, i) => i * 1.25 - 50 + i / 1000);
  const amountValid = valid(17);
  const count = BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 1_000_000_007n);
  const city = Array.from({ length: n }, (_, i) => (i % 13 === 12 ? null : CITIES[i % CITIES.length]));
  const flag = Array.from({ length: n }, (_, i) => i % 3 === 0);
  const label = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 'on-time' : 'late'));
  const columns = {
    id: arrowVector(new arrow.Int32(), id),
    amount: arrowVector(new arrow.Float64(), amount, amountValid),
    count: arrowVector(new arrow.Int64(), count),
    city: arrowValues(new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()), city),
    flag: arrowValues(new arrow.Bool(), flag),
    label: arrowValues(new arrow.Utf8(), label),
  };
  const lines = Array.from({ length: n }, (_, i) =>
    [id[i], amountValid[i] ? amount[i] : '', count[i], city[i] ?? '', flag[i], label[i]].map(String).join(','),
  );
  const cities: Record<string, number> = {};
  for (const c of city) if (c !== null) cities[c] = (cities[c] ?? 0) + 1;
  return { columns, header: Object.keys(columns).join(','), lines, cities };
}

/** The data lines of all three splits, sorted (each split starts with the header). */
function splitLines(splits: Record<string, string>, header: string): string[] {
  return Object.values(splits)
    .flatMap((text) => {
      const lines = text.split('\n').filter((line) => line.length > 0);
      expect(lines[0]).toBe(header);
      return lines.slice(1);
    })
    .sort();
}

describe('every codec: values back exactly through the scan and the splits', () => {
  const data = flightsLike(240);

  test.each(CODECS)('%s', async (codec) => {
    const bytes = arrowParquet(data.columns, { codec, rowGroupSize: 100 });
    // The writer did write the codec, in every column of every row group.
    const meta = footer(bytes);
    expect(meta.row_groups).toHaveLength(3);
    expect(new Set(meta.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec)))).toEqual(new Set([codec]));

    const options: ScanOptions = { fileName: `flights-${codec}.parquet`, target: 'label' };
    const result = await scanDataset(bufferSource(bytes), options);
    expect(result.violations).toEqual([]);
    expect(result).toMatchObject({
      accepted: true,
      format: 'parquet',
      rows: 240,
      header: ['id', 'amount', 'count', 'city', 'flag', 'label'],
    });
    expect(result.schema.columns.map((c) => [c.name, c.type])).toEqual([
      ['id', 'numeric'],
      ['amount', 'numeric'],
      ['count', 'numeric'],
      ['city', 'categorical'],
      ['flag', 'categorical'],
      ['label', 'categorical'],
    ]);
    expect(result.profile.columns.amount).toMatchObject({ missing: 14, min: -50, max: 239 * 1.25 - 50 + 0.239 });
    expect(result.profile.columns.city).toMatchObject({ missing: 18, frequencies: data.cities });
    expect(data.cities).toEqual({ Lisbon: 44, Porto: 45, Faro: 44, Braga: 44, Évora: 45 });
    // A stream source (an S3 body) gives the same.
    expect(await scanDataset(chunks(bytes, 4096), options)).toEqual(result);

    const splits = await splitsOf(bufferSource(bytes), { format: 'parquet' });
    expect(splitLines(splits, data.header)).toEqual([...data.lines].sort());
  });
});

describe('a compressed file in parts', () => {
  test('ZSTD, several row groups: parts merge into the single pass, and the splits by row range are one pass', async () => {
    const data = flightsLike(5_000);
    const bytes = arrowParquet(data.columns, { codec: 'ZSTD', rowGroupSize: 700 });
    const groups = footer(bytes).row_groups.map((g) => ({ rows: Number(g.num_rows), bytes: Number(g.total_compressed_size) }));
    expect(groups.map((g) => g.rows)).toEqual([700, 700, 700, 700, 700, 700, 700, 100]);
    const options: ScanOptions = { fileName: 'data.parquet', target: 'label' };
    const single = await scanDataset(bufferSource(bytes), options);
    expect(single.accepted).toBe(true);

    const { parts } = parquetPartRanges(groups, 2 * groups[0].bytes, 1000);
    expect(parts.length).toBeGreaterThan(2);
    const merger = new PartMerger(options);
    for (const part of parts) merger.add(await scanParquetPart(bufferSource(bytes), options, part));
    const merged = merger.result(single.sha256, single.bytes);
    expect(merged.violations).toEqual(single.violations);
    expect(merged.schema).toEqual(single.schema);
    expect(merged.rows).toBe(5_000);
    expect(merged.profile.columns.city).toEqual(single.profile.columns.city);
    // Exact where the sketches are (see PartMerger); the histogram is within its stated error.
    const { count, missing, min, max } = single.profile.columns.amount as NumericColumnProfile;
    expect(merged.profile.columns.amount).toMatchObject({ count, missing, min, max });
    expect(missing).toBe(294);

    const fromParts: string[] = [];
    for (const part of parts) {
      const splits = await splitsOf(bufferSource(bytes), { format: 'parquet', rowRange: { rowStart: part.start, rowEnd: part.end } });
      fromParts.push(...splitLines(splits, data.header));
    }
    expect(fromParts.sort()).toEqual([...data.lines].sort());
  });
});

describe('a codec nothing reads', () => {
  test('LZO is named, with the codecs that are read', async () => {
    const bytes = schemaParquet(
      [
        { name: 'root', num_children: 2 },
        { name: 'x', type: 'DOUBLE', repetition_type: 'REQUIRED' },
        { name: 'label', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
      ],
      [
        { name: 'x', data: Array.from({ length: 20 }, (_, i) => i) },
        { name: 'label', data: Array.from({ length: 20 }, (_, i) => String(i % 2)) },
      ],
      // A stand-in compressor, only so that the writer labels the chunks LZO.
      { codec: 'LZO', compressors: { LZO: (input) => input } },
    );
    const result = await scanDataset(bufferSource(bytes), { fileName: 'old.parquet', target: 'label' });
    expect(result.violations).toEqual([
      {
        check: 'corrupt_file',
        count: 1,
        exampleRows: [],
        message:
          "old.parquet is compressed with a Parquet codec that cannot be read (LZO, in column 'x'); expected a Parquet file compressed with UNCOMPRESSED, SNAPPY, GZIP, BROTLI, LZ4, ZSTD or LZ4_RAW (write it again with ZSTD or SNAPPY).",
      },
    ]);
  });
});
