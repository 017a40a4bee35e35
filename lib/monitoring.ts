import { Duration } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CAPTURE_PREFIX } from '../lambdas/shared/layout';
import { MloopFunction } from './mloop-function';
import { acknowledgeBucketGrants, acknowledgeFunctionDefaults } from './nag';

export interface DriftMonitorProps {
  readonly bucket: s3.IBucket;
  readonly table: dynamodb.ITableV2;
  /**
   * How often the monitor runs over every model with a champion.
   * @default events.Schedule.rate(Duration.hours(1))
   */
  readonly schedule?: events.Schedule;
  /**
   * PSI at or above which a feature has drifted.
   * @default 0.2
   */
  readonly driftThreshold?: number;
  /**
   * Share of drifted features at or above which the dataset has drifted.
   * @default 0.5
   */
  readonly driftShareThreshold?: number;
  /**
   * CloudWatch namespace of the drift metrics.
   * @default 'mloop'
   */
  readonly metricsNamespace?: string;
}

/**
 * The drift monitor: on a schedule, compares the inputs captured since its last run with the
 * champion's training profile, writes a report (S3) and a record (DynamoDB), and publishes
 * metrics (CloudWatch, `DriftShare`, `DatasetDrift`, `CapturedRows` per model).
 */
export class DriftMonitor extends Construct {
  readonly function: MloopFunction<'drift'>;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: DriftMonitorProps) {
    super(scope, id);
    const threshold = props.driftThreshold ?? 0.2;
    if (!(threshold > 0)) throw new Error(`driftThreshold must be positive, got ${threshold}.`);
    const share = props.driftShareThreshold ?? 0.5;
    if (!(share > 0 && share <= 1)) throw new Error(`driftShareThreshold must be in (0, 1], got ${share}.`);

    this.function = new MloopFunction(this, 'Drift', {
      functionId: 'drift',
      environment: {
        DATA_BUCKET: props.bucket.bucketName,
        REGISTRY_TABLE: props.table.tableName,
        DRIFT_THRESHOLD: String(threshold),
        DRIFT_SHARE_THRESHOLD: String(share),
        METRICS_NAMESPACE: props.metricsNamespace ?? 'mloop',
      },
    });
    props.bucket.grantRead(this.function, `${CAPTURE_PREFIX}*`);
    props.bucket.grantRead(this.function, 'profiles/*');
    props.bucket.grantRead(this.function, 'models/*');
    props.bucket.grantPut(this.function, 'monitoring/*');
    props.table.grantReadWriteData(this.function);
    acknowledgeBucketGrants(this.function, props.bucket, [`${CAPTURE_PREFIX}*`, 'profiles/*', 'models/*', 'monitoring/*'], ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:Abort*']);
    acknowledgeFunctionDefaults(this.function, props.table);

    this.rule = new events.Rule(this, 'Schedule', {
      description: 'mloop: run the drift monitor',
      schedule: props.schedule ?? events.Schedule.rate(Duration.hours(1)),
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 2 })],
    });
  }
}
