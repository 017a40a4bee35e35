/**
 * Ingest: read a dropped dataset, validate it against the model's schema, profile it, version it
 * by content and write deterministic train/validation/test splits. A rejected dataset is kept
 * where it was dropped (tagged as quarantined), recorded with its report, and stops the pipeline.
 */
import { PassThrough } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../shared/clients';
import type { IngestEnv } from '../shared/env';
import { DatasetRejected, InvalidInput } from '../shared/errors';
import { assertModelName, parseDatasetKey, s3Keys, s3Uri } from '../shared/layout';
import { isTrainRequest, type IngestInput, type IngestOutput, type ObjectCreatedEvent } from '../shared/pipeline';
import { Registry } from '../shared/registry/registry';
import { getBytes, getStream, head, putJson, tag, upload } from '../shared/storage';
import { scanDataset } from './scan';
import { schemaHash } from './schema-hash';
import { writeSplits, type SplitName } from './splits';
import type { DatasetSource, RandomAccessSource } from './formats';
import type { ScanOptions, ScanResult, Violation } from './scan-types';
import { planParts } from './parts';
import type { DatasetRecord } from '../shared/registry/datasets';
import type { DatasetSchema } from '../shared/types';
import { formatFromName } from './formats';
import { SCHEMA_FILE_NAME, isSchemaFile, parseSchemaFile, type SchemaInput } from '../shared/schema-file';
import { HYPERPARAMETERS_FILE, parseHyperparameters, readHyperparameters } from './hyperparameters';
import { resumeWithSlot, settleKnownData, trainExisting, trainingJobName, versionTakenOver, withTrainingSlot } from './known-data';

export { trainingJobName, type Accepted } from './known-data';

/** S3 user metadata key (x-amz-meta-mloop-target) naming the target column of a dropped file. */
export const TARGET_METADATA_KEY = 'mloop-target';

/**
 * S3 user metadata key (x-amz-meta-mloop-retrain): `true` trains the dropped file's dataset
 * version again even when its bytes already produced a model version (`mloop run --retrain`).
 */
export const RETRAIN_METADATA_KEY = 'mloop-retrain';

/** One sentence per violation, the first few, for the pipeline's error. */
export function summarizeViolations(violations: Violation[], max = 3): string {
  const head = violations.slice(0, max).map((v) => v.message);
  const more = violations.length > max ? ` (and ${violations.length - max} more in the report)` : '';
  return head.join(' ') + more;
}

/** An S3 object read by byte ranges (ranged GETs of one object version): how Parquet is read. */
export function s3RangeSource(bucket: string, key: string, versionId: string | undefined, byteLength: number): RandomAccessSource {
  return {
    byteLength,
    read: async (start, end) => {
      if (end <= start) return new Uint8Array(0);
      const out = await s3Client().send(
        new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId, Range: `bytes=${start}-${end - 1}` }),
      );
      return out.Body!.transformToByteArray();
    },
  };
}

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
    if ((error as Error).name === 'NoSuchKey' || (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
      return undefined;
    throw error;
  }
  const parsed = parseSchemaFile(bytes.toString('utf8'), s3Uri(bucket, key));
  if (!parsed.ok) throw new InvalidInput(parsed.message);
  return parsed.schema;
}

/** What a dataset is checked against, and where that schema came from (the report's `schemaSource`). */
export interface ChosenSchema {
  /** Absent: the schema is inferred from this dataset. */
  readonly schema?: SchemaInput;
  /** A declared schema (schema.json or the CDK props) also enforces `nullable: false` and listed categories. */
  readonly strict: boolean;
  /** The schema.json's s3:// URI, 'cdk-props', 'model' or 'inferred'. */
  readonly source: string;
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
): Promise<IngestOutput> {
  const uri = s3Uri(bucket, key);
  const text = (await getBytes(bucket, key, versionId)).toString('utf8');
  if (isSchemaFile(fileName)) {
    const parsed = parseSchemaFile(text, uri);
    if (!parsed.ok) throw new InvalidInput(parsed.message);
  } else {
    parseHyperparameters(text, uri);
  }
  return { status: 'CONFIG', model, datasetVersion: null, file: fileName, uri };
}

