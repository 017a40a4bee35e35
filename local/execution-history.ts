/**
 * Executions' histories as Step Functions' GetExecutionHistory reports them, built from the
 * interpreter's event log (aws-local-stepfunctions' eventLogs): ExecutionStarted, each state's
 * `<Type>StateEntered` and `<Type>StateExited`, map iterations, and how the execution ended.
 * `mloop --stack ... run` prints the states an execution enters from it, locally as on AWS.
 *
 * Kept in the memory of the process that runs the execution, without the states' payloads (the
 * names and times are what a reader follows; payloads would hold whole map item lists), and at
 * most MAX_EVENTS per execution, Step Functions' own history limit.
 */

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

export class ExecutionHistories {
  private readonly byArn = new Map<string, HistoryEvent[]>();

  /** Record an interpreter event of an execution. */
  record(executionArn: string, event: InterpreterEvent): void {
    const shaped = historyEventOf(event);
    if (!shaped) return;
    let events = this.byArn.get(executionArn);
    if (!events) {
      if (this.byArn.size >= MAX_EXECUTIONS) this.byArn.delete(this.byArn.keys().next().value!);
      events = [];
      this.byArn.set(executionArn, events);
    }
    if (events.length >= MAX_EVENTS) return;
    events.push({ ...shaped, id: events.length + 1, previousEventId: events.length } as HistoryEvent);
  }

  /** The events recorded for an execution (oldest first), or undefined when this process ran none of it. */
  events(executionArn: string): readonly HistoryEvent[] | undefined {
    return this.byArn.get(executionArn);
  }
}
