/**
 * Ingest: read a dropped dataset, validate it against the model's schema, profile it, version it
 * by content and write deterministic train/validation/test splits. A rejected dataset is kept
 * where it was dropped (tagged as quarantined), recorded with its report, and stops the pipeline.
 */
import { PassThrough } from 'node:stream';
import type { IngestEnv } from '../shared/env';
import { InvalidInput } from '../shared/errors';
import { assertModelName, parseDatasetKey, s3Keys, s3Uri } from '../shared/layout';
import { isTrainRequest, type IngestInput, type IngestOutput, type ObjectCreatedEvent } from '../shared/pipeline';
import { Registry } from '../shared/registry/registry';
import { SCHEMA_FILE_NAME, isSchemaFile, parseSchemaFile, type SchemaInput } from '../shared/schema-file';
import { getBytes, getStream, head, isMissingObject, upload } from '../shared/storage';
import { DEFAULT_GZIP_LIMITS, formatFromName, type DatasetSource } from './formats';
import { TRAINER_METADATA_KEY, withTrainerChoice } from '../shared/trainers';
import { HYPERPARAMETERS_FILE, parseHyperparameters, readHyperparameters } from './hyperparameters';
import { resumeWithSlot, trainExisting, versionTakenOver } from './known-data';
import { planParts } from './parts';
import { s3RangeSource } from './s3-source';
import { scanDataset } from './scan';
import type { ScanOptions } from './scan-types';
import { writeSplits, type SplitName } from './splits';
import { SplitFeatures } from './split-features';
import { splitHashFor } from '../shared/split-scheme';
import {
  acceptVersion,
  runSplitHash,
  versionScan,
  writeScanOutputs,
  writeTrainingSchema,
  type ChosenSchema,
  type IngestRun,
} from './versioning';

export { trainingJobName, type Accepted } from './known-data';

/** S3 user metadata key (x-amz-meta-mloop-target) naming the target column of a dropped file. */
export const TARGET_METADATA_KEY = 'mloop-target';

/**
 * S3 user metadata key (x-amz-meta-mloop-retrain): `true` trains the dropped file's dataset
 * version again even when its bytes already produced a model version (`mloop run --retrain`).
 */
export const RETRAIN_METADATA_KEY = 'mloop-retrain';

/**
 * The schema declared in datasets/<model>/schema.json, if there is one. An invalid one stops the
 * ingestion with a message that names the field (InvalidInput).
 */
export async function declaredSchema(bucket: string, model: string): Promise<SchemaInput | undefined> {
  const key = s3Keys.dataset(model, SCHEMA_FILE_NAME);
  let bytes: Buffer;
  try {
    bytes = await getBytes(bucket, key);
  } catch (error) {
    if (isMissingObject(error)) return undefined;
    throw error;
  }
  const parsed = parseSchemaFile(bytes.toString('utf8'), s3Uri(bucket, key));
  if (!parsed.ok) throw new InvalidInput(parsed.message);
  return parsed.schema;
}

/**
 * The schema a dataset of a model is checked against, by precedence:
 * 1. datasets/<model>/schema.json beside the data: the most recent and most specific statement
 *    (anyone with write access to the model's prefix can drop it at any time, without a deploy);
 * 2. the CDK props' `datasetSchemas` (DATASET_SCHEMAS), fixed at deploy time;
 * 3. the schema the model's first accepted dataset fixed;
 * 4. none: this dataset's schema is inferred.
 */
export function chooseSchema(candidates: {
  dropped?: { schema: SchemaInput; uri: string };
  props?: SchemaInput;
  model?: SchemaInput;
}): ChosenSchema {
  if (candidates.dropped) return { schema: candidates.dropped.schema, strict: true, source: candidates.dropped.uri };
  if (candidates.props) return { schema: candidates.props, strict: true, source: 'cdk-props' };
  if (candidates.model) return { schema: candidates.model, strict: false, source: 'model' };
  return { strict: false, source: 'inferred' };
}

