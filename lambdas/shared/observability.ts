/**
 * Logging and metrics, wired once. Powertools writes structured JSON logs and CloudWatch
 * Embedded Metric Format (metrics carried by log lines: no PutMetricData call on the hot path).
 * The service name comes from POWERTOOLS_SERVICE_NAME, set by the Lambda base construct.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'mloop' });

export function metricsFor(namespace: string): Metrics {
  return new Metrics({ namespace, serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'mloop' });
}
