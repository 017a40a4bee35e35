/**
 * The two leases on a model's META item, each one conditional write to take and one to give back:
 * - the training lease (`trainingLease`): one pipeline execution trains a model at a time;
 * - the retraining lease and its cooldown (`retrainLeaseId`, `retrainLeaseKey`,
 *   `retrainLeaseStartedAt`, `retrainLeaseExpiresAt`, `lastRetrainAt`): the drift monitor's storm
 *   guard, so that of two monitor runs at once only one starts a retraining, and retrainings are
 *   at least a cooldown apart. Each retraining is also recorded as a `RETRAIN#<at>` item.
 */
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { registryKeys as k } from '../layout';
import type { RegistryTable } from './table';

/** A model's training slot: one pipeline execution trains a model at a time. */
export interface TrainingLease {
  readonly execution: string;
  /** ISO time after which the lease counts as abandoned and another execution may take it. */
  readonly until: string;
  /** When the holder took it (absent on leases taken before it was recorded). */
  readonly since?: string;
}

/** What the META item says about retraining. */
export interface RetrainState {
  readonly lease?: { readonly id: string; readonly key?: string; readonly startedAt: string; readonly expiresAt: string };
  readonly lastRetrainAt?: string;
}

/** How long a retraining lease lasts, and how long after one retraining the next may start. */
export interface RetrainLeaseTimes {
  readonly leaseSeconds: number;
  readonly cooldownSeconds: number;
}

/** What every `RETRAIN#<at>` item holds; the drift monitor's record adds why and from what. */
export interface RetrainRecordBase {
  readonly model: string;
  readonly at: string;
  /** The retraining dataset's key in the data bucket: what the lease then names. */
  readonly datasetKey: string;
}

export class LeaseStore {
  constructor(private readonly table: RegistryTable) {}

  /**
   * Take the model's training slot for `execution` for `ttlSeconds`: one conditional write on the
   * model item. Succeeds when no execution holds it, when the holder's lease ran out (an execution
   * that died without releasing it), or when `execution` already holds it (a retry, which renews
   * it). Returns false while another execution holds it.
   */
  async acquireTraining(model: string, execution: string, ttlSeconds: number): Promise<boolean> {
    const now = new Date();
    return this.table.conditionally(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(model), sk: k.meta },
        UpdateExpression: 'SET trainingLease = :lease',
        ConditionExpression: 'attribute_not_exists(trainingLease) OR trainingLease.#until < :now OR trainingLease.execution = :me',
        ExpressionAttributeNames: { '#until': 'until' },
        ExpressionAttributeValues: {
          ':lease': { execution, until: new Date(now.getTime() + ttlSeconds * 1000).toISOString(), since: now.toISOString() },
          ':now': now.toISOString(),
          ':me': execution,
        },
      }),
    );
  }

  /** Give the model's training slot back, if `execution` holds it (else nothing changes). */
  async releaseTraining(model: string, execution: string): Promise<void> {
    await this.table.conditionally(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(model), sk: k.meta },
        UpdateExpression: 'REMOVE trainingLease',
        ConditionExpression: 'trainingLease.execution = :me',
        ExpressionAttributeValues: { ':me': execution },
      }),
    );
  }

  /** The retraining lease and the cooldown's start, as the META item holds them. */
  async retrainingState(model: string): Promise<RetrainState> {
    const item = (await this.table.get<Record<string, unknown>>(model, k.meta)) ?? {};
    const state: { lease?: RetrainState['lease']; lastRetrainAt?: string } = {};
    if (typeof item.retrainLeaseId === 'string') {
      state.lease = {
        id: item.retrainLeaseId,
        key: typeof item.retrainLeaseKey === 'string' ? item.retrainLeaseKey : undefined,
        startedAt: String(item.retrainLeaseStartedAt),
        expiresAt: String(item.retrainLeaseExpiresAt),
      };
    }
    if (typeof item.lastRetrainAt === 'string') state.lastRetrainAt = item.lastRetrainAt;
    return state;
  }

  /**
   * Take the model's retraining lease in one conditional write: only when no unexpired lease is held
   * and the last retraining started at least `cooldownSeconds` ago. Returns false when another run
   * holds it or the cooldown has not passed.
   */
  async acquireRetraining(model: string, id: string, now: Date, times: RetrainLeaseTimes): Promise<boolean> {
    return this.table.conditionally(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(model), sk: k.meta },
        UpdateExpression: 'SET retrainLeaseId = :id, retrainLeaseStartedAt = :now, retrainLeaseExpiresAt = :expires REMOVE retrainLeaseKey',
        ConditionExpression:
          'attribute_exists(pk) AND (attribute_not_exists(retrainLeaseId) OR retrainLeaseExpiresAt <= :now) AND (attribute_not_exists(lastRetrainAt) OR lastRetrainAt <= :edge)',
        ExpressionAttributeValues: {
          ':id': id,
          ':now': now.toISOString(),
          ':expires': new Date(now.getTime() + times.leaseSeconds * 1000).toISOString(),
          ':edge': new Date(now.getTime() - times.cooldownSeconds * 1000).toISOString(),
        },
      }),
    );
  }

  /** Give the retraining lease back (only if `id` still holds it). Returns whether it did. */
  async releaseRetraining(model: string, id: string): Promise<boolean> {
    return this.table.conditionally(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(model), sk: k.meta },
        UpdateExpression: 'REMOVE retrainLeaseId, retrainLeaseKey, retrainLeaseStartedAt, retrainLeaseExpiresAt',
        ConditionExpression: 'retrainLeaseId = :id',
        ExpressionAttributeValues: { ':id': id },
      }),
    );
  }

  /**
   * The retraining that `id`'s lease holds started: the cooldown starts now, the lease names its
   * dataset (a condition failure when `id` no longer holds it), and the record says why.
   */
  async recordRetraining<R extends RetrainRecordBase>(id: string, record: R): Promise<void> {
    await this.table.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(record.model), sk: k.meta },
        UpdateExpression: 'SET lastRetrainAt = :at, retrainLeaseKey = :key',
        ConditionExpression: 'retrainLeaseId = :id',
        ExpressionAttributeValues: { ':at': record.at, ':key': record.datasetKey, ':id': id },
      }),
    );
    await this.table.send(
      new PutCommand({ TableName: this.table.name, Item: { pk: k.pk(record.model), sk: k.retrain(new Date(record.at)), ...record } }),
    );
  }
}
