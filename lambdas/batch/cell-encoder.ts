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
import { plainDecimal, type CsvRecord } from '../data/readers/csv-tokenizer';
import { DEFAULT_MAX_CATEGORY_LENGTH } from '../shared/category-limit';
import type { DatePart, DateTime } from '../shared/datetime';
import type { ColumnBatch, InstanceEncoder } from '../shared/model-runtime';
import { FLOAT32_MAX } from '../inference/validate';
import { categoryOfText, derivedValue, featurePlan, knownCategories, timeOfText } from './feature-plan';

/** Categories a record's text is compared with one by one, at most (more: a string per cell and a map lookup). */
const FEW_CATEGORIES = 16;

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

  private constructor(
    numeric: NumericStep[],
    categorical: { column: number; known: ReadonlyMap<string, string> | undefined; few: string[] | undefined }[],
    dates: { column: number; format?: string }[],
  ) {
    this.numeric = numeric;
    this.categorical = categorical;
    this.dates = dates;
    this.times = dates.map(() => undefined);
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
    return new CellEncoder(numeric, categorical, dates);
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
   * The record's text as the predictions CSV writes its cells (joined by commas, none quoted, none
   * neutralized), or undefined when some cell needs either (the caller writes the cells one by
   * one): the record is plain ASCII with no quote or line break, split at commas, and no cell
   * starts as a formula would (a `+` or `-` only before a plain decimal, which stays a number).
   */
  static plainLine(record: CsvRecord): string | undefined {
    if (!record.plain || record.wide || record.utf16 || record.values !== null || record.delimiter !== 44) return undefined;
    const text = record.text;
    const n = record.fieldCount();
    for (let i = 0; i < n; i++) {
      const start = record.fieldStart(i);
      const end = record.fieldEnd(i);
      if (end === start) continue;
      const c = text.charCodeAt(start);
      // = @ tab CR always; + and - unless a number follows.
      if (c === 61 || c === 64 || c === 9 || c === 13) return undefined;
      if ((c === 43 || c === 45) && Number.isNaN(plainDecimal(text, start, end))) return undefined;
    }
    return text.slice(record.textStart, record.textEnd);
  }
}
