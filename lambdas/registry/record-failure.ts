/**
 * The pipeline's failure path: every stage's Catch hands its state here. The failed run is
 * recorded with its stage and reason, and what the execution held (the model's training slot,
 * the bytes it claimed) is given back. The champion is never touched on this path.
 */
import type { RegisterEnv } from '../shared/env';
import { MODEL_NAME_PATTERN, parseDatasetKey, s3Uri } from '../shared/layout';
import { isTrainRequest, type IngestOutput, type PipelineDetail, type RecordFailureOutput } from '../shared/pipeline';
import { Registry } from '../shared/registry/registry';

/** The reason inside a Catch's `Cause`: a Lambda error's JSON, SageMaker's job description, or text. */
export function reasonFromCause(error: string, cause: string | undefined): string {
  if (!cause) return error;
  try {
    const parsed = JSON.parse(cause) as Record<string, unknown>;
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
    if (typeof parsed.FailureReason === 'string') {
      return `Training job ${String(parsed.TrainingJobName ?? '')} failed: ${parsed.FailureReason}`.replace('job  failed', 'job failed');
    }
  } catch {
    // Not JSON: the cause is the message itself.
  }
  return cause;
}

/**
 * What the failure path reads of the state a Catch handed over. RecordFailureInput (the whole
 * state, lambdas/shared/pipeline.ts) is one; the handler checks these fields and lets the rest of
 * the state through.
 */
export interface FailureInput {
  readonly execution: string;
  readonly state: {
    readonly detail?: PipelineDetail;
    /** $.ingest in any of its forms: the model and, once accepted, the dataset version. */
    readonly ingest?: {
      readonly status: IngestOutput['status'];
      readonly model: string;
      readonly datasetVersion: number | null;
      /** `busy` while the run waited for its model's training slot (the wait's bound ends it there). */
      readonly trainingSlot?: 'acquired' | 'busy';
    };
    /** Present once Train answered: only its presence is read (the failed stage). */
    readonly training?: object;
    /** Present once Evaluate answered: only its presence is read. */
    readonly evaluation?: object;
    readonly error: { readonly Error: string; readonly Cause?: string };
  };
}

function stageOf(state: FailureInput['state']): string {
  if (!state.ingest) return 'Ingest';
  if (state.ingest.trainingSlot === 'busy' && !state.training) return 'Wait for training slot';
  if (!state.training) return 'Train';
  if (!state.evaluation) return 'Evaluate';
  return 'Register';
}

/** Record a failed run with its reason. The champion is never touched on this path. */
export async function recordFailure(input: FailureInput, env: RegisterEnv): Promise<RecordFailureOutput> {
  const { state } = input;
  const stage = stageOf(state);
  const reason = reasonFromCause(state.error.Error, state.error.Cause);
  let model: string | null = state.ingest?.model ?? null;
  let source: string | undefined;
  if (state.detail && isTrainRequest(state.detail)) {
    model ??= MODEL_NAME_PATTERN.test(state.detail.retrain.model) ? state.detail.retrain.model : null;
  } else if (state.detail) {
    source = s3Uri(state.detail.bucket.name, state.detail.object.key);
    try {
      model ??= parseDatasetKey(state.detail.object.key).model;
    } catch {
      model = null; // not a dataset key: nothing in the registry to attach the failure to
    }
  }
  if (model) {
    const registry = new Registry(env.REGISTRY_TABLE);
    await registry.runs.put({
      model,
      execution: input.execution,
      status: 'FAILED',
      datasetVersion: state.ingest?.status === 'ACCEPTED' ? (state.ingest.datasetVersion ?? undefined) : undefined,
      stage,
      error: state.error.Error,
      reason,
      ...(source ? { source } : {}),
      updatedAt: new Date().toISOString(),
    });
    // A failed run trains no more: give the model's training slot back if this execution held it,
    // and the bytes it claimed without finishing their ingestion, so they can be dropped again.
    await registry.leases.releaseTraining(model, input.execution);
    await registry.content.abandonUnfinishedIngest(
      model,
      input.execution,
      `The ingestion of execution ${input.execution} failed before it finished: ${reason}`,
    );
  }
  return { model, stage, error: state.error.Error, reason: `${stage} failed: ${reason}` };
}
