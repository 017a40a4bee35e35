/**
 * Lambda entry of the states that ingest a big file in parts (lambdas/data/parts.ts): Hash dataset,
 * Scan part, Merge parts, Split part and Finish ingest. One function, told apart by `action`: they
 * share their permissions (the dataset, the working files, the splits and the registry).
 */
import { z } from 'zod';
import { ingestEnv, loadEnv } from '../shared/env';
import { parseEvent } from '../shared/parse-event';
import { logger } from '../shared/observability';
import { assertStatePayload } from '../shared/state-payload';
import { finishPlan, hashPlan, mergePlan, scanPlanPart, splitPlanPart } from './parts';

const env = loadEnv(ingestEnv);

const range = z.object({
  index: z.number().int().nonnegative(),
  start: z.number().int().nonnegative(),
  end: z.number().int().nonnegative(),
});
const counts = z.object({
  train: z.number().int().nonnegative(),
  validation: z.number().int().nonnegative(),
  test: z.number().int().nonnegative(),
});
const plan = z.string().startsWith('s3://');

export const partsInput = z.discriminatedUnion('action', [
  z.object({ action: z.literal('hash'), plan }),
  z.object({ action: z.literal('scan'), plan, part: range }),
  z.object({
    action: z.literal('merge'),
    plan,
    hash: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().nonnegative() }),
  }),
  z.object({ action: z.literal('split'), plan, datasetVersion: z.number().int().positive(), part: range }),
  z.object({ action: z.literal('finish'), plan, datasetVersion: z.number().int().positive(), splitCounts: z.array(counts) }),
]);

export async function handler(event: unknown): Promise<unknown> {
  const input = parseEvent(partsInput, event, 'Ingest-parts input is invalid');
  logger.info('Ingest in parts', { action: input.action, plan: input.plan, ...('part' in input ? { part: input.part.index } : {}) });
  return assertStatePayload(await run(input), `Ingest in parts (${input.action})`);
}

function run(input: z.infer<typeof partsInput>): Promise<unknown> {
  switch (input.action) {
    case 'hash':
      return hashPlan(input.plan);
    case 'scan':
      return scanPlanPart(input.plan, input.part);
    case 'merge':
      return mergePlan(input.plan, input.hash, env);
    case 'split':
      return splitPlanPart(input.plan, input.datasetVersion, input.part);
    case 'finish':
      return finishPlan(input.plan, input.datasetVersion, input.splitCounts, env);
  }
}
