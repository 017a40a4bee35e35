/** JSON Lines: one JSON object per line, into a table, with line numbers and UTF-8 validation. */
import { Examples, type ExamplesState } from '../column-scan';
import { LineReader, jsonReason } from '../formats';
import { plural, quote, rowList } from '../messages';
import { MAX_RECORD_BYTES, type Violation } from '../scan-types';
import type { TableScan } from '../table-scan';
import { Utf8Validator } from '../text-tracking';
import { encodingViolation, type ReadOutcome, type TextSink } from './outcome';

/** What a JSON Lines sink found besides the table, as JSON (see PartScan). */
export interface JsonLinesSinkState {
  kind: 'jsonl';
  invalidAt: number | null;
  invalidLine?: number;
  invalid: ExamplesState;
  notObjects: ExamplesState;
  tooLong?: number;
}

function countNewlines(buf: Buffer, end: number): number {
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1 && i < end; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

/** JSON Lines: one JSON object per line; blank lines are skipped. */
export class JsonLinesSink implements TextSink {
  private readonly utf8 = new Utf8Validator();
  private readonly reader: LineReader;
  private offset = 0;
  /** Line feeds pushed so far. */
  newlines = 0;
  private invalidLine: number | undefined;
  private readonly invalid = new Examples();
  private readonly notObjects = new Examples();

  constructor(
    private readonly table: TableScan,
    private readonly file: string,
    /** Offset in the file of the first byte pushed. */
    private readonly base = 0,
  ) {
    this.reader = new LineReader((text, line) => this.line(text, line), MAX_RECORD_BYTES);
  }

  private line(text: string, line: number): void {
    if (this.table.columnLimit !== undefined) return; // past the column limit: nothing more is parsed
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      this.table.rows++;
      this.invalid.note(line, jsonReason(error));
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.table.rows++;
      this.notObjects.note(line, text);
      return;
    }
    this.table.object(value as Record<string, unknown>, line);
  }

  async push(buf: Buffer): Promise<void> {
    this.utf8.push(buf, this.offset);
    if (this.utf8.invalidAt !== null && this.invalidLine === undefined) {
      this.invalidLine = this.newlines + countNewlines(buf, this.utf8.invalidAt - this.offset) + 1;
    }
    this.newlines += countNewlines(buf, buf.length);
    this.offset += buf.length;
    this.reader.push(buf);
  }

  async end(): Promise<void> {
    this.utf8.end();
    // A sequence cut short by the end of the file: no line break can follow it.
    if (this.utf8.invalidAt !== null && this.invalidLine === undefined) this.invalidLine = this.newlines + 1;
    this.reader.end();
  }

  destroy(): void {}

  state(): JsonLinesSinkState {
    const { invalidAt } = this.utf8;
    return {
      kind: 'jsonl',
      invalidAt: invalidAt === null ? null : this.base + invalidAt,
      ...(invalidAt !== null && this.invalidLine !== undefined ? { invalidLine: this.invalidLine } : {}),
      invalid: this.invalid.toJSON(),
      notObjects: this.notObjects.toJSON(),
      ...(this.reader.tooLong !== undefined ? { tooLong: this.reader.tooLong } : {}),
    };
  }

  outcome(gzip: boolean): ReadOutcome {
    return jsonLinesOutcome(this.file, this.state(), gzip);
  }
}

export function jsonLinesOutcome(file: string, state: JsonLinesSinkState, gzip: boolean): ReadOutcome {
  const violations: Violation[] = [];
  if (state.invalidAt !== null) violations.push(encodingViolation(file, state.invalidAt, state.invalidLine ?? 1, gzip));
  if (state.invalid.count > 0) {
    const e = state.invalid;
    const lines = rowList(e).replace(/^rows?/, e.rows.length === 1 ? 'line' : 'lines');
    violations.push({
      check: 'malformed_row',
      count: e.count,
      exampleRows: e.rows,
      message: `${file} has ${plural(e.count, 'line')} that ${e.count === 1 ? 'is' : 'are'} not valid JSON (${lines}); line ${e.rows[0]}: ${e.sample}; expected one JSON object per line.`,
    });
  }
  if (state.notObjects.count > 0) {
    const e = state.notObjects;
    const lines = rowList(e).replace(/^rows?/, e.rows.length === 1 ? 'line' : 'lines');
    violations.push({
      check: 'malformed_row',
      count: e.count,
      exampleRows: e.rows,
      message: `${file} has ${plural(e.count, 'line')} that ${e.count === 1 ? 'is' : 'are'} JSON but not an object (${lines}), such as ${quote(e.sample ?? '')}; expected one JSON object per line, with the columns as keys.`,
    });
  }
  if (state.tooLong !== undefined) {
    const line = state.tooLong;
    violations.push({
      check: 'malformed_row',
      count: 1,
      exampleRows: [line],
      message: `${file} has a line longer than ${MAX_RECORD_BYTES / (1024 * 1024)} MiB (line ${line}); expected one JSON object per line, each shorter than that.`,
    });
  }
  return { violations, complete: state.tooLong === undefined };
}
