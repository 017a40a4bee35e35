/**
 * Batch scoring's fast path for rows that come as cells (CSV, Parquet): a row's cells written
 * straight into the graph's column batch (lambdas/shared/model-runtime.ts ColumnBatch), without
 * the per-row object of values, the per-row check and the object-to-tensor copy.
 *
 * It only ever answers "this row is valid, and here are its features": any cell it is not sure
 * of (a missing column, text in a number, a number out of float32 range, an unknown category, a
 * date it cannot read) makes it answer false, and the caller takes the per-row path (cellValues,
 * the API's instance check, ModelRuntime.encodeInstance), which says why. So a row is accepted,
 * rejected and encoded exactly as on the per-row path; test/batch-fast-path.test.ts compares the
 * two on generated rows.
 */
import { plainDecimal, plainDecimalBytes, POW10 as DECIMAL_POWERS, type CsvRecord } from '../data/readers/csv-tokenizer';
import { DEFAULT_MAX_CATEGORY_LENGTH } from '../shared/category-limit';
import type { DatePart, DateTime } from '../shared/datetime';
import type { ColumnBatch, InstanceEncoder } from '../shared/model-runtime';
import { FLOAT32_MAX } from '../inference/validate';
import { categoryOfText, derivedValue, featurePlan, knownCategories, timeOfText } from './feature-plan';

/** Categories a record's text is compared with one by one, at most (more: a string per cell and a map lookup). */
const FEW_CATEGORIES = 16;

/** What encodeLine does with a line's cell, by its column (see CellEncoder.lineRoles). */
const SKIP = 0;
const NUMBER = 1;
const BOOLEAN = 2;
const CATEGORY = 3;
const DATE = 4;
const COMMA = 0x2c;
// The tokenizer's table, as a module constant: an imported binding read per cell is a getter under tsx.
const POW10 = DECIMAL_POWERS;

type NumericStep =
  | { readonly kind: 'plain'; readonly column: number; readonly boolean?: readonly [string, string] }
  | { readonly kind: 'derived'; readonly date: number; readonly part: DatePart };

/** Encodes rows of cells under one header for one model. */
export class CellEncoder {
  private readonly numeric: readonly NumericStep[];
  /** Each categorical feature's cell index and known categories (each mapped to the card's own string: see encode). */
  private readonly categorical: readonly {
    readonly column: number;
    readonly known: ReadonlyMap<string, string> | undefined;
    /** A short list of the known categories a record's text is compared with (no string made per cell), or undefined. */
    readonly few: readonly string[] | undefined;
  }[];
  /** Date-time input columns: their cell index and format; their parsed values per row go in `times`. */
  private readonly dates: readonly { readonly column: number; readonly format?: string }[];
  private readonly times: (DateTime | undefined)[];
  /**
   * For encodeLine, each of the header's columns: what its cell is (SKIP: not an input, NUMBER,
   * BOOLEAN, CATEGORY, DATE) and which step reads it (`lineSlots`: the numeric or categorical
   * feature's index, or the date's); undefined when a column would have two (encodeLine then
   * never takes a line).
   */
  private readonly lineRoles: Uint8Array | undefined;
  private readonly lineSlots: Int32Array;
  /**
   * Each categorical feature's short list as bytes, for encodeLine: an ASCII category's, or none
   * (length 0, never matched, as a blank cell is not a short list's) for one a cell of a line
   * handed over whole cannot be: not ASCII, or with a comma, a quote or a line break (`a,b` would
   * otherwise match the cells `a` and `b`). Comparing bytes with bytes costs about 10% less per
   * line than with a string's characters.
   */
  private readonly fewBytes: readonly (readonly Uint8Array[] | undefined)[];

