/**
 * Evaluate: score the candidate and the current champion on the same held-out test split, and
 * compare them (the pipeline's Choice state acts on the decision).
 */
import { createHash } from 'node:crypto';
import { parse } from 'csv-parse';
import type { EvaluateEnv } from '../shared/env';
import { ModelArtifactInvalid } from '../shared/errors';
import { parseS3Uri, s3Keys, s3Uri } from '../shared/layout';
import { ModelRuntime, type Prediction } from '../shared/model-runtime';
import type { ClassificationDetails, EvaluationOutput, IngestOutput, TrainingOutput } from '../shared/pipeline';
import { Registry } from '../shared/registry';
import { getBytes, getStream, putBytes, putJson, splitObjects } from '../shared/storage';
import { predictionProfile, predictionProfileKey } from '../monitoring/prediction';
import type { ModelCard, Task } from '../shared/types';
import { readModelArchive } from './artifact';
import { marginFor, parseGateConfig } from './gate';
import { classificationDetails, classificationMetrics, compareWithChampion, regressionMetrics, type Metrics } from './metrics';

export interface EvaluateInput {
  readonly execution: string;
  readonly ingest: Extract<IngestOutput, { status: 'ACCEPTED' }>;
  readonly training: TrainingOutput;
}

export interface TestSplit {
  readonly instances: Record<string, string>[];
  readonly truth: string[];
}

/** Read the test split (CSV with a header) into instances and target values. */
/** The test split: one CSV object, or the CSV parts under a prefix (a dataset ingested in parts). */
export async function readTestSplit(uri: string, target: string): Promise<TestSplit> {
  const instances: Record<string, string>[] = [];
  const truth: string[] = [];
  for (const { bucket, key } of await splitObjects(uri)) {
    const parser = (await getStream(bucket, key)).pipe(parse({ columns: true, bom: true }));
    for await (const record of parser as AsyncIterable<Record<string, string>>) {
      truth.push(record[target]);
      const { [target]: _t, ...features } = record;
      instances.push(features);
    }
  }
  return { instances, truth };
}

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

function parseCard(bytes: Buffer, source: string): ModelCard {
  try {
    return JSON.parse(bytes.toString('utf8')) as ModelCard;
  } catch (error) {
    throw new ModelArtifactInvalid(`The model card in ${source} is not valid JSON: ${(error as Error).message}`);
  }
}

export async function evaluate(input: EvaluateInput, env: EvaluateEnv): Promise<EvaluationOutput> {
  const { model, target, testSplit } = input.ingest;
  const registry = new Registry(env.REGISTRY_TABLE);
  const artifact = parseS3Uri(input.training.modelArtifacts);
  const files = await readModelArchive(await getStream(artifact.bucket, artifact.key), input.training.modelArtifacts);
  const card = parseCard(files.card, input.training.modelArtifacts);

  // Keep the candidate's files unpacked, so Register copies them and Predict never untars.
  const prefix = s3Keys.candidatePrefix(model, input.execution);
  await Promise.all([
    putBytes(env.DATA_BUCKET, `${prefix}model.onnx`, files.onnx, 'application/octet-stream'),
    putBytes(env.DATA_BUCKET, `${prefix}model-card.json`, files.card, 'application/json'),
  ]);

  const split = await readTestSplit(testSplit, target);
  const candidate = await ModelRuntime.load(files.onnx, card, input.training.modelArtifacts);
  const scored = await scoreModelWithDetails(candidate, split);
  const candidateMetrics = scored.metrics;
  // The candidate's outputs on the test split: the prediction-drift baseline (lambdas/monitoring/prediction.ts).
  await putJson(env.DATA_BUCKET, predictionProfileKey(model, input.execution), predictionProfile(card, scored.predictions));

  let champion: EvaluationOutput['champion'] = null;
  let championDetails: ClassificationDetails | null = null;
  const alias = await registry.getAlias(model, 'champion');
  if (alias) {
    const record = await registry.getVersion(model, alias.version);
    if (record) {
      const onnx = parseS3Uri(record.artifact.onnxUri);
      const cardUri = parseS3Uri(record.artifact.cardUri);
      const [championOnnx, championCard] = await Promise.all([getBytes(onnx.bucket, onnx.key), getBytes(cardUri.bucket, cardUri.key)]);
      const runtime = await ModelRuntime.load(championOnnx, parseCard(championCard, record.artifact.cardUri), record.artifact.onnxUri);
      const championScored = await scoreModelWithDetails(runtime, split);
      champion = { version: alias.version, metrics: championScored.metrics };
      championDetails = championScored.details;
    }
  }

  const baseline = baselineMetrics(card.task, split.truth, card.classes ?? []);
  const vsBaseline = compareWithChampion(card.task, candidateMetrics, baseline, 0);
  const margin = marginFor(model, parseGateConfig(env.GATE_CONFIG), env.MIN_IMPROVEMENT);
  const vsChampion = compareWithChampion(card.task, candidateMetrics, champion?.metrics ?? null, margin);
  const better = vsBaseline.better && vsChampion.better;
  const reason = vsBaseline.better
    ? vsChampion.reason
    : `The candidate does not beat the constant baseline: ${vsBaseline.reason.replace(/champion/g, 'baseline')}`;

  return {
    candidate: {
      onnxUri: s3Uri(env.DATA_BUCKET, `${prefix}model.onnx`),
      cardUri: s3Uri(env.DATA_BUCKET, `${prefix}model-card.json`),
      sha256: createHash('sha256').update(files.onnx).digest('hex'),
      metrics: candidateMetrics,
      validationMetrics: card.validationMetrics,
      hyperparameters: card.hyperparameters,
    },
    champion,
    baseline,
    decision: { better, reason, metric: vsChampion.metric },
    details: { candidate: scored.details, champion: championDetails },
  };
}
