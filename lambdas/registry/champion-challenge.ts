/**
 * The pipeline's Evaluate stage: the candidate challenges the champion. Both are scored on the
 * same held-out test split, the candidate against the constant baseline as well, and the gate
 * decides whether it is better (the pipeline's Choice state acts on the decision).
 *
 * The whole report (with the confusion matrices and per-class scores, K x K in the classes) is
 * written to S3 under the run's candidate prefix; the state gets the summary and its URI
 * (`evaluationState`), which stays the same size whatever the number of classes.
 */
import { createHash } from 'node:crypto';
import type { EvaluateEnv } from '../shared/env';
import { ModelArtifactInvalid } from '../shared/errors';
import { parseS3Uri, s3Keys, s3Uri } from '../shared/layout';
import { ModelRuntime } from '../shared/model-runtime';
import type { ClassificationDetails, EvaluateInput, EvaluationOutput, EvaluationReport } from '../shared/pipeline';
import { Registry } from '../shared/registry/registry';
import { getBytes, getStream, putBytes, putJson } from '../shared/storage';
import { predictionProfile, predictionProfileKey } from './prediction-profile';
import type { ModelCard } from '../shared/types';
import { readModelArchive } from './artifact';
import { marginFor, parseGateConfig } from './gate';
import { compareWithChampion } from './metrics';
import { baselineMetrics, residualsOf, scoreModelWithDetails } from './scoring';
import { readTestSplit } from './test-split';

function parseCard(bytes: Buffer, source: string): ModelCard {
  try {
    return JSON.parse(bytes.toString('utf8')) as ModelCard;
  } catch (error) {
    throw new ModelArtifactInvalid(`The model card in ${source} is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * The trainer that produced a model, from its card: `trainer` when `trainer=auto` chose it, else
 * the framework's trainer (`pytorch` is mloop's MLP, `mlp`); a custom trainer's own framework name.
 */
export function trainerOf(card: Pick<ModelCard, 'trainer' | 'framework'>): string {
  if (card.trainer) return card.trainer;
  return card.framework === 'pytorch' ? 'mlp' : card.framework;
}

/** Score the candidate of `input` and the champion, and decide whether the candidate should be promoted. */
export async function challengeChampion(input: EvaluateInput, env: EvaluateEnv): Promise<EvaluationOutput> {
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
  // The candidate's outputs on the test split: the prediction-drift baseline (prediction-profile.ts).
  await putJson(env.DATA_BUCKET, predictionProfileKey(model, input.execution), predictionProfile(card, scored.predictions));

  let champion: EvaluationOutput['champion'] = null;
  let championDetails: ClassificationDetails | null = null;
  const alias = await registry.aliases.get(model, 'champion');
  if (alias) {
    const record = await registry.versions.get(model, alias.version);
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

  const report: EvaluationReport = {
    candidate: {
      onnxUri: s3Uri(env.DATA_BUCKET, `${prefix}model.onnx`),
      cardUri: s3Uri(env.DATA_BUCKET, `${prefix}model-card.json`),
      sha256: createHash('sha256').update(files.onnx).digest('hex'),
      metrics: candidateMetrics,
      validationMetrics: card.validationMetrics,
      hyperparameters: card.hyperparameters,
      trainer: trainerOf(card),
      ...(card.candidates ? { trainerCandidates: card.candidates } : {}),
    },
    champion,
    baseline,
    decision: { better, reason, metric: vsChampion.metric },
    details: {
      candidate: scored.details,
      champion: championDetails,
      ...(card.task === 'regression' ? { candidateResiduals: residualsOf(scored.predictions, split.truth) } : {}),
    },
  };
  const reportKey = s3Keys.candidateEvaluation(model, input.execution);
  await putJson(env.DATA_BUCKET, reportKey, report);
  return evaluationState(report, s3Uri(env.DATA_BUCKET, reportKey));
}

/** What Evaluate puts in the execution state: the report without its details, and where the report is. Pure. */
export function evaluationState(report: EvaluationReport, reportUri: string): EvaluationOutput {
  const { details: _details, ...summary } = report;
  return { ...summary, reportUri };
}
