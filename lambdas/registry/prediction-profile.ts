/**
 * A model's prediction profile: the distribution of its outputs on the test split, the baseline of
 * prediction drift. Evaluate (champion-challenge.ts) stores the candidate's output profile beside
 * the candidate (candidates/<model>/<execution>/prediction-profile.json, found through the
 * version's lineage), built by the same statistics as a dataset profile; the drift monitor
 * (lambdas/monitoring/monitor.ts) reads it and runs the same tests on the captured predictions,
 * turned into rows of the same output columns:
 * - classification: `label` (categorical) and the probability of each class (numeric; for two
 *   classes only the second one's, since the first is its complement; at most 10 classes);
 * - regression: `value` (numeric).
 */
import { CategoryCounter, NumericStats } from '../data/profile';
import { s3Keys } from '../shared/layout';
import type { Prediction } from '../shared/model-runtime';
import type { ColumnProfile, DatasetProfile, FeatureType, ModelCard, NumericSketch } from '../shared/types';

export const PREDICTION_PROFILE_FILE = 'prediction-profile.json';
/** Classes whose probabilities are profiled, at most. */
const MAX_PROBABILITY_COLUMNS = 10;

export function predictionProfileKey(model: string, execution: string): string {
  return `${s3Keys.candidatePrefix(model, execution)}${PREDICTION_PROFILE_FILE}`;
}

export interface PredictionColumn {
  readonly name: string;
  readonly type: FeatureType;
}

/** The output columns of a model (see the module comment). */
export function predictionColumns(card: Pick<ModelCard, 'task' | 'classes'>): PredictionColumn[] {
  if (card.task === 'regression') return [{ name: 'value', type: 'numeric' }];
  const classes = card.classes ?? [];
  const probabilities = classes.length === 2 ? [classes[1]] : classes.slice(0, MAX_PROBABILITY_COLUMNS);
  return [{ name: 'label', type: 'categorical' }, ...probabilities.map((c) => ({ name: `probability:${c}`, type: 'numeric' as const }))];
}

/** One prediction as a row of the output columns. */
export function predictionRow(columns: readonly PredictionColumn[], prediction: Prediction | undefined): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  if (!prediction) return row;
  for (const column of columns) {
    if (column.name === 'value') row.value = 'value' in prediction ? prediction.value : null;
    else if (column.name === 'label') row.label = 'label' in prediction ? prediction.label : null;
    else if ('probabilities' in prediction) row[column.name] = prediction.probabilities[column.name.slice('probability:'.length)];
  }
  return row;
}

/** The profile of a model's outputs on a split, in the shape of a dataset profile. */
export function predictionProfile(card: Pick<ModelCard, 'task' | 'classes'>, predictions: readonly Prediction[]): DatasetProfile {
  const columns = predictionColumns(card);
  const numeric = new Map<string, NumericStats>();
  const categorical = new Map<string, CategoryCounter>();
  const missing = new Map<string, number>();
  for (const column of columns) {
    if (column.type === 'numeric') numeric.set(column.name, new NumericStats());
    else categorical.set(column.name, new CategoryCounter());
    missing.set(column.name, 0);
  }
  for (const prediction of predictions) {
    const row = predictionRow(columns, prediction);
    for (const column of columns) {
      const value = row[column.name];
      if (column.type === 'numeric') {
        if (typeof value === 'number' && Number.isFinite(value)) numeric.get(column.name)!.add(value);
        else missing.set(column.name, missing.get(column.name)! + 1);
      } else if (typeof value === 'string' && value !== '') categorical.get(column.name)!.add(value);
      else missing.set(column.name, missing.get(column.name)! + 1);
    }
  }
  const out: Record<string, ColumnProfile> = {};
  const sketches: Record<string, NumericSketch> = {};
  for (const column of columns) {
    if (column.type === 'numeric') {
      const stats = numeric.get(column.name)!;
      out[column.name] = stats.profile(missing.get(column.name)!, 10);
      const sketch = stats.driftSketch();
      if (sketch) sketches[column.name] = sketch;
    } else {
      out[column.name] = categorical.get(column.name)!.profile(missing.get(column.name)!, 50);
    }
  }
  return { rows: predictions.length, columns: out, sketches };
}
