/**
 * Evaluation metrics and the promotion gate. Pure functions: the registry computes a candidate's
 * metrics on the validation split and compares them with the champion's before promoting it.
 */
import type { Task } from '../shared/types';
import type { ClassificationDetails, ClassScores } from '../shared/pipeline';

export type Metrics = Record<string, number>;

/** Probabilities are clipped to [EPS, 1 - EPS] before the log, as scikit-learn does. */
const LOG_LOSS_EPS = 1e-15;

export type { ClassificationDetails, ClassScores } from '../shared/pipeline';

interface Analysis {
  readonly metrics: Metrics;
  readonly details: ClassificationDetails;
}

/**
 * Classification metrics from the predicted class probabilities.
 *
 * - `accuracy`: share of rows whose most probable class (the first one on a tie) is the truth;
 * - `macro_f1`: unweighted mean of the per-label F1 over the labels that occur in the truth or in
 *   the predictions (scikit-learn's `f1_score(average='macro')`); a truth label that is not among
 *   `classes` is one of those labels, and its F1 is 0 since it can never be predicted;
 * - `log_loss`: mean of -ln(p[truth]), p clipped to [1e-15, 1 - 1e-15] (not renormalized); a truth
 *   label not among `classes` counts as p = 1e-15;
 * - `roc_auc`: with two classes, the probability that a row of `classes[1]` scores higher than a
 *   row of `classes[0]` on `p[1]`, ties counting one half (Mann-Whitney U with average ranks);
 *   with more, the one-vs-rest macro average (scikit-learn's `roc_auc_score(multi_class='ovr',
 *   average='macro')`): each class's AUC of `p[class]` between its rows and all other rows,
 *   averaged without weights. Rows whose truth is not among `classes` are left out of it; a class
 *   whose AUC is undefined (absent from the truth, or the only one in it) is left out of the
 *   average, and the key is absent when no class has one.
 */
export function classificationMetrics(truth: string[], probabilities: number[][], classes: string[]): Metrics {
  return analyzeClassification(truth, probabilities, classes).metrics;
}

/**
 * The confusion matrix and per-class precision, recall, F1, support and one-vs-rest AUC of the
 * same predictions `classificationMetrics` scores (same argmax, same checks, same errors).
 */
export function classificationDetails(truth: string[], probabilities: number[][], classes: string[]): ClassificationDetails {
  return analyzeClassification(truth, probabilities, classes).details;
}

