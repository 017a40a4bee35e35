/**
 * EventBridge's PutEvents, served by the local runtime (on the loopback AWS API, local/aws-api.ts,
 * AWS JSON 1.1: `X-Amz-Target: AWSEvents.PutEvents`): each entry is checked as EventBridge checks
 * it (Source, DetailType and a JSON-object Detail are required), answered in `Entries` with an
 * EventId or an ErrorCode and ErrorMessage, and counted in `FailedEntryCount`; accepted events are
 * written to the home's journal (local/events-journal.ts) and put on the local bus, whose rules
 * deliver them as EventBridge would.
 */
import { randomUUID } from 'node:crypto';
import type { EventBridgeEvent } from './events';
import { StatesApiError } from './executions';
import type { LocalEventLine } from './events-journal';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './template';

/** The JSON 1.1 target prefix of EventBridge's operations. */
export const EVENTS_TARGET_PREFIX = 'AWSEvents.';
/** PutEvents takes at most 10 entries per call. */
const MAX_ENTRIES = 10;
/** An entry's size limit (256 KB). */
const MAX_ENTRY_BYTES = 256 * 1024;

/** Where accepted events go. */
export interface EventBridgeBackend {
  journal(lines: LocalEventLine[]): void;
  publish(event: EventBridgeEvent): void;
}

interface Entry {
  Source?: unknown;
  DetailType?: unknown;
  Detail?: unknown;
  EventBusName?: unknown;
  Resources?: unknown;
  Time?: unknown;
}

/** Why EventBridge would refuse an entry, or undefined when it accepts it. */
function entryProblem(entry: Entry): string | undefined {
  if (typeof entry.Source !== 'string' || entry.Source === '')
    return 'Parameter Source is not valid. Reason: Source is a required argument.';
  if (typeof entry.DetailType !== 'string' || entry.DetailType === '')
    return 'Parameter DetailType is not valid. Reason: DetailType is a required argument.';
  if (typeof entry.Detail !== 'string') return 'Parameter Detail is not valid. Reason: Detail is a required argument.';
  let detail: unknown;
  try {
    detail = JSON.parse(entry.Detail);
  } catch {
    return 'Detail is malformed.';
  }
  if (detail === null || typeof detail !== 'object' || Array.isArray(detail)) return 'Detail is malformed.';
  if (Buffer.byteLength(JSON.stringify(entry)) > MAX_ENTRY_BYTES) return 'Total size of the entries in the request is over the limit.';
  return undefined;
}

function putEvents(backend: EventBridgeBackend, body: Record<string, unknown>): Record<string, unknown> {
  const entries = body.Entries;
  if (!Array.isArray(entries) || entries.length === 0)
    throw new StatesApiError(
      'ValidationException',
      "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null",
    );
  if (entries.length > MAX_ENTRIES)
    throw new StatesApiError(
      'ValidationException',
      `1 validation error detected: Value '[...]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to ${MAX_ENTRIES}`,
    );
  const answers: Record<string, unknown>[] = [];
  const accepted: { line: LocalEventLine; event: EventBridgeEvent }[] = [];
  for (const entry of entries as Entry[]) {
    const problem = entryProblem(entry);
    if (problem) {
      answers.push({ ErrorCode: 'InvalidArgument', ErrorMessage: problem });
      continue;
    }
    const id = randomUUID();
    const time = typeof entry.Time === 'string' ? entry.Time : new Date().toISOString();
    const detail = JSON.parse(entry.Detail as string) as Record<string, unknown>;
    const event: EventBridgeEvent = {
      version: '0',
      id,
      'detail-type': entry.DetailType as string,
      source: entry.Source as string,
      account: LOCAL_ACCOUNT,
      time,
      region: LOCAL_REGION,
      resources: Array.isArray(entry.Resources) ? (entry.Resources as string[]) : [],
      detail,
    };
    const eventBusName = typeof entry.EventBusName === 'string' && entry.EventBusName !== '' ? entry.EventBusName : 'default';
    accepted.push({
      line: { kind: 'eventbridge', eventBusName, event: { id, source: event.source, 'detail-type': event['detail-type'], time, detail } },
      event,
    });
    answers.push({ EventId: id });
  }
  backend.journal(accepted.map((a) => a.line));
  for (const { event } of accepted) backend.publish(event);
  return { FailedEntryCount: answers.filter((a) => a.ErrorCode).length, Entries: answers };
}

/** EventBridge's operations, by X-Amz-Target name. */
export const EVENTS_OPERATIONS: Record<string, (backend: EventBridgeBackend, body: Record<string, unknown>) => Record<string, unknown>> = {
  PutEvents: putEvents,
};
