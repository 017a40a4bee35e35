/**
 * Step Functions' "Step Functions Execution Status Change" event, as the rules on an execution's
 * end deliver it (the training pipeline's cleanup, lambdas/pipeline/ended.ts, and batch scoring's
 * Failed event, lambdas/batch/ended.ts); the local runtime sends the same (local/state-machines.ts).
 */
import { z } from 'zod';

/** How an execution ends. */
export type ExecutionEndStatus = 'SUCCEEDED' | 'ABORTED' | 'TIMED_OUT' | 'FAILED';

/** The parts of the event's detail that the rules' functions read. */
export interface ExecutionEnd {
  readonly name: string;
  readonly status: ExecutionEndStatus;
  /** The execution's input as Step Functions sends it (JSON text), when it was not too large. */
  readonly input?: string | null;
  /** Why it failed, when Step Functions says (the error name and cause of a FAILED execution). */
  readonly error?: string | null;
  readonly cause?: string | null;
}

export const executionStatusChangeSchema = z.object({
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({
    name: z.string().min(1),
    status: z.enum(['SUCCEEDED', 'ABORTED', 'TIMED_OUT', 'FAILED']),
    input: z.string().nullish(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});
