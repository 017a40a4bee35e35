/**
 * Manual approval of a version, when the pipeline is configured for it (requireApproval):
 *
 * 1. Register stores the candidate as `pending-approval` and leaves the champion alone;
 * 2. "Wait for approval" (a `.waitForTaskToken` task) calls `requestApproval`, which stores the
 *    task token on the version item; the execution waits;
 * 3. `mloop models approve|reject` calls `decideApproval`: one conditional write records the
 *    decision (status approved / rejected, who, when, why) and consumes the token, then the task
 *    is resumed: SendTaskSuccess, or SendTaskFailure with the error `ModelRejected`;
 * 4. on approval the pipeline runs `promoteApproved`: the champion moves from the version the
 *    evaluation compared against, exactly as an unattended promotion would.
 */
import { aliasChangedEvent, publishOrLog, versionRegisteredEvent, type EventTargets, type RegistryEvent } from '../shared/events';
import { InvalidInput } from '../shared/errors';
import {
  MODEL_REJECTED,
  type ApprovalOutput,
  type AwaitApprovalInput,
  type PromoteApprovedInput,
  type RegisterOutput,
} from '../shared/pipeline';
import type { Registry } from '../shared/registry/registry';
import { isConditionFailure } from '../shared/registry/table';
import { sendTaskFailure, sendTaskSuccess } from '../shared/task-tokens';
import { DEFAULT_ALIAS } from './aliases';
import { VersionStateInvalid } from './errors';
import { requireModel, requireVersion } from './preconditions';

export interface ApprovalDecision {
  readonly model: string;
  readonly version: number;
  readonly decision: 'approved' | 'rejected';
  readonly by: string;
  readonly reason: string;
  readonly decidedAt: string;
  readonly execution: string;
  /** Whether the waiting pipeline was resumed (false: its task token was no longer valid). */
  readonly resumed: boolean;
  readonly message: string;
}

/** What "Wait for approval" answers once the task token is stored (the task then waits for it). */
export interface ApprovalRequested {
  readonly model: string;
  readonly version: number;
  readonly requestedAt: string;
}

/** Step 2: remember the task token of the pipeline that waits for this version's approval. */
export async function requestApproval(registry: Registry, input: AwaitApprovalInput): Promise<ApprovalRequested> {
  const requestedAt = new Date().toISOString();
  try {
    await registry.approvals.request(input.model, input.version, { taskToken: input.taskToken, execution: input.execution, requestedAt });
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    const record = await registry.versions.get(input.model, input.version);
    throw new VersionStateInvalid(
      `Version ${input.version} of model '${input.model}' cannot wait for approval: it is ${record?.status ?? 'not in the registry'}.`,
    );
  }
  return { model: input.model, version: input.version, requestedAt };
}

