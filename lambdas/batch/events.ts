/**
 * The end of a batch run as events, on the bus and the topic where the registry's go
 * (lambdas/shared/events.ts): `Batch Scoring Completed` when the merge has written the manifest,
 * `Batch Scoring Failed` from the state machine's failure path (any state's Catch). Events are
 * notifications, sent after what they describe and never failing the run: a merge retried after
 * it published may publish twice, and an execution stopped or timed out (which runs no Catch)
 * publishes nothing.
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
  return { published: await publishOrLog([batchFailedEvent(detail)], targets), detail };
}
