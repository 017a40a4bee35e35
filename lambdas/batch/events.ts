/**
 * The end of a batch run as events, on the bus and the topic where the registry's go
 * (lambdas/shared/events.ts): `Batch Scoring Completed` when the merge has written the manifest,
 * `Batch Scoring Failed` from the state machine's failure path (any state's Catch). Events are
 * notifications, sent after what they describe and never failing the run: a merge retried after
 * it published may publish twice. An execution stopped or timed out (which runs no Catch), or
 * failed where no Catch takes it, is reported from Step Functions' status change event
 * (./ended.ts); the failure path leaves a marker in the run's working folder so that such a run
 * is reported once.
 */
import {
  BATCH_EVENT_SOURCE,
  BATCH_SCORING_COMPLETED,
  BATCH_SCORING_FAILED,
  publishOrLog,
  snsSubject,
  type BatchScoringCompletedDetail,
  type EventTargets,
  type BatchScoringFailedDetail,
  type RegistryEvent,
} from '../shared/events';
import { s3Keys } from '../shared/layout';
import { logger } from '../shared/observability';
import { putJson } from '../shared/storage';

export function batchCompletedEvent(detail: BatchScoringCompletedDetail): RegistryEvent {
  const target = detail.alias === null ? `v${detail.version}` : `${detail.alias} (v${detail.version})`;
  return {
    source: BATCH_EVENT_SOURCE,
    detailType: BATCH_SCORING_COMPLETED,
    detail,
    subject: snsSubject(`mloop: ${detail.model} batch scored ${detail.rowsScored} of ${detail.rowsIn} rows`),
    message: [
      `Batch run ${detail.run} scored s3://${detail.input.bucket}/${detail.input.key} with ${detail.model} ${target} in ${(detail.wallMs / 1000).toFixed(1)} s.`,
      `Rows: ${detail.rowsIn} in, ${detail.rowsScored} scored, ${detail.rowsRejected} rejected (${detail.parts} parts).`,
      `Predictions: ${detail.predictions}`,
      ...(detail.rowsRejected > 0 ? [`Rejected rows, with their lines and reasons: ${detail.errors}`] : []),
      `Manifest: ${detail.manifest}`,
    ].join('\n'),
  };
}

/** The model of a batch key, as far as it can be read (a failed run may have failed on its key). */
export function modelOfBatchKey(key: string): string {
  return key.split('/')[1] ?? '';
}

export function batchFailedEvent(detail: BatchScoringFailedDetail): RegistryEvent {
  return {
    source: BATCH_EVENT_SOURCE,
    detailType: BATCH_SCORING_FAILED,
    detail,
    subject: snsSubject(`mloop: ${detail.model || 'batch'} batch scoring failed (${detail.error})`),
    message: [
      `Batch run ${detail.run} of s3://${detail.input.bucket}/${detail.input.key} failed: ${detail.error}.`,
      `Cause: ${detail.cause}`,
    ].join('\n'),
  };
}

/** What a Catch puts in the state: the error's name, and its cause (for a Lambda error, JSON with its message). */
export interface CaughtError {
  readonly Error?: string;
  readonly Cause?: string;
}

/** The cause in words: a Lambda error's message rather than its JSON (and never its stack trace). */
export function causeOf(caught: CaughtError): string {
  const cause = caught.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // not JSON: the cause as Step Functions gave it
  }
  return cause || 'no cause given';
}

/** The marker of a run whose Failed event went out (or was tried): batch-parts/<model>/<run>/failure-reported.json. */
export function failureMarkerKey(model: string, run: string): string {
  return `${s3Keys.batchPartsPrefix(model || '_', run)}failure-reported.json`;
}

/** Leave the marker of a reported failure, read by ./ended.ts (should writing it fail, the worst is a second event). */
export async function markFailureReported(bucket: string, detail: BatchScoringFailedDetail): Promise<void> {
  await putJson(bucket, failureMarkerKey(detail.model, detail.run), { reportedAt: new Date().toISOString(), error: detail.error });
}

/** 'Report failure': the Failed event of a run, from the state its Catch left; answers whether it went out. */
export async function reportBatchFailure(
  run: string,
  object: { readonly bucket: string; readonly key: string; readonly versionId?: string },
  caught: CaughtError,
  targets: EventTargets,
  now: Date = new Date(),
): Promise<{ readonly published: boolean; readonly detail: BatchScoringFailedDetail }> {
  const detail: BatchScoringFailedDetail = {
    model: modelOfBatchKey(object.key),
    run,
    input: { bucket: object.bucket, key: object.key, versionId: object.versionId ?? null },
    error: caught.Error || 'States.Runtime',
    cause: causeOf(caught),
    failedAt: now.toISOString(),
  };
  const published = await publishOrLog([batchFailedEvent(detail)], targets);
  // The marker only spares a second event (./ended.ts): not writing it does not fail the report.
  await markFailureReported(object.bucket, detail).catch((error: unknown) =>
    logger.warn('The batch failure marker was not written: the status change may report the run again', { run, error }),
  );
  return { published, detail };
}
