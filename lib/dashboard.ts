/**
 * The operators' concern: one CloudWatch dashboard over the whole loop, made of the metrics the
 * services publish (Step Functions, API Gateway, Lambda) and the ones mloop's functions publish
 * with Powertools (ingestion: lambdas/data/ingest-metrics.ts; drift: lambdas/monitoring/monitor.ts).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { INGEST_METRICS_SERVICE } from '../lambdas/data/ingest-metrics';

export interface OperatorDashboardProps {
  /** The training pipeline: its executions started, succeeded, failed, timed out and aborted. */
  readonly pipeline: sfn.IStateMachine;
  /** The prediction API: its latency (p50, p99) and its 4xx and 5xx answers. */
  readonly api: apigw.RestApiBase;
  /** Instances per training job: a job's hours times this are its instance hours. */
  readonly trainingInstanceCount: number;
  /** The functions whose throttles are graphed (each a line). */
  readonly functions: readonly lambda.IFunction[];
  /** The alarms whose state the dashboard shows (an alarm status widget); none is allowed. */
  readonly alarms: readonly cloudwatch.IAlarm[];
  /**
   * The namespace of the drift monitor's metrics (DriftMonitorProps.metricsNamespace).
   * @default 'mloop'
   */
  readonly driftNamespace?: string;
  /**
   * The namespace of the ingestion metrics (the Ingest function's METRICS_NAMESPACE).
   * @default 'mloop'
   */
  readonly ingestNamespace?: string;
  /**
   * The dashboard's name.
   * @default - a name CloudFormation generates (the stack output DashboardName says it)
   */
  readonly dashboardName?: string;
  /**
   * The period of the graphs' data points (the drift graphs keep an hour: the monitor runs hourly
   * by default).
   * @default Duration.minutes(5)
   */
  readonly period?: Duration;
}

/**
 * A CloudWatch dashboard for operators, in rows:
 * - pipeline executions (started, succeeded, failed, timed out, aborted) and the alarms' state;
 * - training: the hours of SageMaker training jobs run by Step Functions' `.sync` integration
 *   (AWS/States ServiceIntegrationTime for `sagemaker:createTrainingJob.sync`, which covers the
 *   job from its start to its end, provisioning included; these metrics are the account's and
 *   region's, not this stack's alone) and those hours times the instance count;
 * - ingestion: rows of new dataset versions, versions accepted and rejected, rejected rows;
 * - the API: latency p50 and p99, 4xx and 5xx answers, and every function's throttles;
 * - drift, per model (SEARCH over the `model` dimension, since models come and go at run time):
 *   the share of drifted features and the captured rows each drift run read (the capture volume).
 */
export class OperatorDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: OperatorDashboardProps) {
    super(scope, id);
    const count = props.trainingInstanceCount;
    if (!Number.isInteger(count) || count < 1) throw new Error(`trainingInstanceCount must be a positive integer, got ${count}.`);
    if (props.functions.length > 100) throw new Error(`a graph holds at most 100 metrics; ${props.functions.length} functions were given.`);
    const period = props.period ?? Duration.minutes(5);
    const driftNamespace = props.driftNamespace ?? 'mloop';
    const ingestNamespace = props.ingestNamespace ?? 'mloop';
    const sum = { statistic: cloudwatch.Stats.SUM, period };

