/**
 * Lineage of a model version (`mloop models lineage`): everything that made it, read from its
 * registry record and its dataset's record.
 */
import type { DatasetRecord } from '../shared/registry/datasets';
import type { TrainerCandidate } from '../shared/types';
import type { Registry } from '../shared/registry/registry';
import type { ModelVersionRecord } from '../shared/registry/versions';
import { requireModel, requireVersion } from './preconditions';

export interface Lineage {
  readonly model: string;
  readonly version: number;
  readonly status: string;
  readonly task: string;
  readonly createdAt: string;
  /** Aliases that point at this version now. */
  readonly aliases: string[];
  readonly dataset: {
    readonly version: number;
    readonly sha256: string;
    readonly s3Uri: string | null;
    readonly s3VersionId: string | null;
    readonly rows: number | null;
    readonly bytes: number | null;
    readonly schemaHash: string | null;
    readonly splits: DatasetRecord['splits'] | null;
    readonly profileUri: string | null;
    readonly validationReportUri: string | null;
  };
  readonly training: {
    readonly job: string;
    readonly artifact: string;
    readonly codeVersion: string;
    readonly hyperparameters: Record<string, unknown>;
    readonly execution: string;
    /** The trainer that produced the model (`mlp`, `xgboost`, ...); null for a version registered before it was recorded. */
    readonly trainer: string | null;
    /** With `trainer=auto`: each trainer the job ran, with its validation metrics or why it produced no model; else null. */
    readonly candidates: Record<string, TrainerCandidate> | null;
  };
  readonly metrics: Record<string, number>;
  readonly validationMetrics: Record<string, number> | null;
  readonly evaluation: { readonly reportUri: string; readonly decision: string; readonly promoted: boolean };
  readonly artifact: { readonly onnxUri: string; readonly sha256: string; readonly cardUri: string };
  readonly approval: ModelVersionRecord['approval'] | null;
  /** The version's tags (`mloop models tag`); {} when it has none. */
  readonly tags: Record<string, string>;
  /** When, by whom and why the version was archived; null unless it is. */
  readonly archived: ModelVersionRecord['archived'] | null;
}

/** Everything that made a version: data bytes, training job, code, hyperparameters, metrics, report. */
export async function lineage(registry: Registry, model: string, version: number): Promise<Lineage> {
  await requireModel(registry, model);
  const record = await requireVersion(registry, model, version);
  const [dataset, aliases] = await Promise.all([registry.datasets.get(model, record.lineage.datasetVersion), registry.aliases.list(model)]);
  return {
    model,
    version,
    status: record.status,
    task: record.task,
    createdAt: record.createdAt,
    aliases: aliases.filter((a) => a.version === version).map((a) => a.alias),
    dataset: {
      version: record.lineage.datasetVersion,
      sha256: record.lineage.datasetSha256,
      s3Uri: dataset?.s3Uri ?? null,
      s3VersionId: record.lineage.datasetS3VersionId ?? dataset?.s3VersionId ?? null,
      rows: dataset?.rows ?? null,
      bytes: dataset?.bytes ?? null,
      schemaHash: dataset?.schemaHash ?? null,
      splits: dataset?.splits ?? null,
      profileUri: dataset?.profileUri ?? null,
      validationReportUri: dataset?.reportUri ?? null,
    },
    training: {
      job: record.lineage.trainingJob,
      artifact: record.lineage.trainingArtifact,
      codeVersion: record.lineage.codeVersion,
      hyperparameters: record.lineage.hyperparameters,
      execution: record.lineage.execution,
      trainer: record.lineage.trainer ?? null,
      candidates: record.lineage.trainerCandidates ?? null,
    },
    metrics: record.metrics,
    validationMetrics: record.validationMetrics ?? null,
    evaluation: { reportUri: record.artifact.evaluationUri, decision: record.decision, promoted: record.promoted },
    artifact: { onnxUri: record.artifact.onnxUri, sha256: record.artifact.sha256, cardUri: record.artifact.cardUri },
    approval: record.approval ?? null,
    tags: record.tags ?? {},
    archived: record.archived ?? null,
  };
}