/** Step 3: a person approves or rejects; the waiting pipeline is resumed. */
export async function decideApproval(
  registry: Registry,
  _targets: EventTargets,
  request: { model: string; version: number; reason: string; by: string; decision: 'approved' | 'rejected' },
): Promise<ApprovalDecision> {
  const verb = request.decision === 'approved' ? 'approve' : 'reject';
  if (typeof request.reason !== 'string' || request.reason.trim() === '')
    throw new InvalidInput(`A reason is required to ${verb} a version (--reason TEXT).`);
  if (typeof request.by !== 'string' || request.by.trim() === '') throw new InvalidInput(`Who decides is required to ${verb} a version.`);
  await requireModel(registry, request.model);
  const record = await requireVersion(registry, request.model, request.version);
  const token = record.approval?.taskToken;
  if (record.status !== 'pending-approval') {
    throw new VersionStateInvalid(
      `Version ${request.version} of model '${request.model}' is not waiting for approval: it is ${record.status}.`,
    );
  }
  if (!token) {
    throw new VersionStateInvalid(
      `Version ${request.version} of model '${request.model}' is pending, but its pipeline has not reached the approval step yet; try again in a moment.`,
    );
  }
  const decidedAt = new Date().toISOString();
  const reason = request.reason.trim();
  const recorded = await registry.approvals.decide(request.model, request.version, token, {
    decision: request.decision,
    decidedBy: request.by,
    decidedAt,
    reason,
  });
  if (!recorded) {
    const now = await registry.versions.get(request.model, request.version);
    throw new VersionStateInvalid(
      `Version ${request.version} of model '${request.model}' was decided by someone else meanwhile: it is ${now?.status ?? 'gone'}${now?.approval?.decidedBy ? ` (by ${now.approval.decidedBy})` : ''}.`,
    );
  }
  const execution = record.approval?.execution ?? record.lineage.execution;
  let resumed = true;
  let message: string;
  try {
    if (request.decision === 'approved') {
      const output: ApprovalOutput = { decision: 'approved', by: request.by, reason, decidedAt };
      await sendTaskSuccess(token, output);
      message = `Version ${request.version} of ${request.model} approved; pipeline ${execution} goes on to promote it.`;
    } else {
      await sendTaskFailure(
        token,
        MODEL_REJECTED,
        `Version ${request.version} of ${request.model} was rejected by ${request.by}: ${reason}`,
      );
      message = `Version ${request.version} of ${request.model} rejected; pipeline ${execution} ends without promoting it.`;
    }
  } catch (error) {
    // The execution is gone (timed out, stopped): the decision stands, nothing waits for it.
    resumed = false;
    message = `The decision is recorded, but pipeline ${execution} could not be resumed: ${(error as Error).message}${
      request.decision === 'approved'
        ? ` Promote it by hand: mloop models promote --model ${request.model} --version ${request.version}.`
        : ''
    }`;
  }
  if (request.decision === 'rejected') {
    const run = await registry.runs.get(request.model, execution);
    if (run) await registry.runs.put({ ...run, promoted: false, reason: `Rejected by ${request.by}: ${reason}`, updatedAt: decidedAt });
    // Register gave the training slot back before the approval step; this is a no-op then, and
    // frees the slot should a run ever reach a rejection still holding it.
    await registry.leases.releaseTraining(request.model, execution);
  }
  return {
    model: request.model,
    version: request.version,
    decision: request.decision,
    by: request.by,
    reason,
    decidedAt,
    execution,
    resumed,
    message,
  };
}

/** Step 4: after an approval, move the champion as the gate would have. */
export async function promoteApproved(registry: Registry, targets: EventTargets, input: PromoteApprovedInput): Promise<RegisterOutput> {
  const record = await requireVersion(registry, input.model, input.version);
  const by = `pipeline:${input.execution}`;
  const reason = `${input.evaluation.decision.reason} Approved by ${input.approval.by}: ${input.approval.reason}`;
  const move = await registry.aliases.moveWithHistory(
    {
      model: input.model,
      alias: DEFAULT_ALIAS,
      version: input.version,
      updatedAt: new Date().toISOString(),
      updatedBy: by,
      reason,
      action: 'promote',
    },
    input.evaluation.champion?.version,
  );
  const events: RegistryEvent[] = move.recovered.map((entry) => aliasChangedEvent(entry, true));
  let decision = reason;
  if (move.moved) events.push(aliasChangedEvent(move.entry));
  else decision = `${reason} Not promoted: the champion moved while this version waited for approval; it stays approved.`;
  await registry.versions.setDecision(input.model, input.version, move.moved, decision);
  await registry.runs.put({
    model: input.model,
    execution: input.execution,
    status: 'SUCCEEDED',
    datasetVersion: record.lineage.datasetVersion,
    modelVersion: input.version,
    promoted: move.moved,
    reason: decision,
    updatedAt: new Date().toISOString(),
  });
  // The version's status changed (approved): announce its final state as well.
  await publishOrLog([versionRegisteredEvent({ ...record, promoted: move.moved, decision }), ...events], targets);
  return {
    model: input.model,
    modelVersion: input.version,
    datasetVersion: record.lineage.datasetVersion,
    promoted: move.moved,
    metrics: record.metrics,
    reason: decision,
  };
}
