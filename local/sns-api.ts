/**
 * SNS's Publish, served by the local runtime (on the loopback AWS API, local/aws-api.ts, in SNS's
 * query protocol: a form-encoded POST with `Action=Publish`, answered in XML). A message is checked
 * as SNS checks it (a topic, a message, a subject of at most 100 printable ASCII characters) and
 * written to the home's journal (local/events-journal.ts), where a subscriber's copy can be read.
 */
import { randomUUID } from 'node:crypto';
import type { LocalEventLine } from './events-journal';

const NAMESPACE = 'http://sns.amazonaws.com/doc/2010-03-31/';

/** An error SNS answers with (HTTP 400, a Sender error with this code). */
export class SnsError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

export interface SnsBackend {
  journal(lines: LocalEventLine[]): void;
}

const xml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function publish(backend: SnsBackend, params: URLSearchParams): string {
  const topicArn = params.get('TopicArn') ?? params.get('TargetArn');
  if (!topicArn) throw new SnsError('InvalidParameter', 'Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter');
  const message = params.get('Message');
  if (message === null || message === '') throw new SnsError('InvalidParameter', 'Invalid parameter: Empty message');
  const subject = params.get('Subject');
  if (subject !== null && (subject.length > 100 || !/^[\x20-\x7e]*$/.test(subject)))
    throw new SnsError('InvalidParameter', 'Invalid parameter: Subject');
  backend.journal([{ kind: 'sns', topicArn, subject: subject ?? '', message }]);
  return `<PublishResponse xmlns="${NAMESPACE}"><PublishResult><MessageId>${randomUUID()}</MessageId></PublishResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`;
}

/** SNS's operations, by Action. */
export const SNS_OPERATIONS: Record<string, (backend: SnsBackend, params: URLSearchParams) => string> = { Publish: publish };

/** SNS's error document. */
export function snsErrorXml(error: SnsError): string {
  return `<ErrorResponse xmlns="${NAMESPACE}"><Error><Type>Sender</Type><Code>${xml(error.code)}</Code><Message>${xml(error.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
}
