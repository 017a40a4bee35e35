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
import { parseS3Uri, s3Keys, s3Uri } from '../shared/layout';
import type { EvaluationOutput, EvaluationReport, RegisterInput, RegisterOutput } from '../shared/pipeline';
import { historyEntryOf } from '../shared/registry/aliases';
import { Registry } from '../shared/registry/registry';
import type { ModelVersionRecord } from '../shared/registry/versions';
import { copy, getJson, putJson } from '../shared/storage';
import { DEFAULT_ALIAS } from './aliases';

/**
 * The version's evaluation report: the state's summary with the details of the report Evaluate
 * wrote (only its URI travels in the state), or the details the state carried inline (an
 * execution started before they moved to S3).
 */
async function versionReport(evaluation: EvaluationOutput): Promise<Omit<EvaluationOutput, 'reportUri'>> {
  const { reportUri, ...summary } = evaluation;
  if (reportUri === undefined) return summary;
  const { bucket, key } = parseS3Uri(reportUri);
  const stored = await getJson<EvaluationReport>(bucket, key);
  return { ...summary, details: stored.details };
}

export async function register(input: RegisterInput, env: RegisterEnv): Promise<RegisterOutput> {
  const { ingest, training, evaluation } = input;
  const model = ingest.model;
  const registry = new Registry(env.REGISTRY_TABLE);
  const version = await registry.versions.numberFor(model, input.execution);
  const bucket = env.DATA_BUCKET;

  const onnxKey = s3Keys.modelOnnx(model, version);
  const cardKey = s3Keys.modelCard(model, version);
  const evaluationKey = s3Keys.evaluation(model, version);
  await Promise.all([
    copy(parseS3Uri(evaluation.candidate.onnxUri), bucket, onnxKey),
    copy(parseS3Uri(evaluation.candidate.cardUri), bucket, cardKey),
    versionReport(evaluation).then((report) => putJson(bucket, evaluationKey, { model, version, execution: input.execution, ...report })),
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
      ...(evaluation.candidate.trainer !== undefined ? { trainer: evaluation.candidate.trainer } : {}),
      ...(evaluation.candidate.trainerCandidates !== undefined ? { trainerCandidates: evaluation.candidate.trainerCandidates } : {}),
    },
    promoted: false,
    decision: awaitingApproval ? `${evaluation.decision.reason} Waiting for a manual approval.` : evaluation.decision.reason,
    createdAt: new Date().toISOString(),
  };
  // A retry of this execution's Register finds its version already written: carry on from it.
  const earlier = await registry.versions.get(model, version);
  if (earlier) {
    if (earlier.lineage.execution !== input.execution) {
      throw new Error(`Version ${version} of model '${model}' belongs to execution ${earlier.lineage.execution}, not ${input.execution}.`);
    }
    record = earlier;
  } else await registry.versions.put(record);

  const aliasEvents: RegistryEvent[] = [];
  if (input.promote && !awaitingApproval && !record.promoted) {
    const move = await registry.aliases.moveWithHistory(
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
      const repaired = await registry.aliases.repairHistory(model, DEFAULT_ALIAS);
      aliasEvents.push(aliasChangedEvent(repaired ?? historyEntryOf(move.current!), repaired !== undefined));
      record = { ...record, promoted: true };
    } else {
      record = {
        ...record,
        decision: `${evaluation.decision.reason} Not promoted: the champion moved while this version was being evaluated; it stays registered.`,
      };
    }
    await registry.versions.setDecision(model, version, record.promoted, record.decision);
  }

  await registry.runs.put({
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
  await registry.leases.releaseTraining(model, input.execution);
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
