/**
 * Parquet files from real writers, for the codec and type tests. Measured on these packages:
 *
 * - arrow-rs (parquet-wasm 0.8, from Arrow columns built with apache-arrow) writes every codec
 *   but LZO (UNCOMPRESSED, SNAPPY, GZIP, BROTLI, LZ4 with Hadoop framing, ZSTD, LZ4_RAW), and
 *   TIMESTAMP (MILLIS, MICROS, NANOS; UTC-adjusted with a time zone, not without), DATE, DECIMAL
 *   (INT32 to precision 9, INT64 to 18, FIXED_LEN_BYTE_ARRAY beyond), FLOAT16, TIME, INTEGER
 *   unsigned, dictionary-encoded strings, LIST, MAP and STRUCT. It writes no UUID, JSON or ENUM
 *   annotation, no DECIMAL in a BYTE_ARRAY, and no INT96; second-unit timestamps and Date64 go out
 *   as plain INT64 (the Arrow type lives only in its own footer key).
 * - hyparquet-writer (0.17) writes UUID, JSON, DECIMAL in a BYTE_ARRAY and any codec it is given a
 *   compressor for (LZO here, to label a file with it), from schema elements it is handed.
 * - No JavaScript writer writes INT96 (hyparquet-writer has no plain encoder for it): int96Parquet
 *   writes a FIXED_LEN_BYTE_ARRAY(12) column with hyparquet-writer and relabels its physical type.
 */
import * as arrow from 'apache-arrow';
import { parquetMetadata, type CompressionCodec, type FileMetaData } from 'hyparquet';
import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import * as parquetWasm from 'parquet-wasm';

export type Codec = Exclude<CompressionCodec, 'LZO'>;
export const CODECS: readonly Codec[] = ['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'BROTLI', 'LZ4', 'ZSTD', 'LZ4_RAW'];

/**
 * An Arrow vector over raw storage (a typed array of the type's values; a Decimal's are 32-bit
 * words, bitWidth / 32 of them a value), null where `valid` is false.
 */
export function arrowVector<T extends arrow.DataType>(type: T, data: ArrayLike<unknown>, valid?: readonly boolean[]): arrow.Vector<T> {
  const length = valid?.length ?? (type instanceof arrow.Decimal ? data.length / (type.bitWidth / 32) : data.length);
  let nullBitmap: Uint8Array | undefined;
  let nullCount = 0;
  if (valid !== undefined) {
    nullBitmap = new Uint8Array(Math.ceil(length / 8));
    valid.forEach((ok, i) => {
      if (ok) nullBitmap![i >> 3] |= 1 << (i & 7);
      else nullCount++;
    });
  }
  return arrow.makeVector(arrow.makeData({ type, length, nullCount, nullBitmap, data } as never)) as arrow.Vector<T>;
}

/** An Arrow vector from JavaScript values (strings, booleans, nested values), null for null. */
export function arrowValues<T extends arrow.DataType>(type: T, values: readonly unknown[]): arrow.Vector<T> {
  const builder = arrow.makeBuilder({ type, nullValues: [null] });
  for (const value of values) builder.append(value as never);
  return builder.finish().toVector() as arrow.Vector<T>;
}

/** A schema element as hyparquet-writer takes it (its own hyparquet's type). */
export type WriterElement = NonNullable<Parameters<typeof parquetWriteBuffer>[0]['schema']>[number];

/** A Parquet file written by arrow-rs from Arrow columns, in the codec given (default ZSTD). */
export function arrowParquet(columns: Record<string, arrow.Vector>, options: { codec?: Codec; rowGroupSize?: number } = {}): Buffer {
  let props = new parquetWasm.WriterPropertiesBuilder().setCompression(parquetWasm.Compression[options.codec ?? 'ZSTD']);
  if (options.rowGroupSize !== undefined) props = props.setMaxRowGroupSize(options.rowGroupSize);
  const ipc = arrow.tableToIPC(new arrow.Table(columns), 'stream');
  return Buffer.from(parquetWasm.writeParquet(parquetWasm.Table.fromIPCStream(ipc), props.build()));
}

/** A Parquet file written by hyparquet-writer from schema elements (root first) and columns. */
export function schemaParquet(
  schema: WriterElement[],
  columnData: ColumnSource[],
  options: { codec?: CompressionCodec; compressors?: Record<string, (input: Uint8Array) => Uint8Array> } = {},
): Buffer {
  return Buffer.from(parquetWriteBuffer({ schema, columnData, codec: options.codec ?? 'UNCOMPRESSED', compressors: options.compressors }));
}

/** The footer, as the reader sees it. */
export function footer(bytes: Uint8Array): FileMetaData {
  return parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
}

/** The 12 bytes of an INT96 timestamp: nanoseconds of the day (int64 LE), then the Julian day (int32 LE). */
export function int96(julianDay: number, nanosOfDay: bigint): Uint8Array {
  const bytes = new Uint8Array(12);
  const view = new DataView(bytes.buffer);
  view.setBigInt64(0, nanosOfDay, true);
  view.setInt32(8, julianDay, true);
  return bytes;
}

/**
 * A file of `id` (INT32, 0..n-1) and an optional INT96 column `v` (values from int96(), null
 * allowed): written with `v` as FIXED_LEN_BYTE_ARRAY(12) by hyparquet-writer, uncompressed and
 * without statistics, whose footer then says INT96 instead. INT96 values are stored as exactly 12
 * fixed bytes, so only the type's label differs. In Thrift's compact encoding the label is field 1
 * (i32) of the schema element and of the column chunk's metadata: the bytes 0x15 0x0e
 * (FIXED_LEN_BYTE_ARRAY, 7, zigzagged) become 0x15 0x06 (INT96, 3). Checked by reading the footer.
 */
export function int96Parquet(values: (Uint8Array | null)[]): Buffer {
  const schema: WriterElement[] = [
    { name: 'root', num_children: 2 },
    { name: 'id', type: 'INT32', repetition_type: 'REQUIRED' },
    { name: 'v', type: 'FIXED_LEN_BYTE_ARRAY', type_length: 12, repetition_type: 'OPTIONAL' },
  ];
  const columnData: ColumnSource[] = [
    { name: 'id', data: Int32Array.from(values, (_, i) => i) },
    { name: 'v', data: values },
  ];
  const bytes = Buffer.from(parquetWriteBuffer({ schema, columnData, codec: 'UNCOMPRESSED', statistics: false }));
  const footerLength = bytes.readUInt32LE(bytes.length - 8);
  let relabelled = 0;
  for (let i = bytes.length - 8 - footerLength; i < bytes.length - 9; i++) {
    if (bytes[i] === 0x15 && bytes[i + 1] === 0x0e) {
      bytes[i + 1] = 0x06;
      relabelled++;
    }
  }
  const meta = footer(bytes);
  if (relabelled !== 2 || meta.schema[2].type !== 'INT96' || meta.row_groups[0].columns[1].meta_data?.type !== 'INT96')
    throw new Error(`int96Parquet: relabelled ${relabelled} type fields, expected the schema element's and the column chunk's`);
  return bytes;
}
