/**
 * Step Functions' 256 KiB payload limit, enforced by the local runtime: aws-local-stepfunctions
 * (3.0) carries any size, so without this a state that AWS would end with
 * `States.DataLimitExceeded` would pass here. On AWS the error ends the execution as FAILED and no
 * Catch takes it (States.ALL does not match it); the watch does the same: it aborts the run (so
 * no later state, the failure path included, runs) and reports the execution FAILED with that
 * error and a cause naming the state and the size.
 *
 * What it checks: each task's input and result, as the task handler sees them (before anything
 * else runs), and each state's output after ResultPath merged the result into the state, from the
 * interpreter's event log. The log is read asynchronously, so a task handler first lets it catch
 * up: a state over the limit stops the run before the next task, the only states with effects.
 */
import { DATA_LIMIT_EXCEEDED, jsonBytes, kib, STATE_PAYLOAD_LIMIT_BYTES } from '../lambdas/shared/state-payload';

export type TaskHandler = (input: unknown) => Promise<unknown>;

/** The interpreter's events the watch reads (aws-local-stepfunctions' EventLog, the fields used). */
interface LoggedEvent {
  readonly type: string;
  readonly state?: { readonly name: string; readonly output?: unknown };
}

/** A run of aws-local-stepfunctions: its abort and its event log. */
interface WatchedRun {
  readonly abort: () => void;
  readonly eventLogs: AsyncIterable<unknown>;
}

export interface PayloadLimitFailure {
  readonly error: typeof DATA_LIMIT_EXCEEDED;
  readonly cause: string;
}

/** Let every pending microtask run, the event log's readers included. */
const catchUp = () => new Promise<void>((resolve) => setImmediate(resolve));

export class PayloadWatch {
  private failure?: PayloadLimitFailure;
  private run?: WatchedRun;

  constructor(private readonly limit = STATE_PAYLOAD_LIMIT_BYTES) {}

  /** The same task handlers, each checking its input and result against the limit. */
  wrap(handlers: Record<string, TaskHandler>): Record<string, TaskHandler> {
    return Object.fromEntries(
      Object.entries(handlers).map(([state, handler]) => [
        state,
        async (input: unknown) => {
          await catchUp();
          this.stopIfOver();
          this.check(input, `the input of state '${state}'`);
          this.stopIfOver();
          const result = await handler(input);
          this.check(result, `the result of state '${state}'`);
          this.stopIfOver();
          return result;
        },
      ]),
    );
  }

  /**
   * Follow a run's event log: each state's output (after ResultPath) is checked as it exits. The
   * log can be read once: `onEvent` receives every event too (the execution's history).
   */
  follow(run: WatchedRun, onEvent: (event: unknown) => void = () => undefined): void {
    this.run = run;
    void (async () => {
      for await (const event of run.eventLogs as AsyncIterable<LoggedEvent>) {
        onEvent(event);
        if (event.type === 'StateExited' && event.state) this.check(event.state.output, `the output of state '${event.state.name}'`);
        if (this.failure) run.abort();
      }
    })();
  }

  /** How the run ended as far as the limit goes: the failure when a payload was over it (the execution's output checked too). */
  async outcome(output?: unknown): Promise<PayloadLimitFailure | undefined> {
    await catchUp();
    if (output !== undefined) this.check(output, "the execution's output");
    return this.failure;
  }

  /** Record the first payload over the limit. Pure apart from that. */
  check(value: unknown, what: string): void {
    if (this.failure) return;
    const bytes = jsonBytes(value);
    if (bytes <= this.limit) return;
    this.failure = {
      error: DATA_LIMIT_EXCEEDED,
      cause: `The state/task returned a result with a size exceeding the maximum number of bytes service limit: ${what} is ${bytes} bytes (${kib(bytes)}), over ${this.limit} (${kib(this.limit)}).`,
    };
  }

  private stopIfOver(): void {
    if (!this.failure) return;
    this.run?.abort();
    // The run is aborted: nothing after this state runs, and the execution reports the failure.
    throw new Error(this.failure.cause);
  }
}
