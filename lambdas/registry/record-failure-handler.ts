/** Lambda entry of the pipeline's failure path: every stage's Catch leads here, then to Fail. */
import { loadEnv, recordFailureEnv } from '../shared/env';
import { logger } from '../shared/observability';
import type { RecordFailureInput, RecordFailureOutput } from '../shared/pipeline';
import { recordFailure } from './register';

const env = loadEnv(recordFailureEnv);

export async function handler(event: RecordFailureInput): Promise<RecordFailureOutput> {
  const out = await recordFailure(event, env);
  logger.warn('Pipeline run failed', { ...out });
  return out;
}
