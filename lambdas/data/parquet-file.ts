/**
 * Parquet files as tables: the footer (columns, row groups, codecs, each column's cell rule) and
 * the rows, one row group at a time through ranged reads, as cells (./parquet-cells.ts).
 *
 * Every codec the format defines except LZO is read: UNCOMPRESSED and SNAPPY by hyparquet itself,
 * GZIP, BROTLI, ZSTD, LZ4 (Hadoop-framed or raw) and LZ4_RAW by hyparquet-compressors. LZO, which
 * no current writer produces and no JavaScript decompressor reads, is named as unreadable.
 *
 * A column is a feature only when it holds one value per row. A nested column (a LIST, MAP or
 * STRUCT group, or a repeated field) is not read: each of its rows is NESTED, which the checks
 * report by the column's name (see docs/data.md, Parquet).
 */
import { parquetMetadataAsync, parquetRead, parquetSchema, type AsyncBuffer, type CompressionCodec, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { NESTED, isParquet, type RandomAccessSource } from './formats';
import { PHYSICAL_PARSERS, parquetCellOf, physicalElement, type CellRule, type ParquetCell } from './parquet-cells';

/** The codecs read, in the format's order. */
export const PARQUET_CODECS: readonly CompressionCodec[] = ['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'BROTLI', 'LZ4', 'ZSTD', 'LZ4_RAW'];

/** hyparquet's file: ranged reads of a random-access source. */
function asyncBuffer(source: RandomAccessSource): AsyncBuffer {
  return {
    byteLength: source.byteLength,
    slice: async (start, end) => {
      const bytes = await source.read(start, end ?? source.byteLength);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
}

export interface ParquetLayout {
  readonly metadata: FileMetaData;
  /** Top-level column names, in schema order. */
  readonly columns: string[];
  readonly rows: number;
  /** Rows per row group, in order. */
  readonly rowGroups: number[];
  /** Each column's cell rule, in the order of `columns`; null for a nested column (not read). */
  readonly rules: (CellRule | null)[];
  /** A codec used in the file that cannot be read (LZO), with the first column that uses it. */
  readonly unreadableCodec?: { readonly codec: string; readonly column: string };
}

/** Read a Parquet file's footer: its columns and row groups. Throws on a file that is not Parquet. */
export async function parquetLayout(source: RandomAccessSource): Promise<ParquetLayout> {
  if (source.byteLength < 12)
    throw new Error(`${source.byteLength} bytes is too short for a Parquet file (magic, footer length and footer)`);
  const head = await source.read(0, 4);
  if (!isParquet(head)) throw new Error('it does not start with the Parquet magic bytes PAR1');
  const metadata = await parquetMetadataAsync(asyncBuffer(source));
  const top = parquetSchema(metadata).children ?? [];
  const columns = top.map((c) => c.element.name);
  // A group (LIST, MAP, STRUCT) has children; a repeated primitive is a list in the old style.
  const rules = top.map((c) => (c.children.length > 0 || c.element.repetition_type === 'REPEATED' ? null : parquetCellOf(c.element)));
  const rowGroups = metadata.row_groups.map((g) => Number(g.num_rows));
  const layout: ParquetLayout = { metadata, columns, rows: Number(metadata.num_rows), rowGroups, rules };
  for (const group of metadata.row_groups) {
    for (const chunk of group.columns) {
      const codec = chunk.meta_data?.codec;
      if (codec !== undefined && !PARQUET_CODECS.includes(codec))
        return { ...layout, unreadableCodec: { codec, column: (chunk.meta_data?.path_in_schema ?? []).join('.') } };
    }
  }
  return layout;
}

/**
 * What one row group may decode to, checked from the footer before the group is read (issue 18: a
 * 229-byte file declaring 100M rows of a one-value dictionary decoded to 4 GB and ran the Ingest
 * Lambda out of memory). A row group is held whole while it is read, so it must fit the function.
 */
export interface RowGroupLimits {
  /** The most cells (rows times columns read) in one row group. */
  readonly maxCells: number;
  /** The most bytes the footer may declare for one row group's columns read, uncompressed. */
  readonly maxUncompressedBytes: number;
}

/** 16 Mi cells (pyarrow's default row group, 1 Mi rows, of 16 columns) and 512 MiB declared. */
export const DEFAULT_ROW_GROUP_LIMITS: RowGroupLimits = { maxCells: 16 * 1024 ** 2, maxUncompressedBytes: 512 * 1024 ** 2 };

/** The settings that raise each row group limit, as messages name them (lib/data.ts DatasetIngestionOptions). */
export const ROW_GROUP_SETTINGS = {
  maxCells:
    "the ingestion setting maxRowGroupCells (the stack's training.maxRowGroupCells prop; MAX_ROW_GROUP_CELLS on the Ingest function)",
  maxUncompressedBytes:
    "the ingestion setting maxRowGroupBytes (the stack's training.maxRowGroupBytes prop; MAX_ROW_GROUP_BYTES on the Ingest function)",
} as const;

/** A row group over its RowGroupLimits: the message names the group, what it declares and the limit. */
export class RowGroupTooLarge extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RowGroupTooLarge';
  }
}

/** Throws RowGroupTooLarge when row group `index` (0-based) declares more than the limits allow. */
export function checkRowGroup(layout: ParquetLayout, index: number, readColumns: readonly string[], limits: RowGroupLimits): void {
  if (readColumns.length === 0) return;
  const rows = layout.rowGroups[index];
  const cells = rows * readColumns.length;
  const n = (x: number) => x.toLocaleString('en-US');
  if (cells > limits.maxCells)
    throw new RowGroupTooLarge(
      `row group ${index + 1} of ${layout.rowGroups.length} declares ${n(rows)} rows of ${readColumns.length} column(s) read, ${n(cells)} cells, ` +
        `more than the ${n(limits.maxCells)} cells a row group may hold (${ROW_GROUP_SETTINGS.maxCells} raises it)`,
    );
  const read = new Set(readColumns);
  let bytes = 0;
  for (const chunk of layout.metadata.row_groups[index].columns) {
    const meta = chunk.meta_data;
    if (meta !== undefined && read.has(meta.path_in_schema[0])) bytes += Number(meta.total_uncompressed_size);
  }
  if (bytes > limits.maxUncompressedBytes)
    throw new RowGroupTooLarge(
      `row group ${index + 1} of ${layout.rowGroups.length} declares ${n(bytes)} bytes uncompressed, ` +
        `more than the ${n(limits.maxUncompressedBytes)} a row group may hold (${ROW_GROUP_SETTINGS.maxUncompressedBytes} raises it)`,
    );
}

/**
 * Read a Parquet file one row group at a time: `onRows` gets each group's rows (cells in the order
 * of `layout.columns`) and the 0-based index of the group's first row. Memory holds one row group.
 * Throws on a corrupt file (the caller reports it).
 */
export async function readParquetRows(
  source: RandomAccessSource,
  layout: ParquetLayout,
  onRows: (rows: ParquetCell[][], firstRow: number) => void | Promise<void>,
  /** Only the row groups that start in [rowStart, rowEnd) (a part of the file, see lambdas/data/parts.ts). */
  range?: { readonly rowStart: number; readonly rowEnd: number },
  /** What one row group may decode to (tests lower them). */
  limits: RowGroupLimits = DEFAULT_ROW_GROUP_LIMITS,
): Promise<void> {
  const file = asyncBuffer(source);
  // hyparquet decodes physical values (see physicalElement); the rules make them cells.
  const metadata: FileMetaData = { ...layout.metadata, schema: layout.metadata.schema.map(physicalElement) };
  const read = layout.columns.flatMap((name, i) => (layout.rules[i] === null ? [] : [{ name, at: i, rule: layout.rules[i] as CellRule }]));
  const width = layout.columns.length;
  let rowStart = 0;
  for (const [index, groupRows] of layout.rowGroups.entries()) {
    if (range !== undefined && (rowStart < range.rowStart || rowStart >= range.rowEnd)) {
      rowStart += groupRows;
      continue;
    }
    checkRowGroup(
      layout,
      index,
      read.map((c) => c.name),
      limits,
    );
    let values: unknown[][] = [];
    if (read.length > 0) {
      await parquetRead({
        file,
        metadata,
        columns: read.map((c) => c.name),
        rowStart,
        rowEnd: rowStart + groupRows,
        rowFormat: 'array',
        compressors,
        utf8: false,
        parsers: PHYSICAL_PARSERS,
        onComplete: (data) => {
          values = data;
        },
      });
    }
    if (read.length > 0 && values.length !== groupRows)
      throw new Error(`a row group read as ${values.length} rows where the footer says ${groupRows}`);
    await onRows(cellRows(values, groupRows, read, width), rowStart);
    rowStart += groupRows;
  }
}

/**
 * A row group's values as rows of cells. Where every column is read, hyparquet's row arrays are
 * turned into cells in place: a row group holds hundreds of thousands of rows, and a second array
 * per row cost more in garbage collection than the decoding itself.
 */
function cellRows(values: unknown[][], groupRows: number, read: { at: number; rule: CellRule }[], width: number): ParquetCell[][] {
  if (read.length === width) {
    for (const row of values) for (let c = 0; c < width; c++) row[c] = read[c].rule(row[c]);
    return values as ParquetCell[][];
  }
  const rows = new Array<ParquetCell[]>(groupRows);
  for (let r = 0; r < groupRows; r++) {
    const row = new Array<ParquetCell>(width).fill(NESTED);
    const from = values[r];
    for (let c = 0; c < read.length; c++) row[read[c].at] = read[c].rule(from[c]);
    rows[r] = row;
  }
  return rows;
}
