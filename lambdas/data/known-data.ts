/**
 * Data the registry already holds: what a run does with a dataset version that exists.
 *
 * The same bytes are a DUPLICATE only when their dataset version already produced a model version
 * (the last run on it SUCCEEDED), or a run on it is in progress. When every run on it ended
 * without a model version (it failed, was stopped, timed out, or its process died), dropping the
 * bytes again trains that version again under the new run, whose record says which run it
 * follows and why (`retryOf`, `cause`). `mloop train` (a TrainRequest) and a drop with the
 * `mloop-retrain` metadata ask for a new training even when a model version exists; only a run
 * in progress stops them.
 *
 * Which run is "the last run" on a version is kept on the content claim (`DATAHASH#`): its
 * `execution` moves to each run that trains again, by one conditional write (`registry.content.adopt`), so
 * of two drops of the same failed bytes exactly one trains.
 */
import { createHash } from 'node:crypto';
import { InvalidInput } from '../shared/errors';
import type { IngestOutput, TrainRequest } from '../shared/pipeline';
import type { ContentClaim } from '../shared/registry/content-claims';
import { newestAccepted } from '../shared/registry/datasets';
import type { Registry } from '../shared/registry/registry';
import type { RunRecord } from '../shared/registry/runs';
import { noteSlotAcquired, noteSlotBusy, type SlotEnv } from './slot-wait';

export type Accepted = Extract<IngestOutput, { status: 'ACCEPTED' }>;
type Duplicate = Extract<IngestOutput, { status: 'DUPLICATE' }>;

/** A SageMaker job name (at most 63 characters) unique to this dataset version and execution. */
export function trainingJobName(model: string, datasetVersion: number, execution: string): string {
  const suffix = createHash('sha256').update(execution).digest('hex').slice(0, 8);
  return `mloop-${model}-d${datasetVersion}-${suffix}`.slice(0, 63);
}

/**
 * One execution trains a model at a time: an accepted dataset takes the model's training lease
 * for this execution (held until Register or Record failure gives it back, or the execution's end
 * event does, or TRAINING_LEASE_SECONDS pass). While another execution holds it the answer is
 * `busy`: the state machine waits and runs Ingest again, which finds its own dataset (the retry
 * path) and tries the lease again, for at most TRAINING_SLOT_WAIT_SECONDS (slot-wait.ts).
 */
export async function withTrainingSlot(
  registry: Registry,
  accepted: Accepted,
  execution: string,
  env: SlotEnv,
  now: Date = new Date(),
): Promise<Accepted> {
  if (await registry.leases.acquireTraining(accepted.model, execution, env.TRAINING_LEASE_SECONDS)) {
    await noteSlotAcquired(registry, accepted.model, execution, now);
    return { ...accepted, trainingSlot: 'acquired' };
  }
  const lease = (await registry.models.get(accepted.model))?.trainingLease;
  // The wait is bounded (slot-wait.ts): past TRAINING_SLOT_WAIT_SECONDS this throws, and the run ends recorded.
  await noteSlotBusy(
    registry,
    { model: accepted.model, execution, datasetVersion: accepted.datasetVersion, heldBy: lease?.execution, heldSince: lease?.since },
    env,
    now,
  );
  return {
    ...accepted,
    trainingSlot: 'busy',
    ...(lease ? { heldBy: lease.execution } : {}),
    ...(lease?.since ? { heldSince: lease.since } : {}),
  };
}

/** The output of an ingest that already completed, rebuilt from its dataset record. */
async function resumeIngest(
  registry: Registry,
  model: string,
  version: number,
  execution: string,
  hyperparameters: Record<string, string>,
): Promise<Accepted> {
  const [record, schema] = await Promise.all([
    registry.datasets.get(model, version),
    registry.models.get(model).then((meta) => registry.models.schemaOf(meta)),
  ]);
  if (!record?.splits || !schema) throw new Error(`Dataset version ${version} of '${model}' is claimed by this execution but incomplete.`);
  const prefix = (uri: string) => uri.slice(0, uri.lastIndexOf('/') + 1);
  return {
    status: 'ACCEPTED',
    model,
    datasetVersion: version,
    sha256: record.sha256,
    s3VersionId: record.s3VersionId,
    target: schema.target,
    task: schema.task,
    trainingJobName: trainingJobName(model, version, execution),
    channels: { train: prefix(record.splits.train), validation: prefix(record.splits.validation) },
    testSplit: record.splits.test,
    hyperparameters,
  };
}

