/** Parquet rows into a table, one row group at a time, from a random-access source. */
import { jsonReason, type RandomAccessSource } from '../formats';
import { plural, quote } from '../messages';
import { PARQUET_CODECS, RowGroupTooLarge, parquetLayout, readParquetRows, type ParquetLayout, type RowGroupLimits } from '../parquet-file';
import type { TableScan } from '../table-scan';
import { corrupt, type ReadOutcome } from './outcome';

/** Parquet rows into the table, one row group at a time. A failed read of the source throws. */
export async function readParquet(
  table: TableScan,
  source: RandomAccessSource,
  file: string,
  range?: { rowStart: number; rowEnd: number },
  /** @default DEFAULT_ROW_GROUP_LIMITS (tests lower them) */
  limits?: RowGroupLimits,
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
  if (layout.unreadableCodec !== undefined) {
    const { codec, column } = layout.unreadableCodec;
    // LZO: named as what it is, not as a row group that cannot be read.
    const codecs = `a Parquet file compressed with ${PARQUET_CODECS.slice(0, -1).join(', ')} or ${PARQUET_CODECS.at(-1)} (write it again with ZSTD or SNAPPY)`;
    const reason = `${codec}, in column ${quote(column)}`;
    return { violations: [corrupt(file, 'is compressed with a Parquet codec that cannot be read', reason, codecs)], complete: false };
  }
  table.setHeader(layout.columns, 0);
  if (table.columnLimit !== undefined) return { violations: [], complete: false };
  try {
    await readParquetRows(
      guarded,
      layout,
      (rows, first) => {
        for (let i = 0; i < rows.length; i++) table.cells(rows[i], first + i + 1);
      },
      range,
      limits,
    );
  } catch (error) {
    if (sourceError !== undefined) throw sourceError;
    if (error instanceof RowGroupTooLarge) {
      const smaller =
        'row groups within the limits (docs/limits.md): write the file again with smaller row groups (pyarrow: row_group_size)';
      return { violations: [corrupt(file, 'is refused before reading a row group', error.message, smaller)], complete: false };
    }
    const reason = jsonReason(error);
    const before = (range?.rowStart ?? 0) + table.rows;
    return {
      violations: [corrupt(file, `has a Parquet row group that cannot be read after ${plural(before, 'row')}`, reason, expected)],
      complete: false,
    };
  }
  return { violations: [], complete: true };
}
