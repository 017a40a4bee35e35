/**
 * Issue 18, findings 1 and 6: files that declare or inflate to far more than their size.
 *
 * - Parquet (finding 1): a row group is checked against its footer before it is decoded: at most
 *   DEFAULT_ROW_GROUP_LIMITS cells (rows times columns read) and declared uncompressed bytes. A
 *   group over a limit is a corrupt_file violation naming the file, the row group and the limit.
 * - gzip (finding 6): inflation stops at the first of DEFAULT_GZIP_LIMITS it crosses (inflated
 *   bytes, or inflated bytes per compressed byte past a floor), with a violation naming the file
 *   and the limit, instead of inflating the whole bomb first.
 * The bombs are generated here, small, against lowered limits, plus one at each real default.
 */
import { gzipSync } from 'node:zlib';
import * as arrow from 'apache-arrow';
import { DEFAULT_GZIP_LIMITS, GzipDecoder, GzipLimitExceeded, bufferSource, decodedChunks } from '../../lambdas/data/formats';
import { DEFAULT_ROW_GROUP_LIMITS, RowGroupTooLarge, parquetLayout, readParquetRows } from '../../lambdas/data/parquet-file';
import { scanDataset } from '../../lambdas/data/scan';
import { chunks } from '../helpers/dataset-files';
import { arrowParquet, arrowVector } from '../helpers/parquet-files';

jest.setTimeout(60_000);

/** One Int8 column `x` of `rows` zeros in a single row group (dictionary-encoded: a few hundred bytes per million rows). */
const zerosParquet = (rows: number): Buffer =>
  arrowParquet({ x: arrowVector(new arrow.Int8(), new Int8Array(rows)) }, { rowGroupSize: rows });

describe('a Parquet row group', () => {
  test('with more cells than the limit is refused from its footer, naming the group and the limit, before any row is read', async () => {
    const bytes = zerosParquet(5_000);
    const source = bufferSource(bytes);
    const layout = await parquetLayout(source);
    const seen: number[] = [];
    const read = readParquetRows(source, layout, (rows) => void seen.push(rows.length), undefined, {
      maxCells: 4_999,
      maxUncompressedBytes: 1e9,
    });
    await expect(read).rejects.toThrow(RowGroupTooLarge);
    await expect(
      readParquetRows(source, layout, () => undefined, undefined, { maxCells: 4_999, maxUncompressedBytes: 1e9 }),
    ).rejects.toThrow(
      'row group 1 of 1 declares 5,000 rows of 1 column(s) read, 5,000 cells, more than the 4,999 cells a row group may hold',
    );
    expect(seen).toEqual([]);
  });

  test('declaring more uncompressed bytes than the limit is refused, naming the bytes and the limit', async () => {
    const source = bufferSource(zerosParquet(5_000));
    const layout = await parquetLayout(source);
    const declared = Number(layout.metadata.row_groups[0].columns[0].meta_data!.total_uncompressed_size);
    await expect(
      readParquetRows(source, layout, () => undefined, undefined, { maxCells: 1e9, maxUncompressedBytes: declared - 1 }),
    ).rejects.toThrow(
      `row group 1 of 1 declares ${declared.toLocaleString('en-US')} bytes uncompressed, more than the ${(declared - 1).toLocaleString('en-US')} a row group may hold`,
    );
  });

  test('within the limits is read whole', async () => {
    const source = bufferSource(zerosParquet(5_000));
    const layout = await parquetLayout(source);
    let rows = 0;
    await readParquetRows(source, layout, (group) => void (rows += group.length), undefined, {
      maxCells: 5_000,
      maxUncompressedBytes: 1e9,
    });
    expect(rows).toBe(5_000);
  });

  test('of one cell more than the default (16 Mi), a file of a few kilobytes, is a violation of the scan within two seconds', async () => {
    const rows = DEFAULT_ROW_GROUP_LIMITS.maxCells + 1;
    const bytes = zerosParquet(rows);
    expect(bytes.length).toBeLessThan(1024 * 1024);
    const started = Date.now();
    const result = await scanDataset(bufferSource(bytes), { fileName: 'bomb.parquet', target: 'x' });
    const took = Date.now() - started;
    expect(result.accepted).toBe(false);
    expect(result.violations.map((v) => v.message)).toContain(
      `bomb.parquet is refused before reading a row group (row group 1 of 1 declares 16,777,217 rows of 1 column(s) read, 16,777,217 cells, ` +
        `more than the 16,777,216 cells a row group may hold (the ingestion setting maxRowGroupCells (the stack's training.maxRowGroupCells prop; MAX_ROW_GROUP_CELLS on the Ingest function) raises it)); expected row groups within the limits (docs/limits.md): ` +
        `write the file again with smaller row groups (pyarrow: row_group_size).`,
    );
    expect(took).toBeLessThan(2_000);
  });
});

