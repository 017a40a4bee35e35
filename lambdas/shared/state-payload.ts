/**
 * Step Functions' payload limit: a task's input and result, each state's output and the
 * execution's input and output are each at most 256 KiB of UTF-8 JSON. Past it the execution
 * fails with `States.DataLimitExceeded`, which no Catch takes (States.ALL does not match it), so
 * the pipeline's failure path would never run and the run would never be recorded. The pipeline's
 * stages keep anything that grows with the data (confusion matrices, per-class scores, schemas)
 * in S3 and pass its URI; each handler checks its own answer with `assertStatePayload`, so an
 * answer that would still be too big fails as a named, catchable error instead.
 */
import { MloopError } from './errors';

/** The most bytes a state's input or output may take (Step Functions quota, not adjustable). */
export const STATE_PAYLOAD_LIMIT_BYTES = 256 * 1024;

/**
 * What each stage may answer at most: a share of the limit, because its answer is merged into the
 * execution's state (ResultPath) beside the input event and the other stages' answers.
 */
export const STAGE_OUTPUT_BUDGET_BYTES = 64 * 1024;

/**
 * Evaluate's share: its summary carries the model card's hyperparameters, which may echo all the
 * job's (the file's and the stack's, 32 KiB each at most: lambdas/data/hyperparameter-limits.ts).
 */
export const EVALUATE_OUTPUT_BUDGET_BYTES = 96 * 1024;

/** The error Step Functions fails an execution with when a payload is over the limit. */
export const DATA_LIMIT_EXCEEDED = 'States.DataLimitExceeded';

/** A stage's answer that the state machine could not carry; catchable, unlike States.DataLimitExceeded. */
export class StatePayloadTooLarge extends MloopError {
  constructor(message: string) {
    super('StatePayloadTooLarge', message);
  }
}

/** The size Step Functions counts: the UTF-8 bytes of the value's JSON text. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? 'null', 'utf8');
}

/** KiB with one decimal, for messages. */
export function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/**
 * Throws StatePayloadTooLarge when `value` (what the stage named `stage` answers) is over
 * `budget` bytes, naming its largest fields; returns the value otherwise.
 */
export function assertStatePayload<T>(value: T, stage: string, budget = STAGE_OUTPUT_BUDGET_BYTES): T {
  const bytes = jsonBytes(value);
  if (bytes <= budget) return value;
  const fields =
    value !== null && typeof value === 'object'
      ? Object.entries(value as Record<string, unknown>)
          .map(([name, field]) => ({ name, bytes: jsonBytes(field) }))
          .sort((a, b) => b.bytes - a.bytes)
          .slice(0, 3)
          .map((f) => `${f.name} ${kib(f.bytes)}`)
          .join(', ')
      : '';
  throw new StatePayloadTooLarge(
    `${stage}'s answer is ${kib(bytes)} of JSON, over the ${kib(budget)} a stage may put in the execution state ` +
      `(Step Functions carries at most ${kib(STATE_PAYLOAD_LIMIT_BYTES)} per state)${fields ? `; largest fields: ${fields}` : ''}.`,
  );
}
