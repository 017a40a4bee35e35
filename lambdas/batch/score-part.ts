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
import { csvLine } from '../data/splits';
import { spreadsheetSafe } from '../shared/spreadsheet-safe';
import { instanceChecker } from '../inference/validate';
import type { ModelRuntime, Prediction } from '../shared/model-runtime';
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
/** Bytes of output held before a write to its sink. */
const SINK_BATCH = 64 * 1024;

export interface ScorePartOptions {
  /** Write only this column of the input (and the prediction) instead of all of them. */
  readonly idColumn?: string;
  /** Rows per session.run. @default DEFAULT_SCORE_BATCH_ROWS */
  readonly batchRows?: number;
  /**
   * Called for each scored row, in input order, with its line in the part, the values it was
   * scored on and its prediction (the drift sample, lambdas/batch/capture-sample.ts).
   */
  readonly onScored?: (line: number, values: Record<string, unknown>, prediction: Prediction) => void;
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

export type PartSource = { readonly text: TextPartSource } | { readonly parquet: RandomAccessSource };

/** The prediction columns a CSV output adds after the input's: `predicted_label` and `probability_<class>`, or `predicted_value`. */
export function predictionColumns(runtime: ModelRuntime): string[] {
  const card = runtime.card;
  return card.task === 'classification' ? ['predicted_label', ...(card.classes ?? []).map((c) => `probability_${c}`)] : ['predicted_value'];
}

function predictionCells(prediction: Prediction, classes: readonly string[]): string[] {
  if ('value' in prediction) return [String(prediction.value)];
  return [prediction.label, ...classes.map((c) => String(prediction.probabilities[c]))];
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
  const idColumn = options.idColumn;
  const onScored = options.onScored;

  let rowsIn = 0;
  let rowsScored = 0;
  let rowsRejected = 0;
  let inferenceMs = 0;
  let header: readonly string[] | undefined;
  let idIndex = -1;
  let headerWritten = false;
  let pending: { row: PartRow; values: Record<string, unknown> }[] = [];
  let out = '';
  let errors = '';
  let sinkError: unknown;
  const onSinkError = (error: unknown): void => {
    sinkError ??= error;
  };
  sinks.predictions.on('error', onSinkError);
  sinks.errors.on('error', onSinkError);

  const setHeader = (columns: readonly string[]): void => {
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
    out += csvLine([...(idColumn !== undefined ? [idColumn] : header), ...extra].map(spreadsheetSafe));
  };
  const reject = (line: number, reason: string, problems?: RejectedRow['problems']): void => {
    rowsRejected++;
    errors += JSON.stringify({ line, reason, ...(problems ? { problems } : {}) } satisfies RejectedRow) + '\n';
  };
  const score = async (): Promise<void> => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const t = performance.now();
    const predictions = await runtime.predict(batch.map((b) => b.values));
    inferenceMs += performance.now() - t;
    if (predictions.length !== batch.length)
      throw new Error(`The model answered ${predictions.length} predictions for ${batch.length} rows.`);
    writeHeader();
    for (let i = 0; i < batch.length; i++) {
      const { row, values } = batch[i];
      const prediction = predictions[i];
      onScored?.(row.line, values, prediction);
      if (jsonl) {
        const own = idColumn !== undefined ? { [idColumn]: row.object?.[idColumn] ?? null } : row.object;
        out += JSON.stringify({ ...own, prediction }) + '\n';
      } else {
        const cells = row.cells ?? [];
        // A person opens this file: no cell of it may run as a formula (../shared/spreadsheet-safe.ts).
        out += csvLine(
          [...(idColumn !== undefined ? [cells[idIndex]] : cells), ...predictionCells(prediction, classes)].map(spreadsheetSafe),
        );
      }
      rowsScored++;
    }
  };
  const flush = async (sink: NodeJS.WritableStream, data: string): Promise<void> => {
    if (data.length > 0 && !sink.write(data)) await once(sink, 'drain');
    if (sinkError !== undefined) throw sinkError;
  };
  const onRow = (row: PartRow): void => {
    rowsIn++;
    if (row.unreadable !== undefined || row.values === undefined) {
      reject(row.line, row.unreadable ?? 'The row cannot be read.');
      return;
    }
    if (jsonl && idColumn !== undefined && !Object.hasOwn(row.object ?? {}, idColumn)) {
      reject(row.line, `The row has no id column '${idColumn}'.`);
      return;
    }
    const problems = check(row.values, 'row');
    if (problems.length > 0) {
      reject(
        row.line,
        problems.map((p) => p.message).join(' '),
        problems.map((p) => ({ ...(p.field !== undefined ? { field: p.field } : {}), message: p.message })),
      );
      return;
    }
    pending.push({ row, values: row.values });
  };
  const onChunk = async (): Promise<void> => {
    if (pending.length >= batchRows) await score();
    if (out.length >= SINK_BATCH) {
      const data = out;
      out = '';
      await flush(sinks.predictions, data);
    }
    if (errors.length >= SINK_BATCH) {
      const data = errors;
      errors = '';
      await flush(sinks.errors, data);
    }
  };

  // A row's cells as the model's values; the first row's columns are the part's header when it has none yet.
  const valuesOf = (columns: readonly string[], cells: readonly string[]): Record<string, unknown> => {
    if (header === undefined) setHeader(columns);
    return toValues(columns, cells);
  };
  try {
    let read: PartRows;
    if ('parquet' in source) {
      read = await readParquetPart(source.parquet, part, valuesOf, onRow, onChunk);
      if (header === undefined && read.header !== undefined) setHeader(read.header);
    } else {
      if (!jsonl && part.index > 0 && !layout.gzip && layout.header !== undefined) setHeader(layout.header);
      read = await readTextPart(source.text, layout, part, valuesOf, onRow, onChunk);
      if (header === undefined && read.header !== undefined) setHeader(read.header);
    }
    await score();
    writeHeader();
    await flush(sinks.predictions, out);
    await flush(sinks.errors, errors);
    out = '';
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
