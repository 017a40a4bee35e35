/**
 * Registry events: every registration and every alias move is published to EventBridge (for
 * systems: source `mloop.registry`, detail-types `Model Version Registered` and `Model Alias
 * Changed`) and to an SNS topic (for people: a subject and a readable message), so that nobody
 * has to poll the registry. Archiving a version publishes `Model Version Archived`. Batch scoring
 * publishes the end of each run the same way (source `mloop.batch`, detail-types `Batch Scoring
 * Completed` and `Batch Scoring Failed`, made in lambdas/batch/events.ts).
 *
 * The clients come from the one factory (lambdas/shared/clients.ts): on AWS, EventBridge and SNS;
 * locally, the local runtime's PutEvents and Publish on loopback (local/eventbridge-api.ts,
 * local/sns-api.ts), which answer as AWS does (FailedEntryCount included) and keep a journal.
 *
 * Events are sent after the registry write they describe, at most once: the registry is the
 * record, events are notifications. A publish that fails is logged and reported to the caller,
 * never turned into a failed registration or promotion (which already happened).
 */
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PublishCommand } from '@aws-sdk/client-sns';
import { eventsClient, snsClient } from './clients';
import { logger } from './observability';
import type { AliasHistoryRecord } from './registry/aliases';
import type { ModelVersionRecord } from './registry/versions';

export const REGISTRY_EVENT_SOURCE = 'mloop.registry';
export const VERSION_REGISTERED = 'Model Version Registered';
export const ALIAS_CHANGED = 'Model Alias Changed';
export const VERSION_ARCHIVED = 'Model Version Archived';

export const BATCH_EVENT_SOURCE = 'mloop.batch';
export const BATCH_SCORING_COMPLETED = 'Batch Scoring Completed';
export const BATCH_SCORING_FAILED = 'Batch Scoring Failed';

export type RegistryEventType =
  typeof VERSION_REGISTERED | typeof ALIAS_CHANGED | typeof VERSION_ARCHIVED | typeof BATCH_SCORING_COMPLETED | typeof BATCH_SCORING_FAILED;

/** `detail` of a `Model Version Registered` event. */
export interface VersionRegisteredDetail {
  readonly model: string;
  readonly version: number;
  readonly status: string;
  readonly task: string;
  readonly promoted: boolean;
  readonly decision: string;
  readonly metrics: Record<string, number>;
  readonly datasetVersion: number;
  readonly datasetSha256: string;
  readonly trainingJob: string;
  readonly codeVersion: string;
  readonly execution: string;
  readonly onnxUri: string;
  readonly evaluationUri: string;
  readonly registeredAt: string;
}

/** `detail` of a `Model Alias Changed` event: one alias-history entry. */
export interface AliasChangedDetail extends AliasHistoryRecord {
  /** True when the move happened earlier and its event is sent late (see AliasStore.moveWithHistory). */
  readonly recovered: boolean;
}

/** `detail` of a `Model Version Archived` event. */
export interface VersionArchivedDetail {
  readonly model: string;
  readonly version: number;
  /** The status the version had before it was archived. */
  readonly fromStatus: string;
  readonly at: string;
  readonly by: string;
  readonly reason: string;
}

/** `detail` of a `Batch Scoring Completed` event. */
export interface BatchScoringCompletedDetail {
  readonly model: string;
  readonly version: number;
  /** The alias the run resolved (champion by default), or null when the file named a version. */
  readonly alias: string | null;
  /** The execution: the run's name in predictions/<model>/<run>/. */
  readonly run: string;
  readonly input: { readonly bucket: string; readonly key: string; readonly versionId: string | null; readonly sha256: string };
  readonly rowsIn: number;
  readonly rowsScored: number;
  readonly rowsRejected: number;
  /** Scored rows written for the drift monitor. */
  readonly captured: number;
  readonly parts: number;
  readonly predictions: string;
  readonly errors: string;
  readonly manifest: string;
  readonly wallMs: number;
  readonly completedAt: string;
}

/** `detail` of a `Batch Scoring Failed` event. */
export interface BatchScoringFailedDetail {
  readonly model: string;
  readonly run: string;
  readonly input: { readonly bucket: string; readonly key: string; readonly versionId: string | null };
  /** The error's name (a named error class, or a States.* error) and its message. */
  readonly error: string;
  readonly cause: string;
  readonly failedAt: string;
  /**
   * How the execution ended, when the event comes from Step Functions' status change (an execution
   * stopped, timed out, or failed where no Catch took it: lambdas/batch/ended.ts); absent when
   * the run's own failure path reported it.
   */
  readonly status?: 'FAILED' | 'ABORTED' | 'TIMED_OUT';
}

export interface RegistryEvent {
  readonly detailType: RegistryEventType;
  readonly detail:
    VersionRegisteredDetail | AliasChangedDetail | VersionArchivedDetail | BatchScoringCompletedDetail | BatchScoringFailedDetail;
  /** The EventBridge source. @default REGISTRY_EVENT_SOURCE */
  readonly source?: string;
  /** SNS subject: at most 100 printable ASCII characters. */
  readonly subject: string;
  /** SNS message: for people. */
  readonly message: string;
}

/** Where events go: the bus (default bus when absent) and the topic (no SNS message when absent). */
export interface EventTargets {
  readonly eventBusName?: string;
  readonly topicArn?: string;
}

