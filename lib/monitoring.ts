/**
 * The monitoring concern: the drift monitor (its scheduled Drift function, whose handler is
 * lambdas/monitoring/drift-handler.ts, its metrics and alarms, and retraining on drift).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { parseDriftConfig, type DriftConfig } from '../lambdas/monitoring/config';
import { CAPTURE_PREFIX, DATASETS_PREFIX, FEEDBACK_PREFIX } from '../lambdas/shared/layout';
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
   * PSI at or above which a feature has drifted, when the PSI test is configured (driftConfig).
   * @default 0.2
   */
  readonly driftThreshold?: number;
  /**
   * Share of drifted features at or above which the dataset has drifted.
   * @default 0.5
   */
  readonly driftShareThreshold?: number;
  /**
   * Tests, thresholds, null-share and quality margins, per model and per feature
   * (lambdas/monitoring/config.ts); checked at synth.
   * @default - Evidently's default test selection and thresholds
   */
  readonly driftConfig?: DriftConfig;
  /**
   * Whether data drift or a quality drop starts a retraining on the newest accepted dataset plus
   * the labelled feedback since (lambdas/monitoring/retrain.ts). Grants the function s3:PutObject on
   * datasets/* and read on splits/*.
   * @default false
   */
  readonly retrainOnDrift?: boolean;
  /**
   * Time from one automatic retraining of a model to the next.
   * @default Duration.hours(24)
   */
  readonly retrainCooldown?: Duration;
  /**
   * New labelled rows a retraining needs (0: retrain on the same rows).
   * @default 1
   */
  readonly retrainMinFeedbackRows?: number;
  /**
   * CloudWatch namespace of the drift metrics.
   * @default 'mloop'
   */
  readonly metricsNamespace?: string;
  /**
   * Where the alarms notify.
   * @default - a new KMS-encrypted, TLS-only topic (`alarmTopic`)
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * The key that encrypts `alarmTopic`, if it is KMS-encrypted: CloudWatch is allowed to use it
   * (its alarms could not publish otherwise).
   * @default - none (the topic is not encrypted with a customer-managed key)
   */
  readonly alarmTopicKey?: kms.IKey;
}

/**
 * The drift monitor: on a schedule, compares the inputs captured since its last run with the
 * champion's training profile, the model's outputs with its outputs on the test split, and its
 * predictions with feedback labels; writes a report (S3, JSON and HTML) and a record (DynamoDB);
 * publishes metrics (CloudWatch, per model and per feature, see lambdas/monitoring/monitor.ts);
 * and, when enabled, starts retraining on drift.
 *
 * Alarms: models come and go at run time, and an alarm needs fixed dimensions (and CloudWatch alarms
 * cannot use SEARCH), so the monitor also publishes DatasetDrift, DriftShare, QualityDrop and
 * PredictionDrift without the model dimension (dimension service=mloop-drift only); the alarms
 * watch their Maximum over an hour, i.e. the worst model's, and notify `alarmTopic`. The report,
 * the DRIFT# record and the per-model metrics say which model. A per-model alarm is one more
 * cloudwatch.Alarm on the metric with the model dimension.
 */
export class DriftMonitor extends Construct {
  readonly function: MloopFunction<'drift'>;
  readonly rule: events.Rule;
  /** Where the alarms notify. */
  readonly alarmTopic: sns.ITopic;
  /** Some model's share of drifted features reached the threshold. */
  readonly datasetDriftAlarm: cloudwatch.Alarm;
  /** Some model's quality over labelled predictions dropped beyond the margin. */
  readonly qualityDropAlarm: cloudwatch.Alarm;
  /** Some model's outputs drifted from its outputs on the test split. */
  readonly predictionDriftAlarm: cloudwatch.Alarm;
  /** The CloudWatch namespace the monitor publishes its metrics in (the dashboard reads them there). */
  readonly metricsNamespace: string;

