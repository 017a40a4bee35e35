/**
 * Model versions (`VERSION#<n>`), with what changes on them after they are registered: the gate's
 * decision, tags, archiving. Also the number each pipeline execution's Register takes
 * (`VERSIONOF#<execution>`), so that a retried Register registers the same version again.
 */
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { registryKeys as k } from '../layout';
import type { Task, TrainerCandidate } from '../types';
import type { ApprovalRecord } from './approvals';
import type { ModelStore } from './models';
import { isConditionFailure, type RegistryTable } from './table';

/**
 * registered: stored, may hold aliases; pending-approval: waits for a person (the pipeline holds a
 * task token); approved / rejected: a person decided; failed; archived.
 */
export type ModelVersionStatus = 'registered' | 'pending-approval' | 'approved' | 'rejected' | 'failed' | 'archived';

export interface ModelVersionRecord {
  readonly model: string;
  readonly version: number;
  readonly status: ModelVersionStatus;
  readonly task: Task;
  readonly metrics: Record<string, number>;
  readonly validationMetrics?: Record<string, number>;
  readonly artifact: { onnxUri: string; sha256: string; cardUri: string; evaluationUri: string };
  readonly lineage: {
    readonly datasetVersion: number;
    readonly datasetSha256: string;
    readonly datasetS3VersionId?: string;
    readonly trainingJob: string;
    readonly trainingArtifact: string;
    readonly codeVersion: string;
    readonly hyperparameters: Record<string, unknown>;
    readonly execution: string;
    /** The trainer that produced the model (its card's `trainer`, else its framework); absent on versions registered before it was recorded. */
    readonly trainer?: string;
    /** With `trainer=auto`: each trainer the job ran, with its validation metrics or why it produced no model. */
    readonly trainerCandidates?: Record<string, TrainerCandidate>;
  };
  readonly promoted: boolean;
  readonly decision: string;
  readonly createdAt: string;
  /** Present when the pipeline asked for a manual approval of this version. */
  readonly approval?: ApprovalRecord;
  /** Free-form key/value tags (`mloop models tag`); absent until the first tag is set. */
  readonly tags?: Record<string, string>;
  /** Present once the version is archived (`mloop models archive`): when, by whom, why, from which status. */
  readonly archived?: { readonly at: string; readonly by: string; readonly reason: string; readonly fromStatus: ModelVersionStatus };
}

export class VersionStore {
  constructor(
    private readonly table: RegistryTable,
    private readonly models: ModelStore,
  ) {}

