/**
 * How long a run may wait for its model's training slot (issue 14: the wait counted against the
 * execution's timeout, so a drop behind a 2-hour training ended TIMED_OUT with nothing recorded).
 *
 * The wait is bounded and explicit: the first pass that finds the slot busy records in the run's
 * record since when it waits and for whom (`waitingSince`, `waitingFor`); a later pass past
 * TRAINING_SLOT_WAIT_SECONDS ends the run with TrainingSlotWaitExceeded, which the failure path
 * records (stage 'Wait for training slot', the reason, how to train the version later); a pass
 * that takes the slot records when (`slotAcquiredAt`). The state machine's timeout counts this
 * bound apart from the run's own training (lib/pipeline.ts), so a run is never cut off by its
 * timeout for having waited.
 */
import type { IngestEnv } from '../shared/env';
import { TrainingSlotWaitExceeded } from '../shared/errors';
import type { Registry } from '../shared/registry/registry';

export type SlotEnv = Pick<IngestEnv, 'TRAINING_LEASE_SECONDS' | 'TRAINING_SLOT_WAIT_SECONDS'>;

/** A duration in words: "2 h 5 min", "45 s". */
export function formatWait(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const min = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h${min ? ` ${min} min` : ''}` : `${min} min`;
}

export interface SlotWait {
  readonly model: string;
  readonly execution: string;
  readonly datasetVersion: number;
  /** The execution that holds the slot and since when, as the model's item says. */
  readonly heldBy?: string;
  readonly heldSince?: string;
}

/**
 * The slot was busy on this pass: record the start of the wait on the first one, and throw
 * TrainingSlotWaitExceeded once the run has waited longer than TRAINING_SLOT_WAIT_SECONDS.
 */
export async function noteSlotBusy(registry: Registry, wait: SlotWait, env: SlotEnv, now: Date): Promise<void> {
  const run = await registry.runs.get(wait.model, wait.execution);
  if (!run?.waitingSince) {
    await registry.runs.put({
      model: wait.model,
      execution: wait.execution,
      status: 'RUNNING',
      datasetVersion: wait.datasetVersion,
      waitingSince: now.toISOString(),
      ...(wait.heldBy ? { waitingFor: wait.heldBy } : {}),
      updatedAt: now.toISOString(),
    });
    return;
  }
  const waited = (now.getTime() - Date.parse(run.waitingSince)) / 1000;
  if (waited <= env.TRAINING_SLOT_WAIT_SECONDS) return;
  const holder = wait.heldBy ? `held by execution ${wait.heldBy}${wait.heldSince ? ` since ${wait.heldSince}` : ''}` : 'busy';
  throw new TrainingSlotWaitExceeded(
    `Run ${wait.execution} waited ${formatWait(waited)} for the training slot of model '${wait.model}' (${holder}), ` +
      `longer than its bound of ${formatWait(env.TRAINING_SLOT_WAIT_SECONDS)} (TRAINING_SLOT_WAIT_SECONDS, the trainingSlotWait prop). ` +
      `Dataset version ${wait.datasetVersion} is ingested and kept: train it once the model is free with ` +
      `'mloop train --model ${wait.model} --dataset-version ${wait.datasetVersion}', or drop the same file again.`,
  );
}

/** The slot was taken after a wait: record when, so that the run's record shows how long it waited. */
export async function noteSlotAcquired(registry: Registry, model: string, execution: string, now: Date): Promise<void> {
  const run = await registry.runs.get(model, execution);
  if (!run?.waitingSince || run.slotAcquiredAt) return;
  await registry.runs.put({ ...run, slotAcquiredAt: now.toISOString(), updatedAt: now.toISOString() });
}
