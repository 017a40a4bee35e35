/**
 * The rows of one part of a file to score, in order, with their line numbers: CSV and JSON Lines
 * parts are byte ranges cut at line feeds, Parquet parts are runs of whole row groups (as
 * ingestion cuts them, lambdas/data/parts.ts), and a gzip file is one part. Each row comes as its
 * input columns (cells, or a JSON object) and the values the model's checks read; a row that
 * cannot be read (a JSON line that is not an object, a CSV record with the wrong number of
 * fields) comes with the reason instead, so that it is rejected, never dropped.
 *
 * Pure code over byte sources (the caller reads S3): the same readers as ingestion
 * (lambdas/data/formats.ts, readers/csv.ts, parquet-file.ts).
 */
import { LineReader, NESTED, decodedChunks, jsonReason, toBuffer, type RandomAccessSource, type StreamSource } from '../data/formats';
import { parquetLayout, readParquetRows } from '../data/parquet-file';
import { csvTokenizer } from '../data/readers/csv';
import type { CsvRecord } from '../data/readers/csv-tokenizer';
import { MAX_RECORD_BYTES } from '../data/scan-types';
import { lineFeeds } from '../data/text-tracking';
import { inputFields } from '../shared/model-inputs';
import type { ModelCard } from '../shared/types';

export type BatchFormat = 'csv' | 'jsonl' | 'parquet';

/** One part of a file: its nominal range (bytes of a text file, rows of a Parquet file). */
export interface PartRange {
  readonly index: number;
  readonly start: number;
  readonly end: number;
}

/** What every part needs to know of the file (the plan's, lambdas/batch/plan.ts). */
export interface FileLayout {
  readonly format: BatchFormat;
  /** Whether the file is gzip-compressed (then it is one part, read whole). */
  readonly gzip: boolean;
  /** The file's size in bytes. */
  readonly size: number;
  /** CSV: the header's fields (the parts after the first start with data). */
  readonly header?: readonly string[];
  /** CSV: the field delimiter. @default ',' */
  readonly delimiter?: string;
  /** CSV: the header's line end, which every part's tokenizer expects. */
  readonly recordDelimiter?: string;
}

/** A row read from a part. */
export interface PartRow {
  /** Its line in the part (1 = the part's first line; a Parquet row: its row number in the file, from 1). */
  readonly line: number;
  /** CSV and Parquet: the row's cells, in the header's order. */
  readonly cells?: readonly string[];
  /** JSON Lines: the object as read. */
  readonly object?: Record<string, unknown>;
  /**
   * JSON Lines: what the model's checks read (the object). CSV and Parquet rows carry cells only:
   * the caller reads them (cellValues, or batch scoring's cell encoder).
   */
  readonly values?: Record<string, unknown>;
  /** Why the row cannot be read, when it cannot. */
  readonly unreadable?: string;
}

export interface PartRows {
  /** The columns (CSV, Parquet); undefined for JSON Lines, whose rows are objects. */
  readonly header: readonly string[] | undefined;
  /** Line breaks in the part's bytes: the next part's lines come after these (0 for Parquet). */
  readonly lines: number;
}

/** Where a text part's bytes come from: the file's bytes from `from` on (the byte before the range, or 0). */
export interface TextPartSource {
  readonly stream: StreamSource;
  readonly from: number;
}

/** The byte where a text part's stream starts: the byte before its range, to see whether a line starts at the range. */
export function textPartFrom(part: PartRange): number {
  return part.start > 0 ? part.start - 1 : 0;
}

/**
 * The bytes of a text part: from the first byte after the first line feed at or after
 * `start - 1` (the file's first byte for the first part) to the first line feed at or after
 * `end - 1`, inclusive (or the end of the file). Neighbouring parts meet exactly: each line is in
 * one part. (A CSV's parts start after a line feed outside quoted fields, as the plan finds them:
 * lambdas/batch/record-cuts.ts; so a record with line breaks inside quotes is never cut.)
 */
export async function* textPartBytes(source: TextPartSource, part: PartRange): AsyncGenerator<Buffer> {
  let position = source.from;
  let started = part.start === 0;
  for await (const chunk of source.stream) {
    let buf = toBuffer(chunk);
    const first = position;
    position += buf.length;
    if (buf.length === 0) continue;
    let offset = 0;
    if (!started) {
      const lf = buf.indexOf(10);
      if (lf === -1) continue;
      started = true;
      offset = lf + 1;
      // No line starts in the range: an empty part.
      if (first + offset >= part.end) return;
    }
    // The part ends with the line feed at or after end - 1.
    const from = Math.max(offset, part.end - 1 - first);
    const lf = from < buf.length ? buf.indexOf(10, from) : -1;
    if (lf !== -1) {
      if (lf + 1 > offset) yield buf.subarray(offset, lf + 1);
      return;
    }
    buf = buf.subarray(offset);
    if (buf.length > 0) yield buf;
  }
}

