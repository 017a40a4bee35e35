/**
 * An execution's history event, as Step Functions' GetExecutionHistory answers it (or the local
 * runtime's copy of it, local/execution-history.ts), reduced to what a reader follows: the type,
 * the time, the state's name, and a failure's error and cause.
 */
import type { ExecutionStep } from './target';

/** The fields of a history event this reads (the SDK's HistoryEvent and the local one both have them). */
export interface HistoryEventLike {
  readonly type?: string;
  readonly timestamp?: Date;
  readonly stateEnteredEventDetails?: { readonly name?: string };
  readonly stateExitedEventDetails?: { readonly name?: string };
  readonly executionFailedEventDetails?: { readonly error?: string; readonly cause?: string };
  readonly taskFailedEventDetails?: { readonly error?: string; readonly cause?: string };
  readonly lambdaFunctionFailedEventDetails?: { readonly error?: string; readonly cause?: string };
}

export function stepOf(e: HistoryEventLike): ExecutionStep {
  const state = e.stateEnteredEventDetails?.name ?? e.stateExitedEventDetails?.name;
  const failure = e.executionFailedEventDetails ?? e.taskFailedEventDetails ?? e.lambdaFunctionFailedEventDetails;
  return {
    type: e.type ?? 'Unknown',
    at: (e.timestamp ?? new Date(0)).toISOString(),
    ...(state ? { state } : {}),
    ...(failure?.error ? { error: failure.error } : {}),
    ...(failure?.cause ? { cause: failure.cause } : {}),
  };
}
