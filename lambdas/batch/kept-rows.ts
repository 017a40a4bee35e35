/**
 * What a part keeps of the rows in the drift sample's slots while it is scored (score-part.ts),
 * in arrays made once per part: each slot's output numbers, and the row's input either as its
 * line's bytes (a fast row, ASCII: read into values when built) or as its values (a row the
 * per-row path or the object encoder read).
 *
 * Why arrays and not an object per kept row: a reservoir of 10,000 replaces rows as it goes, so
 * about 56,000 rows of 1,000,000 are kept for a while. A function, a numbers array and a wrapper
 * made for each of them lived long enough to be promoted to the old generation and died there,
 * which cost batch scoring about a tenth of its rows per CPU second on 1,000,000 rows
 * (bench/README.md, batch); writing into these arrays allocates nothing per row but the bytes a
 * fast row's line takes.
 *
 * Nothing kept here refers to the input: a chunk's bytes or text held by each of thousands of
 * kept rows would keep the whole part in memory. A fast row's line is copied; another row's values
 * are kept as their JSON text (see keepValues).
 */
import type { ModelRuntime, Prediction } from '../shared/model-runtime';
import { OutputBytes } from './output-bytes';

/** A scored row as the drift sample keeps it. */
export interface ScoredRow {
  readonly values: Record<string, unknown>;
  readonly prediction: Prediction;
}

export class KeptRows {
  /** Each slot's output numbers (the model's row: its classes' probabilities, or its value). */
  private readonly scores: Float32Array;
  /** A fast row's line in `bytes`, [start, end); start -1: the slot's row is in `values`. */
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  /** Another row's values as JSON text. */
  private readonly values: (string | undefined)[];
  /**
   * The kept fast rows' lines, one after another (never taken). A line replaced in its slot stays
   * where it was written: this grows with the rows kept for a while, about size * (1 + ln(rows /
   * size)) of them (a reservoir of 10,000: 56,000 lines of 1,000,000, 79,000 of 10,000,000), not
   * with the part.
   */
  private readonly bytes: OutputBytes;

  /**
   * @param size the sampler's slots
   * @param width numbers per row of the model's output (ModelRuntime.run)
   */
  constructor(
    readonly size: number,
    private readonly width: number,
  ) {
    this.scores = new Float32Array(size * width);
    this.starts = new Int32Array(size);
    this.ends = new Int32Array(size);
    this.values = new Array<string | undefined>(size);
    this.bytes = new OutputBytes(size > 0 ? 64 * 1024 : 0);
  }

  /** Row `row` of `output` into `slot`, its input the ASCII line [start, end) of `source`, copied. */
  keepLine(slot: number, output: Float32Array, row: number, source: DataView, start: number, end: number): void {
    this.keepScores(slot, output, row);
    this.starts[slot] = this.bytes.length;
    this.bytes.asciiFrom(source, start, end);
    this.ends[slot] = this.bytes.length;
    this.values[slot] = undefined;
  }

  /**
   * Row `row` of `output` into `slot`, its input the values it was read into, kept as their JSON
   * text. Why text: an unquoted CSV cell's string is cut from the text the tokenizer made of its
   * chunk, and V8 makes a cut of 13 characters or more a slice that keeps the whole text alive (up
   * to 64 KiB per piece scanned): a sample of rows read cell by cell kept most of the part in
   * memory. JSON.stringify writes a string of its own, and the sample is written as JSON
   * (sampleLines): the same bytes in the end.
   */
  keepValues(slot: number, output: Float32Array, row: number, values: Record<string, unknown>): void {
    this.keepScores(slot, output, row);
    this.starts[slot] = -1;
    this.values[slot] = JSON.stringify(values);
  }

  private keepScores(slot: number, output: Float32Array, row: number): void {
    const width = this.width;
    for (let c = 0; c < width; c++) this.scores[slot * width + c] = output[row * width + c];
  }

  /**
   * The row kept in `slot` (one that was kept, at least once), as the sample holds it: a fast row's
   * values read from its line's cells (`columns`, the part's header), the prediction as the API
   * answers it.
   */
  row(
    slot: number,
    columns: readonly string[],
    toValues: (columns: readonly string[], cells: readonly string[]) => Record<string, unknown>,
    runtime: ModelRuntime,
  ): ScoredRow {
    const start = this.starts[slot];
    const values =
      start === -1
        ? (JSON.parse(this.values[slot]!) as Record<string, unknown>)
        : toValues(columns, this.bytes.latin1(start, this.ends[slot]).split(','));
    return { values, prediction: runtime.prediction(this.scores, slot) };
  }
}
