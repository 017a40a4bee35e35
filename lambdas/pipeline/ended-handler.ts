/** Lambda entry of the rule on the pipeline's executions that end, however they end (see ended.ts). */
import { executionEndedEnv, loadEnv } from '../shared/env';
import { executionStatusChangeSchema } from '../shared/execution-status';
import { parseEvent } from '../shared/parse-event';
import { logger } from '../shared/observability';
import { executionEnded, type EndedResult } from './ended';

const env = loadEnv(executionEndedEnv);

export async function handler(event: unknown): Promise<EndedResult> {
  const { detail } = parseEvent(executionStatusChangeSchema, event, "Not an ended execution's status change");
  const out = await executionEnded(detail, env.REGISTRY_TABLE);
  logger.info('Execution ended: cleaned up', { ...out });
  return out;
}
