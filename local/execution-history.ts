/**
 * Executions' histories as Step Functions' GetExecutionHistory reports them, built from the
 * interpreter's event log (aws-local-stepfunctions' eventLogs): ExecutionStarted, each state's
 * `<Type>StateEntered` and `<Type>StateExited`, map iterations, and how the execution ended.
 * `mloop --stack ... run` prints the states an execution enters from it, locally as on AWS.
 *
 * Kept without the states' payloads (the names and times are what a reader follows; payloads
 * would hold whole map item lists), at most MAX_EVENTS per execution (Step Functions' own history
 * limit), in the memory of the process that runs the execution and, when given a file per
 * execution, appended there as JSON lines as they happen: a later process on the same home (the
 * next `mloop` command, `mloop ui`, the AWS CLI against `mloop serve`) reads the states of an
 * execution another process ran, as GetExecutionHistory answers for any execution on AWS. A
 * process killed mid-write leaves a torn last line, which is skipped; an execution recovered by
 * a later process goes on numbering after the events already there.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** One event of a history, in the API's shape (timestamp in epoch milliseconds here; the API answers seconds). */
export interface HistoryEvent {
  readonly id: number;
  readonly previousEventId: number;
  readonly timestamp: number;
  readonly type: string;
  readonly [details: string]: unknown;
}

/** The interpreter's events this reads (aws-local-stepfunctions' EventLog, the fields used). */
export interface InterpreterEvent {
  readonly type: string;
  readonly timestamp?: number;
  readonly state?: { readonly name: string; readonly type?: string };
  readonly parentState?: { readonly name: string };
  readonly index?: number;
  readonly input?: unknown;
  readonly Error?: string;
  readonly Cause?: unknown;
}

/** Step Functions' limit on a history's events. */
export const MAX_EVENTS = 25_000;
/** How many executions' histories a process keeps (the oldest are forgotten first). */
const MAX_EXECUTIONS = 500;

/** The API's event for an interpreter event, without id and previousEventId; undefined for events the API does not list. */
type ShapedEvent = { readonly timestamp: number; readonly type: string; readonly [details: string]: unknown };

export function historyEventOf(event: InterpreterEvent): ShapedEvent | undefined {
  const timestamp = event.timestamp ?? Date.now();
  const stateType = event.state?.type ?? 'Task';
  switch (event.type) {
    case 'ExecutionStarted':
      return { timestamp, type: 'ExecutionStarted', executionStartedEventDetails: { input: JSON.stringify(event.input ?? {}) } };
    case 'ExecutionSucceeded':
      return { timestamp, type: 'ExecutionSucceeded', executionSucceededEventDetails: {} };
    case 'ExecutionFailed':
      return {
        timestamp,
        type: 'ExecutionFailed',
        executionFailedEventDetails: {
          error: event.Error ?? '',
          cause: typeof event.Cause === 'string' ? event.Cause : JSON.stringify(event.Cause ?? ''),
        },
      };
    case 'ExecutionTerminated':
      return { timestamp, type: 'ExecutionAborted', executionAbortedEventDetails: {} };
    case 'StateEntered':
      return { timestamp, type: `${stateType}StateEntered`, stateEnteredEventDetails: { name: event.state!.name } };
    case 'StateExited':
      return { timestamp, type: `${stateType}StateExited`, stateExitedEventDetails: { name: event.state!.name } };
    case 'MapIterationStarted':
    case 'MapIterationSucceeded':
    case 'MapIterationFailed':
      return {
        timestamp,
        type: event.type,
        mapIterationStartedEventDetails: { name: event.parentState?.name ?? '', index: event.index ?? 0 },
      };
    default:
      return undefined; // retries, catches, parallel branches: not in the API's list this runtime serves
  }
}

/** The events of a history file (JSON lines), oldest first; a line that does not read (torn by a crash) ends them. */
export function readHistoryFile(file: string): HistoryEvent[] | undefined {
  return readHistory(file)?.events;
}

/** readHistoryFile, and whether the file holds exactly those events (false: a torn or foreign tail follows them). */
function readHistory(file: string): { events: HistoryEvent[]; whole: boolean } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const events: HistoryEvent[] = [];
  const lines = text.split('\n');
  // Every line ends with a line feed: the text's last piece is empty unless a write was cut off.
  const complete = lines.pop() === '';
  for (const line of lines) {
    let event: HistoryEvent;
    try {
      event = JSON.parse(line) as HistoryEvent;
    } catch {
      return { events, whole: false }; // the last write of a process that was killed: what came before stands
    }
    if (typeof event?.type !== 'string' || event.id !== events.length + 1) return { events, whole: false };
    events.push(event);
  }
  return { events, whole: complete };
}

export class ExecutionHistories {
  private readonly byArn = new Map<string, HistoryEvent[]>();
  /** Each recorded execution's file (fileOf's answer, found once, not at every event). */
  private readonly files = new Map<string, string>();

  /** `fileOf`: where an execution's history is kept across processes (none: this process's memory only). */
  constructor(private readonly fileOf?: (executionArn: string) => string) {}

  /** Record an interpreter event of an execution. */
  record(executionArn: string, event: InterpreterEvent): void {
    const shaped = historyEventOf(event);
    if (!shaped) return;
    let events = this.byArn.get(executionArn);
    if (!events) {
      if (this.byArn.size >= MAX_EXECUTIONS) {
        const oldest = this.byArn.keys().next().value!;
        this.byArn.delete(oldest);
        this.files.delete(oldest);
      }
      // An execution recovered from an earlier process goes on after the events that process wrote.
      const file = this.fileOf?.(executionArn);
      if (file !== undefined) {
        this.files.set(executionArn, file);
        fs.mkdirSync(path.dirname(file), { recursive: true });
      }
      events = file !== undefined ? this.resume(file) : [];
      this.byArn.set(executionArn, events);
    }
    if (events.length >= MAX_EVENTS) return;
    const recorded = { ...shaped, id: events.length + 1, previousEventId: events.length } as HistoryEvent;
    events.push(recorded);
    const file = this.files.get(executionArn);
    if (file !== undefined) fs.appendFileSync(file, `${JSON.stringify(recorded)}\n`);
  }

  /** The events a file holds, rewritten without a torn tail (so that what is appended next reads). */
  private resume(file: string): HistoryEvent[] {
    const read = readHistory(file);
    if (!read) return [];
    if (!read.whole) {
      const tmp = `${file}.tmp`;
      fs.writeFileSync(tmp, read.events.map((e) => `${JSON.stringify(e)}\n`).join(''));
      fs.renameSync(tmp, file);
    }
    return read.events;
  }

  /**
   * The events recorded for an execution (oldest first): this process's, or those its file holds;
   * undefined when none were recorded.
   */
  events(executionArn: string): readonly HistoryEvent[] | undefined {
    return this.byArn.get(executionArn) ?? (this.fileOf ? readHistoryFile(this.fileOf(executionArn)) : undefined);
  }
}
