/**
 * The data concern: the data lake (the bucket where datasets land, and everything derived from
 * them) and the ingestion of a dropped dataset, the pipeline's first stage: the Ingest and
 * IngestParts functions, whose handlers are lambdas/data/ingest-handler.ts and
 * lambdas/data/parts-handler.ts, with their environment and their grants.
 */
import { Duration, RemovalPolicy, Size } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DATASETS_PREFIX, INGEST_PARTS_PREFIX } from '../lambdas/shared/layout';
import type { SchemaFile } from '../lambdas/shared/schema-file';
import { datasetSchemasEnvironment, ingestEnvironmentFits } from './dataset-schemas';
import { MloopFunction } from './mloop-function';
import { acknowledgeBucketGrants, acknowledgeFunctionDefaults } from './nag';

export interface DataLakeProps {
  /**
   * A customer-managed key for the data bucket.
   * @default - S3-managed keys (SSE-S3)
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * What happens to the buckets when the stack is deleted. Datasets are the seed of every model:
   * they are kept unless a team says otherwise.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Days after which noncurrent object versions are deleted (overwritten datasets, old reports).
   * @default 365
   */
  readonly noncurrentVersionExpirationDays?: number;
}

/**
 * The data bucket: datasets, splits, profiles, model artifacts, captured requests and reports.
 * Versioned, encrypted, TLS-only, never public, access-logged, and publishing its object events to
 * EventBridge so that a dataset dropped under `datasets/<model>/` starts training.
 */
export class DataLake extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;

  constructor(scope: Construct, id: string, props: DataLakeProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    if (props.noncurrentVersionExpirationDays !== undefined && props.noncurrentVersionExpirationDays < 1) {
      throw new Error(`noncurrentVersionExpirationDays must be at least 1, got ${props.noncurrentVersionExpirationDays}.`);
    }

    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
      lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
    });

    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: props.encryptionKey ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
      encryptionKey: props.encryptionKey,
      bucketKeyEnabled: props.encryptionKey ? true : undefined,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      eventBridgeEnabled: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'data-bucket/',
      removalPolicy,
      lifecycleRules: [
        { noncurrentVersionExpiration: Duration.days(props.noncurrentVersionExpirationDays ?? 365) },
        { abortIncompleteMultipartUploadAfter: Duration.days(7) },
        // The working files of ingestions in parts (plan, per-part scans) are worth nothing once
        // the run is over; a failed run's stay a while, for a look at what happened.
        { prefix: INGEST_PARTS_PREFIX, expiration: Duration.days(14) },
      ],
    });
  }

  /** Let a principal tag dropped datasets (ingest quarantines rejected ones by tag). */
  grantTagDatasets(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:PutObjectTagging', 's3:PutObjectVersionTagging'],
      resourceArns: [this.bucket.arnForObjects(`${DATASETS_PREFIX}*`)],
    });
  }
}

