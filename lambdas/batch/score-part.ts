/**
 * Scoring one part of a batch file: each row checked as the API checks a request's instance
 * (lambdas/inference/validate.ts), the good ones scored in batches by the served model's ONNX
 * session (lambdas/shared/model-runtime.ts), and two outputs written in input order: the
 * predictions (the row's own columns, or its id column, then the prediction) and the rejected
 * rows (their line and the reason). Every row read is either scored or rejected: rows in =
 * scored + rejected, checked before the part reports.
 *
 * Pure apart from the sinks it writes: the caller hands in the source, the model and the streams
 * (lambdas/batch/runs.ts writes them to S3).
 */
import { once } from 'node:events';
import { csvField, csvLine } from '../data/splits';
import { spreadsheetSafe } from '../shared/spreadsheet-safe';
import { instanceChecker } from '../inference/validate';
import type { ColumnBatch, ModelRuntime } from '../shared/model-runtime';
import { CellEncoder } from './cell-encoder';
import { KeptRows, type ScoredRow } from './kept-rows';
import { ObjectEncoder } from './object-encoder';
import { writeFloat32At } from './float32-text';
import { OutputBytes, viewOf } from './output-bytes';
import { predictionJsonWriter, writeJsonLine } from './prediction-json';
import type { CsvRecord } from '../data/readers/csv-tokenizer';
import type { RandomAccessSource } from '../data/formats';
import {
  cellValues,
  readParquetPart,
  readTextPart,
  type FileLayout,
  type PartRange,
  type PartRow,
  type PartRows,
  type TextPartSource,
} from './part-rows';

