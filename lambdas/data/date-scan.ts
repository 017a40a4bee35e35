/**
 * A column's dates and times during a scan (DateScan): how many cells read as dates, whether they
 * have a time of day, and the statistics of each feature derived from them (lambdas/shared/datetime.ts),
 * which become the derived columns' profiles and drift sketches. Written as JSON for a part of the
 * file and merged back in order, like every accumulator of the scan.
 */
import { DATE_PARTS, datePart, datePartsFor, parseDateTime, type DatePart } from '../shared/datetime';
import type { NumericColumnProfile, NumericSketch } from '../shared/types';
import { NumericStats, type NumericStatsState } from './profile';

/** Read once, not at every cell: see the same in ./column-scan.ts. */
const parseDate = parseDateTime;

export interface DateScanState {
  count: number;
  withTime: number;
  parts: NumericStatsState[];
}

export class DateScan {
  /** Cells read as dates. */
  count = 0;
  /** Of which had a time of day other than midnight. */
  withTime = 0;
  /** Each derived feature's statistics, in DATE_PARTS order. */
  private readonly parts: NumericStats[] = DATE_PARTS.map(() => new NumericStats());

  /** @param format a declared format (ColumnSchema.format); ISO 8601 when absent. */
  constructor(readonly format?: string) {}

  /** Read a non-blank cell as a date: false when it is not one. */
  add(cell: string): boolean {
    // parseDateTime turns a cell that cannot be a date away at its first characters.
    const time = parseDate(cell, this.format);
    if (time === undefined) return false;
    this.count++;
    // Midnight is no time of day: a timestamp column of whole days (Parquet's, often) is dates.
    if (time.hour !== 0 || time.minute !== 0 || time.second !== 0) this.withTime++;
    for (let i = 0; i < DATE_PARTS.length; i++) this.parts[i].add(datePart(time, DATE_PARTS[i]));
    return true;
  }

  /** Whether any value had a time of day other than midnight (then the hour and minute are features too). */
  get hasTime(): boolean {
    return this.withTime > 0;
  }

  /** The parts a column of these values derives. */
  defaultParts(): DatePart[] {
    return datePartsFor(this.hasTime);
  }

  /** A derived feature's statistics. */
  stats(part: DatePart): NumericStats {
    return this.parts[DATE_PARTS.indexOf(part)];
  }

  /** A derived feature's profile and drift sketch; `missing` counts the rows without a date. */
  profile(part: DatePart, missing: number, bins: number): { profile: NumericColumnProfile; sketch: NumericSketch | undefined } {
    const stats = this.stats(part);
    return { profile: stats.profile(missing, bins), sketch: stats.driftSketch() };
  }

  toJSON(): DateScanState {
    return { count: this.count, withTime: this.withTime, parts: this.parts.map((p) => p.toJSON()) };
  }

  merge(other: DateScanState): void {
    this.count += other.count;
    this.withTime += other.withTime;
    other.parts.forEach((state, i) => this.parts[i].merge(NumericStats.fromJSON(state)));
  }
}
