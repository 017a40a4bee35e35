/** Lambda entry of the rule on the pipeline's executions that end, however they end (see ended.ts). */
import { z } from 'zod';
import { executionEndedEnv, loadEnv } from '../shared/env';
import { InvalidInput } from '../shared/errors';
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
  const parsed = eventSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInput(
      `Not an ended execution's status change: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`,
    );
  }
  const out = await executionEnded(parsed.data.detail, env.REGISTRY_TABLE);
  logger.info('Execution ended: cleaned up', { ...out });
  return out;
}
