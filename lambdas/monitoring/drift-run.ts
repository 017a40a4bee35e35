/**
 * What one drift monitor run reports for a model: the data drift report, prediction drift, quality
 * and the retraining outcome, with the window monitored and where the report was written. The
 * monitor (monitor.ts) makes it; the HTML report (html.ts), the handler and the CLI read it.
 */
import type { DriftReport, FeatureDrift } from './drift-report';
import type { QualityReport } from './quality';
import type { RetrainOutcome } from './retrain';

export interface PredictionDrift {
  /** The share rule over the output columns (label, probabilities or value). */
  readonly detected: boolean;
  readonly driftShare: number;
  readonly driftShareThreshold: number;
  readonly rows: number;
  readonly features: FeatureDrift[];
}

export interface DriftRun extends DriftReport {
  readonly model: string;
  readonly modelVersion: number;
  readonly datasetVersion: number;
  readonly captureObjects: number;
  /** The window's rows by where they were predicted: the inference API, or batch scoring's sample (lambdas/batch/capture-sample.ts). */
  readonly rowsBySource: { readonly api: number; readonly batch: number };
  /** Which captures: since the watermark, or a window of the last `seconds`. */
  readonly window: {
    readonly mode: 'watermark' | 'window';
    readonly seconds?: number;
    readonly label?: string;
    readonly from: string | null;
    readonly to: string;
  };
  readonly config: { readonly test: string; readonly nullShareThreshold: number };
  /** The model's outputs against its outputs on the test split; null without a prediction profile. */
  readonly predictionDrift: PredictionDrift | null;
  readonly predictionDriftWarning?: string;
  /** Feedback labels joined with the window's predictions; null when the model has no feedback at all. */
  readonly quality: QualityReport | null;
  /** What the retraining policy did. */
  readonly retrain: RetrainOutcome | null;
  readonly report: { readonly json: string; readonly html: string };
}