function analyzeClassification(truth: string[], probabilities: number[][], classes: string[]): Analysis {
  const n = truth.length;
  if (n === 0) throw new Error('Cannot compute classification metrics on an empty set: no rows.');
  if (probabilities.length !== n) {
    throw new Error(`Cannot compute classification metrics: ${n} truth labels but ${probabilities.length} rows of probabilities.`);
  }
  if (classes.length === 0) throw new Error('Cannot compute classification metrics: the list of classes is empty.');
  const classIndex = new Map<string, number>();
  classes.forEach((c, i) => {
    if (classIndex.has(c)) throw new Error(`Cannot compute classification metrics: class '${c}' is listed twice.`);
    classIndex.set(c, i);
  });

  // Confusion-matrix labels: the classes, then unknown truth labels in order of appearance.
  const labels = [...classes];
  const labelIndex = new Map(classIndex);
  for (const label of truth) {
    if (!labelIndex.has(label)) {
      labelIndex.set(label, labels.length);
      labels.push(label);
    }
  }
  const confusion = labels.map(() => new Array<number>(classes.length).fill(0));

  let correct = 0;
  let logLossSum = 0;
  for (let i = 0; i < n; i++) {
    const row = probabilities[i];
    if (row.length !== classes.length) {
      throw new Error(`Cannot compute classification metrics: row ${i} has ${row.length} probabilities for ${classes.length} classes.`);
    }
    let best = 0;
    for (let j = 0; j < row.length; j++) {
      if (!Number.isFinite(row[j])) {
        throw new Error(`Cannot compute classification metrics: row ${i} has a probability that is not a finite number (${row[j]}).`);
      }
      if (row[j] > row[best]) best = j;
    }
    const label = truth[i];
    confusion[labelIndex.get(label)!][best]++;
    if (classes[best] === label) correct++;
    const t = classIndex.get(label);
    const p = t === undefined ? LOG_LOSS_EPS : Math.min(Math.max(row[t], LOG_LOSS_EPS), 1 - LOG_LOSS_EPS);
    logLossSum -= Math.log(p);
  }

  // One-vs-rest AUC per class, over the rows whose truth is a known class.
  const known = truth.map((label) => classIndex.has(label));
  const auc = new Map<string, number>();
  classes.forEach((c, j) => {
    const rows: { score: number; positive: boolean }[] = [];
    for (let i = 0; i < n; i++) if (known[i]) rows.push({ score: probabilities[i][j], positive: truth[i] === c });
    const value = mannWhitney(rows);
    if (value !== null) auc.set(c, value);
  });

  const perClass: ClassScores[] = labels.map((label, i) => {
    const column = classIndex.get(label);
    const truePositives = column === undefined ? 0 : confusion[i][column];
    const support = confusion[i].reduce((a, b) => a + b, 0);
    const predicted = column === undefined ? 0 : confusion.reduce((sum, r) => sum + r[column], 0);
    const scores: ClassScores = {
      label,
      precision: predicted === 0 ? 0 : truePositives / predicted,
      recall: support === 0 ? 0 : truePositives / support,
      f1: predicted + support === 0 ? 0 : (2 * truePositives) / (predicted + support),
      support,
      predicted,
    };
    return auc.has(label) ? { ...scores, rocAuc: auc.get(label)! } : scores;
  });

  // Macro F1 over the labels that occur in the truth or in the predictions.
  const occurring = perClass.filter((c) => c.support > 0 || c.predicted > 0);
  const metrics: Metrics = {
    accuracy: correct / n,
    macro_f1: occurring.reduce((sum, c) => sum + c.f1, 0) / occurring.length,
    log_loss: logLossSum / n,
  };
  if (classes.length === 2) {
    const binary = rocAuc(
      truth,
      probabilities.map((row) => row[1]),
      classes[1],
      classes[0],
    );
    if (binary !== null) metrics.roc_auc = binary;
  } else if (auc.size > 0) {
    metrics.roc_auc = [...auc.values()].reduce((a, b) => a + b, 0) / auc.size;
  }
  const rocCurves = (classes.length === 2 ? [1] : classes.map((_, i) => i)).flatMap((k) => {
    const points = rocCurve(
      truth,
      probabilities.map((row) => row[k]),
      classes[k],
    );
    return points ? [{ label: classes[k], points }] : [];
  });
  return { metrics, details: { labels, confusionMatrix: confusion, perClass, rocCurves } };
}

/** The most points a stored ROC curve keeps (the evaluation report stays small at many classes). */
export const ROC_CURVE_POINTS = 101;

/**
 * One-vs-rest ROC curve of `scores` for `positive` (rows whose truth is another label are the
 * negatives): `[fpr, tpr]` at each distinct score, highest first, from (0,0) to (1,1), thinned to
 * at most ROC_CURVE_POINTS by keeping evenly spaced thresholds (and both ends). Null when the
 * positives or the negatives are missing. Pure.
 */
export function rocCurve(truth: string[], scores: number[], positive: string): [number, number][] | null {
  const rows = truth.map((t, i) => ({ score: scores[i], positive: t === positive }));
  const nPos = rows.filter((r) => r.positive).length;
  const nNeg = rows.length - nPos;
  if (nPos === 0 || nNeg === 0) return null;
  rows.sort((a, b) => b.score - a.score);
  const points: [number, number][] = [[0, 0]];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < rows.length; i++) {
    if (rows[i].positive) tp++;
    else fp++;
    // One point per distinct score: tied rows move the curve together (a diagonal step).
    if (i + 1 === rows.length || rows[i + 1].score !== rows[i].score) points.push([fp / nNeg, tp / nPos]);
  }
  if (points.length <= ROC_CURVE_POINTS) return points;
  const step = (points.length - 1) / (ROC_CURVE_POINTS - 1);
  return Array.from({ length: ROC_CURVE_POINTS }, (_, i) => points[Math.round(i * step)]);
}

