/** Lambda entry of the drift monitor: the hourly schedule (all models) or one model on demand. */
import { z } from 'zod';
import { driftEnv, loadEnv } from '../shared/env';
import { InvalidInput } from '../shared/errors';
import { logger } from '../shared/observability';
import { parseDriftConfig } from './config';
import type { DriftRun } from './drift-run';
import { runDriftMonitor } from './monitor';

const env = loadEnv(driftEnv);
// A bad DRIFT_CONFIG fails at cold start, naming what is wrong, not at the first scheduled run.
parseDriftConfig(env.DRIFT_CONFIG);

const inputSchema = z.object({
  model: z.string().min(1).optional(),
  settleSeconds: z.number().min(0).optional(),
  /** Monitor the last period ("30m", "24h", "7d" or seconds) instead of the captures since the last run. */
  window: z.union([z.string().min(1), z.number().positive()]).optional(),
});

export async function handler(event: unknown): Promise<DriftRun[]> {
  // A scheduled event carries no model: monitor them all.
  const raw = (event ?? {}) as Record<string, unknown>;
  const parsed = inputSchema.safeParse(raw['detail-type'] === 'Scheduled Event' ? {} : raw);
  if (!parsed.success) throw new InvalidInput(`Drift monitor input is not valid: ${parsed.error.message}`);
  const runs = await runDriftMonitor(parsed.data, env);
  for (const run of runs) {
    logger.info('Drift monitor run', {
      model: run.model,
      rows: run.rows,
      datasetDrift: run.datasetDrift,
      driftShare: run.driftShare,
      predictionDrift: run.predictionDrift?.detected ?? null,
      qualityDrop: run.quality?.dropped ?? null,
      retrain: run.retrain?.action ?? null,
    });
  }
  return runs;
}
