/**
 * Hyperparameters dropped beside the datasets: `datasets/<model>/hyperparameters.json`, an object
 * of names to strings, numbers or booleans. Ingest reads the file (when there is one) for every
 * run of the model, and the state machine merges it over the stack's `hyperparameters` prop
 * (States.JsonMerge): the file wins. SageMaker takes hyperparameters as strings, so values are
 * passed as their JSON text (`0.001`, `true`). Dropping the file does not start a run (the rule
 * that starts the pipeline excludes it); it applies from the next dataset on.
 */
import { z } from 'zod';
import { InvalidInput } from '../shared/errors';
import { DATASETS_PREFIX, s3Uri } from '../shared/layout';
import { getBytes, isMissingObject } from '../shared/storage';
import { hyperparameterNameViolation, hyperparameterViolation, MAX_HYPERPARAMETERS } from './hyperparameter-limits';

export const HYPERPARAMETERS_FILE = 'hyperparameters.json';

/** Set by the pipeline for every job: the file cannot change them. */
const PIPELINE_OWNED: ReadonlyMap<string, string> = new Map([
  ['target', "the target column comes from the dataset (--target, the object's x-amz-meta-mloop-target metadata) or the model's schema"],
  ['task', "the task is fixed by the model's schema, which the evaluation and the API follow too"],
]);

export function hyperparametersKey(model: string): string {
  return `${DATASETS_PREFIX}${model}/${HYPERPARAMETERS_FILE}`;
}

const valueSchema = z.union([z.string(), z.number(), z.boolean()], {
  error: (issue) => (issue.code === 'invalid_union' ? `must be a string, a number or a boolean, got ${describe(issue.input)}` : undefined),
});
const fileSchema = z.record(z.string(), valueSchema);

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return JSON.stringify(value);
}

/**
 * The file's text as SageMaker hyperparameters; throws InvalidInput naming the file and the key.
 * `stackNames`: the names the stack's `hyperparameters` prop sets, which count toward the job's
 * 100 with the pipeline's five (hyperparameter-limits.ts) unless the file overrides them.
 */
export function parseHyperparameters(text: string, source: string, stackNames: readonly string[] = []): Record<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new InvalidInput(`${source} is not valid JSON: ${(error as Error).message}.`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidInput(`${source} must be a JSON object of hyperparameter names to values, got ${describe(raw)}.`);
  }
  const names = Object.keys(raw);
  // Too many is said before any one name is looked at: the count is the first thing to fix.
  if (names.length > MAX_HYPERPARAMETERS) {
    throw new InvalidInput(`${source} has ${names.length} hyperparameters; SageMaker takes at most ${MAX_HYPERPARAMETERS}.`);
  }
  for (const name of names) {
    // The name's own rule first: a name like `constructor` or one holding a NUL is said as such.
    const nameViolation = hyperparameterNameViolation(name, source);
    if (nameViolation) throw new InvalidInput(nameViolation.message);
    const owner = PIPELINE_OWNED.get(name);
    if (owner !== undefined) {
      throw new InvalidInput(`${source}: hyperparameter '${name}' is set by the pipeline (${owner}); remove it from the file.`);
    }
    if (name.startsWith('sagemaker_')) {
      throw new InvalidInput(
        `${source}: hyperparameter '${name}' is reserved: names starting with sagemaker_ belong to SageMaker's script mode.`,
      );
    }
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidInput(`${source}: hyperparameter '${String(issue.path[0])}' ${issue.message}.`);
  }
  const values = Object.fromEntries(
    Object.entries(parsed.data).map(([name, value]) => [name, typeof value === 'string' ? value : JSON.stringify(value)]),
  );
  const violation = hyperparameterViolation(values, source, stackNames);
  if (violation) throw new InvalidInput(violation.message);
  return values;
}

/** The model's hyperparameters.json, parsed; {} when there is none. */
export async function readHyperparameters(
  bucket: string,
  model: string,
  stackNames: readonly string[] = [],
): Promise<Record<string, string>> {
  const key = hyperparametersKey(model);
  let bytes: Buffer;
  try {
    bytes = await getBytes(bucket, key);
  } catch (error) {
    if (isMissingObject(error)) return {};
    throw error;
  }
  return parseHyperparameters(bytes.toString('utf8'), s3Uri(bucket, key), stackNames);
}
