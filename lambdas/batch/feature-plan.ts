/**
 * What batch scoring's fast-path encoders (./cell-encoder.ts for CSV and Parquet cells,
 * ./object-encoder.ts for JSON Lines objects) write for a model, in the graph's column order: each
 * numeric feature (a plain input, or a part of a date-time input), each categorical feature with
 * its known categories, and the date-time inputs to parse first. One plan, so that the two
 * encoders cannot disagree on the model's inputs; they differ only in how a row holds its values
 * (a cell by index, an object's field by name).
 */
import type { DatePart } from '../shared/datetime';
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
