import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DATASETS_PREFIX, INGEST_PARTS_PREFIX } from '../lambdas/shared/layout';

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