/** How datasets are checked and cut: the ingestion part of `MloopStackProps.training`. */
export interface DatasetIngestionOptions {
  /**
   * Rows a dataset needs to be accepted.
   * @default 10
   */
  readonly minRows?: number;
  /**
   * The most columns a dataset file may have (CSV header, Parquet columns, distinct JSON Lines
   * keys). Enforced while reading: a file over it is rejected with a `too_many_columns` violation
   * that names this setting, before memory is spent on its columns (each costs a few KB while
   * reading, and a place in the schema the registry keeps).
   * @default 10000
   */
  readonly maxColumns?: number;
  /**
   * The most characters a category value may have (a categorical feature's value or a class
   * label; free-text columns, which are not features, may be longer). A longer value is a
   * `category_too_long` violation naming the file, the rows, the column, the limit and this
   * setting. The prediction API refuses longer values of categorical features with a 400 too, so
   * captures and drift reports never carry a huge value.
   * @default 1000
   */
  readonly maxCategoryLength?: number;
  /**
   * The most bytes a gzip-compressed dataset file may inflate to. Checked while inflating: a file
   * over it stops there with a `corrupt_file` violation naming this setting.
   * @default 17179869184 (16 GiB, about 4 minutes of scanning)
   */
  readonly maxGzipInflatedBytes?: number;
  /**
   * The most a gzip-compressed dataset file may inflate by (inflated bytes per compressed byte read
   * so far), checked once 64 MiB are inflated: a gzip bomb stops at the first megabytes past it.
   * @default 200
   */
  readonly maxGzipRatio?: number;
  /**
   * The most cells (rows times columns read) one Parquet row group may declare. Checked from the
   * footer before the group is decoded (a row group is held whole while it is read).
   * @default 16777216 (16 Mi: pyarrow's default row group of 1 Mi rows, of 16 columns)
   */
  readonly maxRowGroupCells?: number;
  /**
   * The most bytes one Parquet row group may declare uncompressed for the columns read. Checked
   * from the footer before the group is decoded.
   * @default 536870912 (512 MiB)
   */
  readonly maxRowGroupBytes?: number;
  /**
   * Schemas declared per model, each in exactly the format of `datasets/<model>/schema.json`
   * (`SchemaFile`, lambdas/shared/schema-file.ts), e.g.
   * `{ churn: { target: 'churned', columns: [{ name: 'tenure_months', type: 'numeric' }, ...] } }`.
   * Every dataset of a model named here is checked against its schema, including each column's
   * `nullable: false` and listed `categories`. Precedence: a schema.json dropped beside the data
   * wins over this (it is the more recent, more specific statement), which wins over the schema
   * the model's first dataset fixed, which wins over inference.
   *
   * Checked at synth (model names, and each schema with the field named). The schemas reach the
   * Ingest function as its DATASET_SCHEMAS variable (JSON), so together with its other variables
   * they must fit Lambda's 4 KB environment limit (synth fails, saying by how much); a big
   * schema belongs in schema.json beside the data instead.
   * @default - none: a model's schema comes from schema.json or its first dataset
   */
  readonly datasetSchemas?: Record<string, SchemaFile>;
  /**
   * Ingestion of files too big for one function's 15 minutes: cut into byte-range parts that
   * Distributed Map states scan and split in parallel (lambdas/data/parts.ts).
   * @default - see IngestionPartsOptions
   */
  readonly ingestionParts?: IngestionPartsOptions;
  /**
   * How long a run may wait for its model's training slot while another run trains the model
   * (one training at a time per model). Past it the run ends failed, recorded with the reason
   * (TrainingSlotWaitExceeded; its dataset version stays ingested, to train later). The state
   * machine's timeout counts this wait apart from the run's own training, so a run that waits is
   * never cut off as TIMED_OUT. The default waits out one run ahead: a slot is held at most the
   * training job's limit plus an hour.
   * @default - the training job's limit plus an hour
   */
  readonly trainingSlotWait?: Duration;
}

/** When and how a dataset file is ingested in parts. */
export interface IngestionPartsOptions {
  /**
   * A CSV, JSON Lines or Parquet file larger than this is ingested in parts (Parquet: runs of
   * whole row groups; gzip files are always read in one pass). One function streams about 30-60 MB/s, so 2 GiB takes about a minute.
   * @default Size.gibibytes(2)
   */
  readonly above?: Size;
  /**
   * The size of each part (larger when the file would make more than `maxParts`).
   * @default Size.mebibytes(256)
   */
  readonly partSize?: Size;
  /**
   * The most parts a file is cut into: each is an item of the Map states, and their ranges and
   * split counts travel in the execution state (at most MAX_PARTS_LIMIT, 1,000). A bigger file
   * gets bigger parts.
   * @default 1000
   */
  readonly maxParts?: number;
  /**
   * How many parts are scanned (and split) at once: the Distributed Map's MaxConcurrency, so
   * also the functions' concurrency the ingestion takes.
   * @default 100
   */
  readonly maxConcurrency?: number;
}

/**
 * The most parts a file may be cut into: the parts' ranges (about 55 bytes each) and the split
 * counts the Split parts Map answers (about 50 bytes each) travel in the execution state, whose
 * limit is 256 KiB. A thousand parts of even 1 GiB each is more than the hash pass reads in time.
 */
export const MAX_PARTS_LIMIT = 1000;