/** Mann-Whitney AUC with average ranks for ties; null when either class is absent. */
function rocAuc(truth: string[], scores: number[], positive: string, negative: string): number | null {
  const rows: { score: number; positive: boolean }[] = [];
  for (let i = 0; i < truth.length; i++) {
    if (truth[i] === positive) rows.push({ score: scores[i], positive: true });
    else if (truth[i] === negative) rows.push({ score: scores[i], positive: false });
  }
  return mannWhitney(rows);
}

function mannWhitney(input: { score: number; positive: boolean }[]): number | null {
  const rows = [...input];
  const nPos = rows.filter((r) => r.positive).length;
  const nNeg = rows.length - nPos;
  if (nPos === 0 || nNeg === 0) return null;
  rows.sort((a, b) => a.score - b.score);
  let positiveRankSum = 0;
  for (let start = 0; start < rows.length;) {
    let end = start;
    while (end + 1 < rows.length && rows[end + 1].score === rows[start].score) end++;
    const averageRank = (start + end) / 2 + 1; // ranks are 1-based
    for (let k = start; k <= end; k++) if (rows[k].positive) positiveRankSum += averageRank;
    start = end + 1;
  }
  return (positiveRankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/**
 * Regression metrics: `rmse`, `mae` and `r2` (1 - SSres / SStot). When the truth is constant
 * (SStot = 0), r2 is 1 for perfect predictions and 0 otherwise, as scikit-learn reports it.
 */
export function regressionMetrics(truth: number[], predicted: number[]): Metrics {
  const n = truth.length;
  if (n === 0) throw new Error('Cannot compute regression metrics on an empty set: no rows.');
  if (predicted.length !== n) {
    throw new Error(`Cannot compute regression metrics: ${n} truth values but ${predicted.length} predictions.`);
  }
  let mean = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(truth[i]) || !Number.isFinite(predicted[i])) {
      throw new Error(
        `Cannot compute regression metrics: row ${i} has a value that is not a finite number (truth ${truth[i]}, prediction ${predicted[i]}).`,
      );
    }
    mean += truth[i];
  }
  mean /= n;
  let squared = 0;
  let absolute = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const error = truth[i] - predicted[i];
    squared += error * error;
    absolute += Math.abs(error);
    total += (truth[i] - mean) ** 2;
  }
  const r2 = total === 0 ? (squared === 0 ? 1 : 0) : 1 - squared / total;
  return { rmse: Math.sqrt(squared / n), mae: absolute / n, r2 };
}

/** The metric the promotion gate compares: accuracy for classification, rmse for regression. */
export function primaryMetric(task: Task): { name: string; higherIsBetter: boolean } {
  return task === 'classification' ? { name: 'accuracy', higherIsBetter: true } : { name: 'rmse', higherIsBetter: false };
}

export interface GateDecision {
  better: boolean;
  /** A full sentence for the model's history and the API. */
  reason: string;
  candidate: number;
  champion: number | null;
  metric: string;
}

/**
 * The promotion gate. The candidate is better when there is no champion (or the champion has no
 * finite value of the primary metric), or when it improves on the champion's primary metric by
 * strictly more than `minImprovement` (in the metric's units; an equal score is not better).
 * Classification, when both sides have a macro-F1: accuracy and macro-F1 together (see
 * compareClassification), so that a majority-class model never wins over a useful one.
 */
export function compareWithChampion(task: Task, candidate: Metrics, champion: Metrics | null, minImprovement = 0): GateDecision {
  const { name, higherIsBetter } = primaryMetric(task);
  const value = candidate[name];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(`Cannot compare with the champion: the candidate has no finite ${name} metric.`);
  }
  if (!Number.isFinite(minImprovement) || minImprovement < 0) {
    throw new Error(`Cannot compare with the champion: the minimum improvement must be a finite number >= 0, got ${minImprovement}.`);
  }
  if (champion === null) {
    return { better: true, reason: 'No champion yet: the candidate is promoted.', candidate: value, champion: null, metric: name };
  }
  const reference = champion[name];
  if (typeof reference !== 'number' || !Number.isFinite(reference)) {
    return {
      better: true,
      reason: `The champion has no ${name} metric to compare with: the candidate is promoted.`,
      candidate: value,
      champion: null,
      metric: name,
    };
  }
  const improvement = higherIsBetter ? value - reference : reference - value;
  if (task === 'classification') {
    const f1 = macroF1Pair(candidate, champion);
    if (f1 !== null) return compareClassification({ value, reference, improvement }, f1, minImprovement);
  }
  const better = improvement > minImprovement;
  const [c, r] = formatPair(value, reference);
  let reason: string;
  if (better) {
    reason = `Candidate ${name} ${c} beats champion ${name} ${r} (margin ${minImprovement}).`;
  } else if (improvement > 0) {
    reason = `Candidate ${name} ${c} is better than champion ${name} ${r} but not by more than the margin ${minImprovement}.`;
  } else {
    reason = `Candidate ${name} ${c} is not better than champion ${name} ${r}.`;
  }
  return { better, reason, candidate: value, champion: reference, metric: name };
}

