/**
 * What an ingestion does with its scan, in one pass (./ingest.ts) or in parts (./parts.ts): the
 * content claim and a new version number (versionScan), the profile and schema beside it
 * (writeScanOutputs), and, once the splits are written, the accepted record and the training slot
 * (acceptVersion). A rejected dataset stops here.
 */
import type { IngestEnv } from '../shared/env';
import { DatasetRejected } from '../shared/errors';
import { s3Keys, s3Uri } from '../shared/layout';
import type { IngestOutput } from '../shared/pipeline';
import type { DatasetRecord } from '../shared/registry/datasets';
import type { Registry } from '../shared/registry/registry';
import type { SchemaInput } from '../shared/schema-file';
import { LEGACY_SPLIT_HASH, type SplitHash } from '../shared/split-scheme';
import { putJson, tag } from '../shared/storage';
import type { DatasetSchema } from '../shared/types';
import { publishIngestMetrics } from './ingest-metrics';
import { resumeWithSlot, settleKnownData, trainingJobName, withTrainingSlot } from './known-data';
import { describeViolations } from './messages';
import type { ScanResult } from './scan-types';
import { schemaHash } from './schema-hash';
import type { SplitFeatures } from './split-features';
import type { SplitName } from './splits';

/** What a dataset is checked against, and where that schema came from (the report's `schemaSource`). */
export interface ChosenSchema {
  /** Absent: the schema is inferred from this dataset. */
  readonly schema?: SchemaInput;
  /** A declared schema (schema.json or the CDK props) also enforces `nullable: false` and listed categories. */
  readonly strict: boolean;
  /** The schema.json's s3:// URI, 'cdk-props', 'model' or 'inferred'. */
  readonly source: string;
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
  /**
   * How the rows are hashed into the splits: the model's scheme (splitHashFor). Absent in a parts
   * plan written before schemes were recorded, whose rows go by LEGACY_SPLIT_HASH.
   */
  readonly splitHash?: SplitHash;
}

/** The split scheme of a run (IngestRun.splitHash). */
export function runSplitHash(run: Pick<IngestRun, 'splitHash'>): SplitHash {
  return run.splitHash ?? LEGACY_SPLIT_HASH;
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
    // The row hash of a split by hash; recorded either way (the model's scheme, see splitHashFor).
    splitHash: runSplitHash(run),
    violations: scan.violations,
    // Columns kept in the data but out of the features (identifiers, free text), and why.
    ...(scan.notes !== undefined ? { notes: scan.notes } : {}),
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
    splitHash: runSplitHash(run),
    sourceEvent: { execution, eventId: run.eventId, eventTime: run.eventTime },
    createdAt,
    ...extra,
  };

  publishIngestMetrics(env.METRICS_NAMESPACE, scan);
  if (!scan.accepted) {
    const reportKey = s3Keys.validationReport(model, version);
    await putJson(bucket, reportKey, report);
    const reason = `Dataset ${source} was rejected: ${describeViolations(scan.violations, 3, 'the report')}`;
    // The raw bytes stay where they were dropped; the tag marks them so that nothing trains on
    // them and lifecycle rules can tell them apart. Nothing is deleted.
    await tag(bucket, run.key, { 'mloop-status': 'quarantined', 'mloop-dataset-version': String(version) }, run.versionId);
    await registry.datasets.put({ ...base, status: 'rejected', reportUri: s3Uri(bucket, reportKey), reason });
    await registry.content.release(model, scan.sha256, execution);
    throw new DatasetRejected(reason);
  }
  return { version, report, base };
}

/** The profile beside the new version (the report follows with the split counts, the splits' schema with the splits). */
export async function writeScanOutputs(run: IngestRun, scan: ScanResult, created: NewVersion): Promise<void> {
  // The report is written once, with the split counts, by acceptVersion.
  await putJson(run.bucket, s3Keys.profile(run.model, created.version), scan.profile);
}

/**
 * The schema the trainer reads beside the train split (splits/<model>/v<N>/train/schema.json): the
 * dataset's, with the derived date-time columns and the train split's vocabularies (SplitFeatures).
 */
export async function writeTrainingSchema(run: IngestRun, version: number, features: SplitFeatures): Promise<void> {
  await putJson(run.bucket, s3Keys.splitSchema(run.model, version), features.trainingSchema());
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
  await registry.models.fixSchema(model, schema, version, bucket, runSplitHash(run));
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
