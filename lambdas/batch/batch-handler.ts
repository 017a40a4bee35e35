/**
 * Lambda entry of the batch state machine's states (lambdas/batch/runs.ts): Plan batch, Score part,
 * Merge batch, and Report failure (lambdas/batch/events.ts), told apart by `action`; and the rule on
 * the state machine's executions that end ABORTED, TIMED_OUT or FAILED (Step Functions' status
 * change event as it comes: lambdas/batch/ended.ts). One function: they share their permissions
 * (the file, the registry, the models, the outputs) and the ONNX session cache of the container.
 */
import { z } from 'zod';
import { ModelServer } from '../inference/serving';
import { batchEnv, loadEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { executionStatusChangeSchema } from '../shared/execution-status';
import { parseEvent } from '../shared/parse-event';
import { Registry } from '../shared/registry/registry';
import { assertStatePayload } from '../shared/state-payload';
import { batchExecutionEnded } from './ended';
import { reportBatchFailure } from './events';
import { mergeBatch, planBatch, scorePlanPart } from './runs';

const env = loadEnv(batchEnv);
const targets = { eventBusName: env.EVENT_BUS_NAME, topicArn: env.TOPIC_ARN };
// Module scope: a version's ONNX session is created once per container, as the API's are. One
// intra-op thread: a score-part function scores on one core, and onnxruntime's other threads
// would only spin on the core it reads and writes on (bench/README.md, batch).
const server = new ModelServer(new Registry(env.REGISTRY_TABLE), 0, Date.now, { intraOpThreads: 1 });

const range = z.object({
  index: z.number().int().nonnegative(),
  start: z.number().int().nonnegative(),
  end: z.number().int().nonnegative(),
});
const plan = z.string().startsWith('s3://');
const counts = z.object({
  index: z.number().int().nonnegative(),
  rowsIn: z.number().int().nonnegative(),
  rowsScored: z.number().int().nonnegative(),
  rowsRejected: z.number().int().nonnegative(),
  lines: z.number().int().nonnegative(),
  inferenceMs: z.number().nonnegative(),
  totalMs: z.number().nonnegative(),
  captured: z.number().int().nonnegative(),
});

const objectDetail = z.looseObject({
  bucket: z.looseObject({ name: z.string().min(1) }),
  object: z.looseObject({ key: z.string().min(1), 'version-id': z.string().optional() }),
});

export const batchInput = z.discriminatedUnion('action', [
  z.object({ action: z.literal('plan'), execution: z.string().min(1), detail: objectDetail }),
  z.object({ action: z.literal('score'), plan, part: range }),
  z.object({ action: z.literal('merge'), plan, parts: z.array(counts) }),
  /** 'Report failure': any state's Catch, with the error it caught. */
  z.object({
    action: z.literal('failed'),
    execution: z.string().min(1),
    detail: objectDetail,
    error: z.looseObject({ Error: z.string().optional(), Cause: z.string().optional() }),
  }),
]);

function objectOf(detail: z.infer<typeof objectDetail>): { bucket: string; key: string; versionId?: string } {
  const versionId = detail.object['version-id'];
  return { bucket: detail.bucket.name, key: detail.object.key, ...(versionId && versionId !== 'null' ? { versionId } : {}) };
}

export async function handler(event: unknown): Promise<unknown> {
  if ((event as Record<string, unknown> | null)?.['detail-type'] !== undefined) {
    const { detail } = parseEvent(executionStatusChangeSchema, event, "Not a batch execution's status change");
    const out = await batchExecutionEnded(detail, env.DATA_BUCKET, targets);
    logger.info('Batch execution ended', { ...out });
    return out;
  }
  const input = parseEvent(batchInput, event, 'Batch scoring input is invalid');
  logger.info('Batch scoring', { action: input.action, ...('part' in input ? { part: input.part.index } : {}) });
  return assertStatePayload(await run(input), `Batch scoring (${input.action})`);
}

function run(input: z.infer<typeof batchInput>): Promise<unknown> {
  switch (input.action) {
    case 'plan':
      return planBatch(objectOf(input.detail), input.execution, server, env);
    case 'score':
      return scorePlanPart(input.plan, input.part, server, env);
    case 'merge':
      return mergeBatch(input.plan, input.parts, targets);
    case 'failed':
      return reportBatchFailure(input.execution, objectOf(input.detail), input.error, targets);
  }
}
