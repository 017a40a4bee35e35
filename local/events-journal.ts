/**
 * The journal of what the local runtime's EventBridge and SNS endpoints received
 * (`<home>/events.jsonl`), one JSON line per event or message, in the shape a subscriber would
 * receive: the EventBridge event as a rule delivers it, and the SNS message with its subject. On
 * AWS a subscriber sees these; locally the CLI and the tests read them here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** One line of the journal. */
export type LocalEventLine =
  | {
      readonly kind: 'eventbridge';
      readonly eventBusName: string;
      readonly event: { id: string; source: string; 'detail-type': string; time: string; detail: unknown };
    }
  | { readonly kind: 'sns'; readonly topicArn: string; readonly subject: string; readonly message: string };

/** The journal's file in a home. */
export function eventsJournal(home: string): string {
  return path.join(home, 'events.jsonl');
}

/** Append lines to the journal (one write, so that concurrent writers do not interleave a line). */
export function appendEvents(file: string, lines: readonly LocalEventLine[]): void {
  if (lines.length === 0) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
}

/** Every line of the journal, parsed (none when there is no journal yet). */
export function readLocalEvents(file: string): LocalEventLine[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as LocalEventLine);
}
