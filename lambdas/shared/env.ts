/**
 * Typed environment contracts, one zod schema per function. The CDK constructs fill the
 * environment from the same keys (see lib/function-catalog), and each handler checks its contract
 * at cold start, so a missing variable fails loudly with its name instead of becoming ''.
 */
import { z } from 'zod';
import { EnvironmentInvalid } from './errors';

const common = {
  REGISTRY_TABLE: z.string().min(1),
  DATA_BUCKET: z.string().min(1),
};

export const ingestEnv = z.object({
  ...common,
  /** Rows a dataset needs to be accepted. */
  MIN_ROWS: z.coerce.number().int().positive().default(10),
  /** Share of empty cells above which a feature column is rejected. */
  MAX_NULL_SHARE: z.coerce.number().min(0).max(1).default(0.5),
});

export const evaluateEnv = z.object({
  ...common,
  /** How much better than the champion a candidate must be on the primary metric. */
  MIN_IMPROVEMENT: z.coerce.number().min(0).default(0),
});

export const registerEnv = z.object({ ...common });

export const recordFailureEnv = z.object({ ...common });

export const predictEnv = z.object({
  ...common,
  /** Seconds an alias resolution is cached; a promotion is served within this bound. */
  ALIAS_CACHE_SECONDS: z.coerce.number().min(0).default(10),
  /** Most instances one request may carry. */
  MAX_BATCH: z.coerce.number().int().positive().default(1000),
  /** Whether requests and responses are written to the capture prefix. */
  CAPTURE_ENABLED: z.enum(['true', 'false']).default('true'),
});

export const driftEnv = z.object({
  ...common,
  /** PSI above which a feature counts as drifted. */
  DRIFT_THRESHOLD: z.coerce.number().positive().default(0.2),
  /** Share of drifted features from which the dataset counts as drifted. */
  DRIFT_SHARE_THRESHOLD: z.coerce.number().min(0).max(1).default(0.5),
  METRICS_NAMESPACE: z.string().min(1).default('mloop'),
  /** Captures younger than this are left for the next run (late writers; see monitor.ts). */
  CAPTURE_SETTLE_SECONDS: z.coerce.number().min(0).default(60),
});

export type IngestEnv = z.infer<typeof ingestEnv>;
export type EvaluateEnv = z.infer<typeof evaluateEnv>;
export type RegisterEnv = z.infer<typeof registerEnv>;
export type PredictEnv = z.infer<typeof predictEnv>;
export type DriftEnv = z.infer<typeof driftEnv>;

/** Parse `source` (process.env by default) against a contract; name every missing or bad variable. */
export function loadEnv<S extends z.ZodType>(schema: S, source: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(source);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new EnvironmentInvalid(`The function's environment does not satisfy its contract: ${problems}.`);
  }
  return result.data;
}
