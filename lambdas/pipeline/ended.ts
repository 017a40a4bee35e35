/**
 * Cleanup when a pipeline execution ends, however it ends: Step Functions sends "Step Functions
 * Execution Status Change" for every execution that ends SUCCEEDED, FAILED, TIMED_OUT or ABORTED
 * (and the local runtime sends the same, also for the executions a dead process left running).
 * A stopped or timed-out execution runs no Catch, and a FAILED one may have failed where no Catch
 * can take it (States.DataLimitExceeded, a Record failure that failed), so without this it would
 * keep its model's training lease until the lease's TTL and, had it claimed a file's bytes
 * without finishing the ingestion, the same bytes would be a DUPLICATE of nothing ever after.
 * Here, for every end:
 *  - the training lease the execution holds is given back (a waiting drop of the same model goes on);
 *  - the content claims it holds that no dataset version links are released (the same file can be
 *    dropped again), and the dataset version numbers it had taken are recorded as abandoned;
 *  - a run that did not record its own end is recorded: ABORTED and TIMED_OUT as FAILED at stage
 *    `execution`, a FAILED one that no Catch recorded likewise. A run recorded as ended (by
 *    Register or Record failure) is left as it is.
 * Every step is conditional on the execution, so a repeated event changes nothing.
 */
import type { ExecutionEnd, ExecutionEndStatus } from '../shared/execution-status';
import { parseDatasetKey } from '../shared/layout';
import { modelOfExecutionName } from './start';
import { isTrainRequest, type PipelineDetail } from '../shared/pipeline';
import { Registry } from '../shared/registry/registry';

export interface EndedResult {
  readonly model: string | null;
  readonly execution: string;
  readonly status: ExecutionEndStatus;
  readonly releasedClaims: number;
  /** Whether this event recorded the run's end (it had not recorded it itself). */
  readonly recordedRun: boolean;
}

/**
 * The model an execution ran for: from its input (the dataset event, or the request to train
 * again), else from its name (`<model>-<hash>` or `<model>-train-<hash>`).
 */
export function modelOfExecution(event: Pick<ExecutionEnd, 'name' | 'input'> & Partial<ExecutionEnd>): string | null {
  if (event.input) {
    try {
      const detail = (JSON.parse(event.input) as { detail?: PipelineDetail }).detail;
      if (isTrainRequest(detail) && typeof detail.retrain.model === 'string') return detail.retrain.model;
      const key = (detail as { object?: { key?: unknown } } | undefined)?.object?.key;
      if (typeof key === 'string') return parseDatasetKey(key).model;
    } catch {
      // not a dataset event: fall back to the name
    }
  }
  return modelOfExecutionName(event.name);
}

/** The run's end as this event tells it, for a run that did not record its own. */
function endReason(event: ExecutionEnd): { error: string; reason: string } {
  switch (event.status) {
    case 'ABORTED':
      return {
        error: 'States.Aborted',
        reason: event.cause || 'The execution was stopped (StopExecution, or its process died) before it ended.',
      };
    case 'TIMED_OUT':
      return { error: 'States.Timeout', reason: "The execution ran past the state machine's timeout." };
    default:
      return {
        error: event.error || 'States.Runtime',
        reason: event.cause || 'The execution failed where no Catch could record it (for example States.DataLimitExceeded).',
      };
  }
}

export async function executionEnded(event: ExecutionEnd, registryTable: string): Promise<EndedResult> {
  const model = modelOfExecution(event);
  if (model === null) return { model, execution: event.name, status: event.status, releasedClaims: 0, recordedRun: false };
  const registry = new Registry(registryTable);
  await registry.leases.releaseTraining(model, event.name);
  // A SUCCEEDED execution ingested what it claimed (or claimed nothing): only its lease can be
  // left, so the claims are not scanned on the path every run takes.
  if (event.status === 'SUCCEEDED') return { model, execution: event.name, status: event.status, releasedClaims: 0, recordedRun: false };
  const { error, reason } = endReason(event);
  const releasedClaims = await registry.content.abandonUnfinishedIngest(
    model,
    event.name,
    `Execution ${event.name} ended ${event.status} before its ingestion finished: ${reason}`,
  );
  const recordedRun = await registry.runs.putIfNotEnded({
    model,
    execution: event.name,
    status: 'FAILED',
    stage: 'execution',
    error,
    reason,
    updatedAt: new Date().toISOString(),
  });
  return { model, execution: event.name, status: event.status, releasedClaims, recordedRun };
}