/** IngestionPartsOptions with their defaults, checked. */
export function resolveIngestionParts(options: IngestionPartsOptions = {}): {
  aboveBytes: number;
  partBytes: number;
  maxParts: number;
  maxConcurrency: number;
} {
  const aboveBytes = (options.above ?? Size.gibibytes(2)).toBytes();
  const partBytes = (options.partSize ?? Size.mebibytes(256)).toBytes();
  const maxParts = options.maxParts ?? 1000;
  const maxConcurrency = options.maxConcurrency ?? 100;
  if (!(partBytes >= 1024)) throw new Error(`ingestionParts.partSize must be at least 1 KiB, got ${partBytes} bytes.`);
  if (!Number.isInteger(maxParts) || maxParts < 1 || maxParts > MAX_PARTS_LIMIT) {
    throw new Error(`ingestionParts.maxParts must be an integer from 1 to ${MAX_PARTS_LIMIT}, got ${maxParts}.`);
  }
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1 || maxConcurrency > 10000) {
    throw new Error(
      `ingestionParts.maxConcurrency must be an integer from 1 to 10000 (the Distributed Map's limit), got ${maxConcurrency}.`,
    );
  }
  return { aboveBytes, partBytes, maxParts, maxConcurrency };
}

export interface DatasetIngestionProps extends DatasetIngestionOptions {
  readonly dataLake: DataLake;
  /** The registry table: dataset versions, content claims and the models' training slots. */
  readonly table: dynamodb.ITableV2;
  /**
   * The longest a training job may take (ModelTraining.jobLimit): a run that died keeps its
   * model's training slot for this plus an hour (TRAINING_LEASE_SECONDS).
   */
  readonly jobLimit: Duration;
  /**
   * The names the stack's training `hyperparameters` prop sets for every job: Ingest counts them,
   * with the pipeline's own five, toward SageMaker's 100 when it checks hyperparameters.json.
   * @default - none
   */
  readonly trainingHyperparameters?: readonly string[];
}

/**
 * The ingestion of a dropped dataset: validate, profile, version and split it (Ingest), or, for a
 * file too big for one pass, hash, scan, merge and split it in parts (IngestParts, run by the
 * pipeline's Distributed Map states). Each function reads `datasets/`, writes `splits/`,
 * `profiles/`, `reports/` and `ingest-parts/`, tags rejected datasets, and reads and writes the
 * registry table. The states that invoke them are the pipeline's (lib/pipeline.ts).
 */
export class DatasetIngestion extends Construct {
  readonly ingest: MloopFunction<'ingest'>;
  readonly ingestParts: MloopFunction<'ingestParts'>;
  /** The parts' settings, resolved: the pipeline's Distributed Maps run `maxConcurrency` parts at once. */
  readonly parts: ReturnType<typeof resolveIngestionParts>;
  /** How long a run may wait for its model's training slot (DatasetIngestionOptions.trainingSlotWait, resolved). */
  readonly trainingSlotWait: Duration;

