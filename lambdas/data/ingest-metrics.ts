/**
 * What ingestion tells CloudWatch about each new dataset version (the operators' dashboard,
 * lib/dashboard.ts, graphs them): DatasetRows (the rows the scan read), DatasetsAccepted and
 * DatasetsRejected (1 or 0), and RejectedRows (the rows of a rejected version).
 *
 * Both the Ingest and the Merge parts functions create versions (versioning.ts versionScan); their
 * metrics carry one service dimension, `mloop-ingest`, so that one metric per name covers every
 * dataset, whichever function read it. Powertools writes them as Embedded Metric Format log
 * lines: no PutMetricData call, nothing to grant.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/** The `service` dimension of the ingestion metrics (the dashboard reads them under it). */
export const INGEST_METRICS_SERVICE = 'mloop-ingest';

/** The part of a scan the metrics are made of. */
export interface ScannedVersion {
  readonly rows: number;
  readonly accepted: boolean;
}

/** The metrics of one new dataset version, stored (not yet published) in a Powertools Metrics. */
export function ingestMetrics(namespace: string, scan: ScannedVersion): Metrics {
  const metrics = new Metrics({ namespace, serviceName: INGEST_METRICS_SERVICE });
  metrics.addMetric('DatasetRows', MetricUnit.Count, scan.rows);
  metrics.addMetric('DatasetsAccepted', MetricUnit.Count, scan.accepted ? 1 : 0);
  metrics.addMetric('DatasetsRejected', MetricUnit.Count, scan.accepted ? 0 : 1);
  metrics.addMetric('RejectedRows', MetricUnit.Count, scan.accepted ? 0 : scan.rows);
  return metrics;
}

/** Writes the version's metrics (one EMF log line). */
export function publishIngestMetrics(namespace: string, scan: ScannedVersion): void {
  ingestMetrics(namespace, scan).publishStoredMetrics();
}