describe('a gzip stream', () => {
  /** `megabytes` MiB of one repeated CSV row, gzipped (deflate reaches about 1,000 to 1). */
  const identicalRows = (megabytes: number): Buffer =>
    gzipSync(Buffer.concat([Buffer.from('x,target\n'), Buffer.alloc(megabytes * 1024 * 1024, '1,0\n')]), { level: 9 });

  test('past the inflated-bytes limit stops there with a GzipLimitExceeded naming the limit', async () => {
    const decoder = new GzipDecoder({ maxInflatedBytes: 1024 * 1024, maxRatio: 1e9, ratioFloor: 0 });
    let out = 0;
    for (const buf of await decoder.push(identicalRows(8))) out += buf.length;
    expect(decoder.error).toBeInstanceOf(GzipLimitExceeded);
    expect(decoder.error?.message).toBe(
      "it inflates to more than 1,048,576 bytes, the most a gzip file may inflate to (the ingestion setting maxGzipInflatedBytes (the stack's training.maxGzipInflatedBytes prop; MAX_GZIP_INFLATED_BYTES on the Ingest function) raises it)",
    );
    expect(out).toBe(0);
    decoder.destroy();
  });

  test('past the ratio, once over the floor, stops with the ratio in the reason', async () => {
    const decoder = new GzipDecoder({ maxInflatedBytes: 1e12, maxRatio: 50, ratioFloor: 1024 * 1024 });
    await decoder.push(identicalRows(8));
    expect(decoder.error?.message).toMatch(
      /^its first [\d,]+ compressed bytes inflate to [\d,]+, more than 50 times as many, the most a gzip file may inflate by \(a gzip bomb\? the ingestion setting maxGzipRatio \(the stack's training\.maxGzipRatio prop; MAX_GZIP_RATIO on the Ingest function\) raises it\)$/,
    );
    decoder.destroy();
  });

  test('of plausible text within the limits inflates whole', async () => {
    const text = Array.from({ length: 20_000 }, (_, i) => `${i},${(i * 7919) % 1000},${i % 2}`).join('\n');
    const decoder = new GzipDecoder({ maxInflatedBytes: 10 * 1024 * 1024, maxRatio: 50, ratioFloor: 0 });
    const out = Buffer.concat([...(await decoder.push(gzipSync(text))), ...(await decoder.end())]);
    expect(decoder.error).toBeUndefined();
    expect(out.toString('utf8')).toBe(text);
  });

  test('read by the batch and split readers (decodedChunks) throws the limit, not a corrupt-stream error', async () => {
    const read = async () => {
      for await (const chunk of decodedChunks(chunks(identicalRows(8), 64 * 1024), {
        maxInflatedBytes: 1024 * 1024,
        maxRatio: 1e9,
        ratioFloor: 0,
      }))
        void chunk;
    };
    await expect(read()).rejects.toThrow(
      "Refused a gzip stream: it inflates to more than 1,048,576 bytes, the most a gzip file may inflate to (the ingestion setting maxGzipInflatedBytes (the stack's training.maxGzipInflatedBytes prop; MAX_GZIP_INFLATED_BYTES on the Ingest function) raises it).",
    );
  });

  test('of identical rows (the finding: MBs to GBs) is refused by the scan at the default ratio, naming the file, after inflating little', async () => {
    expect(DEFAULT_GZIP_LIMITS).toEqual({ maxInflatedBytes: 16 * 1024 ** 3, maxRatio: 200, ratioFloor: 64 * 1024 ** 2 });
    const bomb = identicalRows(256);
    const started = Date.now();
    const result = await scanDataset(chunks(bomb, 1024 * 1024), { fileName: 'bomb.csv.gz', target: 'target' });
    const took = Date.now() - started;
    expect(result.accepted).toBe(false);
    const message = result.violations.find((v) => v.check === 'corrupt_file')?.message;
    expect(message).toMatch(
      /^bomb\.csv\.gz is refused as a gzip bomb \(its first [\d,]+ compressed bytes inflate to [\d,]+, more than 200 times as many, the most a gzip file may inflate by \(a gzip bomb\? the ingestion setting maxGzipRatio \(the stack's training\.maxGzipRatio prop; MAX_GZIP_RATIO on the Ingest function\) raises it\)\); expected a gzip file within the limits \(docs\/limits\.md\): split the data into several files, or upload it uncompressed\.$/,
    );
    // It stopped near the floor (64 MiB), not after the 256 MiB.
    const inflated = Number(/inflate to ([\d,]+)/.exec(message!)![1].replace(/,/g, ''));
    expect(inflated).toBeLessThan(80 * 1024 * 1024);
    expect(took).toBeLessThan(20_000);
  });
});