    const executions = new cloudwatch.GraphWidget({
      title: 'Pipeline executions',
      width: 12,
      left: [
        props.pipeline.metricStarted({ ...sum, label: 'started' }),
        props.pipeline.metricSucceeded({ ...sum, label: 'succeeded' }),
        props.pipeline.metricFailed({ ...sum, label: 'failed' }),
        props.pipeline.metricTimedOut({ ...sum, label: 'timed out' }),
        props.pipeline.metricAborted({ ...sum, label: 'aborted' }),
      ],
    });
    const alarms = new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 12, alarms: [...props.alarms] });

    // Step Functions publishes the time of each service integration; the training job is one.
    const trainingJobMs = (statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/States',
        metricName: 'ServiceIntegrationTime',
        dimensionsMap: {
          ServiceIntegrationResourceArn: `arn:${Stack.of(this).partition}:states:::sagemaker:createTrainingJob.sync`,
        },
        statistic,
        period,
      });
    const trainingDuration = new cloudwatch.GraphWidget({
      title: 'Training job duration (minutes)',
      width: 12,
      left: [
        new cloudwatch.MathExpression({
          expression: 'avg / 60000',
          usingMetrics: { avg: trainingJobMs(cloudwatch.Stats.AVERAGE) },
          label: 'average',
          period,
        }),
        new cloudwatch.MathExpression({
          expression: 'longest / 60000',
          usingMetrics: { longest: trainingJobMs(cloudwatch.Stats.MAXIMUM) },
          label: 'longest',
          period,
        }),
      ],
    });
    const instanceHours = new cloudwatch.GraphWidget({
      title: 'Training instance hours',
      width: 12,
      left: [
        new cloudwatch.MathExpression({
          expression: `total / 3600000 * ${count}`,
          usingMetrics: { total: trainingJobMs(cloudwatch.Stats.SUM) },
          label: `instance hours (job hours x ${count} instance${count === 1 ? '' : 's'})`,
          period,
        }),
      ],
    });

    const ingest = (metricName: string, label: string) =>
      new cloudwatch.Metric({ namespace: ingestNamespace, metricName, dimensionsMap: { service: INGEST_METRICS_SERVICE }, label, ...sum });
    const ingestRows = new cloudwatch.GraphWidget({
      title: 'Ingested rows',
      width: 12,
      left: [ingest('DatasetRows', 'rows of new dataset versions'), ingest('RejectedRows', 'rows of rejected versions')],
    });
    const ingestVersions = new cloudwatch.GraphWidget({
      title: 'Dataset versions accepted and rejected',
      width: 12,
      left: [ingest('DatasetsAccepted', 'accepted'), ingest('DatasetsRejected', 'rejected')],
    });

    const latency = new cloudwatch.GraphWidget({
      title: 'Predict latency (ms)',
      width: 8,
      left: [
        props.api.metricLatency({ statistic: cloudwatch.Stats.p(50), period, label: 'p50' }),
        props.api.metricLatency({ statistic: cloudwatch.Stats.p(99), period, label: 'p99' }),
      ],
    });
    const errors = new cloudwatch.GraphWidget({
      title: 'API errors',
      width: 8,
      left: [props.api.metricClientError({ ...sum, label: '4xx' }), props.api.metricServerError({ ...sum, label: '5xx' })],
    });
    const throttles = new cloudwatch.GraphWidget({
      title: 'Lambda throttles',
      width: 8,
      left: props.functions.map((fn) => fn.metricThrottles({ ...sum, label: fn.node.id })),
    });

    // Models come and go at run time: SEARCH finds each model's series (dimensions service, model).
    const hourly = Duration.hours(1);
    const perModel = (metricName: string, statistic: string, label: string) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${driftNamespace},model,service} MetricName="${metricName}"', '${statistic}', ${hourly.toSeconds()})`,
        usingMetrics: {},
        label,
        period: hourly,
      });
    const driftShare = new cloudwatch.GraphWidget({
      title: 'Drift share per model',
      width: 12,
      left: [perModel('DriftShare', 'Maximum', 'drift share')],
      leftYAxis: { min: 0, max: 1 },
    });
    const capture = new cloudwatch.GraphWidget({
      title: 'Captured rows per model (read by each drift run)',
      width: 12,
      left: [perModel('CapturedRows', 'Sum', 'captured rows')],
    });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.days(7),
      widgets: [
        [executions, alarms],
        [trainingDuration, instanceHours],
        [ingestRows, ingestVersions],
        [latency, errors, throttles],
        [driftShare, capture],
      ],
    });
  }
}
