/**
 * Lambda entry of the pipeline's starter: the dataset rule's target. It checks that the event is
 * S3's "Object Created" event, starts the pipeline once per object version, and logs and counts
 * a duplicate delivery (metric DuplicateEvents) instead of starting a second run. Any other
 * failure is thrown: Lambda retries the asynchronous invocation, then the event goes to the
 * dead-letter queue.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { sfnClient } from '../shared/clients';
import { loadEnv, startPipelineEnv } from '../shared/env';
import { parseEvent } from '../shared/parse-event';
import { logger, metricsFor } from '../shared/observability';
import { objectCreatedEventSchema, startPipeline, type ObjectCreatedEvent, type StartResult } from './start';

const env = loadEnv(startPipelineEnv);
const metrics = metricsFor(env.METRICS_NAMESPACE);

const eventSchema = objectCreatedEventSchema(z.string().min(1));

export async function handler(event: unknown): Promise<StartResult> {
  const parsed = parseEvent(eventSchema, event, 'The pipeline starter takes S3 "Object Created" events from EventBridge');
  // The event goes to the state machine as it came: its input contract is the event itself.
  const result = await startPipeline(event as ObjectCreatedEvent, { stateMachineArn: env.STATE_MACHINE_ARN, client: sfnClient() });
  const { key } = parsed.detail.object;
  if (result.status === 'DUPLICATE_EVENT') {
    logger.info('Duplicate delivery of a dataset event: its object version already has an execution', {
      executionName: result.executionName,
      answer: result.answer,
      key,
      eventId: parsed.id,
    });
    metrics.addMetric('DuplicateEvents', MetricUnit.Count, 1);
  } else {
    logger.info('Training pipeline started', { executionName: result.executionName, key, eventId: parsed.id });
    metrics.addMetric('PipelineStarts', MetricUnit.Count, 1);
  }
  metrics.publishStoredMetrics();
  return result;
}
