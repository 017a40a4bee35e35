/**
 * Lambda entry of batch scoring's starter: the batch rule's target. A file dropped under
 * `batch/<model>/` starts one execution of the batch state machine per object version, named
 * `<model>-<hash of the version>` as dataset drops are (lambdas/pipeline/start.ts); a repeated
 * delivery starts nothing and is counted (metric DuplicateBatchEvents). Any other failure is
 * thrown: Lambda retries, then the event goes to the dead-letter queue.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { objectCreatedEventSchema, startPipeline, type ObjectCreatedEvent, type StartResult } from '../pipeline/start';
import { sfnClient } from '../shared/clients';
import { loadEnv, startBatchEnv } from '../shared/env';
import { BATCH_PREFIX } from '../shared/layout';
import { logger, metricsFor } from '../shared/observability';
import { parseEvent } from '../shared/parse-event';

const env = loadEnv(startBatchEnv);
const metrics = metricsFor(env.METRICS_NAMESPACE);

const eventSchema = objectCreatedEventSchema(z.string().startsWith(BATCH_PREFIX));

export async function handler(event: unknown): Promise<StartResult> {
  const parsed = parseEvent(eventSchema, event, 'The batch starter takes S3 "Object Created" events for batch/ from EventBridge');
  const result = await startPipeline(event as ObjectCreatedEvent, {
    stateMachineArn: env.STATE_MACHINE_ARN,
    client: sfnClient(),
    keyPrefix: BATCH_PREFIX,
  });
  const { key } = parsed.detail.object;
  if (result.status === 'DUPLICATE_EVENT') {
    logger.info('Duplicate delivery of a batch file event: its object version already has an execution', {
      executionName: result.executionName,
      answer: result.answer,
      key,
    });
    metrics.addMetric('DuplicateBatchEvents', MetricUnit.Count, 1);
  } else {
    logger.info('Batch scoring started', { executionName: result.executionName, key });
    metrics.addMetric('BatchStarts', MetricUnit.Count, 1);
  }
  metrics.publishStoredMetrics();
  return result;
}
