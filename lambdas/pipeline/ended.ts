/**
 * Cleanup after an execution that ended without reaching its own failure path: Step Functions
 * sends "Step Functions Execution Status Change" for every execution that ends ABORTED, TIMED_OUT
 * or FAILED. A stopped or timed-out execution runs no Catch, so it would keep its model's
 * training lease until the lease's TTL and, had it claimed a file's bytes without finishing the
 * ingestion, the same bytes would be a DUPLICATE of nothing ever after. Here:
 *  - the training lease it holds is given back (a waiting drop of the same model goes on);
 *  - the content claims it holds that no dataset version links are released (the same file can be
 *    dropped again);
 *  - ABORTED and TIMED_OUT are recorded as the run's end (FAILED runs were recorded by Record
 *    failure, with the stage and reason: left as they are).
 * Every step is conditional on the execution, so a repeated event changes nothing.
 */
import { parseDatasetKey } from '../shared/layout';
import { Registry } from '../shared/registry';

export type EndStatus = 'ABORTED' | 'TIMED_OUT' | 'FAILED';

export interface ExecutionEnded {
  readonly name: string;
  readonly status: EndStatus;
  /** The execution's input as Step Functions sends it (JSON text), when it was not too large. */
  readonly input?: string | null;
}

export interface EndedResult {
  readonly model: string | null;
  readonly execution: string;
  readonly status: EndStatus;
  readonly releasedClaims: number;
}

/** The model an execution ran for: from its input (the dataset event), else from its name (`<model>-<hash>`). */
export function modelOfExecution(event: ExecutionEnded): string | null {
  if (event.input) {
    try {
      const key = (JSON.parse(event.input) as { detail?: { object?: { key?: unknown } } }).detail?.object?.key;
      if (typeof key === 'string') return parseDatasetKey(key).model;
    } catch {
      // not a dataset event: fall back to the name
    }
  }
  const match = /^([a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?)-[0-9a-f]{32}$/.exec(event.name);
  return match && match[1] !== 'dataset' ? match[1] : null;
}

export async function executionEnded(event: ExecutionEnded, registryTable: string): Promise<EndedResult> {
  const model = modelOfExecution(event);
  if (model === null) return { model, execution: event.name, status: event.status, releasedClaims: 0 };
  const registry = new Registry(registryTable);
  await registry.releaseTrainingLease(model, event.name);
  const releasedClaims = await registry.releaseUnlinkedContent(model, event.name);
  if (event.status !== 'FAILED') {
    await registry.putRun({
      model,
      execution: event.name,
      status: 'FAILED',
      stage: 'execution',
      error: `States.${event.status === 'ABORTED' ? 'Aborted' : 'Timeout'}`,
      reason:
        event.status === 'ABORTED'
          ? 'The execution was stopped (StopExecution) before it ended.'
          : "The execution ran past the state machine's timeout.",
      updatedAt: new Date().toISOString(),
    });
  }
  return { model, execution: event.name, status: event.status, releasedClaims };
}
