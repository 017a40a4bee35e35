/**
 * EventBridge, locally: S3 notification records become the "Object Created" events that a bucket
 * with EventBridge enabled sends, and rules' event patterns are matched as EventBridge matches
 * them (exact values, prefix, suffix, anything-but, exists, nested fields). Also the events AWS
 * services send: Step Functions' execution status changes and EventBridge's scheduled events.
 */
import { randomUUID } from 'node:crypto';
import type { S3NotificationRecord } from './emulators';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './template';

export interface EventBridgeEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: string[];
  readonly detail: Record<string, unknown>;
}

let lastSequencer = 0n;

/**
 * S3's sequencer for a write: S3 increases it with every write to a key, so it tells two writes
 * of the same bytes apart (the pipeline's starter names executions by it when the bucket has no
 * version ids, as s3rver has none). s3rver's is the clock in hex milliseconds, the same for two
 * writes within a millisecond: keep it, but strictly increasing in this process, as a fixed
 * width hex string (S3's compare as strings).
 */
function nextSequencer(emulated: string | undefined): string {
  const parsed = emulated && /^[0-9A-Fa-f]+$/.test(emulated) ? BigInt(`0x${emulated}`) : 0n;
  lastSequencer = parsed > lastSequencer ? parsed : lastSequencer + 1n;
  return lastSequencer.toString(16).toUpperCase().padStart(18, '0');
}

/** The event S3 sends to EventBridge for a created object (not the SNS/SQS notification shape). */
export function objectCreatedEvent(record: S3NotificationRecord): EventBridgeEvent | undefined {
  if (!record.eventName.startsWith('ObjectCreated:')) return undefined;
  const bucket = record.s3.bucket.name;
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: LOCAL_ACCOUNT,
    time: record.eventTime.replace(/\.\d{3}Z$/, 'Z'),
    region: LOCAL_REGION,
    resources: [`arn:aws:s3:::${bucket}`],
    detail: {
      version: '0',
      bucket: { name: bucket },
      object: {
        key: record.s3.object.key,
        size: record.s3.object.size,
        etag: record.s3.object.eTag,
        ...(record.s3.object.versionId ? { 'version-id': record.s3.object.versionId } : {}),
        sequencer: nextSequencer(record.s3.object.sequencer),
      },
      // The write's own request id (its response's x-amz-request-id), as S3 sends it.
      'request-id': record.requestId ?? randomUUID(),
      requester: LOCAL_ACCOUNT,
      reason: record.eventName === 'ObjectCreated:Copy' ? 'CopyObject' : 'PutObject',
    },
  };
}

function matchValue(rule: unknown, value: unknown): boolean {
  if (rule !== null && typeof rule === 'object') {
    const r = rule as Record<string, unknown>;
    if ('prefix' in r) return typeof value === 'string' && value.startsWith(String(r.prefix));
    if ('suffix' in r) return typeof value === 'string' && value.endsWith(String(r.suffix));
    if ('exists' in r) return (value !== undefined) === Boolean(r.exists);
    if ('anything-but' in r) {
      const but = r['anything-but'];
      if (Array.isArray(but)) return value !== undefined && !but.includes(value);
      if (but !== null && typeof but === 'object') return value !== undefined && !matchValue(but, value);
      return value !== undefined && value !== but;
    }
    if ('equals-ignore-case' in r)
      return typeof value === 'string' && value.toLowerCase() === String(r['equals-ignore-case']).toLowerCase();
    throw new Error(`The local event bus does not support the pattern operator ${Object.keys(r).join(', ')}.`);
  }
  return value === rule;
}

/** Whether `event` matches an EventBridge event pattern. */
export function matchesPattern(pattern: Record<string, unknown>, event: unknown): boolean {
  const fields = (event ?? {}) as Record<string, unknown>;
  return Object.entries(pattern).every(([field, rule]) => {
    const value = fields[field];
    if (Array.isArray(rule)) {
      const values = Array.isArray(value) ? value : [value];
      return rule.some((r) => values.some((v) => matchValue(r, v)));
    }
    if (rule !== null && typeof rule === 'object') return matchesPattern(rule as Record<string, unknown>, value);
    return value === rule;
  });
}

/**
 * The event Step Functions sends to EventBridge when an execution's status changes (here: when it
 * ends), with its input as JSON text, as the pipeline's cleanup rule reads it.
 */
export function executionStatusEvent(
  stateMachineArn: string,
  name: string,
  status: string,
  input: unknown,
  executionArn: string,
  failure: { readonly error?: string; readonly cause?: string } = {},
): EventBridgeEvent {
  const now = new Date();
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: LOCAL_ACCOUNT,
    time: now.toISOString(),
    region: LOCAL_REGION,
    resources: [executionArn],
    detail: {
      executionArn,
      stateMachineArn,
      name,
      status,
      stopDate: now.getTime(),
      input: JSON.stringify(input ?? {}),
      error: failure.error ?? null,
      cause: failure.cause ?? null,
    },
  };
}

/** The event EventBridge delivers to a scheduled rule's targets when its schedule fires. */
export function scheduledEvent(ruleArn: string, at: Date): EventBridgeEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: LOCAL_ACCOUNT,
    time: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: LOCAL_REGION,
    resources: [ruleArn],
    detail: {},
  };
}
