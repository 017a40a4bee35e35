/** Lambda entry of the pipeline's failure path: every stage's Catch leads here, then to Fail. */
import { z } from 'zod';
import { loadEnv, recordFailureEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseEvent } from '../shared/parse-event';
import type { RecordFailureOutput } from '../shared/pipeline';
import { assertStatePayload } from '../shared/state-payload';
import { recordFailure, type FailureInput } from './record-failure';

const env = loadEnv(recordFailureEnv);

/** The execution's input detail (PipelineDetail): a request to train again, or a dropped object. */
const detail = z.union([
  z.looseObject({
    retrain: z.looseObject({
      model: z.string(),
      datasetVersion: z.number().optional(),
      requestedBy: z.string().optional(),
      reason: z.string().optional(),
    }),
  }),
  z.looseObject({
    bucket: z.looseObject({ name: z.string() }),
    object: z.looseObject({
      key: z.string(),
      size: z.number().optional(),
      'version-id': z.string().optional(),
      etag: z.string().optional(),
    }),
  }),
]);

/** $.ingest in any of its forms: its model and dataset version are read; the rest passes through. */
const ingest = z.looseObject({
  status: z.enum(['ACCEPTED', 'DUPLICATE', 'CONFIG', 'PARTS', 'SPLITS']),
  model: z.string(),
  datasetVersion: z.number().nullable(),
  trainingSlot: z.enum(['acquired', 'busy']).optional(),
});

/** Whether a stage has answered is all that is read of its output (see record-failure.ts, stageOf). */
const answered = z.looseObject({});

/**
 * What the "Record failure" state sends (lib/pipeline.ts): the whole state at the point of
 * failure, with the Catch's `{Error, Cause}` under `error`.
 */
export const recordFailureInput = z.looseObject({
  execution: z.string().min(1),
  state: z.looseObject({
    detail: detail.optional(),
    ingest: ingest.optional(),
    training: answered.optional(),
    evaluation: answered.optional(),
    error: z.looseObject({ Error: z.string(), Cause: z.string().optional() }),
  }),
}) satisfies z.ZodType<FailureInput>;

export async function handler(event: unknown): Promise<RecordFailureOutput> {
  const out = await recordFailure(parseEvent(recordFailureInput, event, 'Record-failure input is invalid'), env);
  logger.warn('Pipeline run failed', { ...out });
  return assertStatePayload(out, 'Record failure');
}
