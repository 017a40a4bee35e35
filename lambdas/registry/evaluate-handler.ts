/** Lambda entry of the pipeline's Evaluate state. */
import { evaluateEnv, loadEnv } from '../shared/env';
import { logger } from '../shared/observability';
import type { EvaluationOutput } from '../shared/pipeline';
import { evaluate, type EvaluateInput } from './evaluate';

const env = loadEnv(evaluateEnv);

export async function handler(event: EvaluateInput): Promise<EvaluationOutput> {
  const out = await evaluate(event, env);
  logger.info('Evaluated candidate', { model: event.ingest.model, decision: out.decision, metrics: out.candidate.metrics });
  return out;
}