/**
 * An ingested version answered for `execution` (a retry, another pass of the wait-for-slot loop,
 * or a run that took the version over), with the model's training slot tried.
 */
export async function resumeWithSlot(
  registry: Registry,
  run: { readonly model: string; readonly execution: string; readonly hyperparameters: Record<string, string> },
  version: number,
  env: SlotEnv,
  extra: Partial<Accepted> = {},
): Promise<Accepted> {
  const accepted = await resumeIngest(registry, run.model, version, run.execution, run.hyperparameters);
  return withTrainingSlot(registry, { ...accepted, ...extra }, run.execution, env);
}

/** The dataset version a run took over and trains (its record is RUNNING with one), if any. */
export function versionTakenOver(own: RunRecord | undefined): number | undefined {
  return own?.status === 'RUNNING' ? own.datasetVersion : undefined;
}

/** What to do with an ingested dataset version that a new run meets. */
export type KnownDataDecision =
  | { readonly action: 'train'; readonly cause: string }
  | { readonly action: 'duplicate'; readonly modelVersion: number | null; readonly inProgress: boolean; readonly reason: string };

/**
 * The rule, from the claim and the record of the last run on the version (see the file comment).
 * `force`: a new training was asked for (mloop train, the mloop-retrain metadata).
 */
export function decideOnKnownData(claim: ContentClaim, lastRun: RunRecord | undefined, force: boolean): KnownDataDecision {
  const version = claim.datasetVersion;
  if (!lastRun || lastRun.status === 'RUNNING') {
    return {
      action: 'duplicate',
      modelVersion: null,
      inProgress: true,
      reason: `a run on dataset version ${version} is in progress (execution ${claim.execution})`,
    };
  }
  if (lastRun.status === 'SUCCEEDED' && !force) {
    return {
      action: 'duplicate',
      modelVersion: lastRun.modelVersion ?? null,
      inProgress: false,
      reason: `dataset version ${version} already produced model version ${lastRun.modelVersion ?? '?'} (execution ${claim.execution})`,
    };
  }
  if (lastRun.status === 'SUCCEEDED')
    return {
      action: 'train',
      cause: `training again as asked; the last run on dataset version ${version} (${claim.execution}) produced model version ${lastRun.modelVersion ?? '?'}`,
    };
  const where = lastRun.stage ? ` at ${lastRun.stage}` : '';
  return {
    action: 'train',
    cause: `the last run on dataset version ${version} (${claim.execution}) ended ${lastRun.status}${where}${lastRun.reason ? `: ${lastRun.reason}` : ''}`,
  };
}

/** One run meeting known data: who it is and what it knows. */
export interface KnownDataRun {
  readonly model: string;
  readonly execution: string;
  readonly sha256: string;
  /** The dropped object's s3:// URI (absent for a TrainRequest). */
  readonly source?: string;
  readonly hyperparameters: Record<string, string>;
  /** A new training was asked for even if a model version exists. */
  readonly force: boolean;
  /** Who asked and why, for a TrainRequest: prefixed to the run's cause. */
  readonly requested?: string;
}

function duplicate(run: KnownDataRun, claim: ContentClaim, decision: Extract<KnownDataDecision, { action: 'duplicate' }>): Duplicate {
  return {
    status: 'DUPLICATE',
    model: run.model,
    datasetVersion: claim.datasetVersion ?? null,
    duplicateOf: claim.execution,
    modelVersion: decision.modelVersion,
    reason: decision.reason,
  };
}

/**
 * Settle a run on an ingested version (`claim.datasetVersion` set, another execution's claim):
 * answer DUPLICATE, recorded as this run's end, or take the claim over and train the version.
 */