  /**
   * The model version number of a pipeline execution: taken from the counter once, and the same
   * number again when the execution's Register is retried (`VERSIONOF#<execution>`), so a retry
   * neither skips a number nor registers the candidate twice.
   */
  async numberFor(model: string, execution: string): Promise<number> {
    const claimed = await this.table.get<{ version: number }>(model, k.versionOf(execution));
    if (claimed) return claimed.version;
    const version = await this.models.nextNumber(model, 'versionCounter');
    try {
      await this.table.send(
        new PutCommand({
          TableName: this.table.name,
          Item: { pk: k.pk(model), sk: k.versionOf(execution), model, execution, version, claimedAt: new Date().toISOString() },
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
      return version;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return (await this.table.get<{ version: number }>(model, k.versionOf(execution)))!.version;
    }
  }

  /** Record a model version; fails (a condition failure) when the number has a record already. */
  async put(record: ModelVersionRecord): Promise<void> {
    await this.table.send(
      new PutCommand({
        TableName: this.table.name,
        Item: { pk: k.pk(record.model), sk: k.version(record.version), ...record },
        ConditionExpression: 'attribute_not_exists(sk)',
      }),
    );
  }

  async get(model: string, version: number): Promise<ModelVersionRecord | undefined> {
    return this.table.get<ModelVersionRecord & Record<string, unknown>>(model, k.version(version));
  }

  async list(model: string): Promise<ModelVersionRecord[]> {
    return this.table.query<ModelVersionRecord & Record<string, unknown>>(model, k.versionPrefix);
  }

  /** Record the gate's outcome on a version once the alias move is known (register's last step). */
  async setDecision(model: string, version: number, promoted: boolean, decision: string): Promise<void> {
    await this.table.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(model), sk: k.version(version) },
        UpdateExpression: 'SET promoted = :p, decision = :d',
        ConditionExpression: 'attribute_exists(sk)',
        ExpressionAttributeValues: { ':p': promoted, ':d': decision },
      }),
    );
  }

  /**
   * Set and remove tags of a version, in one conditional UpdateItem on the version item (which
   * must exist): `SET tags.#k = :v ... REMOVE tags.#r ...`, so concurrent taggers of different
   * keys never lose each other's tags. A version with no tags map yet gets one first by a put of
   * the map conditional on its absence (then the update is retried). Returns the tags after the
   * write, or undefined when the version does not exist.
   */
  async updateTags(
    model: string,
    version: number,
    set: Record<string, string>,
    remove: string[],
  ): Promise<Record<string, string> | undefined> {
    const key = { pk: k.pk(model), sk: k.version(version) };
    for (let attempt = 0; attempt < 3; attempt++) {
      const names: Record<string, string> = { '#t': 'tags' };
      const values: Record<string, unknown> = {};
      const sets = Object.entries(set).map(([tag, value], i) => {
        names[`#k${i}`] = tag;
        values[`:v${i}`] = value;
        return `#t.#k${i} = :v${i}`;
      });
      const removes = remove.map((tag, i) => {
        names[`#r${i}`] = tag;
        return `#t.#r${i}`;
      });
      const expression = [sets.length ? `SET ${sets.join(', ')}` : '', removes.length ? `REMOVE ${removes.join(', ')}` : '']
        .filter(Boolean)
        .join(' ');
      try {
        if (expression === '') {
          const current = await this.get(model, version);
          return current ? (current.tags ?? {}) : undefined;
        }
        const out = await this.table.send(
          new UpdateCommand({
            TableName: this.table.name,
            Key: key,
            UpdateExpression: expression,
            ConditionExpression: 'attribute_exists(sk) AND attribute_exists(#t)',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: Object.keys(values).length ? values : undefined,
            ReturnValues: 'ALL_NEW',
          }),
        );
        return (out.Attributes?.tags as Record<string, string> | undefined) ?? {};
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      // The version is missing, or has no tags map yet: create the map (only where it is absent).
      try {
        await this.table.send(
          new UpdateCommand({
            TableName: this.table.name,
            Key: key,
            UpdateExpression: 'SET #t = :empty',
            ConditionExpression: 'attribute_exists(sk) AND attribute_not_exists(#t)',
            ExpressionAttributeNames: { '#t': 'tags' },
            ExpressionAttributeValues: { ':empty': {} },
          }),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        if (!(await this.get(model, version))) return undefined;
      }
    }
    throw new Error(`Could not update the tags of version ${version} of model '${model}': the version kept changing.`);
  }

  /**
   * Archive a version in one conditional write: it must exist and be in `fromStatus` still (what
   * the caller checked). Returns false when the condition failed (the version changed first).
   */
  async archive(
    model: string,
    version: number,
    archived: { at: string; by: string; reason: string; fromStatus: ModelVersionStatus },
  ): Promise<boolean> {
    return this.table.conditionally(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(model), sk: k.version(version) },
        UpdateExpression: 'SET #s = :archived, archived = :info',
        ConditionExpression: 'attribute_exists(sk) AND #s = :from',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':archived': 'archived', ':info': archived, ':from': archived.fromStatus },
      }),
    );
  }

  /** Undo `archive` (an alias was moved onto the version while it was being archived). */
  async unarchive(model: string, version: number, status: ModelVersionStatus, at: string): Promise<void> {
    await this.table.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(model), sk: k.version(version) },
        UpdateExpression: 'SET #s = :status REMOVE archived',
        ConditionExpression: '#s = :archived AND archived.#at = :at',
        ExpressionAttributeNames: { '#s': 'status', '#at': 'at' },
        ExpressionAttributeValues: { ':status': status, ':archived': 'archived', ':at': at },
      }),
    );
  }
}