  private constructor(
    columns: number,
    numeric: NumericStep[],
    categorical: { column: number; known: ReadonlyMap<string, string> | undefined; few: string[] | undefined }[],
    dates: { column: number; format?: string }[],
  ) {
    this.numeric = numeric;
    this.categorical = categorical;
    this.dates = dates;
    this.times = dates.map(() => undefined);
    let roles: Uint8Array | undefined = new Uint8Array(columns);
    const slots = new Int32Array(columns);
    const assign = (column: number, role: number, slot: number): void => {
      if (roles === undefined) return;
      if (roles[column] !== SKIP) roles = undefined;
      else {
        roles[column] = role;
        slots[column] = slot;
      }
    };
    numeric.forEach((step, i) => {
      if (step.kind === 'plain') assign(step.column, step.boolean !== undefined ? BOOLEAN : NUMBER, i);
    });
    categorical.forEach(({ column }, c) => assign(column, CATEGORY, c));
    dates.forEach(({ column }, d) => assign(column, DATE, d));
    this.lineRoles = roles;
    this.lineSlots = slots;
    this.fewBytes = categorical.map(({ few }) =>
      few?.map((c) => (/^[^,"\r\n\x80-\uffff]*$/.test(c) ? Buffer.from(c, 'latin1') : new Uint8Array(0))),
    );
  }

  /**
   * The encoder for `header`, or undefined when the per-row path must take every row: a feature
   * has no column (each row is rejected for it), a column name the per-row values object cannot
   * hold as its own (`__proto__`), or a card of the older index contract.
   */
  static for(encoder: InstanceEncoder, header: readonly string[]): CellEncoder | undefined {
    const plan = featurePlan(encoder);
    if (plan === undefined) return undefined;
    // The per-row values object keeps the last of duplicate columns.
    const columnOf = (name: string): number => (name === '__proto__' ? -1 : header.lastIndexOf(name));
    if (plan.inputs.some((name) => columnOf(name) === -1)) return undefined;
    const dates = plan.dates.map(({ name, format }) => ({ column: columnOf(name), ...(format !== undefined ? { format } : {}) }));
    const numeric = plan.numeric.map((step): NumericStep =>
      step.kind === 'derived'
        ? step
        : { kind: 'plain', column: columnOf(step.name), ...(step.boolean !== undefined ? { boolean: step.boolean } : {}) },
    );
    const categorical = plan.categorical.map(({ name, categories }) => {
      // Blank or too long categories are never matched as they are (see encode): not in the short list.
      const few = categories.filter((c) => c.trim() !== '' && c.length <= DEFAULT_MAX_CATEGORY_LENGTH);
      return {
        column: columnOf(name),
        known: knownCategories(categories),
        few: categories.length > 0 && categories.length <= FEW_CATEGORIES ? few : undefined,
      };
    });
    if ([...numeric, ...categorical].some((s) => 'column' in s && s.column === -1)) return undefined;
    return new CellEncoder(header.length, numeric, categorical, dates);
  }

  /**
   * Write a row's features into row `row` of `batch` when every cell is certainly valid; false
   * (with the row's slots partly written) when the per-row path must decide.
   */
  encode(cells: readonly string[], batch: ColumnBatch, row: number): boolean {
    return this.encodeWith(cells, undefined, batch, row);
  }

  /**
   * encode() for a CSV record as the tokenizer holds it (lambdas/data/readers/csv-tokenizer.ts):
   * a plain decimal number is read from the record's text without making its string (plainDecimal
   * gives Number()'s value); every other cell as encode() reads it.
   */
  encodeRecord(record: CsvRecord, batch: ColumnBatch, row: number): boolean {
    return this.encodeWith(undefined, record, batch, row);
  }

  /**
   * encodeRecord() and isPlainLine() in one pass over a line the tokenizer handed over whole and
   * has not split (CsvRecord.lazy: ASCII, no quote, no line break), reading its bytes: true when
   * the line has one cell per column, every cell is certainly valid, and the line is written to
   * the predictions as it is (the conditions of isPlainLine), with the row's features written into
   * row `row` of `batch`; false (the row's slots partly written) when any of that is not sure, and
   * the caller takes the record the usual way (its fields split, then encodeRecord and isPlainLine).
   *
   * Why: batch scoring's rows are mostly such lines, and splitting one into fields, then reading
   * each feature's field, then looking at each field's first character again, cost about 3x this
   * (bench/README.md, batch). Only plain decimals are read here (plainDecimalBytes, Number()'s
   * value for those), only exact spellings of a boolean or a short list's category are matched;
   * a cell of any other kind (a category of a long list, a date) is made a string and read as
   * encodeRecord reads it.
   */
  encodeLine(record: CsvRecord, batch: ColumnBatch, row: number): boolean {
    const roles = this.lineRoles;
    const bytes = record.bytes;
    if (roles === undefined || !record.lazy || record.delimiter !== COMMA || record.utf16 || bytes === null) return false;
    const slots = this.lineSlots;
    const columns = roles.length;
    const width = this.numeric.length;
    const numeric = batch.numeric;
    const end = record.textEnd;
    let column = 0;
    let p = record.textStart;
    for (; ; column++) {
      if (column === columns) return false;
      const role = roles[column];
      let q = p;
      if (role === NUMBER) {
        // A plain decimal read as plainDecimalBytes reads one, as the comma is looked for. Blank:
        // missing (NaN), as encodeRecord has it; anything else is left to it. (A copy of its loop
        // on purpose: finding the comma first and then calling it cost about 20 ns more per row,
        // 2% of batch scoring's core; the fast-path tests hold the two to the same values.)
        let value = NaN;
        if (q < end && bytes[q] !== COMMA) {
          let c = bytes[q];
          const negative = c === 45;
          if (negative || c === 43) q++;
          let mantissa = 0;
          let digits = 0;
          let point = -1;
          for (; q < end; q++) {
            c = bytes[q];
            const digit = c - 48;
            if (digit >= 0 && digit <= 9) {
              mantissa = mantissa * 10 + digit;
              digits++;
            } else if (c === 46 && point < 0) point = q;
            else if (c === COMMA) break;
            else return false;
          }
          if (digits === 0 || digits > 15) return false;
          value = point < 0 ? mantissa : mantissa / POW10[q - point - 1];
          if (negative) value = -value;
        }
        numeric[row * width + slots[column]] = value;
      } else {
        let category: string | undefined;
        const fewBytes = role === CATEGORY ? this.fewBytes[slots[column]] : undefined;
        if (fewBytes !== undefined) {
          // A short list's category is looked for where the cell starts: one that is there, with
          // the cell's end after it, is the cell (no separate look for the comma).
          for (let k = 0; k < fewBytes.length; k++) {
            const known = fewBytes[k];
            const after = p + known.length;
            if (known.length > 0 && after <= end && (after === end || bytes[after] === COMMA) && startsWith(bytes, p, known)) {
              category = this.categorical[slots[column]].few![k];
              q = after;
              break;
            }
          }
        }
        if (category === undefined) while (q < end && bytes[q] !== COMMA) q++;
        // isPlainLine's rule for a cell written as it is: no formula's first character (a + or -
        // only before a plain decimal). A NUMBER cell is one already.
        if (q > p) {
          const c = bytes[p];
          if (c === 61 || c === 64 || c === 9 || c === 13) return false;
          if ((c === 43 || c === 45) && Number.isNaN(plainDecimalBytes(bytes, p, q))) return false;
        }
        if (role === BOOLEAN) {
          const spellings = (this.numeric[slots[column]] as { readonly boolean: readonly [string, string] }).boolean;
          const value = q === p ? NaN : spelled(bytes, p, q, spellings[1]) ? 1 : spelled(bytes, p, q, spellings[0]) ? 0 : -1;
          if (value === -1) return false;
          numeric[row * width + slots[column]] = value;
        } else if (role === CATEGORY) {
          category ??= categoryOfText(record.text.slice(p, q), this.categorical[slots[column]].known);
          if (category === undefined) return false;
          batch.categorical[slots[column]][row] = category;
        } else if (role === DATE) {
          const time = timeOfText(record.text.slice(p, q), this.dates[slots[column]].format);
          if (time === null) return false;
          this.times[slots[column]] = time;
        }
      }
      if (q === end) break;
      p = q + 1;
    }
    if (column + 1 !== columns) return false;
    for (let i = 0; i < width; i++) {
      const step = this.numeric[i];
      if (step.kind === 'derived') numeric[row * width + i] = derivedValue(this.times[step.date], step.part);
    }
    return true;
  }

  // A method, not a closure made per row: no allocation per call.
  private static cell(cells: readonly string[] | undefined, record: CsvRecord | undefined, column: number): string {
    return cells !== undefined ? cells[column] : record!.field(column);
  }

  private encodeWith(cells: readonly string[] | undefined, record: CsvRecord | undefined, batch: ColumnBatch, row: number): boolean {
    const times = this.times;
    for (let d = 0; d < this.dates.length; d++) {
      const { column, format } = this.dates[d];
      const time = timeOfText(CellEncoder.cell(cells, record, column), format);
      if (time === null) return false;
      times[d] = time;
    }
    const width = this.numeric.length;
    const numeric = batch.numeric;
    for (let i = 0; i < width; i++) {
      const step = this.numeric[i];
      let value: number;
      if (step.kind === 'plain') {
        // A plain decimal: never blank, a boolean's spelling or out of float32's range (15 digits at most).
        value = record !== undefined && step.boolean === undefined ? record.number(step.column) : NaN;
        if (Number.isNaN(value)) {
          const cell = CellEncoder.cell(cells, record, step.column);
          const text = cell.trim();
          if (text === '') value = NaN;
          else if (step.boolean !== undefined && (cell === step.boolean[0] || cell === step.boolean[1]))
            value = cell === step.boolean[1] ? 1 : 0;
          else {
            value = Number(text);
            if (!Number.isFinite(value) || Math.abs(value) > FLOAT32_MAX) return false;
          }
        }
      } else {
        value = derivedValue(times[step.date], step.part);
      }
      numeric[row * width + i] = value;
    }
    for (let c = 0; c < this.categorical.length; c++) {
      const { column, known, few } = this.categorical[c];
      if (record !== undefined && few !== undefined && record.isPlain(column)) {
        // The record's text compared with each known category: equal, it is that category.
        const start = record.fieldStart(column);
        const length = record.fieldEnd(column) - start;
        let category: string | undefined;
        for (let k = 0; k < few.length && category === undefined; k++)
          if (few[k].length === length && record.text.startsWith(few[k], start)) category = few[k];
        if (category !== undefined) {
          batch.categorical[c][row] = category;
          continue;
        }
      }
      // (A known category as the card's string, equal to the cell: the batch holds no slice of the input's text.)
      const category = categoryOfText(CellEncoder.cell(cells, record, column), known);
      if (category === undefined) return false;
      batch.categorical[c][row] = category;
    }
    return true;
  }

  /**
   * Whether the record's text (its bytes from textStart to textEnd, ASCII as the tokenizer read
   * them) is its cells as the predictions CSV writes them (joined by commas, none quoted, none
   * neutralized), so that the output copies it as it is; false when some cell needs either (the
   * caller writes the cells one by one): the record is plain ASCII with no quote or line break,
   * split at commas, and no cell starts as a formula would (a `+` or `-` only before a plain
   * decimal, which stays a number).
   */
  static isPlainLine(record: CsvRecord): boolean {
    if (!record.plain || record.wide || record.utf16 || record.values !== null || record.delimiter !== 44 || record.bytes === null)
      return false;
    const text = record.text;
    const n = record.fieldCount();
    for (let i = 0; i < n; i++) {
      const start = record.fieldStart(i);
      const end = record.fieldEnd(i);
      if (end === start) continue;
      const c = text.charCodeAt(start);
      // = @ tab CR always; + and - unless a number follows.
      if (c === 61 || c === 64 || c === 9 || c === 13) return false;
      if ((c === 43 || c === 45) && Number.isNaN(plainDecimal(text, start, end))) return false;
    }
    return true;
  }
}

/** Whether bytes [start, end) are `text`'s characters (ASCII bytes: a character from 0x80 on never matches). */
function spelled(bytes: Uint8Array, start: number, end: number, text: string): boolean {
  if (text.length !== end - start) return false;
  for (let i = 0; i < text.length; i++) if (bytes[start + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Whether `bytes` from `start` on begin with `expected` (which fits in them). */
function startsWith(bytes: Uint8Array, start: number, expected: Uint8Array): boolean {
  for (let i = 0; i < expected.length; i++) if (bytes[start + i] !== expected[i]) return false;
  return true;
}
