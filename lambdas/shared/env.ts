/**
 * Typed environment contracts, one zod schema per function. The CDK constructs fill the
 * environment from the same keys (see lib/function-catalog), and each handler checks its contract
 * at cold start, so a missing variable fails loudly with its name instead of becoming ''.
 */
import { z } from 'zod';
import { parseDatasetSchemas } from './schema-file';
import { EnvironmentInvalid } from './errors';

const common = {
  REGISTRY_TABLE: z.string().min(1),
  DATA_BUCKET: z.string().min(1),
};

/**
 * The pipeline's starter: an S3 "Object Created" event in, at most one execution per object
 * version out (lambdas/pipeline/start.ts).
 */
export const startPipelineEnv = z.object({
  ...common,
  /** The training pipeline's state machine, which the starter may only start executions of. */
  STATE_MACHINE_ARN: z.string().min(1),
  METRICS_NAMESPACE: z.string().min(1).default('mloop'),
});

export const ingestEnv = z.object({
  ...common,
  /** CloudWatch namespace of the ingestion metrics (lambdas/data/ingest-metrics.ts). */
  METRICS_NAMESPACE: z.string().min(1).default('mloop'),
  /** Rows a dataset needs to be accepted. */
  MIN_ROWS: z.coerce.number().int().positive().default(10),
  /** The most columns a dataset file may have (DatasetIngestionOptions.maxColumns; lambdas/data/scan-types.ts DEFAULT_MAX_COLUMNS). */
  MAX_COLUMNS: z.coerce.number().int().positive().default(10_000),
  /** The most characters a category value may have (DatasetIngestionOptions.maxCategoryLength; lambdas/data/scan-types.ts DEFAULT_MAX_CATEGORY_LENGTH). */
  MAX_CATEGORY_LENGTH: z.coerce.number().int().positive().default(1000),
  /** The most bytes a gzip file may inflate to (lambdas/data/formats.ts DEFAULT_GZIP_LIMITS: 16 GiB). */
  MAX_GZIP_INFLATED_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(16 * 1024 ** 3),
  /** The most a gzip file may inflate by, counted from 64 MiB inflated (DEFAULT_GZIP_LIMITS: 200). */
  MAX_GZIP_RATIO: z.coerce.number().positive().default(200),
  /** The most cells (rows x columns read) one Parquet row group may declare (lambdas/data/parquet-file.ts DEFAULT_ROW_GROUP_LIMITS: 16 Mi). */
  MAX_ROW_GROUP_CELLS: z.coerce
    .number()
    .int()
    .positive()
    .default(16 * 1024 ** 2),
  /** The most uncompressed bytes one Parquet row group may declare for the columns read (DEFAULT_ROW_GROUP_LIMITS: 512 MiB). */
  MAX_ROW_GROUP_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(512 * 1024 ** 2),
  /** Share of empty cells above which a feature column is rejected. */
  MAX_NULL_SHARE: z.coerce.number().min(0).max(1).default(0.5),
  /**
   * Seconds an execution holds its model's training slot when it never gives it back (it died);
   * the CDK construct sets the training job's limit plus an hour.
   */
  TRAINING_LEASE_SECONDS: z.coerce
    .number()
    .positive()
    .default(4 * 3600),
  /**
   * Seconds a run may wait for its model's training slot before it ends failed
   * (TrainingSlotWaitExceeded, lambdas/data/slot-wait.ts); the CDK construct sets trainingSlotWait.
   */
  TRAINING_SLOT_WAIT_SECONDS: z.coerce
    .number()
    .nonnegative()
    .default(4 * 3600),
  /**
   * A CSV, JSON Lines or Parquet file larger than this is ingested in parts (lambdas/data/parts.ts) by the
   * state machine's Map states instead of in one pass of this function.
   */
  PARTS_ABOVE_BYTES: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(2 * 1024 ** 3),
  /** The size of each part (more when the file would make more than MAX_PARTS). */
  PART_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(256 * 1024 ** 2),
  /** The most parts one file is cut into. */
  MAX_PARTS: z.coerce.number().int().positive().max(1000).default(1000),
  /**
   * The names the stack's `hyperparameters` prop gives every training job (JSON list): with the
   * pipeline's own five they count toward SageMaker's 100 when hyperparameters.json is checked
   * (lambdas/data/hyperparameter-limits.ts). Absent: none.
   */
  STACK_HYPERPARAMETERS: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return [];
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `not valid JSON (${(error as Error).message})` });
        return z.NEVER;
      }
      const names = z.array(z.string()).safeParse(json);
      if (!names.success) {
        ctx.addIssue({ code: 'custom', message: 'expected a JSON list of hyperparameter names' });
        return z.NEVER;
      }
      return names.data;
    }),
  /**
   * Schemas declared in the CDK props (`datasetSchemas`): JSON `{"<model>": <schema.json document>}`.
   * Parsed here, so that a bad one fails at cold start naming the model and the field; absent or
   * empty means none. A schema.json dropped beside the data wins over these (lambdas/data/ingest.ts).
   */
  DATASET_SCHEMAS: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return {};
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `not valid JSON (${(error as Error).message})` });
        return z.NEVER;
      }
      const parsed = parseDatasetSchemas(json, 'DATASET_SCHEMAS');
      if (!parsed.ok) {
        ctx.addIssue({ code: 'custom', message: parsed.message.replace(/\.$/, '') });
        return z.NEVER;
      }
      return parsed.schemas;
    }),
});

