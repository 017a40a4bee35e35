/**
 * `Batch Scoring Failed` for a batch execution that ended without its failure path: Step Functions
 * sends "Step Functions Execution Status Change" when an execution ends, and the batch state
 * machine's rule (lib/batch.ts) hands those that ended ABORTED, TIMED_OUT or FAILED to the batch
 * function. A stopped or timed-out execution runs no Catch, and a FAILED one may have failed where
 * no Catch takes it (States.DataLimitExceeded, a failure of Report failure itself), so without
 * this such a run would end in silence.
 *
 * A run whose failure was reported (Report failure, lambdas/batch/events.ts, leaves a marker in
 * the run's working folder) is not reported again, and this path leaves the same marker after it
 * publishes, so a repeated status event publishes once. The local runtime sends the same events
 * (local/state-machines.ts), also for executions a dead process left running (as ABORTED).
 */
import type { ExecutionEnd, ExecutionEndStatus } from '../shared/execution-status';
import { BATCH_PREFIX } from '../shared/layout';
import { publishOrLog, type BatchScoringFailedDetail, type EventTargets } from '../shared/events';
import { modelOfExecutionName } from '../pipeline/start';
import { exists } from '../shared/storage';
import { batchFailedEvent, causeOf, failureMarkerKey, markFailureReported, modelOfBatchKey } from './events';

export interface BatchEndedResult {
  readonly run: string;
  readonly status: ExecutionEndStatus;
  /** Whether this published the Failed event (false: the run succeeded, or its failure was reported already). */
  readonly published: boolean;
  readonly reason: 'succeeded' | 'reported already' | 'reported';
}

/** The dropped object of the execution's input, when it can be read from it. */
function objectOfInput(input: string | null | undefined): { bucket?: string; key?: string; versionId?: string } {
  if (!input) return {};
  try {
    const detail = (JSON.parse(input) as { detail?: { bucket?: { name?: unknown }; object?: { key?: unknown; 'version-id'?: unknown } } })
      .detail;
    const bucket = detail?.bucket?.name;
    const key = detail?.object?.key;
    const versionId = detail?.object?.['version-id'];
    return {
      ...(typeof bucket === 'string' ? { bucket } : {}),
      ...(typeof key === 'string' ? { key } : {}),
      ...(typeof versionId === 'string' && versionId !== 'null' ? { versionId } : {}),
    };
  } catch {
    return {}; // not the S3 event: the model then comes from the execution's name
  }
}

/** Why the execution ended, as the Failed event says it: Step Functions' error and cause, or the status in words. */
function failureOf(end: ExecutionEnd): { error: string; cause: string } {
  if (end.status === 'ABORTED')
    return { error: end.error || 'States.Aborted', cause: end.cause || 'The execution was stopped before it ended.' };
  if (end.status === 'TIMED_OUT')
    return { error: end.error || 'States.Timeout', cause: end.cause || 'The execution ran past its time limit.' };
  return { error: end.error || 'States.Runtime', cause: causeOf({ Cause: end.cause ?? undefined }) };
}

/** Publish `Batch Scoring Failed` for an execution that ended ABORTED, TIMED_OUT or FAILED, unless its failure was reported. */
export async function batchExecutionEnded(
  end: ExecutionEnd,
  dataBucket: string,
  targets: EventTargets,
  now: Date = new Date(),
): Promise<BatchEndedResult> {
  const run = end.name;
  if (end.status === 'SUCCEEDED') return { run, status: end.status, published: false, reason: 'succeeded' };
  const object = objectOfInput(end.input);
  const key = object.key ?? '';
  const model = (key.startsWith(BATCH_PREFIX) ? modelOfBatchKey(key) : '') || modelOfExecutionName(run) || '';
  const bucket = object.bucket ?? dataBucket;
  if (await exists(bucket, failureMarkerKey(model, run))) return { run, status: end.status, published: false, reason: 'reported already' };
  const { error, cause } = failureOf(end);
  const detail: BatchScoringFailedDetail = {
    model,
    run,
    input: { bucket, key, versionId: object.versionId ?? null },
    error,
    cause,
    failedAt: now.toISOString(),
    status: end.status,
  };
  await publishOrLog([batchFailedEvent(detail)], targets);
  await markFailureReported(bucket, detail);
  return { run, status: end.status, published: true, reason: 'reported' };
}
