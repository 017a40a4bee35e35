/**
 * What `mloop ui` shows, read through the same code the CLI's commands read with: the registry
 * (lambdas/shared/registry), the data bucket (lambdas/shared/storage), the admin function
 * (`models lineage`, through LoopTarget.invoke) and `datasets show|diff` (bin/commands/datasets.ts).
 * Each function answers one page's JSON; none keeps state, so a page always shows the registry now.
 */
import { InvalidInput } from '../../lambdas/shared/errors';
import { assertModelName, parseS3Uri } from '../../lambdas/shared/layout';
import type { DriftRun } from '../../lambdas/monitoring/drift-run';
import type { Lineage } from '../../lambdas/registry/lineage';
import type { AliasHistory } from '../../lambdas/registry/aliases';
import { primaryMetric } from '../../lambdas/registry/metrics';
import type { EvaluationReport } from '../../lambdas/shared/pipeline';
import { Registry } from '../../lambdas/shared/registry/registry';
import type { ModelVersionRecord } from '../../lambdas/shared/registry/versions';
import { getBytes, getJson } from '../../lambdas/shared/storage';
import type { DatasetProfile, ModelCard, Task } from '../../lambdas/shared/types';
import { datasetDiff, loadDataset } from '../commands/datasets';
import type { ExecutionStep, LoopTarget } from '../target';

/** The metric a model's versions are compared by (the promotion gate's), and its value per version. */
export interface Headline {
  readonly name: string;
  readonly higherIsBetter: boolean;
}

export interface ModelSummary {
  readonly model: string;
  readonly task: Task | null;
  readonly headline: Headline | null;
  readonly champion: {
    readonly version: number;
    readonly since: string;
    readonly createdAt: string;
    readonly metric: number | null;
  } | null;
  /** Every alias but champion (challenger, shadow...). */
  readonly others: { readonly alias: string; readonly version: number }[];
  /** The headline metric by version, oldest first (the sparkline). */
  readonly trend: { readonly version: number; readonly value: number }[];
  readonly versions: number;
  readonly lastRun: { readonly execution: string; readonly status: string; readonly at: string; readonly error?: string } | null;
  readonly lastDrift: { readonly at: string; readonly datasetDrift: boolean; readonly driftShare: number } | null;
}

const byVersion = <T extends { version: number }>(a: T, b: T) => a.version - b.version;

function headlineOf(task: Task | undefined): Headline | null {
  return task ? primaryMetric(task) : null;
}

async function summarize(registry: Registry, model: string): Promise<ModelSummary> {
  const [versions, aliases, runs, drift] = await Promise.all([
    registry.versions.list(model),
    registry.aliases.list(model),
    registry.runs.list(model),
    registry.drift.list(model, 1),
  ]);
  versions.sort(byVersion);
  const task = versions[0]?.task;
  const headline = headlineOf(task);
  const champion = aliases.find((a) => a.alias === 'champion');
  const championRecord = champion ? versions.find((v) => v.version === champion.version) : undefined;
  const run = runs[0];
  return {
    model,
    task: task ?? null,
    headline,
    champion:
      champion && championRecord
        ? {
            version: champion.version,
            since: champion.updatedAt,
            createdAt: championRecord.createdAt,
            metric: headline ? (championRecord.metrics[headline.name] ?? null) : null,
          }
        : null,
    others: aliases.filter((a) => a.alias !== 'champion').map((a) => ({ alias: a.alias, version: a.version })),
    trend: headline
      ? versions
          .filter((v) => typeof v.metrics[headline.name] === 'number')
          .map((v) => ({ version: v.version, value: v.metrics[headline.name] }))
      : [],
    versions: versions.length,
    lastRun: run ? { execution: run.execution, status: run.status, at: run.updatedAt, ...(run.error ? { error: run.error } : {}) } : null,
    lastDrift: drift[0] ? { at: drift[0].at, datasetDrift: drift[0].datasetDrift, driftShare: drift[0].driftShare } : null,
  };
}

/** The Models page: every model of the registry. */
export async function modelsOverview(target: LoopTarget): Promise<ModelSummary[]> {
  const registry = new Registry(target.registryTable);
  const models = await registry.models.list();
  return Promise.all(models.map((m) => summarize(registry, m)));
}

/** A model must exist: a page for an unknown one says so instead of showing nothing. */
async function requireModel(registry: Registry, model: string): Promise<void> {
  assertModelName(model);
  if (!(await registry.models.get(model))) throw new NotFound(`Model '${model}' is not in the registry.`);
}

/** A page that names something the registry does not hold (answered 404). */
export class NotFound extends Error {
  readonly name = 'NotFound';
}

export interface ModelPage {
  readonly model: string;
  readonly headline: Headline | null;
  readonly versions: (ModelVersionRecord & { readonly aliases: string[] })[];
  readonly history: AliasHistory;
}

/** The Model page: its versions, with their aliases, and the alias history (the admin function's `history`). */
export async function modelPage(target: LoopTarget, model: string): Promise<ModelPage> {
  const registry = new Registry(target.registryTable);
  await requireModel(registry, model);
  const [versions, aliases, history] = await Promise.all([
    registry.versions.list(model),
    registry.aliases.list(model),
    target.invoke('models', { action: 'history', model }) as Promise<AliasHistory>,
  ]);
  versions.sort(byVersion);
  return {
    model,
    headline: headlineOf(versions[0]?.task),
    versions: versions.map((v) => ({ ...v, aliases: aliases.filter((a) => a.version === v.version).map((a) => a.alias) })),
    history,
  };
}

async function jsonAt<T>(uri: string | undefined): Promise<T | null> {
  if (!uri) return null;
  const { bucket, key } = parseS3Uri(uri);
  return getJson<T>(bucket, key).catch(() => null);
}

