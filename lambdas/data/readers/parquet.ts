/** Parquet rows into a table, one row group at a time, from a random-access source. */
import { cellOf, jsonReason, parquetLayout, readParquetRows, type ParquetLayout, type RandomAccessSource } from '../formats';
import { plural } from '../messages';
import type { TableScan } from '../table-scan';
import { corrupt, type ReadOutcome } from './outcome';

/** Parquet rows into the table, one row group at a time. A failed read of the source throws. */
export async function readParquet(
  table: TableScan,
  source: RandomAccessSource,
  file: string,
  range?: { rowStart: number; rowEnd: number },
): Promise<ReadOutcome> {
  let sourceError: unknown;
  const guarded: RandomAccessSource = {
    byteLength: source.byteLength,
    read: async (start, end) => {
      try {
        return await source.read(start, end);
      } catch (error) {
        sourceError ??= error;
        throw error;
      }
    },
  };
  const expected = 'a Parquet file written whole (magic bytes, row groups, footer)';
  let layout: ParquetLayout;
  try {
    layout = await parquetLayout(guarded);
  } catch (error) {
    if (sourceError !== undefined) throw sourceError;
    return { violations: [corrupt(file, 'is not a readable Parquet file', jsonReason(error), expected)], complete: false };
  }
  table.setHeader(layout.columns, 0);
  try {
    await readParquetRows(
      guarded,
      layout,
      (rows, first) => {
        for (let i = 0; i < rows.length; i++) table.cells(rows[i].map(cellOf), first + i + 1);
      },
      range,
    );
  } catch (error) {
    if (sourceError !== undefined) throw sourceError;
    const reason = jsonReason(error);
    const before = (range?.rowStart ?? 0) + table.rows;
    return {
      violations: [corrupt(file, `has a Parquet row group that cannot be read after ${plural(before, 'row')}`, reason, expected)],
      complete: false,
    };
  }
  return { violations: [], complete: true };
}