const formatMetrics = (metrics: Record<string, number>): string =>
  Object.entries(metrics)
    .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`)
    .join(', ');

/** SNS subjects: printable ASCII, no line breaks, at most 100 characters. */
export function snsSubject(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length <= 100 ? clean : `${clean.slice(0, 97)}...`;
}

export function versionRegisteredEvent(record: ModelVersionRecord): RegistryEvent {
  const detail: VersionRegisteredDetail = {
    model: record.model,
    version: record.version,
    status: record.status,
    task: record.task,
    promoted: record.promoted,
    decision: record.decision,
    metrics: record.metrics,
    datasetVersion: record.lineage.datasetVersion,
    datasetSha256: record.lineage.datasetSha256,
    trainingJob: record.lineage.trainingJob,
    codeVersion: record.lineage.codeVersion,
    execution: record.lineage.execution,
    onnxUri: record.artifact.onnxUri,
    evaluationUri: record.artifact.evaluationUri,
    registeredAt: record.createdAt,
  };
  const outcome = record.status === 'pending-approval' ? 'waits for approval' : record.promoted ? 'promoted to champion' : 'not promoted';
  return {
    detailType: VERSION_REGISTERED,
    detail,
    subject: snsSubject(`mloop: ${record.model} v${record.version} registered (${outcome})`),
    message: [
      `Model ${record.model} version ${record.version} was registered from dataset version ${record.lineage.datasetVersion} (${outcome}).`,
      `Test metrics: ${formatMetrics(record.metrics)}.`,
      `Gate: ${record.decision}`,
      `Training job: ${record.lineage.trainingJob}; pipeline execution: ${record.lineage.execution}.`,
      `Evaluation report: ${record.artifact.evaluationUri}`,
    ].join('\n'),
  };
}

export function aliasChangedEvent(entry: AliasHistoryRecord, recovered = false): RegistryEvent {
  const from = entry.fromVersion === null ? 'no version' : `version ${entry.fromVersion}`;
  return {
    detailType: ALIAS_CHANGED,
    detail: { ...entry, recovered },
    subject: snsSubject(`mloop: ${entry.model} ${entry.alias} is now v${entry.toVersion} (${entry.action})`),
    message: [
      `Alias ${entry.alias} of model ${entry.model} moved from ${from} to version ${entry.toVersion} (${entry.action}) at ${entry.at} by ${entry.by}.`,
      `Reason: ${entry.reason}`,
      ...(recovered ? ['(Sent late: the move happened earlier and its notification had not been sent.)'] : []),
    ].join('\n'),
  };
}

export function versionArchivedEvent(detail: VersionArchivedDetail): RegistryEvent {
  return {
    detailType: VERSION_ARCHIVED,
    detail,
    subject: snsSubject(`mloop: ${detail.model} v${detail.version} archived`),
    message: [
      `Model ${detail.model} version ${detail.version} was archived (it was ${detail.fromStatus}) at ${detail.at} by ${detail.by}; it can no longer hold an alias.`,
      `Reason: ${detail.reason}`,
    ].join('\n'),
  };
}

/** Publish events to EventBridge and SNS. Throws on failure. */
export async function publishRegistryEvents(events: RegistryEvent[], targets: EventTargets): Promise<void> {
  if (events.length === 0) return;
  const problems: string[] = [];
  const sends: Promise<void>[] = [];
  // PutEvents takes at most 10 entries per call.
  for (let i = 0; i < events.length; i += 10) {
    const batch = events.slice(i, i + 10);
    sends.push(
      eventsClient()
        .send(
          new PutEventsCommand({
            Entries: batch.map((e) => ({
              Source: e.source ?? REGISTRY_EVENT_SOURCE,
              DetailType: e.detailType,
              Detail: JSON.stringify(e.detail),
              EventBusName: targets.eventBusName,
            })),
          }),
        )
        .then((out) => {
          if (out.FailedEntryCount) {
            const failed = (out.Entries ?? []).filter((x) => x.ErrorCode).map((x) => `${x.ErrorCode}: ${x.ErrorMessage}`);
            problems.push(`EventBridge rejected ${out.FailedEntryCount} of ${batch.length} events (${failed.join('; ')})`);
          }
        }),
    );
  }
  if (targets.topicArn) {
    for (const e of events) {
      sends.push(
        snsClient()
          .send(new PublishCommand({ TopicArn: targets.topicArn, Subject: e.subject, Message: e.message }))
          .then(() => undefined),
      );
    }
  }
  for (const result of await Promise.allSettled(sends)) {
    if (result.status === 'rejected') problems.push((result.reason as Error).message ?? String(result.reason));
  }
  if (problems.length > 0) throw new Error(`Publishing registry events failed: ${problems.join('; ')}`);
}

/** Publish, log a failure, and say whether every event went out. */
export async function publishOrLog(events: RegistryEvent[], targets: EventTargets): Promise<boolean> {
  try {
    await publishRegistryEvents(events, targets);
    return true;
  } catch (error) {
    logger.error('Registry events were not published', {
      error: (error as Error).message,
      events: events.map((e) => ({ detailType: e.detailType, model: e.detail.model })),
    });
    return false;
  }
}
