/**
 * Per-model gate settings. The default margin is MIN_IMPROVEMENT; a team can set another margin
 * for one model (a noisy model may need a bigger one) through the `gateByModel` CDK prop, which
 * reaches the Evaluate function as the GATE_CONFIG environment variable.
 */
import { z } from 'zod';
import { EnvironmentInvalid } from '../shared/errors';
import { MODEL_NAME_PATTERN } from '../shared/layout';

export const modelGateSchema = z.object({ minImprovement: z.number().finite().min(0) }).strict();
export const gateConfigSchema = z.record(z.string().regex(MODEL_NAME_PATTERN, 'a model name'), modelGateSchema);

export type ModelGate = z.infer<typeof modelGateSchema>;
export type GateConfig = z.infer<typeof gateConfigSchema>;

/** Parse GATE_CONFIG (JSON); absent or empty means no per-model settings. */
export function parseGateConfig(raw: string | undefined): GateConfig {
  if (raw === undefined || raw.trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new EnvironmentInvalid(`GATE_CONFIG is not valid JSON: ${(error as Error).message}.`);
  }
  const parsed = gateConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new EnvironmentInvalid(`GATE_CONFIG.${issue.path.join('.')}: ${issue.message}.`);
  }
  return parsed.data;
}

/** The margin a candidate of `model` must beat the champion by. */
export function marginFor(model: string, config: GateConfig, fallback: number): number {
  return config[model]?.minImprovement ?? fallback;
}