export async function settleKnownData(run: KnownDataRun, claim: ContentClaim, registry: Registry, env: SlotEnv): Promise<IngestOutput> {
  const version = claim.datasetVersion;
  if (version === undefined) throw new Error(`settleKnownData needs an ingested version; the claim of ${run.sha256} has none yet.`);
  let current = claim;
  for (let attempt = 0; attempt < 3; attempt++) {
    const decision = decideOnKnownData(current, await registry.runs.get(run.model, current.execution), run.force);
    if (decision.action === 'duplicate') {
      const answer = duplicate(run, current, decision);
      await registry.runs.put({
        model: run.model,
        execution: run.execution,
        status: 'DUPLICATE',
        datasetVersion: version,
        ...(decision.modelVersion !== null ? { modelVersion: decision.modelVersion } : {}),
        ...(run.source ? { source: run.source } : {}),
        reason: `${run.source ?? 'The request'} has the same bytes (sha256 ${run.sha256}) as dataset version ${version}, and ${decision.reason}; no new version and no training run.`,
        updatedAt: new Date().toISOString(),
      });
      return answer;
    }
    if (await registry.content.adopt(run.model, run.sha256, current.execution, run.execution)) {
      const cause = run.requested ? `${run.requested}; ${decision.cause}` : decision.cause;
      await registry.runs.put({
        model: run.model,
        execution: run.execution,
        status: 'RUNNING',
        datasetVersion: version,
        retryOf: current.execution,
        cause,
        ...(run.source ? { source: run.source } : {}),
        updatedAt: new Date().toISOString(),
      });
      return resumeWithSlot(registry, run, version, env, { retryOf: current.execution });
    }
    // Another run took the claim over first: decide again against it (it is in progress now).
    const latest = await registry.content.get(run.model, run.sha256);
    if (!latest || latest.datasetVersion === undefined)
      throw new Error(`The claim of ${run.sha256} on model '${run.model}' vanished while run ${run.execution} was taking it over.`);
    current = latest;
  }
  throw new Error(`Run ${run.execution} could not take over dataset version ${version} of '${run.model}': its claim kept changing.`);
}

/**
 * A TrainRequest: train an existing, accepted dataset version again (the latest accepted one by
 * default). A version that does not exist or was not accepted fails the run, naming it.
 */
export async function trainExisting(
  request: TrainRequest,
  execution: string,
  hyperparameters: Record<string, string>,
  registry: Registry,
  env: SlotEnv,
): Promise<IngestOutput> {
  const { model } = request;
  const record =
    request.datasetVersion !== undefined
      ? await registry.datasets.get(model, request.datasetVersion)
      : newestAccepted(await registry.datasets.list(model));
  if (!record) {
    throw new InvalidInput(
      request.datasetVersion !== undefined
        ? `Model '${model}' has no dataset version ${request.datasetVersion} to train on; 'mloop datasets list --model ${model}' lists its versions.`
        : `Model '${model}' has no accepted dataset version to train on: drop a dataset under datasets/${model}/ first.`,
    );
  }
  if (record.status !== 'accepted' || !record.splits) {
    throw new InvalidInput(
      `Dataset version ${record.version} of '${model}' is ${record.status}${record.reason ? ` (${record.reason})` : ''}: only an accepted dataset version can be trained on.`,
    );
  }
  const run = { model, execution, sha256: record.sha256, hyperparameters };
  let claim = await registry.content.get(model, record.sha256);
  if (!claim) {
    // The version's claim was released: its ingestion was cut off between recording the version
    // and linking its bytes, and the cleanup took the unlinked claim back. Claim it for this run.
    claim = await registry.content.claim(model, record.sha256, execution);
    if (!claim) {
      await registry.content.link(model, record.sha256, record.version);
      return resumeWithSlot(registry, run, record.version, env);
    }
  }
  if (claim.datasetVersion !== record.version) {
    throw new InvalidInput(
      `The bytes of dataset version ${record.version} of '${model}' are being ingested again by execution ${claim.execution}; train it once that run has ended.`,
    );
  }
  if (claim.execution === execution) return resumeWithSlot(registry, run, record.version, env);
  const who = request.requestedBy ?? 'a TrainRequest';
  return settleKnownData(
    { ...run, force: true, requested: `training asked for by ${who}${request.reason ? ` (${request.reason})` : ''}` },
    claim,
    registry,
    env,
  );
}