  constructor(scope: Construct, id: string, props: DriftMonitorProps) {
    super(scope, id);
    const threshold = props.driftThreshold ?? 0.2;
    if (!(threshold > 0)) throw new Error(`driftThreshold must be positive, got ${threshold}.`);
    const share = props.driftShareThreshold ?? 0.5;
    if (!(share > 0 && share <= 1)) throw new Error(`driftShareThreshold must be in (0, 1], got ${share}.`);
    if (props.driftConfig) parseDriftConfig(props.driftConfig);
    const minRows = props.retrainMinFeedbackRows;
    if (minRows !== undefined && !(Number.isInteger(minRows) && minRows >= 0))
      throw new Error(`retrainMinFeedbackRows must be an integer >= 0, got ${minRows}.`);
    const namespace = props.metricsNamespace ?? 'mloop';
    this.metricsNamespace = namespace;

    // Settings left unset here are left out of the environment: the handler's defaults apply (and,
    // in the local runtime, the CLI's own environment may set them).
    const optional: Record<string, string> = {};
    if (props.driftConfig) optional.DRIFT_CONFIG = JSON.stringify(props.driftConfig);
    if (props.retrainOnDrift !== undefined) optional.RETRAIN_ON_DRIFT = String(props.retrainOnDrift);
    if (props.retrainCooldown) optional.RETRAIN_COOLDOWN_SECONDS = String(props.retrainCooldown.toSeconds());
    if (minRows !== undefined) optional.RETRAIN_MIN_FEEDBACK_ROWS = String(minRows);
    this.function = new MloopFunction(this, 'Drift', {
      functionId: 'drift',
      environment: {
        DATA_BUCKET: props.bucket.bucketName,
        REGISTRY_TABLE: props.table.tableName,
        DRIFT_THRESHOLD: String(threshold),
        DRIFT_SHARE_THRESHOLD: String(share),
        METRICS_NAMESPACE: namespace,
        ...optional,
      },
    });
    // Reads: captures, profiles, models (cards), candidates (prediction profiles), feedback (labels).
    const reads = [`${CAPTURE_PREFIX}*`, 'profiles/*', 'models/*', 'candidates/*', `${FEEDBACK_PREFIX}*`];
    const puts = ['monitoring/*'];
    if (props.retrainOnDrift) {
      reads.push('splits/*');
      puts.push(`${DATASETS_PREFIX}*`);
    }
    for (const prefix of reads) props.bucket.grantRead(this.function, prefix);
    for (const prefix of puts) props.bucket.grantPut(this.function, prefix);
    props.table.grantReadWriteData(this.function);
    acknowledgeBucketGrants(this.function, props.bucket, [...reads, ...puts], ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:Abort*']);
    acknowledgeFunctionDefaults(this.function, props.table);

    this.rule = new events.Rule(this, 'Schedule', {
      description: 'mloop: run the drift monitor',
      schedule: props.schedule ?? events.Schedule.rate(Duration.hours(1)),
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 2 })],
    });

    // ---- Alarms -------------------------------------------------------------------------------
    if (props.alarmTopic) {
      this.alarmTopic = props.alarmTopic;
      props.alarmTopicKey?.addToResourcePolicy(cloudWatchUsesKey());
    } else {
      const key = new kms.Key(this, 'AlarmTopicKey', { description: 'mloop: encrypts the drift alarm topic', enableKeyRotation: true });
      key.addToResourcePolicy(cloudWatchUsesKey());
      this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { displayName: 'mloop drift alarms', masterKey: key, enforceSSL: true });
    }
    this.alarmTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    const acrossModels = (metricName: string) =>
      new cloudwatch.Metric({
        namespace,
        metricName,
        dimensionsMap: { service: 'mloop-drift' },
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.hours(1),
      });
    const alarm = (alarmId: string, metricName: string, at: number, description: string) => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        metric: acrossModels(metricName),
        threshold: at,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `mloop: ${description} See the model's latest drift report (monitoring/<model>/drift/) and the DRIFT# records.`,
      });
      created.addAlarmAction(new actions.SnsAction(this.alarmTopic));
      return created;
    };
    this.datasetDriftAlarm = alarm('DatasetDriftAlarm', 'DriftShare', share, `a model's share of drifted features reached ${share}.`);
    this.qualityDropAlarm = alarm(
      'QualityDropAlarm',
      'QualityDrop',
      1,
      "a model's quality on labelled predictions dropped beyond its margin.",
    );
    this.predictionDriftAlarm = alarm(
      'PredictionDriftAlarm',
      'PredictionDrift',
      1,
      "a model's outputs drifted from its outputs on the test split.",
    );
  }
}

/** CloudWatch alarms publish to a KMS-encrypted topic only if the key lets CloudWatch use it. */
function cloudWatchUsesKey(): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'CloudWatchAlarmsUseKey',
    principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
    actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
    resources: ['*'],
  });
}
