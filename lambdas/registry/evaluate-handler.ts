/** Lambda entry of the pipeline's Evaluate state: the candidate challenges the champion (champion-challenge.ts). */
import { z } from 'zod';
import { evaluateEnv, loadEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseEvent } from '../shared/parse-event';
import type { EvaluateInput, EvaluationOutput } from '../shared/pipeline';
import { assertStatePayload, EVALUATE_OUTPUT_BUDGET_BYTES } from '../shared/state-payload';
import { challengeChampion } from './champion-challenge';
import { parseGateConfig } from './gate';
import { acceptedIngest, trainingOutput } from './stage-inputs';

const env = loadEnv(evaluateEnv);
// A bad per-model gate setting fails at cold start, naming the field, not mid-pipeline.
parseGateConfig(env.GATE_CONFIG);

/** What the state machine sends (lib/pipeline.ts, "Evaluate candidate"). */
export const evaluateInput = z.looseObject({
  execution: z.string().min(1),
  ingest: acceptedIngest,
  training: trainingOutput,
}) satisfies z.ZodType<EvaluateInput>;

export async function handler(event: unknown): Promise<EvaluationOutput> {
  const input = parseEvent(evaluateInput, event, 'Evaluate input is invalid');
  const out = await challengeChampion(input, env);
  logger.info('Evaluated candidate', { model: input.ingest.model, decision: out.decision, metrics: out.candidate.metrics });
  return assertStatePayload(out, 'Evaluate', EVALUATE_OUTPUT_BUDGET_BYTES);
}