/**
 * A configuration file dropped beside the data (schema.json, hyperparameters.json) is not a
 * dataset: it is checked (a bad one fails the run with a message naming the field) and applies to
 * the datasets dropped after it; the state machine ends the run there (status CONFIG).
 */
async function ingestConfigFile(
  bucket: string,
  key: string,
  versionId: string | undefined,
  model: string,
  fileName: string,
  stackHyperparameters: readonly string[],
): Promise<IngestOutput> {
  const uri = s3Uri(bucket, key);
  const text = (await getBytes(bucket, key, versionId)).toString('utf8');
  if (isSchemaFile(fileName)) {
    const parsed = parseSchemaFile(text, uri);
    if (!parsed.ok) throw new InvalidInput(parsed.message);
  } else {
    parseHyperparameters(text, uri, stackHyperparameters);
  }
  return { status: 'CONFIG', model, datasetVersion: null, file: fileName, uri };
}

/** The scan options for a run: its chosen schema; thresholds from the environment. */
export function scanOptionsFor(run: IngestRun, target: string | undefined, env: IngestEnv): ScanOptions {
  return {
    fileName: run.source,
    target,
    schema: run.schema.schema,
    strictSchema: run.schema.strict,
    ...(run.schema.source === 'cdk-props' ? { declaredBy: "the CDK props' schema (datasetSchemas)" } : {}),
    minRows: env.MIN_ROWS,
    maxColumns: env.MAX_COLUMNS,
    maxCategoryLength: env.MAX_CATEGORY_LENGTH,
    gzipLimits: { ...DEFAULT_GZIP_LIMITS, maxInflatedBytes: env.MAX_GZIP_INFLATED_BYTES, maxRatio: env.MAX_GZIP_RATIO },
    rowGroupLimits: { maxCells: env.MAX_ROW_GROUP_CELLS, maxUncompressedBytes: env.MAX_ROW_GROUP_BYTES },
    maxNullShare: env.MAX_NULL_SHARE,
  };
}