export const evaluateEnv = z.object({
  ...common,
  /** How much better than the champion a candidate must be on the primary metric. */
  MIN_IMPROVEMENT: z.coerce.number().min(0).default(0),
  /** Per-model gate settings, JSON `{"<model>": {"minImprovement": n}}` (lambdas/registry/gate.ts). */
  GATE_CONFIG: z.string().optional(),
});

/** Where registry events go (lambdas/shared/events.ts). */
const registryEvents = {
  /** The EventBridge bus for registry events; the account's default bus when absent. */
  EVENT_BUS_NAME: z.string().min(1).optional(),
  /** The SNS topic for people; no SNS message when absent. */
  TOPIC_ARN: z.string().min(1).optional(),
};

export const registerEnv = z.object({ ...common, ...registryEvents });

/** The registry's admin function: promote, roll back, approve, reject; history and lineage. */
export const modelsEnv = z.object({ ...common, ...registryEvents });

export const recordFailureEnv = z.object({ ...common });

export const predictEnv = z.object({
  ...common,
  /** Seconds an alias resolution is cached; a promotion is served within this bound. */
  ALIAS_CACHE_SECONDS: z.coerce.number().min(0).default(10),
  /** Most instances one request may carry. */
  MAX_BATCH: z.coerce.number().int().positive().default(1000),
  /** The most characters a categorical feature's value may have (lambdas/shared/category-limit.ts); longer is a 400. */
  MAX_CATEGORY_LENGTH: z.coerce.number().int().positive().default(1000),
  /** Whether requests and responses are written to the capture prefix. */
  CAPTURE_ENABLED: z.enum(['true', 'false']).default('true'),
  /** Share of requests captured (0 to 1), drawn per request. */
  CAPTURE_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(1),
  /** Captured lines a container buffers before it writes them as one object. */
  CAPTURE_BATCH_RECORDS: z.coerce.number().int().positive().default(1000),
  /** Seconds the oldest buffered capture line may wait before the buffer is written. */
  CAPTURE_FLUSH_SECONDS: z.coerce.number().min(0).default(10),
  /** Share of champion requests also scored by the `shadow` (else `challenger`) alias, captured and never returned. */
  SHADOW_SHARE: z.coerce.number().min(0).max(1).default(0),
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
  /** Tests, thresholds and overrides per model and feature, as JSON (lambdas/monitoring/config.ts). */
  DRIFT_CONFIG: z.string().default(''),
  /** Whether data drift or a quality drop starts a retraining (lambdas/monitoring/retrain.ts). */
  RETRAIN_ON_DRIFT: z.enum(['true', 'false']).default('false'),
  /** Seconds after a retraining before another may start for the same model. */
  RETRAIN_COOLDOWN_SECONDS: z.coerce.number().min(0).default(86400),
  /** Seconds a retraining holds its model's lease when its run never reports back. */
  RETRAIN_LEASE_SECONDS: z.coerce.number().positive().default(21600),
  /** New labelled rows (feedback joined with captures) a retraining needs; 0 retrains on the same rows. */
  RETRAIN_MIN_FEEDBACK_ROWS: z.coerce.number().int().min(0).default(1),
});

/**
 * Batch scoring's starter: one execution of the batch state machine per dropped object version.
 * The same contract as the pipeline's starter; its STATE_MACHINE_ARN is the batch state machine.
 */
export const startBatchEnv = startPipelineEnv;

/** Batch scoring's plan, score-part and merge (lambdas/batch/runs.ts). */
export const batchEnv = z.object({
  ...common,
  /** The size of each part of a text file (more when the file would make more than MAX_PARTS). */
  PART_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(64 * 1024 ** 2),
  /** The most parts one file is cut into. */
  MAX_PARTS: z.coerce.number().int().positive().max(1000).default(1000),
  /** Rows scored per ONNX session.run. */
  SCORE_BATCH_ROWS: z.coerce.number().int().positive().default(2048),
  /** Scored rows of one run written for the drift monitor, at most (a seeded sample; 0: none). */
  BATCH_CAPTURE_ROWS: z.coerce.number().int().min(0).default(10_000),
  /** Where `Batch Scoring Completed`/`Failed` go (lambdas/batch/events.ts). */
  ...registryEvents,
});

export type StartPipelineEnv = z.infer<typeof startPipelineEnv>;
/** The cleanup after an execution that ended ABORTED, TIMED_OUT or FAILED (lambdas/pipeline/ended.ts). */
export const executionEndedEnv = z.object({ ...common });

export type BatchEnv = z.infer<typeof batchEnv>;
export type IngestEnv = z.infer<typeof ingestEnv>;
export type EvaluateEnv = z.infer<typeof evaluateEnv>;
export type RegisterEnv = z.infer<typeof registerEnv>;
export type ModelsEnv = z.infer<typeof modelsEnv>;
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