/** One ingestion: the dropped object, the execution, and what was read before the file itself. */
export interface IngestRun {
  readonly bucket: string;
  readonly key: string;
  readonly versionId?: string;
  readonly model: string;
  /** The object's s3:// URI, used in messages and the record. */
  readonly source: string;
  readonly execution: string;
  readonly eventId?: string;
  readonly eventTime?: string;
  /** The schema the dataset is checked against, and where it came from (chooseSchema). */
  readonly schema: ChosenSchema;
  /** The model's latest dataset version: the new one's parent. */
  readonly parentVersion?: number;
  readonly hyperparameters: Record<string, string>;
  /** The drop asked to train again even when its bytes already produced a model version (RETRAIN_METADATA_KEY). */
  readonly retrain?: boolean;
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
    maxNullShare: env.MAX_NULL_SHARE,
  };
}

/** A new dataset version's report and record fields, before the splits are written. */
export interface NewVersion {
  readonly version: number;
  readonly report: Record<string, unknown>;
  readonly base: Omit<DatasetRecord, 'status' | 'reportUri'>;
}

/**
 * Content addressing, after a scan: the same bytes make one dataset version. Answers the earlier
 * result for a retry of this execution that already completed; for bytes another execution
 * claimed, DUPLICATE while that one ingests them, else what known-data.ts decides (DUPLICATE when
 * their version produced a model version or a run on it is in progress, else train it again);
 * else a new version number. A rejected dataset is recorded with its report, its object tagged as
 * quarantined (never deleted), and DatasetRejected thrown.
 */
export async function versionScan(
  run: IngestRun,
  scan: ScanResult,
  registry: Registry,
  env: IngestEnv,
  extra: Partial<DatasetRecord> = {},
): Promise<{ answer: IngestOutput } | NewVersion> {
  const { model, bucket, execution, source } = run;
  const claim = await registry.content.claim(model, scan.sha256, execution, source);
  const ownClaim = claim?.execution === execution;
  if (claim && ownClaim && claim.datasetVersion !== undefined) {
    // A retry of this execution after its ingest completed: answer what it answered then.
    return { answer: await resumeWithSlot(registry, run, claim.datasetVersion, env) };
  }
  if (claim && !ownClaim && claim.datasetVersion !== undefined) {
    return {
      answer: await settleKnownData(
        { model, execution, sha256: scan.sha256, source, hyperparameters: run.hyperparameters, force: run.retrain === true },
        claim,
        registry,
        env,
      ),
    };
  }
  if (claim && !ownClaim) {
    const reason = `these bytes are being ingested by execution ${claim.execution}`;
    await registry.runs.put({
      model,
      execution,
      status: 'DUPLICATE',
      source,
      reason: `${source} has the same bytes (sha256 ${scan.sha256}) as a dataset being ingested by execution ${claim.execution}; no new version and no training run.`,
      updatedAt: new Date().toISOString(),
    });
    return { answer: { status: 'DUPLICATE', model, datasetVersion: null, duplicateOf: claim.execution, modelVersion: null, reason } };
  }

  const version = await registry.models.nextNumber(model, 'datasetCounter');
  // Should this ingestion never finish, the cleanup records the number as abandoned (no silent gap).
  await registry.content.reserveVersion(model, scan.sha256, execution, version);
  const createdAt = new Date().toISOString();
  const report = {
    dataset: source,
    s3VersionId: run.versionId,
    sha256: scan.sha256,
    format: scan.format,
    gzip: scan.gzip,
    rows: scan.rows,
    accepted: scan.accepted,
    schemaSource: run.schema.source,
    ...(extra.parts !== undefined ? { parts: extra.parts } : {}),
    // How the rows were split: by a hash of each row, or by time with its two cut points.
    splitBy: scan.timeSplit === undefined ? 'hash' : { timeColumn: scan.timeSplit.column, cutoffs: scan.timeSplit.cutoffs },
    violations: scan.violations,
    checkedAt: createdAt,
  };
  const base = {
    model,
    version,
    sha256: scan.sha256,
    s3Uri: source,
    s3VersionId: run.versionId,
    bytes: scan.bytes,
    rows: scan.rows,
    parentVersion: run.parentVersion,
    sourceEvent: { execution, eventId: run.eventId, eventTime: run.eventTime },
    createdAt,
    ...extra,
  };

  if (!scan.accepted) {
    const reportKey = s3Keys.validationReport(model, version);
    await putJson(bucket, reportKey, report);
    const reason = `Dataset ${source} was rejected: ${summarizeViolations(scan.violations)}`;
    // The raw bytes stay where they were dropped; the tag marks them so that nothing trains on
    // them and lifecycle rules can tell them apart. Nothing is deleted.
    await tag(bucket, run.key, { 'mloop-status': 'quarantined', 'mloop-dataset-version': String(version) }, run.versionId);
    await registry.datasets.put({ ...base, status: 'rejected', reportUri: s3Uri(bucket, reportKey), reason });
    await registry.content.release(model, scan.sha256, execution);
    throw new DatasetRejected(reason);
  }
  return { version, report, base };
}

