/**
 * What a model takes as input, as a request (or a test split's row, or a captured instance) holds
 * it: the model card's features, except that a feature derived from a date-time column is sent as
 * the raw date-time and derived here (lambdas/shared/datetime.ts, the one implementation ingestion
 * uses too), and a boolean feature also takes JSON's true and false.
 */
import { datePart, parseDateTime } from './datetime';
import { getOwn } from './own-record';
import type { ColumnType, DerivedFrom, ModelCard, ModelFeature } from './types';

/** A field of a request: a feature, or a date-time column that features derive from. */
export interface InputField {
  readonly name: string;
  readonly type: ColumnType;
  /** Categorical: the categories the model knows. */
  readonly categories?: string[];
  /** Datetime: the format of its values, when not ISO 8601. */
  readonly format?: string;
  /** Boolean features: the [false, true] spellings. */
  readonly boolean?: [string, string];
}

/** The fields a request sends, in card order: each derived feature's source column in place of the first of its parts. */
export function inputFields(card: ModelCard): InputField[] {
  const fields: InputField[] = [];
  const sources = new Set<string>();
  for (const feature of card.features) {
    const from = feature.derivedFrom;
    if (from !== undefined) {
      if (sources.has(from.column)) continue;
      sources.add(from.column);
      fields.push({ name: from.column, type: 'datetime', ...(from.format !== undefined ? { format: from.format } : {}) });
      continue;
    }
    fields.push({
      name: feature.name,
      type: feature.type,
      ...(feature.type === 'categorical' ? { categories: feature.categories ?? [] } : {}),
      ...(feature.boolean !== undefined ? { boolean: feature.boolean } : {}),
    });
  }
  return fields;
}

/** Whether a raw value is missing: null, undefined or an empty (or blank) string. */
function blank(raw: unknown): boolean {
  return raw === null || raw === undefined || (typeof raw === 'string' && raw.trim() === '');
}

/**
 * Reads the model's numeric features from raw instances: a plain feature as a number, a derived
 * one from its date-time column (parsed once per instance and column), a boolean one from true or
 * false. NaN for a missing or unreadable value.
 */
export class NumericReader {
  private readonly plan: ({ kind: 'plain'; name: string; boolean?: [string, string] } | { kind: 'derived'; from: DerivedFrom })[];

  constructor(features: readonly ModelFeature[]) {
    this.plan = features.map((f) =>
      f.derivedFrom !== undefined ? { kind: 'derived', from: f.derivedFrom } : { kind: 'plain', name: f.name, boolean: f.boolean },
    );
  }

  /** The values of one instance, in feature order, into `out` from `offset` (own properties only: a missing `constructor` is missing). */
  read(instance: Record<string, unknown>, out: Float32Array | Float64Array, offset: number): void {
    let parsed: Map<string, ReturnType<typeof parseDateTime>> | undefined;
    for (let i = 0; i < this.plan.length; i++) {
      const step = this.plan[i];
      let value: number;
      if (step.kind === 'plain') {
        const raw = getOwn(instance, step.name);
        value = blank(raw) ? NaN : typeof raw === 'number' ? raw : typeof raw === 'boolean' ? (raw ? 1 : 0) : Number(raw);
      } else {
        const { column, format, part } = step.from;
        parsed ??= new Map();
        if (!parsed.has(column)) {
          const raw = getOwn(instance, column);
          parsed.set(column, typeof raw === 'string' && !blank(raw) ? parseDateTime(raw, format) : undefined);
        }
        const time = parsed.get(column);
        value = time === undefined ? NaN : datePart(time, part);
      }
      out[offset + i] = Number.isFinite(value) ? value : NaN;
    }
  }
}

/** A categorical feature's raw value as the graph's string input: '' when missing; JSON true/false as the column spells them. */
export function categoryOf(feature: ModelFeature, raw: unknown): string {
  if (blank(raw)) return '';
  if (typeof raw === 'boolean' && feature.boolean !== undefined) return feature.boolean[raw ? 1 : 0];
  return String(raw);
}

/**
 * What fills an instance's derived features in (`date.hour`...), for the drift monitor, which
 * compares the features the model sees with the training profile's. Built once per model card;
 * an instance of a card with no derived features passes as it is.
 */
export function derivedFeatureFiller(card: ModelCard): (instance: Record<string, unknown>) => Record<string, unknown> {
  const derived = card.features.filter((f) => f.derivedFrom !== undefined);
  if (derived.length === 0) return (instance) => instance;
  const reader = new NumericReader(derived);
  const values = new Float64Array(derived.length);
  return (instance) => {
    reader.read(instance, values, 0);
    const out: Record<string, unknown> = { ...instance };
    derived.forEach((f, i) => {
      Object.defineProperty(out, f.name, { value: Number.isNaN(values[i]) ? null : values[i], enumerable: true, writable: true });
    });
    return out;
  };
}
