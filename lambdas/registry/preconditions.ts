/**
 * The checks an admin action starts with: a named actor, a model the registry holds and a version
 * it holds. Each fails with a named error whose message says what does exist.
 */
import { InvalidInput, ModelNotFound } from '../shared/errors';
import { assertModelName } from '../shared/layout';
import type { ModelRecord } from '../shared/registry/models';
import type { Registry } from '../shared/registry/registry';
import type { ModelVersionRecord } from '../shared/registry/versions';
import { VersionNotFound } from './errors';

export async function requireModel(registry: Registry, model: string): Promise<ModelRecord> {
  assertModelName(model);
  const record = await registry.models.get(model);
  if (!record) throw new ModelNotFound(`Model '${model}' is not in the registry.`);
  return record;
}

export async function requireVersion(registry: Registry, model: string, version: number): Promise<ModelVersionRecord> {
  if (!Number.isInteger(version) || version < 1) throw new InvalidInput(`Version '${version}' is not valid: expected a positive integer.`);
  const record = await registry.versions.get(model, version);
  if (!record) {
    const versions = (await registry.versions.list(model)).map((v) => v.version);
    const known = versions.length === 0 ? 'it has no versions yet' : `its versions: ${describeNumbers(versions)}`;
    throw new VersionNotFound(`Model '${model}' has no version ${version} (${known}).`);
  }
  return record;
}

/** 1-3, 5, 7-9 */
function describeNumbers(numbers: number[]): string {
  const sorted = [...numbers].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

export function assertActor(by: string, what = 'moves the alias'): void {
  if (typeof by !== 'string' || by.trim() === '') throw new InvalidInput(`Who ${what} is required (pipeline:<execution> or user:<name>).`);
}
