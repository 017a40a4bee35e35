/**
 * The captured-prediction record: one JSON line per instance the inference API answered, written
 * by its capture buffer (lambdas/inference), or per sampled row of a batch run (lambdas/batch), and read by the drift monitor and the retraining that
 * joins it with feedback (lambdas/monitoring). Its field names are a stored contract.
 */
import type { Prediction } from './model-runtime';

/** What a shadow model answered for the same instance: recorded, never returned. */
export interface ShadowResult {
  readonly alias: string;
  readonly version: number;
  readonly prediction: Prediction;
}

/** One captured line per instance: what the model saw and answered. */
export interface CaptureRecord {
  readonly requestId: string;
  readonly at: string;
  readonly model: string;
  readonly version: number;
  readonly instance: Record<string, unknown>;
  readonly prediction: Prediction;
  readonly latencyMs: number;
  /** Present when the request was also scored by the shadow (or challenger) alias. */
  readonly shadow?: ShadowResult;
  /**
   * The instance's position in its request when lines are not written in request order; a batch
   * row's line in its file (the request id is then the batch run).
   */
  readonly index?: number;
  /** Where the prediction was made: absent (older lines) or 'api' for the inference API, 'batch' for batch scoring. */
  readonly source?: 'api' | 'batch';
}
