/**
 * Batch scoring's fast path for JSON Lines rows: a row's object written straight into the graph's
 * column batch (lambdas/shared/model-runtime.ts ColumnBatch), without the per-row check's list of
 * problems and the object-to-tensor reader, as the cell encoder (./cell-encoder.ts) does for CSV
 * and Parquet cells.
 *
 * It only ever answers "this row is valid, and here are its features": a missing feature, a value
 * of another JSON type than the common one (text in a number, a number as a category), a number
 * out of float32 range, an unknown or too long category, or a date it cannot read makes it answer
 * false, and the caller takes the per-row path (the API's instance check,
 * InstanceEncoder.encodeInstance), which says why or encodes it. So a row is accepted, rejected
 * and encoded exactly as on the per-row path; test/batch-fast-path.test.ts compares the two.
 */
import { DEFAULT_MAX_CATEGORY_LENGTH } from '../shared/category-limit';
import type { DateTime } from '../shared/datetime';
import type { ColumnBatch, InstanceEncoder } from '../shared/model-runtime';
import { FLOAT32_MAX } from '../inference/validate';
import { categoryOfText, derivedValue, featurePlan, knownCategories, timeOfText, type PlannedNumeric } from './feature-plan';

/** Encodes JSON objects (a JSON Lines row as JSON.parse gives it) for one model. */
export class ObjectEncoder {
  private readonly times: (DateTime | undefined)[];

  private constructor(
    private readonly numeric: readonly PlannedNumeric[],
    /** Each categorical feature's name and known categories (each mapped to the card's own string). */
    private readonly categorical: readonly { readonly name: string; readonly known: ReadonlyMap<string, string> | undefined }[],
    private readonly dates: readonly { readonly name: string; readonly format?: string }[],
  ) {
    this.times = dates.map(() => undefined);
  }

  /**
   * The encoder for a model, or undefined when the per-row path must take every row: a card of
   * the older index contract, or a feature called `__proto__` (the per-row path reads own
   * properties only; left to it).
   */
  static for(encoder: InstanceEncoder): ObjectEncoder | undefined {
    const plan = featurePlan(encoder);
    if (plan === undefined || plan.inputs.includes('__proto__')) return undefined;
    const categorical = plan.categorical.map(({ name, categories }) => ({ name, known: knownCategories(categories) }));
    return new ObjectEncoder(plan.numeric, categorical, plan.dates);
  }

  /**
   * Write a row's features into row `row` of `batch` when every value is certainly valid; false
   * (with the row's slots partly written) when the per-row path must decide.
   */
  encode(object: Record<string, unknown>, batch: ColumnBatch, row: number): boolean {
    const times = this.times;
    for (let d = 0; d < this.dates.length; d++) {
      const { name, format } = this.dates[d];
      if (!Object.hasOwn(object, name)) return false;
      const value = object[name];
      if (value === null) times[d] = undefined;
      else if (typeof value !== 'string') return false;
      else {
        const time = timeOfText(value, format);
        if (time === null) return false;
        times[d] = time;
      }
    }
    const width = this.numeric.length;
    const numeric = batch.numeric;
    for (let i = 0; i < width; i++) {
      const step = this.numeric[i];
      let value: number;
      if (step.kind === 'plain') {
        if (!Object.hasOwn(object, step.name)) return false;
        const raw = object[step.name];
        if (raw === null) value = NaN;
        else if (typeof raw === 'number') {
          if (!Number.isFinite(raw) || Math.abs(raw) > FLOAT32_MAX) return false;
          value = raw;
        } else if (step.boolean !== undefined && typeof raw === 'boolean') value = raw ? 1 : 0;
        else return false;
      } else {
        value = derivedValue(times[step.date], step.part);
      }
      numeric[row * width + i] = value;
    }
    for (let c = 0; c < this.categorical.length; c++) {
      const { name, known } = this.categorical[c];
      if (!Object.hasOwn(object, name)) return false;
      const value = object[name];
      if (value === null) batch.categorical[c][row] = '';
      // (The API's check refuses a long string before it looks for a blank one; a cell is blank first.)
      else if (typeof value !== 'string' || value.length > DEFAULT_MAX_CATEGORY_LENGTH) return false;
      else {
        const category = categoryOfText(value, known);
        if (category === undefined) return false;
        batch.categorical[c][row] = category;
      }
    }
    return true;
  }
}