/** Turns a row's cells into the JSON values the model's checks read: numbers parsed, empty cells null. */
export function cellValues(card: ModelCard): (header: readonly string[], cells: readonly string[]) => Record<string, unknown> {
  const fields = new Map(inputFields(card).map((f) => [f.name, f]));
  return (header, cells) => {
    const values: Record<string, unknown> = {};
    for (let i = 0; i < header.length; i++) {
      const name = header[i];
      const cell = cells[i];
      const field = fields.get(name);
      if (field === undefined) {
        values[name] = cell;
        continue;
      }
      const text = cell.trim();
      if (text === '') values[name] = null;
      else if (field.type === 'numeric') {
        if (field.boolean !== undefined && (cell === field.boolean[0] || cell === field.boolean[1]))
          values[name] = cell === field.boolean[1];
        else {
          const number = Number(text);
          // Text that is not a number stays text, which the checks reject naming the column.
          values[name] = Number.isFinite(number) ? number : cell;
        }
      } else values[name] = cell;
    }
    return values;
  };
}

/**
 * Read a text part (CSV or JSON Lines) row by row. `onHeader` is called with a CSV part's columns
 * before its first row; `onRow` for each row in order; the reader awaits `onChunk` after each
 * chunk of input, where the caller scores and writes what it holds (so that memory holds a
 * chunk's rows, not the part's). `onRecord`, when given, is offered each CSV record after the
 * header first, while the tokenizer holds it (its fields are not strings yet; a line handed over
 * whole is not even split): when it answers true it has taken the row, and `onRow` is not called
 * for it (batch scoring's fast path). It must take only a record with as many fields as the header.
 */
export async function readTextPart(
  source: TextPartSource,
  layout: FileLayout,
  part: PartRange,
  onHeader: (header: readonly string[]) => void,
  onRow: (row: PartRow) => void,
  onChunk: () => Promise<void>,
  onRecord?: (record: CsvRecord) => boolean,
): Promise<PartRows> {
  const bytes = layout.gzip ? decodedChunks(source.stream) : textPartBytes(source, part);
  let lines = 0;
  if (layout.format === 'jsonl') {
    const reader = new LineReader((text, line) => {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        onRow({ line, unreadable: `The line is not valid JSON: ${jsonReason(error)}.` });
        return;
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        onRow({ line, unreadable: 'The line is JSON but not an object; expected one JSON object per line, with the columns as keys.' });
        return;
      }
      const object = value as Record<string, unknown>;
      onRow({ line, object, values: object });
    }, MAX_RECORD_BYTES);
    for await (const buf of bytes) {
      lines += lineFeeds(buf, buf.length);
      reader.push(buf);
      if (reader.tooLong !== undefined) throw new Error(`Line ${reader.tooLong} is longer than ${MAX_RECORD_BYTES} bytes.`);
      await onChunk();
    }
    reader.end();
    await onChunk();
    return { header: undefined, lines };
  }

  let header: readonly string[] | undefined = part.index > 0 && !layout.gzip ? layout.header : undefined;
  if (header !== undefined) onHeader(header);
  let recordError: unknown;
  // Lines first: a line with no quote and no CR is handed over whole, its fields found only when
  // the fast path asks (the tokenizer's cheapest path).
  const tokenizer = csvTokenizer(
    layout.delimiter ?? ',',
    layout.gzip ? undefined : layout.recordDelimiter,
    (record) => {
      try {
        if (header !== undefined && onRecord !== undefined && onRecord(record)) return;
        const cells = record.fields();
        if (header === undefined) {
          header = cells;
          onHeader(header);
          return;
        }
        if (cells.length !== header.length) {
          onRow({
            line: record.line,
            cells,
            unreadable: `The row has ${cells.length} field(s) where the header has ${header.length}; expected one value per column.`,
          });
          return;
        }
        onRow({ line: record.line, cells });
      } catch (error) {
        recordError ??= error;
        tokenizer.stop();
      }
    },
    true,
  );
  const check = (): void => {
    if (recordError !== undefined) throw recordError;
    const error = tokenizer.error;
    if (error !== undefined)
      throw new Error(
        `The file cannot be read as CSV from the row starting on line ${error.line} of part ${part.index} (${error.reason}); expected RFC 4180 quoting.`,
      );
  };
  for await (const buf of bytes) {
    lines += lineFeeds(buf, buf.length);
    tokenizer.push(buf);
    check();
    await onChunk();
  }
  tokenizer.end();
  check();
  await onChunk();
  return { header, lines };
}

/** Read the row groups of a Parquet file that start in the part's rows, a row group at a time (onHeader: the columns, first). */
export async function readParquetPart(
  source: RandomAccessSource,
  part: PartRange,
  onHeader: (header: readonly string[]) => void,
  onRow: (row: PartRow) => void,
  onChunk: () => Promise<void>,
): Promise<PartRows> {
  const layout = await parquetLayout(source);
  const header = layout.columns;
  onHeader(header);
  await readParquetRows(
    source,
    layout,
    async (rows, first) => {
      for (let i = 0; i < rows.length; i++) {
        const line = first + i + 1;
        const nested = rows[i].findIndex((cell) => cell === NESTED);
        const cells = rows[i].map((cell) => (cell === NESTED ? '' : cell));
        if (nested !== -1)
          onRow({
            line,
            cells,
            unreadable: `Column '${header[nested]}' holds a nested value (a list, map or struct); expected a plain value.`,
          });
        else onRow({ line, cells });
      }
      await onChunk();
    },
    { rowStart: part.start, rowEnd: part.end },
  );
  return { header, lines: 0 };
}
