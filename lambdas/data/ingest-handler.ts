/** Lambda entry of the pipeline's Ingest state: checks its input and environment, then ingests. */
import { z } from 'zod';
import { ingestEnv, loadEnv } from '../shared/env';
import { parseEvent } from '../shared/parse-event';
import { logger } from '../shared/observability';
import { isTrainRequest, type IngestInput, type IngestOutput } from '../shared/pipeline';
import { assertStatePayload } from '../shared/state-payload';
import { ingest } from './ingest';

const env = loadEnv(ingestEnv);

const objectCreated = z.object({
  bucket: z.object({ name: z.string().min(1) }),
  object: z.object({
    key: z.string().min(1),
    size: z.number().optional(),
    'version-id': z.string().optional(),
    etag: z.string().optional(),
  }),
});

/** `mloop train`: an existing dataset version trained again (lambdas/data/known-data.ts). */
const trainRequest = z.object({
  retrain: z
    .object({
      model: z.string().min(1),
      datasetVersion: z.number().int().positive().optional(),
      requestedBy: z.string().max(200).optional(),
      reason: z.string().max(1000).optional(),
      // Checked by ingest (withTrainerChoice), whose error names the choices.
      trainer: z.string().max(100).optional(),
    })
    .strict(),
});

const inputSchema = z.object({
  detail: z.union([trainRequest, objectCreated]),
  eventId: z.string().optional(),
  eventTime: z.string().optional(),
  execution: z.string().min(1),
});

export async function handler(event: unknown): Promise<IngestOutput> {
  const input = parseEvent(
    inputSchema,
    event,
    'Ingest input is neither an S3 object-created event nor a request to train again ({"retrain": {"model", "datasetVersion"?, "trainer"?}})',
  ) as IngestInput;
  if (isTrainRequest(input.detail))
    logger.info('Training an existing dataset version again', { ...input.detail.retrain, execution: input.execution });
  else logger.info('Ingesting dataset', { key: input.detail.object.key, execution: input.execution });
  const out = await ingest(input, env);
  logger.info('Ingest finished', { status: out.status, model: out.model, datasetVersion: out.datasetVersion });
  return assertStatePayload(out, 'Ingest');
}
