/**
 * Request validation against the serving model's schema. Every problem is reported, by instance
 * index and field, so a client fixes a bad batch in one round trip.
 */
import { parseDateTime } from '../shared/datetime';
import { RequestInvalid } from '../shared/errors';
import { inputFields } from '../shared/model-inputs';
import type { ModelCard } from '../shared/types';
import { DEFAULT_MAX_CATEGORY_LENGTH } from '../shared/category-limit';

export interface Problem {
  readonly index?: number;
  readonly field?: string;
  readonly message: string;
}

const MAX_PROBLEMS = 100;
/** The largest finite float32: the ONNX graph's numeric input is float32, where larger values become Infinity. */
export const FLOAT32_MAX = 3.4028234663852886e38;

export function parseBody(body: string | null | undefined, expected = '{"instances": [...]}'): unknown {
  if (body === null || body === undefined || body === '') {
    throw new RequestInvalid(`The request has no body: expected ${expected}.`);
  }
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new RequestInvalid(`The request body is not valid JSON: ${(error as Error).message}.`);
  }
}

/** Check `{"instances": [...]}` against the card; return the instances or throw RequestInvalid. */
export function validateInstances(
  payload: unknown,
  card: ModelCard,
  maxBatch: number,
  maxCategoryLength = DEFAULT_MAX_CATEGORY_LENGTH,
): Record<string, unknown>[] {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload) || !('instances' in payload)) {
    throw new RequestInvalid('The request body must be a JSON object with an "instances" array.');
  }
  const instances = (payload as { instances: unknown }).instances;
  if (!Array.isArray(instances)) throw new RequestInvalid('"instances" must be an array of objects.');
  if (instances.length === 0) throw new RequestInvalid('"instances" is empty: send at least one instance.');
  if (instances.length > maxBatch) {
    throw new RequestInvalid(`"instances" has ${instances.length} items; at most ${maxBatch} are accepted per request.`);
  }
  const problems: Problem[] = [];
  const check = instanceChecker(card, { maxCategoryLength });
  instances.forEach((instance, index) => {
    for (const problem of check(instance, `instances[${index}]`)) {
      if (problems.length < MAX_PROBLEMS) problems.push({ index, ...problem });
    }
  });
  if (problems.length > 0) {
    throw new RequestInvalid(
      `The request has ${problems.length}${problems.length === MAX_PROBLEMS ? '+' : ''} invalid value(s).`,
      problems,
    );
  }
  return instances as Record<string, unknown>[];
}

/** How one instance is checked beyond the API's rules (batch scoring's choices, lambdas/batch/). */
export interface InstanceCheckOptions {
  /**
   * Fields that are not features (a file's own columns: ids, the target) are passed through and
   * not reported; the API reports them, since a request sends features only.
   * @default false
   */
  readonly allowUnknownFields?: boolean;
  /**
   * A categorical value the model did not see in training is reported; the API scores it in the
   * graph's unknown bucket.
   * @default false
   */
  readonly rejectUnknownCategories?: boolean;
  /**
   * The most characters a categorical feature's value may have (the API's MAX_CATEGORY_LENGTH,
   * the ingestion's maxCategoryLength): a longer one is reported, so it is never scored or captured.
   * @default DEFAULT_MAX_CATEGORY_LENGTH
   */
  readonly maxCategoryLength?: number;
}

/**
 * The check of one instance against the card, the API's rules for each field: missing features,
 * non-numbers in numeric features, unreadable dates, nested values. Each problem's message starts
 * with `label` (`instances[3]`, `line 12`). Built once per card.
 */
export function instanceChecker(
  card: ModelCard,
  options: InstanceCheckOptions = {},
): (instance: unknown, label: string) => { field?: string; message: string }[] {
  // A date-time feature is sent raw (its derived features are computed from it); columns the
  // model ignores (identifiers, free text) may be sent and are ignored.
  const fields = inputFields(card);
  const known = new Set([...fields.map((f) => f.name), ...(card.ignoredColumns ?? []).map((c) => c.name)]);
  const categories = new Map(fields.filter((f) => f.categories !== undefined).map((f) => [f.name, new Set(f.categories)]));
  const maxCategoryLength = options.maxCategoryLength ?? DEFAULT_MAX_CATEGORY_LENGTH;
  return (instance, label) => {
    const problems: { field?: string; message: string }[] = [];
    const add = (p: { field?: string; message: string }) => problems.push(p);
    if (typeof instance !== 'object' || instance === null || Array.isArray(instance)) {
      add({ message: `${label} must be an object of feature values.` });
      return problems;
    }
    const values = instance as Record<string, unknown>;
    if (!options.allowUnknownFields) {
      for (const name of Object.keys(values)) {
        if (!known.has(name)) add({ field: name, message: `${label} has unknown feature '${name}'.` });
      }
    }
    for (const feature of fields) {
      if (!Object.hasOwn(values, feature.name)) {
        add({ field: feature.name, message: `${label} is missing feature '${feature.name}' (send null for a missing value).` });
        continue;
      }
      const value = values[feature.name];
      if (value === null) continue;
      if (feature.type === 'datetime') {
        if (typeof value !== 'string' || (value.trim() !== '' && parseDateTime(value, feature.format) === undefined)) {
          const got = typeof value === 'string' ? `'${value.slice(0, 40)}'` : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
          const expected =
            feature.format !== undefined
              ? `a date in the format '${feature.format}'`
              : "an ISO 8601 date or date-time such as '2024-05-01' or '2024-05-01T12:30:00Z' (UTC unless it names a zone)";
          add({ field: feature.name, message: `${label}.${feature.name} must be ${expected} or null, got ${got}.` });
        }
      } else if (feature.type === 'numeric') {
        if (feature.boolean !== undefined && typeof value === 'boolean') continue;
        if (typeof value !== 'number') {
          add({ field: feature.name, message: `${label}.${feature.name} must be a number or null, got ${typeof value}.` });
        } else if (!Number.isFinite(value)) {
          add({ field: feature.name, message: `${label}.${feature.name} must be a finite number.` });
        } else if (Math.abs(value) > FLOAT32_MAX) {
          add({
            field: feature.name,
            message: `${label}.${feature.name} is out of range: the model computes in 32-bit floats (at most ±3.4e38).`,
          });
        }
      } else if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        add({
          field: feature.name,
          message: `${label}.${feature.name} must be a string (a category) or null, got ${Array.isArray(value) ? 'array' : typeof value}.`,
        });
      } else if (typeof value === 'string' && value.length > maxCategoryLength) {
        add({
          field: feature.name,
          message: `${label}.${feature.name} is ${value.length} characters long ('${value.slice(0, 40)}...'): a category may have at most ${maxCategoryLength} characters (the setting maxCategoryLength).`,
        });
      } else if (options.rejectUnknownCategories) {
        const known = categories.get(feature.name);
        const category = String(value);
        if (known !== undefined && known.size > 0 && category.trim() !== '' && !known.has(category)) {
          const listed = [...known].slice(0, 10).map((c) => `'${c}'`);
          add({
            field: feature.name,
            message: `${label}.${feature.name} is '${category.slice(0, 40)}', a category the model was not trained on (it knows ${listed.join(', ')}${known.size > 10 ? ', ...' : ''}).`,
          });
        }
      }
    }
    return problems;
  };
}
