/** Lambda entry of the rule on the pipeline's executions that end, however they end (see ended.ts). */
import { z } from 'zod';
import { executionEndedEnv, loadEnv } from '../shared/env';
import { parseEvent } from '../shared/parse-event';
import { logger } from '../shared/observability';
import { executionEnded, type EndedResult } from './ended';

const env = loadEnv(executionEndedEnv);

const eventSchema = z.object({
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({
    name: z.string().min(1),
    status: z.enum(['SUCCEEDED', 'ABORTED', 'TIMED_OUT', 'FAILED']),
    input: z.string().nullish(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});

export async function handler(event: unknown): Promise<EndedResult> {
  const { detail } = parseEvent(eventSchema, event, "Not an ended execution's status change");
  const out = await executionEnded(detail, env.REGISTRY_TABLE);
  logger.info('Execution ended: cleaned up', { ...out });
  return out;
}
