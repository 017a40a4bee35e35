/**
 * The storage layout: every S3 key and every DynamoDB key the loop reads or writes is made here,
 * so the scheme is documented once (docs/registry.md, "Storage layout") and used everywhere.
 *
 * S3 (the data bucket):
 *   datasets/<model>/<file>                      dropped datasets (raw bytes, never rewritten)
 *   splits/<model>/v<dataset>/{train,validation,test}/...   deterministic splits + schema.json
 *   profiles/<model>/v<dataset>/profile.json     per-column statistics, the drift baseline
 *   profiles/<model>/v<dataset>/model-schema.json  the model's schema, when too big for its META item
 *   reports/<model>/v<dataset>/validation.json   the validation report (accepted or rejected)
 *   training/<job>/output/model.tar.gz           SageMaker's output (job names start mloop-<model>-)
 *   models/<model>/v<version>/{model.onnx,model-card.json,evaluation.json}
 *   candidates/<model>/<execution>/{model.onnx,model-card.json,evaluation.json,prediction-profile.json}  a run's candidate
 *   capture/<model>/<yyyy>/<mm>/<dd>/<hh>/<ms>-<id>.jsonl  data capture, by hour (UTC), time-ordered
 *                                                (API requests; a batch run's sample: <id> = batch-<run>)
 *   feedback/<model>/<yyyy>/<mm>/<dd>/<hh>/<ms>-<id>.jsonl  ground-truth labels sent to the API, by hour (UTC)
 *   monitoring/<model>/drift/<timestamp>.json    drift reports
 *
 * DynamoDB (the registry table, one item collection per model: pk = MODEL#<model>):
 *   sk META                       the model: schema (or its S3 reference), target, task, counters
 *   sk DATASET#<000001>           a dataset version
 *   sk DATAHASH#<sha256>          content-hash index: which dataset version holds these bytes
 *   sk VERSION#<000001>           a model version
 *   sk VERSIONOF#<execution>      the version number an execution's Register took (retries reuse it)
 *   sk ALIAS#<alias>              the version an alias points at
 *   sk ALIASHIST#<alias>#<iso ts>#<000001>  append-only history of the alias's moves (the
 *                                 number is the alias item's revision that the move wrote)
 *   sk RUN#<execution name>       a pipeline run: status, reason of a failure
 *   sk DRIFT#<iso timestamp>      a drift monitor run
 *   sk RETRAIN#<iso timestamp>    a retraining the drift monitor started, with its cause
 */
import { InvalidInput } from './errors';

/** Model names: lower-case letters, digits and hyphens, as SageMaker job names and S3 keys allow. */
export const MODEL_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;

export const DATASETS_PREFIX = 'datasets/';
export const CAPTURE_PREFIX = 'capture/';
export const FEEDBACK_PREFIX = 'feedback/';
/** Working files of ingestions in parts; they expire (lib/data.ts). */
export const INGEST_PARTS_PREFIX = 'ingest-parts/';
/** Files to score (`batch/<model>/<file>`), and what a batch run writes (lambdas/batch/). */
export const BATCH_PREFIX = 'batch/';
export const BATCH_PARTS_PREFIX = 'batch-parts/';
export const PREDICTIONS_PREFIX = 'predictions/';
export const ERRORS_PREFIX = 'errors/';

export function assertModelName(name: string): string {
  if (!MODEL_NAME_PATTERN.test(name)) {
    throw new InvalidInput(
      `Model name '${name}' is not valid: expected 1 to 40 lower-case letters, digits or hyphens, starting and ending with a letter or digit.`,
    );
  }
  return name;
}

/** Alias names (champion, challenger, shadow...): as the prediction API's ?alias accepts them. */
export const ALIAS_NAME_PATTERN = /^[a-z][a-z0-9-]{0,39}$/;

export function assertAliasName(name: string): string {
  if (!ALIAS_NAME_PATTERN.test(name)) {
    throw new InvalidInput(
      `Alias name '${name}' is not valid: expected 1 to 40 lower-case letters, digits or hyphens, starting with a letter.`,
    );
  }
  return name;
}