/** The profile and the schema of the splits, beside the new version (the report follows with the split counts). */
export async function writeScanOutputs(run: IngestRun, scan: ScanResult, created: NewVersion): Promise<void> {
  // The report is written once, with the split counts, by acceptVersion.
  await Promise.all([
    putJson(run.bucket, s3Keys.profile(run.model, created.version), scan.profile),
    putJson(run.bucket, s3Keys.splitSchema(run.model, created.version), scan.schema),
  ]);
}

/**
 * Record an accepted version once its splits are written (each split one CSV object, or a prefix
 * of CSV parts for a dataset ingested in parts), fix the model's schema, link the content hash to
 * the version, and take the model's training slot.
 */
export async function acceptVersion(
  run: IngestRun,
  created: NewVersion,
  schema: DatasetSchema,
  splits: Record<SplitName, string>,
  channels: { train: string; validation: string },
  splitRows: Record<SplitName, number>,
  registry: Registry,
  env: IngestEnv,
): Promise<IngestOutput> {
  const { bucket, model, execution } = run;
  const { version, base } = created;
  const reportKey = s3Keys.validationReport(model, version);
  await putJson(bucket, reportKey, { ...created.report, splitRows });
  await registry.models.fixSchema(model, schema, version);
  await registry.datasets.put({
    ...base,
    status: 'accepted',
    schemaHash: schemaHash(schema),
    profileUri: s3Uri(bucket, s3Keys.profile(model, version)),
    reportUri: s3Uri(bucket, reportKey),
    splits,
    splitRows,
  });
  await registry.content.link(model, base.sha256, version);

  return withTrainingSlot(
    registry,
    {
      status: 'ACCEPTED',
      model,
      datasetVersion: version,
      sha256: base.sha256,
      s3VersionId: run.versionId,
      target: schema.target,
      task: schema.task,
      trainingJobName: trainingJobName(model, version, execution),
      channels,
      testSplit: splits.test,
      hyperparameters: run.hyperparameters,
    },
    execution,
    env,
  );
}

export async function ingest(input: IngestInput, env: IngestEnv): Promise<IngestOutput> {
  const registry = new Registry(env.REGISTRY_TABLE);
  if (isTrainRequest(input.detail)) {
    // Train an existing dataset version again (mloop train): nothing to read but the registry.
    const request = input.detail.retrain;
    assertModelName(request.model);
    const [own, hyperparameters] = await Promise.all([
      registry.runs.get(request.model, input.execution),
      readHyperparameters(env.DATA_BUCKET, request.model),
    ]);
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
  if (isSchemaFile(fileName) || fileName === HYPERPARAMETERS_FILE) return ingestConfigFile(bucket, key, versionId, model, fileName);

  // hyperparameters.json beside the datasets is read first: a bad file fails the run before a version is claimed.
  const [meta, modelRecord, hyperparameters, datasets, own] = await Promise.all([
    head(bucket, key, versionId),
    registry.models.get(model),
    readHyperparameters(bucket, model),
    registry.datasets.list(model),
    registry.runs.get(model, input.execution),
  ]);
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
      model: modelRecord?.schema,
    }),
    parentVersion: modelRecord?.latestDataset,
    hyperparameters,
    retrain: meta.Metadata?.[RETRAIN_METADATA_KEY]?.toLowerCase() === 'true',
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
  const [splitRows] = await Promise.all([
    writeSplits(await open(), { format: scan.format, header: scan.header, timeSplit: scan.timeSplit }, sinks),
    ...uploads,
  ]);

  await writeScanOutputs(run, scan, settled);
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
