/**
 * Scoring a model on a test split: its predictions turned into metrics (and, for classification,
 * the confusion matrix and per-class scores), and the constant baseline every model must beat.
 */
import type { ModelRuntime, Prediction } from '../shared/model-runtime';
import type { ClassificationDetails, RegressionDetails } from '../shared/pipeline';
import type { ModelCard, Task } from '../shared/types';
import { classificationDetails, classificationMetrics, regressionMetrics, type Metrics } from './metrics';
import type { TestSplit } from './test-split';

export async function scoreModel(runtime: ModelRuntime, split: TestSplit, batch = 1000): Promise<Metrics> {
  return (await scoreModelWithDetails(runtime, split, batch)).metrics;
}

/** The metrics, and for classification the confusion matrix and per-class scores. */
export async function scoreModelWithDetails(
  runtime: ModelRuntime,
  split: TestSplit,
  batch = 1000,
): Promise<{ metrics: Metrics; details: ClassificationDetails | null; predictions: Prediction[] }> {
  const predictions: Prediction[] = [];
  for (let i = 0; i < split.instances.length; i += batch) {
    predictions.push(...(await runtime.predict(split.instances.slice(i, i + batch))));
  }
  return {
    metrics: metricsOf(runtime.card, predictions, split.truth),
    details: detailsOf(runtime.card, predictions, split.truth),
    predictions,
  };
}
/** The most rows a regression's stored residual sample keeps. */
export const RESIDUAL_SAMPLE = 500;

/** A regression's `[truth, predicted]` pairs: every row, or an evenly spaced sample of RESIDUAL_SAMPLE. Pure. */
export function residualsOf(predictions: Prediction[], truth: string[]): RegressionDetails {
  const rows = truth.length;
  const take = Math.min(rows, RESIDUAL_SAMPLE);
  const sample: [number, number][] = [];
  for (let k = 0; k < take; k++) {
    const i = Math.floor((k * rows) / take);
    const p = predictions[i];
    sample.push([Number(truth[i]), 'value' in p ? p.value : NaN]);
  }
  return { rows, sample };
}

/** Confusion matrix and per-class scores (classification), null for regression. */
export function detailsOf(card: ModelCard, predictions: Prediction[], truth: string[]): ClassificationDetails | null {
  if (card.task === 'regression') return null;
  const classes = card.classes ?? [];
  return classificationDetails(
    truth,
    predictions.map((p) => ('probabilities' in p ? classes.map((c) => p.probabilities[c]) : [])),
    classes,
  );
}

export function metricsOf(card: ModelCard, predictions: Prediction[], truth: string[]): Metrics {
  if (card.task === 'regression') {
    return regressionMetrics(
      truth.map(Number),
      predictions.map((p) => ('value' in p ? p.value : NaN)),
    );
  }
  const classes = card.classes ?? [];
  return classificationMetrics(
    truth,
    predictions.map((p) => ('probabilities' in p ? classes.map((c) => p.probabilities[c]) : [])),
    classes,
  );
}

/** The constant baseline every model must beat: the majority class, or the mean. */
export function baselineMetrics(task: Task, truth: string[], classes: string[]): Metrics {
  if (task === 'regression') {
    const values = truth.map(Number);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    return regressionMetrics(
      values,
      values.map(() => mean),
    );
  }
  const counts = new Map<string, number>();
  for (const t of truth) counts.set(t, (counts.get(t) ?? 0) + 1);
  const shares = classes.map((c) => (counts.get(c) ?? 0) / truth.length);
  return classificationMetrics(
    truth,
    truth.map(() => shares),
    classes,
  );
}