/** The model a dropped dataset belongs to: `datasets/<model>/<file>`. */
export function parseDatasetKey(key: string): { model: string; fileName: string } {
  const parts = key.split('/');
  if (parts.length < 3 || parts[0] !== 'datasets' || parts[parts.length - 1] === '') {
    throw new InvalidInput(`Object key '${key}' is not a dataset: expected datasets/<model-name>/<file>.`);
  }
  return { model: assertModelName(parts[1]), fileName: parts.slice(2).join('/') };
}

const pad = (n: number): string => String(n).padStart(6, '0');

export const s3Keys = {
  dataset: (model: string, fileName: string) => `${DATASETS_PREFIX}${model}/${fileName}`,
  splitPrefix: (model: string, dataset: number, split: 'train' | 'validation' | 'test') => `splits/${model}/v${dataset}/${split}/`,
  split: (model: string, dataset: number, split: 'train' | 'validation' | 'test') => `splits/${model}/v${dataset}/${split}/${split}.csv`,
  splitSchema: (model: string, dataset: number) => `splits/${model}/v${dataset}/train/schema.json`,
  /** One part's rows of a split, for a dataset ingested in parts (lambdas/data/parts.ts). */
  splitPart: (model: string, dataset: number, split: 'train' | 'validation' | 'test', part: number) =>
    `splits/${model}/v${dataset}/${split}/part-${pad(part)}.csv`,
  /** The working files of one execution's ingestion in parts: its plan and each part's scan. */
  partsPrefix: (model: string, execution: string) => `${INGEST_PARTS_PREFIX}${model}/${execution}/`,
  batchInput: (model: string, fileName: string) => `${BATCH_PREFIX}${model}/${fileName}`,
  /** The working files of one batch run: its plan and each part's rejected rows before the merge numbers their lines. */
  batchPartsPrefix: (model: string, run: string) => `${BATCH_PARTS_PREFIX}${model}/${run}/`,
  predictionsPrefix: (model: string, run: string) => `${PREDICTIONS_PREFIX}${model}/${run}/`,
  predictionsPart: (model: string, run: string, part: number, ext: 'csv' | 'jsonl') =>
    `${PREDICTIONS_PREFIX}${model}/${run}/part-${String(part).padStart(5, '0')}.${ext}`,
  batchManifest: (model: string, run: string) => `${PREDICTIONS_PREFIX}${model}/${run}/manifest.json`,
  errorsPrefix: (model: string, run: string) => `${ERRORS_PREFIX}${model}/${run}/`,
  errorsPart: (model: string, run: string, part: number) => `${ERRORS_PREFIX}${model}/${run}/part-${String(part).padStart(5, '0')}.jsonl`,
  profile: (model: string, dataset: number) => `profiles/${model}/v${dataset}/profile.json`,
  /** The model's schema as the dataset that fixed it made it, when too big for the registry item (registry/models.ts). */
  modelSchema: (model: string, dataset: number) => `profiles/${model}/v${dataset}/model-schema.json`,
  validationReport: (model: string, dataset: number) => `reports/${model}/v${dataset}/validation.json`,
  /** Reports of datasets rejected before they got a number are kept by content hash. */
  rejectedReport: (model: string, sha256: string) => `reports/${model}/rejected/${sha256}.json`,
  trainingOutput: 'training/',
  modelPrefix: (model: string, version: number) => `models/${model}/v${version}/`,
  modelOnnx: (model: string, version: number) => `models/${model}/v${version}/model.onnx`,
  modelCard: (model: string, version: number) => `models/${model}/v${version}/model-card.json`,
  evaluation: (model: string, version: number) => `models/${model}/v${version}/evaluation.json`,
  candidatePrefix: (model: string, run: string) => `candidates/${model}/${run}/`,
  /** A run's evaluation report (EvaluationReport), before Register copies it to the version's evaluation.json. */
  candidateEvaluation: (model: string, run: string) => `candidates/${model}/${run}/evaluation.json`,
  /**
   * Capture keys sort by time: the hour partition, then the epoch milliseconds, then the request
   * id. The drift monitor's watermark is the last key it read.
   */
  capture: (model: string, at: Date, id: string) => {
    const iso = at.toISOString();
    const ms = String(at.getTime()).padStart(15, '0');
    return `${CAPTURE_PREFIX}${model}/${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/${iso.slice(11, 13)}/${ms}-${id}.jsonl`;
  },
  captureModelPrefix: (model: string) => `${CAPTURE_PREFIX}${model}/`,
  /** Feedback keys sort by time like capture keys: the hour partition, epoch milliseconds, the request id. */
  feedback: (model: string, at: Date, id: string) => {
    const iso = at.toISOString();
    const ms = String(at.getTime()).padStart(15, '0');
    return `${FEEDBACK_PREFIX}${model}/${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/${iso.slice(11, 13)}/${ms}-${id}.jsonl`;
  },
  feedbackModelPrefix: (model: string) => `${FEEDBACK_PREFIX}${model}/`,
  driftReport: (model: string, at: Date) => `monitoring/${model}/drift/${at.toISOString().replace(/[:.]/g, '-')}.json`,
};