export async function ingest(input: IngestInput, env: IngestEnv): Promise<IngestOutput> {
  const registry = new Registry(env.REGISTRY_TABLE);
  if (isTrainRequest(input.detail)) {
    // Train an existing dataset version again (mloop train): nothing to read but the registry.
    const request = input.detail.retrain;
    assertModelName(request.model);
    const [own, fileHyperparameters] = await Promise.all([
      registry.runs.get(request.model, input.execution),
      readHyperparameters(env.DATA_BUCKET, request.model, env.STACK_HYPERPARAMETERS),
    ]);
    const hyperparameters = withTrainerChoice(fileHyperparameters, request.trainer, "The TrainRequest's trainer");
    // Another pass of the wait-for-slot loop: the version this run took over, not a newer latest.
    const taken = versionTakenOver(own);
    if (taken !== undefined)
      return resumeWithSlot(registry, { model: request.model, execution: input.execution, hyperparameters }, taken, env);
    return trainExisting(request, input.execution, hyperparameters, registry, env);
  }
  const detail: ObjectCreatedEvent['detail'] = input.detail;
  const bucket = detail.bucket.name;
  const key = detail.object.key;
  const versionId = detail.object['version-id'];
  const { model, fileName } = parseDatasetKey(key);
  const source = s3Uri(bucket, key);
  if (isSchemaFile(fileName) || fileName === HYPERPARAMETERS_FILE)
    return ingestConfigFile(bucket, key, versionId, model, fileName, env.STACK_HYPERPARAMETERS);

  // hyperparameters.json beside the datasets is read first: a bad file fails the run before a version is claimed.
  const [meta, modelRecord, fileHyperparameters, datasets, own] = await Promise.all([
    head(bucket, key, versionId),
    registry.models.get(model),
    readHyperparameters(bucket, model, env.STACK_HYPERPARAMETERS),
    registry.datasets.list(model),
    registry.runs.get(model, input.execution),
  ]);
  // The run's own trainer (mloop run --trainer) wins over hyperparameters.json and the stack's.
  const hyperparameters = withTrainerChoice(
    fileHyperparameters,
    meta.Metadata?.[TRAINER_METADATA_KEY],
    `${source}: the object metadata ${TRAINER_METADATA_KEY}`,
  );
  // This execution already ingested the file, or took over the version its bytes hold (a retry,
  // or another pass of the wait-for-slot loop): answer from the dataset record without reading
  // the file again.
  const done = datasets.find((d) => d.sourceEvent.execution === input.execution && d.status === 'accepted' && d.splits);
  const resumed = done?.version ?? versionTakenOver(own);
  if (resumed !== undefined) return resumeWithSlot(registry, { model, execution: input.execution, hyperparameters }, resumed, env);
  const target = meta.Metadata?.[TARGET_METADATA_KEY] || undefined;
  // schema.json beside the data, else the CDK props' schema, else the model's, else inference (chooseSchema).
  const dropped = await declaredSchema(bucket, model);
  const run: IngestRun = {
    bucket,
    key,
    versionId,
    model,
    source,
    execution: input.execution,
    eventId: input.eventId,
    eventTime: input.eventTime,
    schema: chooseSchema({
      dropped: dropped && { schema: dropped, uri: s3Uri(bucket, s3Keys.dataset(model, SCHEMA_FILE_NAME)) },
      props: env.DATASET_SCHEMAS[model],
      model: await registry.models.schemaOf(modelRecord),
    }),
    parentVersion: modelRecord?.latestDataset,
    hyperparameters,
    retrain: meta.Metadata?.[RETRAIN_METADATA_KEY]?.toLowerCase() === 'true',
    splitHash: splitHashFor(modelRecord),
  };
  const options = scanOptionsFor(run, target, env);

  // A file too big for one function is scanned in parts by the state machine's Map states.
  const size = meta.ContentLength ?? 0;
  if (size > env.PARTS_ABOVE_BYTES) {
    const planned = await planParts(run, options, size, env);
    if (planned) return planned;
  }

  // Parquet is read by byte ranges (its footer first); the text formats as one stream.
  const parquet = formatFromName(fileName).format === 'parquet';
  const open = async (): Promise<DatasetSource> =>
    parquet ? s3RangeSource(bucket, key, versionId, size) : getStream(bucket, key, versionId);

  const scan = await scanDataset(await open(), options);
  const settled = await versionScan(run, scan, registry, env);
  if ('answer' in settled) return settled.answer;
  const { version } = settled;

  // Second pass: the splits. Rows go to a split by a stable hash of their content, so the same
  // data always splits the same way.
  const splitKeys: Record<SplitName, string> = {
    train: s3Keys.split(model, version, 'train'),
    validation: s3Keys.split(model, version, 'validation'),
    test: s3Keys.split(model, version, 'test'),
  };
  const sinks = { train: new PassThrough(), validation: new PassThrough(), test: new PassThrough() };
  const uploads = (Object.keys(sinks) as SplitName[]).map((s) => upload(bucket, splitKeys[s], sinks[s], 'text/csv'));
  const features = new SplitFeatures(scan.schema, run.schema.strict);
  const [splitRows] = await Promise.all([
    writeSplits(
      await open(),
      {
        format: scan.format,
        header: scan.header,
        timeSplit: scan.timeSplit,
        splitHash: runSplitHash(run),
        features,
        ...(options.gzipLimits !== undefined ? { gzipLimits: options.gzipLimits } : {}),
        ...(options.rowGroupLimits !== undefined ? { rowGroupLimits: options.rowGroupLimits } : {}),
      },
      sinks,
    ),
    ...uploads,
  ]);

  await writeScanOutputs(run, scan, settled);
  await writeTrainingSchema(run, version, features);
  return acceptVersion(
    run,
    settled,
    scan.schema,
    { train: s3Uri(bucket, splitKeys.train), validation: s3Uri(bucket, splitKeys.validation), test: s3Uri(bucket, splitKeys.test) },
    {
      train: s3Uri(bucket, s3Keys.splitPrefix(model, version, 'train')),
      validation: s3Uri(bucket, s3Keys.splitPrefix(model, version, 'validation')),
    },
    splitRows,
    registry,
    env,
  );
}
