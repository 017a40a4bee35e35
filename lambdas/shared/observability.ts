/**
 * Logging and metrics, wired once. Powertools writes structured JSON logs and CloudWatch
 * Embedded Metric Format (metrics carried by log lines: no PutMetricData call on the hot path).
 * The service name comes from POWERTOOLS_SERVICE_NAME, set by the Lambda base construct.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogItemExtraInput, LogItemMessage } from '@aws-lambda-powertools/logger/types';
import { Metrics } from '@aws-lambda-powertools/metrics';

type LogLevel = Parameters<Logger['setLogLevel']>[0];

const loggers = new Map<string, Logger>();
/** A level set by setLogLevel, for the loggers made after it as well. */
let level: LogLevel | undefined;

/** The Powertools logger of the service named by POWERTOOLS_SERVICE_NAME now. */
function serviceLogger(): Logger {
  const service = process.env.POWERTOOLS_SERVICE_NAME ?? 'mloop';
  let found = loggers.get(service);
  if (!found) {
    found = new Logger({ serviceName: service });
    if (level) found.setLogLevel(level);
    loggers.set(service, found);
  }
  return found;
}

/**
 * The function's logger. On Lambda a process runs one function, so this is one Powertools logger;
 * it is looked up by the service name at each call (not fixed when the module loads) because the
 * local runtime runs every function in one process, each with its own environment
 * (local/function-env.ts), and each function's lines must carry its own service name.
 */
export const logger = {
  info: (input: LogItemMessage, ...extra: LogItemExtraInput): void => serviceLogger().info(input, ...extra),
  warn: (input: LogItemMessage, ...extra: LogItemExtraInput): void => serviceLogger().warn(input, ...extra),
  error: (input: LogItemMessage, ...extra: LogItemExtraInput): void => serviceLogger().error(input, ...extra),
  /** Every service's level (the benchmarks quiet handler logs with it). */
  setLogLevel: (to: LogLevel): void => {
    level = to;
    for (const each of loggers.values()) each.setLogLevel(to);
  },
};

export function metricsFor(namespace: string): Metrics {
  return new Metrics({ namespace, serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'mloop' });
}
