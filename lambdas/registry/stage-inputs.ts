/**
 * zod schemas of the pipeline state the registry's stages receive from the stages before them
 * (lambdas/shared/pipeline.ts holds the same shapes as types): the accepted dataset ($.ingest),
 * the training job ($.training), the evaluation ($.evaluation) and a reviewer's approval
 * ($.approval). The handlers build their event schemas from these.
 *
 * Objects are loose: a field no stage reads travels on untouched (Register stores the evaluation
 * as it came), so a stage that adds a field does not break the stages after it.
 */
import { z } from 'zod';
import { MODEL_NAME_PATTERN } from '../shared/layout';
import type { ApprovalOutput, EvaluationOutput, IngestOutput, TrainingOutput } from '../shared/pipeline';

export const modelName = z.string().regex(MODEL_NAME_PATTERN, 'expected a model name (lowercase letters, digits and dashes)');
export const positiveInteger = z.number().int().positive();
export const s3Uri = z.string().startsWith('s3://', 'expected an s3:// URI');
const metrics = z.record(z.string(), z.number());

/** $.ingest once Ingest (or Finish ingest) accepted the dataset. */
export const acceptedIngest = z.looseObject({
  status: z.literal('ACCEPTED'),
  model: modelName,
  datasetVersion: positiveInteger,
  sha256: z.string(),
  s3VersionId: z.string().optional(),
  target: z.string(),
  task: z.enum(['classification', 'regression']),
  trainingJobName: z.string(),
  channels: z.looseObject({ train: s3Uri, validation: s3Uri }),
  testSplit: s3Uri,
  hyperparameters: z.record(z.string(), z.string()),
  trainingSlot: z.enum(['acquired', 'busy']).optional(),
  heldBy: z.string().optional(),
  heldSince: z.string().optional(),
  retryOf: z.string().optional(),
}) satisfies z.ZodType<Extract<IngestOutput, { status: 'ACCEPTED' }>>;

/** $.training: what the pipeline keeps of DescribeTrainingJob. */
export const trainingOutput = z.looseObject({
  trainingJobName: z.string(),
  modelArtifacts: s3Uri,
}) satisfies z.ZodType<TrainingOutput>;

/** $.evaluation: what Evaluate answered. */
export const evaluationOutput = z.looseObject({
  candidate: z.looseObject({
    onnxUri: s3Uri,
    cardUri: s3Uri,
    sha256: z.string(),
    metrics,
    validationMetrics: metrics,
    hyperparameters: z.record(z.string(), z.unknown()),
    trainer: z.string().optional(),
    trainerCandidates: z
      .record(
        z.string(),
        z.looseObject({
          framework: z.string().optional(),
          validationMetrics: metrics.optional(),
          trainingSeconds: z.number().optional(),
          epochs: z.number().optional(),
          error: z.string().optional(),
        }),
      )
      .optional(),
  }),
  champion: z.looseObject({ version: positiveInteger, metrics }).nullable(),
  baseline: metrics,
  decision: z.looseObject({ better: z.boolean(), reason: z.string(), metric: z.string() }),
  // The whole report (with the details) in S3: Register copies its details to the version's report.
  reportUri: s3Uri.optional(),
  // Inline details, from an execution started before they moved to the report: stored as they came.
  details: z
    .custom<NonNullable<EvaluationOutput['details']>>((value) => typeof value === 'object' && value !== null, 'expected an object')
    .optional(),
}) satisfies z.ZodType<EvaluationOutput>;

/** $.approval: what `mloop models approve` resumed the waiting task with. */
export const approvalOutput = z.looseObject({
  decision: z.literal('approved'),
  by: z.string(),
  reason: z.string(),
  decidedAt: z.string(),
}) satisfies z.ZodType<ApprovalOutput>;