export interface VersionPage {
  readonly lineage: Lineage;
  readonly evaluation: EvaluationReport | null;
  readonly card: ModelCard | null;
  /** Train and validation loss by epoch (or boosting round), from the card's lossCurve; null for a card without one. */
  readonly curves: { epoch: number; loss: number; split: 'train' | 'validation' }[] | null;
  /** What the curves are, or why there are none. */
  readonly curvesNote: string;
}

/** The Version page: lineage (the admin function's `lineage`), the evaluation report and the model card from the bucket. */
export async function versionPage(target: LoopTarget, model: string, version: number): Promise<VersionPage> {
  const registry = new Registry(target.registryTable);
  await requireModel(registry, model);
  const record = await registry.versions.get(model, version);
  if (!record) throw new NotFound(`Model '${model}' has no version ${version}.`);
  const [lineage, evaluation, card] = await Promise.all([
    target.invoke('models', { action: 'lineage', model, version }) as Promise<Lineage>,
    jsonAt<EvaluationReport>(record.artifact.evaluationUri),
    jsonAt<ModelCard>(record.artifact.cardUri),
  ]);
  return {
    lineage,
    evaluation,
    card,
    ...trainingCurves(card),
  };
}

/** The card's loss curve as chart rows, and what it shows (or why there is none). Pure. */
export function trainingCurves(card: ModelCard | null): Pick<VersionPage, 'curves' | 'curvesNote'> {
  if (!card?.lossCurve?.length) {
    return {
      curves: null,
      curvesNote:
        'No training curves: the model card has no lossCurve (cards written before it was recorded, or a training script of your own that does not write one).',
    };
  }
  const unit = card.framework === 'xgboost' ? 'boosting round' : 'epoch';
  return {
    curves: card.lossCurve.flatMap(([epoch, train, validation]) => [
      { epoch, loss: train, split: 'train' as const },
      { epoch, loss: validation, split: 'validation' as const },
    ]),
    curvesNote:
      `Train and validation loss by ${unit} (${card.task === 'regression' ? 'mean squared error on the standardized target' : 'cross-entropy'}); ` +
      (card.framework === 'xgboost'
        ? `the model keeps the first ${card.epochs} rounds, up to the lowest validation loss.`
        : `${card.epochs} epochs run; the model keeps the weights of the epoch with the lowest validation loss.`),
  };
}

/** The Datasets page: every version of the model's datasets, newest first. */
export async function datasetsPage(target: LoopTarget, model: string) {
  const registry = new Registry(target.registryTable);
  await requireModel(registry, model);
  const datasets = await registry.datasets.list(model);
  return { model, datasets: datasets.sort((a, b) => b.version - a.version) };
}

/** One dataset version: its record, schema, whole profile (histograms, categories) and violations (`datasets show`). */
export async function datasetPage(target: LoopTarget, model: string, version: number) {
  const registry = new Registry(target.registryTable);
  await requireModel(registry, model);
  const loaded = await loadDataset(registry, model, version).catch((error: Error) => {
    throw error instanceof InvalidInput ? new NotFound(error.message) : error;
  });
  return {
    model,
    dataset: loaded.record,
    schema: loaded.schema,
    profile: loaded.profile satisfies DatasetProfile | null,
    violations: loaded.violations,
  };
}

/** Two dataset versions compared (`datasets diff`). */
export async function datasetDiffPage(target: LoopTarget, model: string, a: number, b: number) {
  const registry = new Registry(target.registryTable);
  await requireModel(registry, model);
  return { model, ...(await datasetDiff(registry, model, a, b)) };
}

/** How many drift runs the Drift page reads (each is one report from the bucket). */
export const DRIFT_RUNS_SHOWN = 20;

/** The Drift page: the latest monitor runs, oldest first, each with its whole report (per-feature statistics, prediction drift, quality). */
export async function driftPage(target: LoopTarget, model: string) {
  const registry = new Registry(target.registryTable);
  await requireModel(registry, model);
  const records = await registry.drift.list(model, DRIFT_RUNS_SHOWN);
  const runs = await Promise.all(
    records.map(async (r) => {
      const report = await jsonAt<DriftRun>(r.reportUri);
      return { ...r, report };
    }),
  );
  return { model, runs: runs.reverse() };
}

/** A drift run's HTML report (the monitor wrote it beside its JSON report), found by the run's time. */
export async function driftHtml(target: LoopTarget, model: string, at: string): Promise<Buffer> {
  const registry = new Registry(target.registryTable);
  await requireModel(registry, model);
  const record = (await registry.drift.list(model, 1000)).find((r) => r.at === at);
  if (!record) throw new NotFound(`Model '${model}' has no drift run at ${at}.`);
  const report = await jsonAt<DriftRun>(record.reportUri);
  const uri = report?.report.html ?? record.reportUri.replace(/\.json$/, '.html');
  const { bucket, key } = parseS3Uri(uri);
  return getBytes(bucket, key);
}

/** The Runs page: the model's pipeline runs, newest first. */
export async function runsPage(target: LoopTarget, model: string) {
  const registry = new Registry(target.registryTable);
  await requireModel(registry, model);
  return { model, runs: await registry.runs.list(model) };
}

/** One run: its record and its execution's history (the stage timeline). */
export async function runPage(target: LoopTarget, model: string, execution: string): Promise<{ run: unknown; steps: ExecutionStep[] }> {
  const registry = new Registry(target.registryTable);
  await requireModel(registry, model);
  const run = await registry.runs.get(model, execution);
  if (!run) throw new NotFound(`Model '${model}' has no run ${execution}.`);
  return { run, steps: await target.executionHistory(execution) };
}