  constructor(scope: Construct, id: string, props: DatasetIngestionProps) {
    super(scope, id);
    const bucket = props.dataLake.bucket;
    const parts = resolveIngestionParts(props.ingestionParts);
    this.parts = parts;
    this.trainingSlotWait = props.trainingSlotWait ?? props.jobLimit.plus(Duration.hours(1));
    if (this.trainingSlotWait.toSeconds() < 60)
      throw new Error(
        `trainingSlotWait must be at least a minute (the wait loop tries the slot every minute), got ${this.trainingSlotWait.toHumanString()}.`,
      );
    if (props.maxColumns !== undefined && !(Number.isInteger(props.maxColumns) && props.maxColumns >= 1)) {
      throw new Error(`maxColumns must be an integer >= 1, got ${props.maxColumns}.`);
    }
    for (const [name, value] of Object.entries({
      maxGzipInflatedBytes: props.maxGzipInflatedBytes,
      maxRowGroupCells: props.maxRowGroupCells,
      maxRowGroupBytes: props.maxRowGroupBytes,
    })) {
      if (value !== undefined && !(Number.isInteger(value) && value >= 1))
        throw new Error(`${name} must be an integer >= 1, got ${value}.`);
    }
    if (props.maxGzipRatio !== undefined && !(props.maxGzipRatio > 1))
      throw new Error(`maxGzipRatio must be a number > 1, got ${props.maxGzipRatio}.`);
    if (props.maxCategoryLength !== undefined && !(Number.isInteger(props.maxCategoryLength) && props.maxCategoryLength >= 1)) {
      throw new Error(`maxCategoryLength must be an integer >= 1, got ${props.maxCategoryLength}.`);
    }
    const environment = {
      DATA_BUCKET: bucket.bucketName,
      REGISTRY_TABLE: props.table.tableName,
      ...(props.minRows !== undefined ? { MIN_ROWS: String(props.minRows) } : {}),
      ...(props.maxColumns !== undefined ? { MAX_COLUMNS: String(props.maxColumns) } : {}),
      ...(props.maxCategoryLength !== undefined ? { MAX_CATEGORY_LENGTH: String(props.maxCategoryLength) } : {}),
      ...(props.maxGzipInflatedBytes !== undefined ? { MAX_GZIP_INFLATED_BYTES: String(props.maxGzipInflatedBytes) } : {}),
      ...(props.maxGzipRatio !== undefined ? { MAX_GZIP_RATIO: String(props.maxGzipRatio) } : {}),
      ...(props.maxRowGroupCells !== undefined ? { MAX_ROW_GROUP_CELLS: String(props.maxRowGroupCells) } : {}),
      ...(props.maxRowGroupBytes !== undefined ? { MAX_ROW_GROUP_BYTES: String(props.maxRowGroupBytes) } : {}),
      ...datasetSchemasEnvironment(props.datasetSchemas),
      // How long a run that died keeps its model's training slot: the job's limit, plus an hour.
      TRAINING_LEASE_SECONDS: String(props.jobLimit.plus(Duration.hours(1)).toSeconds()),
      // How long a run waits for the slot before it ends, recorded (lambdas/data/slot-wait.ts).
      TRAINING_SLOT_WAIT_SECONDS: String(this.trainingSlotWait.toSeconds()),
      PARTS_ABOVE_BYTES: String(parts.aboveBytes),
      PART_BYTES: String(parts.partBytes),
      MAX_PARTS: String(parts.maxParts),
      ...(props.trainingHyperparameters?.length ? { STACK_HYPERPARAMETERS: JSON.stringify(props.trainingHyperparameters) } : {}),
    };
    this.ingest = new MloopFunction(this, 'Ingest', { functionId: 'ingest', environment });
    this.ingestParts = new MloopFunction(this, 'IngestParts', { functionId: 'ingestParts', environment });

    for (const fn of [this.ingest, this.ingestParts]) {
      // Lambda refuses an environment over 4 KB only at deploy time; the schemas make that reachable.
      fn.node.addValidation(ingestEnvironmentFits(fn));
      // Least privilege: the prefixes ingestion reads and writes, nothing else of the bucket.
      bucket.grantRead(fn, `${DATASETS_PREFIX}*`);
      // A model's schema too big for its registry item lies beside a profile (profiles/<model>/v<n>/model-schema.json).
      bucket.grantRead(fn, 'profiles/*');
      bucket.grantPut(fn, 'splits/*');
      bucket.grantPut(fn, 'profiles/*');
      bucket.grantPut(fn, 'reports/*');
      bucket.grantPut(fn, `${INGEST_PARTS_PREFIX}*`);
      props.dataLake.grantTagDatasets(fn);
      props.table.grantReadWriteData(fn);
    }
    // The parts' functions read the plan and the scans Ingest and Scan part wrote.
    bucket.grantRead(this.ingestParts, `${INGEST_PARTS_PREFIX}*`);

    for (const fn of [this.ingest, this.ingestParts]) {
      acknowledgeBucketGrants(
        fn,
        bucket,
        ['datasets/*', 'splits/*', 'profiles/*', 'reports/*', `${INGEST_PARTS_PREFIX}*`],
        ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:Abort*'],
      );
      acknowledgeFunctionDefaults(fn, props.table);
    }
  }
}