export const registryKeys = {
  pk: (model: string) => `MODEL#${model}`,
  meta: 'META',
  dataset: (n: number) => `DATASET#${pad(n)}`,
  datasetPrefix: 'DATASET#',
  dataHash: (sha256: string) => `DATAHASH#${sha256}`,
  version: (n: number) => `VERSION#${pad(n)}`,
  versionPrefix: 'VERSION#',
  /** The version number a pipeline execution's Register took (the same on every retry). */
  versionOf: (execution: string) => `VERSIONOF#${execution}`,
  alias: (alias: string) => `ALIAS#${alias}`,
  aliasPrefix: 'ALIAS#',
  /** One alias move; `at` is the ISO time the move wrote, `revision` the alias item's revision. */
  aliasHistory: (alias: string, at: string, revision: number) => `ALIASHIST#${alias}#${at}#${pad(revision)}`,
  /** Every move of one alias, or of all aliases. */
  aliasHistoryPrefix: (alias?: string) => (alias === undefined ? 'ALIASHIST#' : `ALIASHIST#${alias}#`),
  run: (execution: string) => `RUN#${execution}`,
  drift: (at: Date) => `DRIFT#${at.toISOString()}`,
  driftPrefix: 'DRIFT#',
  /** An automatic retraining started by the drift monitor, with its cause. */
  retrain: (at: Date) => `RETRAIN#${at.toISOString()}`,
  retrainPrefix: 'RETRAIN#',
  /** All models are also indexed under one partition of the `byKind` GSI. */
  modelsIndexPk: 'MODELS',
};

export function s3Uri(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

/**
 * Bucket and key of an S3 location: s3://bucket/key, or the https forms SageMaker also accepts
 * (path style https://s3.<region>.amazonaws.com/bucket/key, virtual-hosted https://bucket.s3...).
 */
export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (s3) return { bucket: s3[1], key: s3[2] };
  const pathStyle = /^https:\/\/s3[.-](?:[a-z0-9-]+\.)?amazonaws\.com(?:\.cn)?\/([^/]+)\/?(.*)$/.exec(uri);
  if (pathStyle) return { bucket: pathStyle[1], key: decodeURIComponent(pathStyle[2]) };
  const hosted = /^https:\/\/([^/]+)\.s3[.-](?:[a-z0-9-]+\.)?amazonaws\.com(?:\.cn)?\/?(.*)$/.exec(uri);
  if (hosted) return { bucket: hosted[1], key: decodeURIComponent(hosted[2]) };
  throw new InvalidInput(`'${uri}' is not an S3 URI: expected s3://<bucket>/<key>.`);
}
