/** Lambda entry of the pipeline's Register states (promote or not, as the gate decided). */
import { loadEnv, registerEnv } from '../shared/env';
import { logger } from '../shared/observability';
import type { RegisterInput, RegisterOutput } from '../shared/pipeline';
import { register } from './register';

const env = loadEnv(registerEnv);

export async function handler(event: RegisterInput): Promise<RegisterOutput> {
  const out = await register(event, env);
  logger.info('Registered model version', { model: out.model, version: out.modelVersion, promoted: out.promoted });
  return out;
}
