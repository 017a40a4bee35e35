/**
 * One small table written in every format ingestion reads (CSV, JSON Lines, Parquet, gzip), so
 * that tests can check each format gives what CSV gives, and build malformed variants of each.
 */
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import { writeSplits, type SplitName } from '../../lambdas/data/splits';
import type { RandomAccessSource } from '../../lambdas/data/formats';

export type Cell = string | number | boolean | null;

export interface Table {
  readonly header: string[];
  readonly rows: Cell[][];
}

/** n rows of numeric x (0..n-1, x/4 so some are fractions), categorical color and a 0/1 target. */
export function sampleTable(n: number): Table {
  const rows: Cell[][] = [];
  for (let i = 0; i < n; i++) rows.push([i / 4, ['red', 'green', 'blue'][i % 3], i % 2]);
  return { header: ['x', 'color', 'target'], rows };
}

function csvField(cell: Cell): string {
  const text = cell === null ? '' : String(cell);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function tableCsv(table: Table, eol = '\n'): string {
  return [table.header, ...table.rows].map((row) => row.map(csvField).join(',')).join(eol) + eol;
}

/** One object per row; a null cell is left out of its object unless `keepNulls`. */
export function tableJsonl(table: Table, keepNulls = false): string {
  return (
    table.rows
      .map((row) => JSON.stringify(Object.fromEntries(table.header.map((h, i) => [h, row[i]]).filter(([, v]) => keepNulls || v !== null))))
      .join('\n') + '\n'
  );
}

/** Parquet: numbers as DOUBLE (or the type given), strings as STRING, booleans as BOOLEAN; nulls allowed. */
export function tableParquet(table: Table, options: { types?: Record<string, ColumnSource['type']>; rowGroupSize?: number } = {}): Buffer {
  const columnData: ColumnSource[] = table.header.map((name, i) => {
    const data = table.rows.map((row) => row[i]);
    const sample = data.find((v) => v !== null);
    const type = options.types?.[name] ?? (typeof sample === 'number' ? 'DOUBLE' : typeof sample === 'boolean' ? 'BOOLEAN' : 'STRING');
    return { name, data: data as ColumnSource['data'], type, nullable: true };
  });
  return Buffer.from(parquetWriteBuffer({ columnData, rowGroupSize: options.rowGroupSize }));
}

export function gzip(data: string | Buffer): Buffer {
  return gzipSync(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
}

/** The bytes in chunks of `size`, as an S3 body would arrive (but smaller). */
export async function* chunks(data: string | Buffer, size = 7): AsyncGenerator<Buffer> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** Run writeSplits into memory and return each split's text. */
export async function splitsOf(
  source: AsyncIterable<Buffer> | RandomAccessSource,
  options: Parameters<typeof writeSplits>[1],
): Promise<Record<SplitName, string>> {
  const out: Record<SplitName, string[]> = { train: [], validation: [], test: [] };
  const sinks = Object.fromEntries(
    (['train', 'validation', 'test'] as SplitName[]).map((n) => [
      n,
      new Writable({
        write(c: Buffer, _e, cb) {
          out[n].push(c.toString());
          cb();
        },
      }),
    ]),
  ) as Record<SplitName, Writable>;
  await writeSplits(source, options, sinks);
  return { train: out.train.join(''), validation: out.validation.join(''), test: out.test.join('') };
}