/** Rows scored by one session.run: big enough that the per-call overhead is small, small enough to keep memory flat. */
export const DEFAULT_SCORE_BATCH_ROWS = 2048;
/** A cell csvField quotes. */
const NEEDS_QUOTES = /[",\r\n]/;
/** Bytes of output held before a write to its sink. */
const SINK_BATCH = 64 * 1024;
const COMMA = 0x2c;
const LF = 0x0a;

export interface ScorePartOptions {
  /** Write only this column of the input (and the prediction) instead of all of them. */
  readonly idColumn?: string;
  /** Rows per session.run. @default DEFAULT_SCORE_BATCH_ROWS */
  readonly batchRows?: number;
  /** Asked about each scored row, in input order; the rows it keeps are built and handed to it when the part is scored (the drift sample). */
  readonly sampler?: RowSampler;
  /**
   * Read every row through the per-row path (cell values, the API's instance check, the output
   * row's objects stringified) instead of the cell and object encoders and the text writers: the
   * reference the fast path is tested against. @default false
   */
  readonly perRow?: boolean;
}

export type { ScoredRow } from './kept-rows';

/**
 * Which scored rows the drift sample keeps (lambdas/batch/capture-sample.ts Reservoir keeps a
 * few), in slots: asked about each scored row, it answers the slot the row goes to. scorePart
 * keeps what a slot's row is made of (KeptRows: no object per row kept), and builds the rows still
 * in the slots once the part is scored. (A reservoir of 10,000 replaces rows as it goes: about
 * 56,000 are kept for a while out of 1,000,000, and building each one's values and prediction
 * objects when kept cost batch scoring about a third of its speed.)
 */
export interface RowSampler {
  /** Its slots: 0 to size - 1. */
  readonly size: number;
  /** The slot the next scored row (its line in the part) is kept in, replacing the row there; -1: not kept. */
  slotFor(line: number): number;
  /** Once the part is scored: `build` makes the row kept in a slot, for each slot that was given. */
  collect(build: (slot: number) => ScoredRow): void;
}

/** What one part did. Lines are the part's own (1 = its first line); the merge shifts them. */
export interface PartCounts {
  readonly index: number;
  readonly rowsIn: number;
  readonly rowsScored: number;
  readonly rowsRejected: number;
  /** Line breaks in the part (text formats): the next part's lines follow these. */
  readonly lines: number;
  /** Milliseconds in session.run, and in all. */
  readonly inferenceMs: number;
  readonly totalMs: number;
}

/** A rejected row as written to errors/: its line, the reason, and each problem by field. */
export interface RejectedRow {
  readonly line: number;
  readonly reason: string;
  readonly problems?: { readonly field?: string; readonly message: string }[];
}

export interface PartSinks {
  readonly predictions: NodeJS.WritableStream;
  readonly errors: NodeJS.WritableStream;
}

/** A batch of rows being filled or waiting to be scored. */
interface Pending {
  readonly batch: ColumnBatch;
  /** Each row's line in the part. */
  readonly lines: Int32Array;
  /** The row as read (the per-row path's rows), or undefined for a fast row (`sources`). */
  readonly rows: (PartRow | undefined)[];
  /**
   * The fast paths' rows (CellEncoder.encodeLine, or isPlainLine and encodeRecord): the bytes the
   * record is in, and where its text starts and ends in them, which is its cells (ASCII) joined as
   * the output writes them.
   */
  readonly sources: (DataView | undefined)[];
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  readonly values: (Record<string, unknown> | undefined)[];
  n: number;
}

export type PartSource = { readonly text: TextPartSource } | { readonly parquet: RandomAccessSource };

/** The prediction columns a CSV output adds after the input's: `predicted_label` and `probability_<class>`, or `predicted_value`. */
export function predictionColumns(runtime: ModelRuntime): string[] {
  const card = runtime.card;
  return card.task === 'classification' ? ['predicted_label', ...(card.classes ?? []).map((c) => `probability_${c}`)] : ['predicted_value'];
}

/**
 * The input's cells as a predictions CSV line starts: neutralized and quoted as csvLine of
 * spreadsheetSafe cells writes them.
 */
function cellsText(cells: readonly string[]): string {
  // A person opens this file: no cell of it may run as a formula (../shared/spreadsheet-safe.ts).
  // Most rows need neither that nor quoting: one join then, not a string per cell.
  let plain = true;
  for (let j = 0; j < cells.length && plain; j++) plain = !NEEDS_QUOTES.test(cells[j]) && spreadsheetSafe(cells[j]) === cells[j];
  return plain ? cells.join(',') : cells.map((cell) => csvField(spreadsheetSafe(cell))).join(',');
}

/** A row's cells: a fast row's text split at its commas (it has no quotes), or the cells read. */
function cellsOf(row: PartRow | undefined, text: string | undefined): readonly string[] {
  return text !== undefined ? text.split(',') : (row?.cells ?? []);
}

/** Row i's text on the fast paths (undefined for a row read otherwise): its bytes (ASCII) as text. */
function fastText(pending: Pending, i: number): string | undefined {
  const source = pending.sources[i];
  if (source === undefined) return undefined;
  return Buffer.from(source.buffer, source.byteOffset, source.byteLength).toString('latin1', pending.starts[i], pending.ends[i]);
}

/**
 * The rest of a scored row's CSV line, written to `out` after the input's cells: row `row` of the
 * model's output (ModelRuntime.run) as the prediction's cells (the label of the most probable
 * class, the first of equals, and each class's probability, or the value), and the line feed. The
 * line is the same bytes as csvLine of the cells and the Prediction's, without building either
 * (`labels`: the classes as csvField writes them, neutralized, in UTF-8; numbers need no quoting).
 */
function predictionCells(out: OutputBytes, output: Float32Array, row: number, labels: readonly Uint8Array[], regression: boolean): void {
  out.byte(COMMA);
  if (regression) {
    writeNumber(out, output, row);
    out.byte(LF);
    return;
  }
  const k = labels.length;
  let best = 0;
  for (let c = 1; c < k; c++) if (output[row * k + c] > output[row * k + best]) best = c;
  out.raw(labels[best]);
  for (let c = 0; c < k; c++) {
    out.byte(COMMA);
    writeNumber(out, output, row * k + c);
  }
  out.byte(LF);
}

/** String of a model output (a float32, output[i]), as csvLine writes it: most probabilities without making the string. */
function writeNumber(out: OutputBytes, output: Float32Array, i: number): void {
  // String of a number is ASCII: digits, '.', '-', 'e', '+', or Infinity/NaN.
  if (!writeFloat32At(out, output, i)) out.ascii(String(output[i]));
}

/** Score one part: see the module's comment. Ends both sinks; on an error destroys them and throws. */
export async function scorePart(
  source: PartSource,
  layout: FileLayout,
  part: PartRange,
  runtime: ModelRuntime,
  sinks: PartSinks,
  options: ScorePartOptions = {},
): Promise<PartCounts> {
  const started = performance.now();
  const batchRows = options.batchRows ?? DEFAULT_SCORE_BATCH_ROWS;
  const card = runtime.card;
  const classes = card.classes ?? [];
  // Batch rows carry the file's own columns (ids, the target): passed through, not features.
  const check = instanceChecker(card, { allowUnknownFields: true, rejectUnknownCategories: true });
  const toValues = cellValues(card);
  const extra = predictionColumns(runtime);
  const jsonl = layout.format === 'jsonl';
  const objects = jsonl && !options.perRow ? ObjectEncoder.for(runtime.encoder) : undefined;
  const predictionJson = jsonl && !options.perRow ? predictionJsonWriter(runtime) : undefined;
  const idColumn = options.idColumn;
  const sampler = options.sampler;

  const regression = card.task === 'regression';
  let rowsIn = 0;
  let rowsScored = 0;
  let rowsRejected = 0;
  let inferenceMs = 0;
  let header: readonly string[] | undefined;
  let idIndex = -1;
  let headerWritten = false;
  const labels = classes.map((label) => Buffer.from(csvField(spreadsheetSafe(label)), 'utf8'));
  // Rows read but not yet scored, in batches of batchRows filled in order (a chunk of input holds
  // many): each batch's rows in the graph's columns, with each row's input and values (the values
  // only when the per-row path read them; the drift sample builds the others' when it keeps one).
  // Scored batches go back to `free` and are filled again: memory holds a chunk's rows.
  const full: Pending[] = [];
  const free: Pending[] = [];
  const newPending = (): Pending => ({
    batch: runtime.encoder.newBatch(batchRows),
    lines: new Int32Array(batchRows),
    rows: new Array<PartRow | undefined>(batchRows),
    sources: new Array<DataView | undefined>(batchRows),
    starts: new Int32Array(batchRows),
    ends: new Int32Array(batchRows),
    values: new Array<Record<string, unknown> | undefined>(batchRows),
    n: 0,
  });
  let filling = newPending();
  /** The slot for the next row of the batch being filled (a full batch is queued for scoring first). */
  const slot = (): Pending => {
    if (filling.n === batchRows) {
      full.push(filling);
      filling = free.pop() ?? newPending();
    }
    return filling;
  };
  let encoder: CellEncoder | undefined;
  const width = regression ? 1 : classes.length;
  // What the drift sample's slots hold (see kept-rows.ts).
  const kept = sampler !== undefined ? new KeptRows(sampler.size, width) : undefined;
  // The predictions, as bytes (see output-bytes.ts); the rejected rows, rare, as text.
  const out = new OutputBytes();
  let errors = '';
  let sinkError: unknown;
  const onSinkError = (error: unknown): void => {
    sinkError ??= error;
  };
  sinks.predictions.on('error', onSinkError);
  sinks.errors.on('error', onSinkError);

  const setHeader = (columns: readonly string[]): void => {
    if (header !== columns) encoder = options.perRow ? undefined : CellEncoder.for(runtime.encoder, columns);
    header = columns;
    if (idColumn !== undefined) {
      idIndex = columns.indexOf(idColumn);
      if (idIndex === -1)
        throw new Error(`The id column '${idColumn}' is not among the file's columns (${columns.slice(0, 20).join(', ')}).`);
    }
  };
  const writeHeader = (): void => {
    if (headerWritten || jsonl || header === undefined) return;
    headerWritten = true;
    out.text(csvLine([...(idColumn !== undefined ? [idColumn] : header), ...extra].map(spreadsheetSafe)));
  };
  const reject = (line: number, reason: string, problems?: RejectedRow['problems']): void => {
    rowsRejected++;
    errors += JSON.stringify({ line, reason, ...(problems ? { problems } : {}) } satisfies RejectedRow) + '\n';
  };
  const scoreBatch = async (pending: Pending): Promise<void> => {
    const { batch, lines, rows, sources, values: rowValues, n } = pending;
    pending.n = 0;
    if (n === 0) return;
    const t = performance.now();
    const output = await runtime.run(batch, n);
    inferenceMs += performance.now() - t;
    if (output.length !== n * width) throw new Error(`The model answered ${output.length / width} predictions for ${n} rows.`);
    writeHeader();
    for (let i = 0; i < n; i++) {
      const row = rows[i];
      const source = sources[i];
      if (kept !== undefined) {
        const at = sampler!.slotFor(lines[i]);
        if (at !== -1) keep(at, pending, i, output);
      }
      if (jsonl) {
        const own = idColumn !== undefined ? { [idColumn]: row?.object?.[idColumn] ?? null } : (row?.object ?? {});
        if (predictionJson === undefined || !writeJsonLine(out, own, predictionJson, output, i))
          out.text(JSON.stringify({ ...own, prediction: runtime.prediction(output, i) }) + '\n');
      } else {
        if (idColumn !== undefined) out.text(cellsText([cellsOf(row, fastText(pending, i))[idIndex]]));
        // A fast row's text is ASCII (CsvRecord.lazy, CellEncoder.isPlainLine: no byte >= 0x80), as it is written.
        else if (source !== undefined) out.asciiFrom(source, pending.starts[i], pending.ends[i]);
        else out.text(cellsText(cellsOf(row, undefined)));
        predictionCells(out, output, i, labels, regression);
      }
      rows[i] = undefined;
      sources[i] = undefined;
      rowValues[i] = undefined;
      rowsScored++;
    }
  };
  /**
   * Row i of a scored batch into the sample's slot `at`: its output's numbers, and its line's bytes
   * (a fast row) or its values (as read, or made now from its cells: the batch and its rows are
   * reused, and a row's cells may be slices of a chunk's text).
   */
  const keep = (at: number, pending: Pending, i: number, output: Float32Array): void => {
    const source = pending.sources[i];
    if (source !== undefined) kept!.keepLine(at, output, i, source, pending.starts[i], pending.ends[i]);
    else kept!.keepValues(at, output, i, pending.values[i] ?? toValues(header ?? [], cellsOf(pending.rows[i], undefined)));
  };
  /** Score the full batches, in order, then (at a chunk's end, or the part's) the one being filled. */
  const score = async (all: boolean): Promise<void> => {
    for (const pending of full.splice(0)) {
      await scoreBatch(pending);
      free.push(pending);
    }
    if (all) await scoreBatch(filling);
  };
  const flush = async (sink: NodeJS.WritableStream, data: string | Buffer): Promise<void> => {
    if (data.length > 0 && !sink.write(data)) await once(sink, 'drain');
    if (sinkError !== undefined) throw sinkError;
  };
  const onRow = (row: PartRow): void => {
    rowsIn++;
    if (row.unreadable !== undefined || (row.values === undefined && (row.cells === undefined || header === undefined))) {
      reject(row.line, row.unreadable ?? 'The row cannot be read.');
      return;
    }
    if (jsonl && idColumn !== undefined && !Object.hasOwn(row.object ?? {}, idColumn)) {
      reject(row.line, `The row has no id column '${idColumn}'.`);
      return;
    }
    // The fast path takes the rows it is sure are valid; the per-row path decides the others.
    const pending = slot();
    if (row.values !== undefined && objects !== undefined && objects.encode(row.values, pending.batch, pending.n)) {
      pending.values[pending.n] = row.values;
      pending.lines[pending.n] = row.line;
      pending.rows[pending.n++] = row;
      return;
    }
    if (row.values === undefined && encoder !== undefined && encoder.encode(row.cells!, pending.batch, pending.n)) {
      pending.lines[pending.n] = row.line;
      pending.rows[pending.n++] = row;
      return;
    }
    const values = row.values ?? toValues(header!, row.cells!);
    const problems = check(values, 'row');
    if (problems.length > 0) {
      reject(
        row.line,
        problems.map((p) => p.message).join(' '),
        problems.map((p) => ({ ...(p.field !== undefined ? { field: p.field } : {}), message: p.message })),
      );
      return;
    }
    runtime.encoder.encodeInstance(values, pending.batch, pending.n);
    pending.values[pending.n] = values;
    pending.lines[pending.n] = row.line;
    pending.rows[pending.n++] = row;
  };
  // The bytes the latest fast line was in, and their view (one per chunk: the tokenizer hands
  // over its lines in the same buffer).
  let lineBytes: Buffer | undefined;
  let lineView: DataView | undefined;
  /**
   * The fast paths for a CSV record the tokenizer still holds, taken (true) when it has one cell
   * per column, its text is written as it is and the encoder is sure of every cell: first a line
   * handed over whole, read from its bytes (CellEncoder.encodeLine), then any other record
   * (CellEncoder.isPlainLine, encodeRecord). Otherwise (false) the reader makes its cells and onRow
   * decides, as for any row.
   */
  const onRecord = (record: CsvRecord): boolean => {
    if (encoder === undefined) return false;
    const pending = slot();
    const n = pending.n;
    if (
      !encoder.encodeLine(record, pending.batch, n) &&
      !(record.fieldCount() === header!.length && CellEncoder.isPlainLine(record) && encoder.encodeRecord(record, pending.batch, n))
    )
      return false;
    rowsIn++;
    pending.lines[n] = record.line;
    if (record.bytes !== lineBytes) {
      lineBytes = record.bytes!;
      lineView = viewOf(lineBytes);
    }
    pending.sources[n] = lineView;
    pending.starts[n] = record.textStart;
    pending.ends[n] = record.textEnd;
    pending.n = n + 1;
    return true;
  };
  const onChunk = async (): Promise<void> => {
    await score(filling.n >= batchRows);
    if (out.length >= SINK_BATCH) await flush(sinks.predictions, out.take());
    if (errors.length >= SINK_BATCH) {
      const data = errors;
      errors = '';
      await flush(sinks.errors, data);
    }
  };

  // The reader's columns are the part's header when it has none yet.
  const onHeader = (columns: readonly string[]): void => {
    if (header === undefined) setHeader(columns);
  };
  try {
    let read: PartRows;
    if ('parquet' in source) {
      read = await readParquetPart(source.parquet, part, onHeader, onRow, onChunk);
      if (header === undefined && read.header !== undefined) setHeader(read.header);
    } else {
      if (!jsonl && part.index > 0 && !layout.gzip && layout.header !== undefined) setHeader(layout.header);
      read = await readTextPart(source.text, layout, part, onHeader, onRow, onChunk, jsonl ? undefined : onRecord);
      if (header === undefined && read.header !== undefined) setHeader(read.header);
    }
    await score(true);
    if (kept !== undefined) sampler!.collect((at) => kept.row(at, header ?? [], toValues, runtime));
    writeHeader();
    await flush(sinks.predictions, out.take());
    await flush(sinks.errors, errors);
    errors = '';
    await Promise.all([endSink(sinks.predictions), endSink(sinks.errors)]);
    if (rowsIn !== rowsScored + rowsRejected)
      throw new Error(`Part ${part.index} read ${rowsIn} rows but scored ${rowsScored} and rejected ${rowsRejected}: rows went missing.`);
    return {
      index: part.index,
      rowsIn,
      rowsScored,
      rowsRejected,
      lines: read.lines,
      inferenceMs: Math.round(inferenceMs),
      totalMs: Math.round(performance.now() - started),
    };
  } catch (error) {
    for (const sink of [sinks.predictions, sinks.errors]) (sink as NodeJS.WritableStream & { destroy?: () => void }).destroy?.();
    throw error;
  } finally {
    sinks.predictions.removeListener('error', onSinkError);
    sinks.errors.removeListener('error', onSinkError);
  }
}

function endSink(sink: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    sink.once('error', reject);
    sink.end(() => resolve());
  });
}
