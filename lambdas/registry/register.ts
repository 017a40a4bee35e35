/**
 * Register: give the candidate the next version number, store its artifact under the version's
 * prefix with its lineage, and move the champion alias when the gate said so. The alias moves by
 * one conditional write, from the champion that Evaluate compared against: if another run moved
 * it in between, this version is registered but not promoted, and the record says why.
 *
 * Order: the version item is written before the alias moves, so an alias never points at a
 * version the registry does not hold (a crash in between leaves a registered, unpromoted version).
 * Then the events: `Model Version Registered`, and `Model Alias Changed` when it moved.
 *
 * Retries (Step Functions retries a Lambda task on Lambda service errors): the execution keeps the
 * version number it took first, finds its version item, and finishes what the earlier attempt left
 * undone, so a retry neither leaves a gap in the numbers nor registers the candidate twice. Its
 * events may then be sent twice (at least once, for a retried Register).
 */
import type { RegisterEnv } from '../shared/env';
import { aliasChangedEvent, publishOrLog, versionRegisteredEvent, type RegistryEvent } from '../shared/events';
import { MODEL_NAME_PATTERN, parseDatasetKey, parseS3Uri, s3Keys, s3Uri } from '../shared/layout';
import {
  isTrainRequest,
  type RecordFailureInput,
  type RecordFailureOutput,
  type RegisterInput,
  type RegisterOutput,
} from '../shared/pipeline';
import { historyEntryOf, Registry, type ModelVersionRecord } from '../shared/registry';
import { copy, putJson } from '../shared/storage';
import { DEFAULT_ALIAS } from './aliases';

export async function register(input: RegisterInput, env: RegisterEnv): Promise<RegisterOutput> {
  const { ingest, training, evaluation } = input;
  const model = ingest.model;
  const registry = new Registry(env.REGISTRY_TABLE);
  const version = await registry.versionNumberFor(model, input.execution);
  const bucket = env.DATA_BUCKET;

  const onnxKey = s3Keys.modelOnnx(model, version);
  const cardKey = s3Keys.modelCard(model, version);
  const evaluationKey = s3Keys.evaluation(model, version);
  await Promise.all([
    copy(parseS3Uri(evaluation.candidate.onnxUri), bucket, onnxKey),
    copy(parseS3Uri(evaluation.candidate.cardUri), bucket, cardKey),
    putJson(bucket, evaluationKey, { model, version, execution: input.execution, ...evaluation }),
  ]);

  const awaitingApproval = input.awaitApproval === true;
  let record: ModelVersionRecord = {
    model,
    version,
    status: awaitingApproval ? 'pending-approval' : 'registered',
    task: ingest.task,
    metrics: evaluation.candidate.metrics,
    validationMetrics: evaluation.candidate.validationMetrics,
    artifact: {
      onnxUri: s3Uri(bucket, onnxKey),
      sha256: evaluation.candidate.sha256,
      cardUri: s3Uri(bucket, cardKey),
      evaluationUri: s3Uri(bucket, evaluationKey),
    },
    lineage: {
      datasetVersion: ingest.datasetVersion,
      datasetSha256: ingest.sha256,
      datasetS3VersionId: ingest.s3VersionId,
      trainingJob: training.trainingJobName,
      trainingArtifact: training.modelArtifacts,
      codeVersion: input.codeVersion,
      hyperparameters: evaluation.candidate.hyperparameters,
      execution: input.execution,
    },
    promoted: false,
    decision: awaitingApproval ? `${evaluation.decision.reason} Waiting for a manual approval.` : evaluation.decision.reason,
    createdAt: new Date().toISOString(),
  };
  // A retry of this execution's Register finds its version already written: carry on from it.
  const earlier = await registry.getVersion(model, version);
  if (earlier) {
    if (earlier.lineage.execution !== input.execution) {
      throw new Error(`Version ${version} of model '${model}' belongs to execution ${earlier.lineage.execution}, not ${input.execution}.`);
    }
    record = earlier;
  } else await registry.putVersion(record);

  const aliasEvents: RegistryEvent[] = [];
  if (input.promote && !awaitingApproval && !record.promoted) {
    const move = await registry.moveAliasWithHistory(
      {
        model,
        alias: DEFAULT_ALIAS,
        version,
        updatedAt: new Date().toISOString(),
        updatedBy: `pipeline:${input.execution}`,
        reason: evaluation.decision.reason,
        action: 'promote',
      },
      evaluation.champion?.version,
    );
    aliasEvents.push(...move.recovered.map((entry) => aliasChangedEvent(entry, true)));
    const movedEarlier = !move.moved && move.current?.version === version && move.current.updatedBy === `pipeline:${input.execution}`;
    if (move.moved) {
      aliasEvents.push(aliasChangedEvent(move.entry));
      record = { ...record, promoted: true };
    } else if (movedEarlier) {
      // An earlier attempt of this Register moved the alias and stopped before recording it.
      const repaired = await registry.repairAliasHistory(model, DEFAULT_ALIAS);
      aliasEvents.push(aliasChangedEvent(repaired ?? historyEntryOf(move.current!), repaired !== undefined));
      record = { ...record, promoted: true };
    } else {
      record = {
        ...record,
        decision: `${evaluation.decision.reason} Not promoted: the champion moved while this version was being evaluated; it stays registered.`,
      };
    }
    await registry.setVersionDecision(model, version, record.promoted, record.decision);
  }

  await registry.putRun({
    model,
    execution: input.execution,
    status: 'SUCCEEDED',
    datasetVersion: ingest.datasetVersion,
    modelVersion: version,
    promoted: record.promoted,
    reason: record.decision,
    updatedAt: new Date().toISOString(),
  });
  // Training is over: the next execution waiting for this model's training slot may take it.
  await registry.releaseTrainingLease(model, input.execution);
  await publishOrLog([versionRegisteredEvent(record), ...aliasEvents], { eventBusName: env.EVENT_BUS_NAME, topicArn: env.TOPIC_ARN });
  return {
    model,
    modelVersion: version,
    datasetVersion: ingest.datasetVersion,
    promoted: record.promoted,
    metrics: evaluation.candidate.metrics,
    reason: record.decision,
  };
}

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

function stageOf(state: RecordFailureInput['state']): string {
  if (!state.ingest) return 'Ingest';
  if (!state.training) return 'Train';
  if (!state.evaluation) return 'Evaluate';
  return 'Register';
}

/** Record a failed run with its reason. The champion is never touched on this path. */
export async function recordFailure(input: RecordFailureInput, env: RegisterEnv): Promise<RecordFailureOutput> {
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
    await registry.putRun({
      model,
      execution: input.execution,
      status: 'FAILED',
      datasetVersion: state.ingest?.status === 'ACCEPTED' ? state.ingest.datasetVersion : undefined,
      stage,
      error: state.error.Error,
      reason,
      ...(source ? { source } : {}),
      updatedAt: new Date().toISOString(),
    });
    // A failed run trains no more: give the model's training slot back if this execution held it,
    // and the bytes it claimed without finishing their ingestion, so they can be dropped again.
    await registry.releaseTrainingLease(model, input.execution);
    await registry.abandonUnfinishedIngest(
      model,
      input.execution,
      `The ingestion of execution ${input.execution} failed before it finished: ${reason}`,
    );
  }
  return { model, stage, error: state.error.Error, reason: `${stage} failed: ${reason}` };
}
