/**
 * What batch scoring's fast-path encoders (./cell-encoder.ts for CSV and Parquet cells,
 * ./object-encoder.ts for JSON Lines objects) write for a model, in the graph's column order: each
 * numeric feature (a plain input, or a part of a date-time input), each categorical feature with
 * its known categories, and the date-time inputs to parse first. One plan, so that the two
 * encoders cannot disagree on the model's inputs; they differ only in how a row holds its values
 * (a cell by index, an object's field by name).
 */
import { DEFAULT_MAX_CATEGORY_LENGTH } from '../shared/category-limit';
import { datePart, parseDateTime, type DatePart, type DateTime } from '../shared/datetime';
import { inputFields } from '../shared/model-inputs';
import type { InstanceEncoder } from '../shared/model-runtime';

export type PlannedNumeric =
  | { readonly kind: 'plain'; readonly name: string; readonly boolean?: readonly [string, string] }
  /** A part of the `date`th date-time input. */
  | { readonly kind: 'derived'; readonly date: number; readonly part: DatePart };

export interface FeaturePlan {
  readonly numeric: readonly PlannedNumeric[];
  readonly categorical: readonly { readonly name: string; readonly categories: readonly string[] }[];
  readonly dates: readonly { readonly name: string; readonly format?: string }[];
  /** Every input field's name (features, and date-time inputs whose parts are features). */
  readonly inputs: readonly string[];
}

/** The plan for a model, or undefined when only the per-row path can take its rows (a card of the older index contract). */
export function featurePlan(encoder: InstanceEncoder): FeaturePlan | undefined {
  const card = encoder.card;
  if (card.formatVersion !== 2) return undefined;
  const fields = inputFields(card);
  const dates: { name: string; format?: string }[] = [];
  const dateIndex = new Map<string, number>();
  for (const field of fields) {
    if (field.type !== 'datetime') continue;
    dateIndex.set(field.name, dates.length);
    dates.push({ name: field.name, ...(field.format !== undefined ? { format: field.format } : {}) });
  }
  const numeric: PlannedNumeric[] = [];
  for (const feature of encoder.numericFeatures) {
    if (feature.derivedFrom !== undefined) {
      const date = dateIndex.get(feature.derivedFrom.column);
      if (date === undefined) return undefined;
      numeric.push({ kind: 'derived', date, part: feature.derivedFrom.part });
    } else numeric.push({ kind: 'plain', name: feature.name, ...(feature.boolean ? { boolean: feature.boolean } : {}) });
  }
  const categorical = encoder.categoricalFeatures.map((feature) => ({ name: feature.name, categories: feature.categories ?? [] }));
  return { numeric, categorical, dates, inputs: fields.map((f) => f.name) };
}

/** Each known category mapped to the card's own string (the batch then holds no slice of the input), or undefined when any goes. */
export function knownCategories(categories: readonly string[]): ReadonlyMap<string, string> | undefined {
  return categories.length > 0 ? new Map(categories.map((c) => [c, c])) : undefined;
}

/**
 * A date-time input's text as both encoders read it: undefined for a blank one (missing), null
 * for one it cannot read (the per-row path decides), else its time.
 */
export function timeOfText(text: string, format: string | undefined): DateTime | undefined | null {
  if (text.trim() === '') return undefined;
  return parseDateTime(text, format) ?? null;
}

/** A part of a row's date-time input (`time`, undefined when missing): NaN when missing or not finite, as the per-row path encodes it. */
export function derivedValue(time: DateTime | undefined, part: DatePart): number {
  const value = time === undefined ? NaN : datePart(time, part);
  return Number.isFinite(value) ? value : NaN;
}

/**
 * A categorical feature's text as the batch holds it: '' for a blank one (missing), the card's
 * own string for a known category (`known`: knownCategories), the text itself when any category
 * goes; undefined when the per-row path must decide (too long, or unknown).
 */
export function categoryOfText(text: string, known: ReadonlyMap<string, string> | undefined): string | undefined {
  if (text.trim() === '') return '';
  // Longer than the check allows (a known category may be too, when ingestion allowed more).
  if (text.length > DEFAULT_MAX_CATEGORY_LENGTH) return undefined;
  return known === undefined ? text : known.get(text);
}
