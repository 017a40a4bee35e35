/**
 * Model quality from feedback: the labels sent to POST /v1/models/{name}/feedback (stored as JSON
 * Lines under feedback/<model>/<yyyy>/<mm>/<dd>/<hh>/, lambdas/inference/feedback.ts) joined with
 * the captured predictions on (requestId, index), scored with the task's metrics
 * (lambdas/registry/metrics.ts) and compared with the version's metrics on the test split.
 *
 * Memory: the labels are indexed (one entry per feedback line since the window's start) and only
 * the joined predictions are kept; the captures themselves stream through.
 *
 * Feedback that arrives after a window was monitored is not joined with that window's captures by
 * the scheduled (watermark) runs: `mloop drift --window 7d` scores a window again with everything
 * that has arrived since.
 */
import { createInterface } from 'node:readline';
import type { FeedbackRecord } from '../shared/feedback-record';
import { s3Keys } from '../shared/layout';
import type { Prediction } from '../shared/model-runtime';
import { getStream, listKeys } from '../shared/storage';
import type { ModelCard } from '../shared/types';
import { classificationMetrics, primaryMetric, regressionMetrics, type Metrics } from '../registry/metrics';

export interface LabelIndex {
  /** `${requestId}#${index}` -> label; a later line for the same prediction replaces an earlier one. */
  readonly labels: Map<string, string | number>;
  readonly objects: number;
}

/**
 * The index of each captured line within its request, for one capture object read in order: the
 * line's own `index` when it has one, else its position among the consecutive lines of the same
 * request id (a request's lines are buffered and written together, in instance order).
 */
export class CaptureIndexer {
  private last: string | undefined;
  private position = 0;

  next(record: { readonly requestId: string; readonly index?: unknown }): number {
    if (record.requestId === this.last) this.position++;
    else {
      this.last = record.requestId;
      this.position = 0;
    }
    return typeof record.index === 'number' && Number.isInteger(record.index) ? record.index : this.position;
  }
}

/** The join key of a prediction. */
export function predictionKey(requestId: string, index: number): string {
  return `${requestId}#${index}`;
}

/** The hour partition prefix of feedback keys at `at` (keys sort by time: see s3Keys.feedback). */
function hourPrefix(model: string, at: Date): string {
  return s3Keys.feedback(model, at, '').replace(/[^/]*$/, '');
}

/**
 * The labels of a model's feedback written since `since` (by hour: a label comes after its
 * prediction, so feedback older than the window's first capture cannot match it).
 */
export async function readLabels(bucket: string, model: string, since: Date | undefined): Promise<LabelIndex> {
  const prefix = s3Keys.feedbackModelPrefix(model);
  // Start just before the hour of `since`: every key of that hour sorts after its prefix.
  const startAfter = since ? hourPrefix(model, since) : undefined;
  const keys = await listKeys(bucket, prefix, startAfter);
  const labels = new Map<string, string | number>();
  for (const key of keys) {
    const lines = createInterface({ input: await getStream(bucket, key), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      let record: Partial<FeedbackRecord>;
      try {
        record = JSON.parse(line) as Partial<FeedbackRecord>;
      } catch {
        continue; // a torn line: feedback is best effort, like capture
      }
      if (typeof record.requestId !== 'string' || (typeof record.label !== 'string' && typeof record.label !== 'number')) continue;
      labels.set(predictionKey(record.requestId, typeof record.index === 'number' ? record.index : 0), record.label);
    }
  }
  return { labels, objects: keys.length };
}

export interface QualityReport {
  /** Captured predictions in the window that have a label. */
  rows: number;
  /** The metric compared (accuracy for classification, rmse for regression). */
  metric: string;
  higherIsBetter: boolean;
  /** Its value over the labelled predictions of the window; null with fewer than one row. */
  value: number | null;
  /** Its value on the test split when the version was evaluated. */
  reference: number | null;
  /** How much worse the window is, relative to the reference (0.1 = 10% worse); negative is better. */
  drop: number | null;
  margin: number;
  minRows: number;
  /** rows >= minRows and drop > margin. */
  dropped: boolean;
  /** All the task's metrics over the labelled predictions. */
  metrics: Metrics;
  warning?: string;
}

/** Joins captured predictions with their labels, then scores them. */
export class QualityAccumulator {
  private readonly truth: string[] = [];
  private readonly numbers: number[] = [];
  private readonly probabilities: number[][] = [];
  private readonly values: number[] = [];

  constructor(
    private readonly card: Pick<ModelCard, 'task' | 'classes'>,
    private readonly index: LabelIndex,
  ) {}

  get rows(): number {
    return this.card.task === 'regression' ? this.values.length : this.probabilities.length;
  }

  /** One captured prediction: kept when a label names it. */
  add(requestId: string, index: number, prediction: Prediction | undefined): void {
    if (!prediction || this.index.labels.size === 0) return;
    const label = this.index.labels.get(predictionKey(requestId, index));
    if (label === undefined) return;
    if (this.card.task === 'regression') {
      const truth = Number(label);
      if (!('value' in prediction) || !Number.isFinite(truth) || !Number.isFinite(prediction.value)) return;
      this.numbers.push(truth);
      this.values.push(prediction.value);
    } else {
      if (!('probabilities' in prediction)) return;
      this.truth.push(String(label));
      this.probabilities.push((this.card.classes ?? []).map((c) => prediction.probabilities[c] ?? 0));
    }
  }

  report(reference: Metrics, options: { margin: number; minRows: number }): QualityReport {
    const { name, higherIsBetter } = primaryMetric(this.card.task);
    const rows = this.rows;
    const base = { rows, metric: name, higherIsBetter, margin: options.margin, minRows: options.minRows };
    const referenceValue = typeof reference[name] === 'number' && Number.isFinite(reference[name]) ? reference[name] : null;
    if (rows === 0) {
      return {
        ...base,
        value: null,
        reference: referenceValue,
        drop: null,
        dropped: false,
        metrics: {},
        warning: 'No captured prediction in the window has a feedback label yet.',
      };
    }
    const metrics =
      this.card.task === 'regression'
        ? regressionMetrics(this.numbers, this.values)
        : classificationMetrics(this.truth, this.probabilities, this.card.classes ?? []);
    const value = metrics[name];
    const drop = qualityDrop(value, referenceValue, higherIsBetter);
    const report: QualityReport = {
      ...base,
      value,
      reference: referenceValue,
      drop,
      dropped: rows >= options.minRows && drop !== null && drop > options.margin,
      metrics,
    };
    if (rows < options.minRows)
      report.warning = `Only ${rows} labelled predictions in the window (quality is judged from ${options.minRows}).`;
    return report;
  }
}

/**
 * How much worse `value` is than `reference`, relative to the reference: (reference - value) /
 * |reference| when higher is better, (value - reference) / |reference| otherwise; with a zero
 * reference, the absolute difference.
 */
export function qualityDrop(value: number, reference: number | null, higherIsBetter: boolean): number | null {
  if (reference === null || !Number.isFinite(value)) return null;
  const worse = higherIsBetter ? reference - value : value - reference;
  return reference === 0 ? worse : worse / Math.abs(reference);
}