/** Both macro-F1 values when both sides have a finite one (an older champion record may not). */
function macroF1Pair(candidate: Metrics, champion: Metrics): { value: number; reference: number } | null {
  const [value, reference] = [candidate.macro_f1, champion.macro_f1];
  return Number.isFinite(value) && Number.isFinite(reference) ? { value, reference } : null;
}

/**
 * The classification gate: accuracy alone would promote a model that predicts the majority class
 * over one that tells the classes apart (on imbalanced data their accuracies are close), so
 * macro-F1, which weighs each class alike, is compared too. The candidate is better when one of
 * the two improves by strictly more than the margin and the other does not fall by more than the
 * margin. `metric` is the one that carried the decision (accuracy, unless macro-F1 alone did).
 */
function compareClassification(
  accuracy: { value: number; reference: number; improvement: number },
  f1: { value: number; reference: number },
  margin: number,
): GateDecision {
  const f1Improvement = f1.value - f1.reference;
  const [ca, ra] = formatPair(accuracy.value, accuracy.reference);
  const [cf, rf] = formatPair(f1.value, f1.reference);
  const byAccuracy = { candidate: accuracy.value, champion: accuracy.reference, metric: 'accuracy' };
  if (accuracy.improvement > margin && f1Improvement >= -margin) {
    const reason = `Candidate accuracy ${ca} beats champion accuracy ${ra} (margin ${margin}); macro-F1 ${cf} against ${rf}.`;
    return { better: true, reason, ...byAccuracy };
  }
  if (f1Improvement > margin && accuracy.improvement >= -margin) {
    return {
      better: true,
      reason: `Candidate macro-F1 ${cf} beats champion macro-F1 ${rf} (margin ${margin}), and accuracy ${ca} against ${ra} is not lower by more than the margin.`,
      candidate: f1.value,
      champion: f1.reference,
      metric: 'macro_f1',
    };
  }
  let reason: string;
  if (accuracy.improvement > margin) {
    reason = `Candidate accuracy ${ca} beats champion accuracy ${ra}, but candidate macro-F1 ${cf} is below champion macro-F1 ${rf} by more than the margin ${margin} (it tells the classes apart less well).`;
  } else if (f1Improvement > margin) {
    reason = `Candidate macro-F1 ${cf} beats champion macro-F1 ${rf}, but candidate accuracy ${ca} is below champion accuracy ${ra} by more than the margin ${margin}.`;
  } else {
    reason = `Neither candidate accuracy ${ca} (champion ${ra}) nor candidate macro-F1 ${cf} (champion ${rf}) is better by more than the margin ${margin}.`;
  }
  return { better: false, reason, ...byAccuracy };
}

/** Formats two numbers with at least 3 significant digits, and with enough to tell them apart. */
function formatPair(a: number, b: number): [string, string] {
  for (let digits = 3; digits < 17; digits++) {
    const fa = formatNumber(a, digits);
    const fb = formatNumber(b, digits);
    if (fa !== fb || a === b) return [fa, fb];
  }
  return [String(a), String(b)];
}

function formatNumber(x: number, significant: number): string {
  const magnitude = Math.abs(x);
  if (magnitude === 0) return (0).toFixed(significant - 1);
  if (magnitude >= 1e-3 && magnitude < 1e9) {
    const decimals = Math.max(0, significant - 1 - Math.floor(Math.log10(magnitude)));
    return x.toFixed(Math.min(decimals, 100));
  }
  return x.toPrecision(significant);
}
