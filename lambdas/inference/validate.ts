/**
 * Request validation against the serving model's schema. Every problem is reported, by instance
 * index and field, so a client fixes a bad batch in one round trip.
 */
import { parseDateTime } from '../shared/datetime';
import { RequestInvalid } from '../shared/errors';
import { inputFields } from '../shared/model-inputs';
import type { ModelCard } from '../shared/types';

export interface Problem {
  readonly index?: number;
  readonly field?: string;
  readonly message: string;
}

const MAX_PROBLEMS = 100;
/** The largest finite float32: the ONNX graph's numeric input is float32, where larger values become Infinity. */
const FLOAT32_MAX = 3.4028234663852886e38;

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
export function validateInstances(payload: unknown, card: ModelCard, maxBatch: number): Record<string, unknown>[] {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload) || !('instances' in payload)) {
    throw new RequestInvalid('The request body must be a JSON object with an "instances" array.');
  }
  const instances = (payload as { instances: unknown }).instances;
  if (!Array.isArray(instances)) throw new RequestInvalid('"instances" must be an array of objects.');
  if (instances.length === 0) throw new RequestInvalid('"instances" is empty: send at least one instance.');
  if (instances.length > maxBatch) {
    throw new RequestInvalid(`"instances" has ${instances.length} items; at most ${maxBatch} are accepted per request.`);
  }
  // A date-time feature is sent raw (its derived features are computed from it); columns the
  // model ignores (identifiers, free text) may be sent and are ignored.
  const fields = inputFields(card);
  const known = new Set([...fields.map((f) => f.name), ...(card.ignoredColumns ?? []).map((c) => c.name)]);
  const problems: Problem[] = [];
  const add = (p: Problem) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  instances.forEach((instance, index) => {
    if (typeof instance !== 'object' || instance === null || Array.isArray(instance)) {
      add({ index, message: `instances[${index}] must be an object of feature values.` });
      return;
    }
    const values = instance as Record<string, unknown>;
    for (const name of Object.keys(values)) {
      if (!known.has(name)) add({ index, field: name, message: `instances[${index}] has unknown feature '${name}'.` });
    }
    for (const feature of fields) {
      if (!Object.hasOwn(values, feature.name)) {
        add({
          index,
          field: feature.name,
          message: `instances[${index}] is missing feature '${feature.name}' (send null for a missing value).`,
        });
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
          add({ index, field: feature.name, message: `instances[${index}].${feature.name} must be ${expected} or null, got ${got}.` });
        }
      } else if (feature.type === 'numeric') {
        if (feature.boolean !== undefined && typeof value === 'boolean') continue;
        if (typeof value !== 'number') {
          add({
            index,
            field: feature.name,
            message: `instances[${index}].${feature.name} must be a number or null, got ${typeof value}.`,
          });
        } else if (!Number.isFinite(value)) {
          add({ index, field: feature.name, message: `instances[${index}].${feature.name} must be a finite number.` });
        } else if (Math.abs(value) > FLOAT32_MAX) {
          add({
            index,
            field: feature.name,
            message: `instances[${index}].${feature.name} is out of range: the model computes in 32-bit floats (at most ±3.4e38).`,
          });
        }
      } else if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        add({
          index,
          field: feature.name,
          message: `instances[${index}].${feature.name} must be a string (a category) or null, got ${Array.isArray(value) ? 'array' : typeof value}.`,
        });
      }
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
