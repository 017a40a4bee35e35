/** Lambda entry of the pipeline's Evaluate state. */
import { evaluateEnv, loadEnv } from '../shared/env';
import { logger } from '../shared/observability';
import type { EvaluationOutput } from '../shared/pipeline';
import { evaluate, type EvaluateInput } from './evaluate';
import { parseGateConfig } from './gate';

const env = loadEnv(evaluateEnv);
// A bad per-model gate setting fails at cold start, naming the field, not mid-pipeline.
parseGateConfig(env.GATE_CONFIG);

export async function handler(event: EvaluateInput): Promise<EvaluationOutput> {
  const out = await evaluate(event, env);
  logger.info('Evaluated candidate', { model: event.ingest.model, decision: out.decision, metrics: out.candidate.metrics });
  return out;
}
