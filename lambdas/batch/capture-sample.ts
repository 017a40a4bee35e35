/**
 * Batch rows for the drift monitor: a fixed-size uniform sample of each part's scored rows
 * (reservoir sampling), turned by the merge into capture records marked `source: 'batch'` and
 * written where the monitor reads the API's captures (capture/<model>/..., lambdas/shared/layout.ts).
 *
 * Why a sample, and of a fixed size: the monitor's tests get their power from a few thousand rows,
 * while a 1M-row file captured whole would be a million lines for every monitor run to read
 * (within its Lambda's 15 minutes) and would outweigh the API's live traffic in the window a
 * thousand to one. A fixed number of rows per run bounds the monitor's work, the part's memory
 * (the reservoir) and the capture storage, whatever the file's size; a file with fewer scored rows
 * than the cap is captured whole.
 *
 * Why seeded: the draw comes from a generator seeded by the run and the part, so a part scored
 * again (a Map retry) keeps the same rows and writes the same bytes, as its predictions do.
 */
import { createHash } from 'node:crypto';
import type { CaptureRecord } from '../shared/capture-record';
import type { Prediction } from '../shared/model-runtime';
import { prng } from '../shared/prng';
import type { RowSampler, ScoredRow } from './score-part';

/** Rows of one run the drift monitor sees, at most (BATCH_CAPTURE_ROWS). */
export const DEFAULT_BATCH_CAPTURE_ROWS = 10_000;

/** A sampled row as a part writes it: its line in the part, the features it was scored on, the prediction. */
export interface SampledRow {
  readonly line: number;
  readonly instance: Record<string, unknown>;
  readonly prediction: Prediction;
}

/** Each part's share of the run's cap: parts are about the same size, so the run's sample stays about uniform. */
export function partSampleSize(capRows: number, parts: number): number {
  if (capRows <= 0 || parts <= 0) return 0;
  return Math.ceil(capRows / parts);
}

/**
 * A uniform sample of `size` rows from a stream of unknown length, seeded: Li's algorithm L (ACM
 * TOMS 20(4), 1994), which draws how many rows to skip before the next one kept, so that a row not
 * kept costs one comparison. (Vitter's algorithm R, before, drew a random number for every row: a
 * heap number or two per row, about 55 bytes of garbage per row of batch scoring.)
 */
export class Reservoir implements RowSampler {
  /** Each slot's line, for slots 0 to filled - 1. */
  private readonly lines: Int32Array;
  private filled = 0;
  /** The sample once collected, in input order. */
  private rows: SampledRow[] = [];
  private seen = 0;
  private readonly random: () => number;
  /** Once the sample is full: algorithm L's weight, and the number (1-based) of the next row kept (0: not drawn yet). */
  private weight = 0;
  private next = 0;

  constructor(
    readonly size: number,
    seed: string,
  ) {
    this.lines = new Int32Array(Math.max(0, size));
    this.random = prng(createHash('sha256').update(seed).digest().readUInt32BE(0));
  }

  /** The slot of the next row (kept with probability size / rows seen so far), or -1. */
  slotFor(line: number): number {
    this.seen++;
    if (this.size <= 0) return -1;
    if (this.filled < this.size) {
      this.lines[this.filled] = line;
      return this.filled++;
    }
    if (this.next === 0) {
      // The sample just filled, with the rows before this one.
      this.weight = Math.exp(Math.log(this.uniform()) / this.size);
      this.next = this.seen - 1 + this.skip() + 1;
    }
    if (this.seen !== this.next) return -1;
    const slot = Math.floor(this.random() * this.size);
    this.lines[slot] = line;
    this.weight *= Math.exp(Math.log(this.uniform()) / this.size);
    this.next += this.skip() + 1;
    return slot;
  }

  /** A uniform number in (0, 1] (its logarithm is finite). */
  private uniform(): number {
    return 1 - this.random();
  }

  /** Rows to pass over before the next one kept: geometric with the current weight (log1p: exact for a tiny weight). */
  private skip(): number {
    return Math.floor(Math.log(this.uniform()) / Math.log1p(-this.weight));
  }

  /** The rows in the slots, built once the part is scored. */
  collect(build: (slot: number) => ScoredRow): void {
    const rows: SampledRow[] = [];
    for (let slot = 0; slot < this.filled; slot++) {
      const { values, prediction } = build(slot);
      rows.push({ line: this.lines[slot], instance: values, prediction });
    }
    this.rows = rows.sort((a, b) => a.line - b.line);
  }

  /** The sample in input order (empty until collected). */
  sample(): SampledRow[] {
    return this.rows;
  }
}

/** The sample as JSON Lines (the part's working file). */
export function sampleLines(rows: readonly SampledRow[]): string {
  return rows.map((r) => JSON.stringify(r) + '\n').join('');
}

/**
 * Capture records of a run's sample: the request id is the run and `index` the row's line in the
 * file, so feedback sent as {requestId: <run>, index: <line>, label} joins the row as it joins an
 * API prediction. `latencyMs` is the row's share of its part's inference time.
 */
export function batchCaptureRecords(
  rows: readonly SampledRow[],
  run: { readonly run: string; readonly model: string; readonly version: number; readonly at: string; readonly latencyMs: number },
): CaptureRecord[] {
  return rows.map((r) => ({
    requestId: run.run,
    index: r.line,
    at: run.at,
    model: run.model,
    version: run.version,
    instance: r.instance,
    prediction: r.prediction,
    latencyMs: run.latencyMs,
    source: 'batch',
  }));
}
