/** Lambda entry of the pipeline's Ingest state: checks its input and environment, then ingests. */
import { z } from 'zod';
import { ingestEnv, loadEnv } from '../shared/env';
import { InvalidInput } from '../shared/errors';
import { logger } from '../shared/observability';
import type { IngestInput, IngestOutput } from '../shared/pipeline';
import { ingest } from './ingest';

const env = loadEnv(ingestEnv);

const inputSchema = z.object({
  detail: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({ key: z.string().min(1), size: z.number().optional(), 'version-id': z.string().optional(), etag: z.string().optional() }),
  }),
  eventId: z.string().optional(),
  eventTime: z.string().optional(),
  execution: z.string().min(1),
});

export async function handler(event: unknown): Promise<IngestOutput> {
  const parsed = inputSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInput(`Ingest input is not an S3 object-created event: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`);
  }
  const input = parsed.data as IngestInput;
  logger.info('Ingesting dataset', { key: input.detail.object.key, execution: input.execution });
  const out = await ingest(input, env);
  logger.info('Ingest finished', { status: out.status, model: out.model, datasetVersion: out.datasetVersion });
  return out;
}
