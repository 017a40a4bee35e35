/** A schema's identity for the registry: a hash of what training depends on. */
import { createHash } from 'node:crypto';
import type { DatasetSchema } from '../shared/types';
import { compareStrings } from './profile';

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => compareStrings(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** sha256 (hex) of the canonical JSON (sorted keys) of the columns' names and types, the target and the task. */
export function schemaHash(schema: DatasetSchema): string {
  const canonical = canonicalJson({
    columns: schema.columns.map((c) => ({ name: c.name, type: c.type })),
    target: schema.target,
    task: schema.task,
  });
  return createHash('sha256').update(canonical).digest('hex');
}
