/**
 * The model registry's store: the item shapes of the registry table and the only code that reads
 * or writes them. Every write that must not race is a single-item conditional write (the local
 * DynamoDB has no transactions, and a single conditional write is also what makes an alias move
 * atomic on AWS).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { dynamoClient } from './clients';
import { registryKeys as k } from './layout';
import type { DatasetSchema, Task } from './types';

/**
 * accepted: trainable; rejected: failed its checks (kept, with its report); abandoned: its number
 * was taken by an ingestion that never finished (the execution was stopped or its process died),
 * recorded so that the version numbers have no silent gap.
 */
export type DatasetStatus = 'accepted' | 'rejected' | 'abandoned';

export interface DatasetRecord {
  readonly model: string;
  readonly version: number;
  readonly status: DatasetStatus;
  readonly sha256: string;
  readonly s3Uri: string;
  readonly s3VersionId?: string;
  readonly bytes: number;
  readonly rows: number;
  readonly schemaHash?: string;
  readonly profileUri?: string;
  /** The validation report (absent for an abandoned version: it was never checked to the end). */
  readonly reportUri?: string;
  readonly splits?: { train: string; validation: string; test: string };
  readonly splitRows?: { train: number; validation: number; test: number };
  /** How many byte-range parts the file was ingested in (absent: in one pass). */
  readonly parts?: number;
  readonly parentVersion?: number;
  readonly sourceEvent: { execution: string; eventId?: string; eventTime?: string };
  readonly reason?: string;
  readonly createdAt: string;
}

/**
 * registered: stored, may hold aliases; pending-approval: waits for a person (the pipeline holds a
 * task token); approved / rejected: a person decided; failed; archived.
 */
export type ModelVersionStatus = 'registered' | 'pending-approval' | 'approved' | 'rejected' | 'failed' | 'archived';

/** A manual approval of a version: requested by the pipeline, decided by a person. */
export interface ApprovalRecord {
  /** The Step Functions task token the pipeline waits on (absent once decided). */
  readonly taskToken?: string;
  readonly execution: string;
  readonly requestedAt: string;
  readonly decision?: 'approved' | 'rejected';
  readonly decidedBy?: string;
  readonly decidedAt?: string;
  readonly reason?: string;
}

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

export interface ModelRecord {
  readonly model: string;
  readonly schema?: DatasetSchema;
  readonly datasetCounter?: number;
  readonly versionCounter?: number;
  readonly latestDataset?: number;
  readonly createdAt: string;
  readonly driftWatermark?: string;
  /** The execution that may train this model now, until when (see `Registry.acquireTrainingLease`). */
  readonly trainingLease?: TrainingLease;
}

/** A model's training slot: one pipeline execution trains a model at a time. */
export interface TrainingLease {
  readonly execution: string;
  /** ISO time after which the lease counts as abandoned and another execution may take it. */
  readonly until: string;
  /** When the holder took it (absent on leases taken before it was recorded). */
  readonly since?: string;
}

/**
 * A content hash's claim (`DATAHASH#<sha256>`): which execution ingested these bytes, and once
 * ingested, which dataset version holds them. `execution` then names the latest run that trains
 * on that version: a drop of the same bytes after every run on it failed hands the claim to the
 * new run (`adoptContent`), which keeps the one-run-at-a-time rule for each dataset version.
 */
export interface ContentClaim {
  readonly execution: string;
  readonly datasetVersion?: number;
  /** The dataset version number the ingestion took, before it finished (see `reserveContentVersion`). */
  readonly reservedVersion?: number;
  /** The dropped object's s3:// URI. */
  readonly source?: string;
  readonly claimedAt?: string;
  /** Earlier runs on this version, oldest first, each of which ended without a model version. */
  readonly previousExecutions?: string[];
}

/** Why an alias moved: a promotion (by the pipeline or a person) or a rollback. */
export type AliasAction = 'promote' | 'rollback';

export interface AliasRecord {
  readonly model: string;
  readonly alias: string;
  readonly version: number;
  readonly previousVersion?: number;
  readonly updatedAt: string;
  /** `pipeline:<execution>` or `user:<name>`. */
  readonly updatedBy: string;
  readonly reason: string;
  /** Counts the moves of this alias (1 for the first holder); absent on items written before it existed. */
  readonly revision?: number;
  readonly action?: AliasAction;
}

/**
 * One move of an alias, append-only (`ALIASHIST#<alias>#<at>#<revision>`). Every field is also on
 * the alias item the move wrote, so a history item that a crash left unwritten is rebuilt from
 * the alias item before the alias moves again (see `Registry.moveAliasWithHistory`).
 */
export interface AliasHistoryRecord {
  readonly model: string;
  readonly alias: string;
  readonly revision: number;
  readonly fromVersion: number | null;
  readonly toVersion: number;
  readonly at: string;
  readonly by: string;
  readonly reason: string;
  readonly action: AliasAction;
}

/** What `moveAliasWithHistory` did. `recovered`: history items a crashed earlier move had left unwritten. */
export type AliasMove =
  | { readonly moved: true; readonly entry: AliasHistoryRecord; readonly recovered: AliasHistoryRecord[] }
  | { readonly moved: false; readonly current: AliasRecord | undefined; readonly recovered: AliasHistoryRecord[] };

/** The history item of the move that wrote `alias`. */
export function historyEntryOf(alias: AliasRecord): AliasHistoryRecord {
  return {
    model: alias.model,
    alias: alias.alias,
    revision: alias.revision ?? 0,
    fromVersion: alias.previousVersion ?? null,
    toVersion: alias.version,
    at: alias.updatedAt,
    by: alias.updatedBy,
    reason: alias.reason,
    action: alias.action ?? 'promote',
  };
}

export type RunStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'DUPLICATE';

export interface RunRecord {
  readonly model: string;
  readonly execution: string;
  readonly status: RunStatus;
  readonly datasetVersion?: number;
  readonly modelVersion?: number;
  readonly promoted?: boolean;
  readonly stage?: string;
  readonly error?: string;
  readonly reason?: string;
  /** The dropped object (s3:// URI) the run was started by, when a drop started it. */
  readonly source?: string;
  /** A run that trains an existing dataset version again: the run before it on that version. */
  readonly retryOf?: string;
  /** Why this run trains an existing dataset version (the earlier run's failure, or who asked). */
  readonly cause?: string;
  readonly updatedAt: string;
}

export interface DriftRecord {
  readonly model: string;
  readonly at: string;
  readonly modelVersion: number;
  readonly datasetVersion: number;
  readonly rows: number;
  readonly datasetDrift: boolean;
  readonly driftShare: number;
  readonly reportUri: string;
}

const strip = <T extends Record<string, unknown>>(item: T | undefined): T | undefined => {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, kind: _kind, ...rest } = item as Record<string, unknown>;
  return rest as T;
};

/** The newest accepted dataset version that has splits: what a retraining trains on by default. */
export function newestAccepted(datasets: DatasetRecord[]): DatasetRecord | undefined {
  return datasets.filter((d) => d.status === 'accepted' && d.splits).sort((a, b) => b.version - a.version)[0];
}

/** Whether an error is DynamoDB's answer to a failed condition. */
export function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException || (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException'
  );
}

export class Registry {
  constructor(private readonly table: string) {}

  /** Send a conditional write: true when it was applied, false when its condition failed. */
  private async conditionally(command: PutCommand | UpdateCommand | DeleteCommand): Promise<boolean> {
    try {
      await dynamoClient().send(command as UpdateCommand);
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private async get<T extends Record<string, unknown>>(model: string, sk: string): Promise<T | undefined> {
    const out = await dynamoClient().send(new GetCommand({ TableName: this.table, Key: { pk: k.pk(model), sk }, ConsistentRead: true }));
    return strip(out.Item as T | undefined);
  }

  /** The items a query answers, page after page (at most `limit` of them when given), as stored. */
  private async queryAll(input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await dynamoClient().send(new QueryCommand({ ...input, TableName: this.table, ExclusiveStartKey: start }));
      items.push(...(out.Items ?? []));
      start = input.Limit !== undefined && items.length >= input.Limit ? undefined : out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  private async query<T extends Record<string, unknown>>(model: string, prefix: string, newestFirst = false, limit?: number): Promise<T[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': k.pk(model), ':prefix': prefix },
      ScanIndexForward: !newestFirst,
      ConsistentRead: true,
      Limit: limit,
    });
    return items.map((item) => strip(item as T)!);
  }

  async getModel(model: string): Promise<ModelRecord | undefined> {
    return this.get<ModelRecord & Record<string, unknown>>(model, k.meta);
  }

  /** Every model known to the registry (the `byKind` index holds one entry per model). */
  async listModels(): Promise<string[]> {
    const items = await this.queryAll({
      IndexName: 'byKind',
      KeyConditionExpression: 'kind = :kind',
      ExpressionAttributeValues: { ':kind': k.modelsIndexPk },
    });
    return items.map((item) => String(item.model)).sort();
  }

  /**
   * Take the next number of a per-model counter. ADD is atomic, so concurrent callers always get
   * distinct numbers; the model item is created on first use.
   */
  async nextNumber(model: string, counter: 'datasetCounter' | 'versionCounter'): Promise<number> {
    const out = await dynamoClient().send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: k.pk(model), sk: k.meta },
        UpdateExpression: 'SET model = :model, kind = :kind, createdAt = if_not_exists(createdAt, :now) ADD #c :one',
        ExpressionAttributeNames: { '#c': counter },
        ExpressionAttributeValues: { ':model': model, ':kind': k.modelsIndexPk, ':now': new Date().toISOString(), ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(out.Attributes?.[counter]);
  }

  /**
   * The model version number of a pipeline execution: taken from the counter once, and the same
   * number again when the execution's Register is retried (`VERSIONOF#<execution>`), so a retry
   * neither skips a number nor registers the candidate twice.
   */
  async versionNumberFor(model: string, execution: string): Promise<number> {
    const claimed = await this.get<{ version: number }>(model, k.versionOf(execution));
    if (claimed) return claimed.version;
    const version = await this.nextNumber(model, 'versionCounter');
    try {
      await dynamoClient().send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: k.pk(model), sk: k.versionOf(execution), model, execution, version, claimedAt: new Date().toISOString() },
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
      return version;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return (await this.get<{ version: number }>(model, k.versionOf(execution)))!.version;
    }
  }

  /** Fix the model's schema with its first accepted dataset; later calls leave it as it is. */
  async fixSchema(model: string, schema: DatasetSchema, datasetVersion: number): Promise<DatasetSchema> {
    const out = await dynamoClient().send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: k.pk(model), sk: k.meta },
        UpdateExpression: 'SET #s = if_not_exists(#s, :schema), latestDataset = :dv',
        ExpressionAttributeNames: { '#s': 'schema' },
        ExpressionAttributeValues: { ':schema': schema, ':dv': datasetVersion },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return out.Attributes?.schema as DatasetSchema;
  }

  /**
   * Claim a content hash for an execution. Returns undefined when the claim is new, else the
   * existing claim: another execution's (a duplicate), or this execution's own (a retry).
   */
  async claimContent(model: string, sha256: string, execution: string, source?: string): Promise<ContentClaim | undefined> {
    try {
      await dynamoClient().send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: k.pk(model), sk: k.dataHash(sha256), execution, claimedAt: new Date().toISOString(), ...(source ? { source } : {}) },
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
      return undefined;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    return this.get<ContentClaim & Record<string, unknown>>(model, k.dataHash(sha256));
  }

  /** Which dataset version holds these bytes, if any execution has ingested them. */
  async getContent(model: string, sha256: string): Promise<ContentClaim | undefined> {
    return this.get<ContentClaim & Record<string, unknown>>(model, k.dataHash(sha256));
  }

  /**
   * Record on this execution's claim the dataset version number its ingestion took, right after
   * taking it: should the ingestion never finish, the cleanup records that number as abandoned
   * instead of leaving a silent gap (see `releaseUnlinkedContent`).
   */
  async reserveContentVersion(model: string, sha256: string, execution: string, version: number): Promise<void> {
    await this.conditionally(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: k.pk(model), sk: k.dataHash(sha256) },
        UpdateExpression: 'SET reservedVersion = :v',
        ConditionExpression: 'execution = :e',
        ExpressionAttributeValues: { ':v': version, ':e': execution },
      }),
    );
  }

  /**
   * Hand an ingested version's claim from the run that last trained on it (`from`, which ended
   * without a model version, or with one when the retraining is asked for) to `to`, in one
   * conditional write: of two runs adopting at once exactly one wins. Returns false when the
   * claim no longer names `from`.
   */
  async adoptContent(model: string, sha256: string, from: string, to: string): Promise<boolean> {
    return this.conditionally(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: k.pk(model), sk: k.dataHash(sha256) },
        UpdateExpression:
          'SET execution = :to, adoptedAt = :now, previousExecutions = list_append(if_not_exists(previousExecutions, :none), :from)',
        ConditionExpression: 'execution = :e AND attribute_exists(datasetVersion)',
        ExpressionAttributeValues: { ':to': to, ':now': new Date().toISOString(), ':none': [], ':from': [from], ':e': from },
      }),
    );
  }

  /**
   * Give up this execution's claim on some bytes (their dataset was rejected), so that the same
   * file can be dropped again once what rejected it changed (a target given, a threshold moved).
   */
  async releaseContent(model: string, sha256: string, execution: string): Promise<void> {
    await this.conditionally(
      new DeleteCommand({
        TableName: this.table,
        Key: { pk: k.pk(model), sk: k.dataHash(sha256) },
        ConditionExpression: 'execution = :e',
        ExpressionAttributeValues: { ':e': execution },
      }),
    );
  }

  /**
   * Release the content claims of an execution that no dataset version links (its ingestion never
   * finished), so that the same bytes can be ingested again. Answers the claims it released (with
   * the version number each had reserved, if it got that far).
   */
  async releaseUnlinkedContent(model: string, execution: string): Promise<(ContentClaim & { sha256: string })[]> {
    const claims = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      FilterExpression: 'execution = :e AND attribute_not_exists(datasetVersion)',
      ExpressionAttributeValues: { ':pk': k.pk(model), ':prefix': k.dataHash(''), ':e': execution },
      ProjectionExpression: 'sk, execution, reservedVersion, #source',
      ExpressionAttributeNames: { '#source': 'source' },
      ConsistentRead: true,
    });
    const released: (ContentClaim & { sha256: string })[] = [];
    for (const claim of claims) {
      const sk = String(claim.sk);
      const deleted = await this.conditionally(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: k.pk(model), sk },
          ConditionExpression: 'execution = :e AND attribute_not_exists(datasetVersion)',
          ExpressionAttributeValues: { ':e': execution },
        }),
      );
      if (deleted) released.push({ ...strip(claim as ContentClaim & Record<string, unknown>)!, sha256: sk.slice(k.dataHash('').length) });
    }
    return released;
  }

  /**
   * What an execution that ends without finishing its ingestion leaves: its unlinked content
   * claims are released (the same bytes can be dropped again), and each dataset version number it
   * had taken is recorded as `abandoned` with `reason`, so the numbers have no silent gap. Answers
   * how many claims it released. Idempotent.
   */
  async abandonUnfinishedIngest(model: string, execution: string, reason: string): Promise<number> {
    const released = await this.releaseUnlinkedContent(model, execution);
    for (const claim of released) {
      if (claim.reservedVersion === undefined) continue;
      // Conditional on the number having no record yet: an accepted one (a crash between
      // recording the version and linking its bytes) or this abandonment's own repeat stays.
      await this.conditionally(
        this.datasetPut({
          model,
          version: claim.reservedVersion,
          status: 'abandoned',
          sha256: claim.sha256,
          s3Uri: claim.source ?? '',
          bytes: 0,
          rows: 0,
          sourceEvent: { execution },
          reason,
          createdAt: new Date().toISOString(),
        }),
      );
    }
    return released.length;
  }

  async linkContent(model: string, sha256: string, datasetVersion: number): Promise<void> {
    await dynamoClient().send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: k.pk(model), sk: k.dataHash(sha256) },
        UpdateExpression: 'SET datasetVersion = :v',
        ExpressionAttributeValues: { ':v': datasetVersion },
      }),
    );
  }

  /** Record a dataset version; fails (a condition failure) when the number has a record already. */
  async putDataset(record: DatasetRecord): Promise<void> {
    await dynamoClient().send(this.datasetPut(record));
  }

  private datasetPut(record: DatasetRecord): PutCommand {
    return new PutCommand({
      TableName: this.table,
      Item: { pk: k.pk(record.model), sk: k.dataset(record.version), ...record },
      ConditionExpression: 'attribute_not_exists(sk)',
    });
  }

  async getDataset(model: string, version: number): Promise<DatasetRecord | undefined> {
    return this.get<DatasetRecord & Record<string, unknown>>(model, k.dataset(version));
  }

  async listDatasets(model: string): Promise<DatasetRecord[]> {
    return this.query<DatasetRecord & Record<string, unknown>>(model, k.datasetPrefix);
  }

  async putVersion(record: ModelVersionRecord): Promise<void> {
    await dynamoClient().send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: k.pk(record.model), sk: k.version(record.version), ...record },
        ConditionExpression: 'attribute_not_exists(sk)',
      }),
    );
  }

  async getVersion(model: string, version: number): Promise<ModelVersionRecord | undefined> {
    return this.get<ModelVersionRecord & Record<string, unknown>>(model, k.version(version));
  }

  async listVersions(model: string): Promise<ModelVersionRecord[]> {
    return this.query<ModelVersionRecord & Record<string, unknown>>(model, k.versionPrefix);
  }

  async getAlias(model: string, alias: string): Promise<AliasRecord | undefined> {
    return this.get<AliasRecord & Record<string, unknown>>(model, k.alias(alias));
  }

  /** Every alias of a model (champion, challenger, ...), by name. */
  async listAliases(model: string): Promise<AliasRecord[]> {
    return this.query<AliasRecord & Record<string, unknown>>(model, k.aliasPrefix);
  }

  /**
   * Move an alias in one conditional write: it succeeds only if the alias still points where the
   * caller last saw it (`expected`, undefined = no holder yet). Returns false when another writer
   * moved it first; nothing is half-applied either way. See `moveAliasWithHistory`.
   */
  async moveAlias(record: Omit<AliasRecord, 'previousVersion' | 'revision'>, expected: number | undefined): Promise<boolean> {
    return (await this.moveAliasWithHistory(record, expected)).moved;
  }

  /**
   * Move an alias and append the move to its history, with single-item conditional writes only
   * (the local DynamoDB has no transactions). In this order:
   *
   * 1. read the alias item (revision r, version v); if v is not `expected`, nothing is written;
   * 2. make sure the history item of revision r exists (a conditional put of the entry rebuilt from
   *    the alias item: `previousVersion`, `version`, `updatedAt`, `updatedBy`, `reason`, `action`);
   * 3. write the alias item as revision r + 1, on the condition that it is still revision r: of
   *    concurrent movers exactly one wins, and the losers write nothing more;
   * 4. put the history item of revision r + 1 (conditional on its key not existing).
   *
   * A crash between 3 and 4 loses nothing: the alias item holds every field of its history entry,
   * and nobody can overwrite revision r + 1 without first doing step 2 for it, so the history is
   * complete before the alias moves again (`repairAliasHistory` does the same for readers).
   */
  async moveAliasWithHistory(record: Omit<AliasRecord, 'previousVersion' | 'revision'>, expected: number | undefined): Promise<AliasMove> {
    const current = await this.getAlias(record.model, record.alias);
    const recovered: AliasHistoryRecord[] = [];
    if (current?.version !== expected) return { moved: false, current, recovered };
    if (current) {
      const repaired = await this.recordAliasHistory(current);
      if (repaired) recovered.push(repaired);
    }
    const item: AliasRecord = { ...record, previousVersion: expected, revision: (current?.revision ?? 0) + 1 };
    let condition: { ConditionExpression: string; ExpressionAttributeValues?: Record<string, unknown> };
    if (!current) condition = { ConditionExpression: 'attribute_not_exists(sk)' };
    else if (current.revision === undefined) {
      condition = {
        ConditionExpression: 'attribute_not_exists(revision) AND version = :expected',
        ExpressionAttributeValues: { ':expected': expected },
      };
    } else condition = { ConditionExpression: 'revision = :revision', ExpressionAttributeValues: { ':revision': current.revision } };
    try {
      await dynamoClient().send(
        new PutCommand({ TableName: this.table, Item: { pk: k.pk(record.model), sk: k.alias(record.alias), ...item }, ...condition }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return { moved: false, current: await this.getAlias(record.model, record.alias), recovered };
    }
    await this.recordAliasHistory(item);
    return { moved: true, entry: historyEntryOf(item), recovered };
  }

  /**
   * Put the history item of the move that wrote `alias`, unless it is there already. Returns the
   * entry when this call wrote it (it had been left unwritten), undefined otherwise. Idempotent.
   */
  async recordAliasHistory(alias: AliasRecord): Promise<AliasHistoryRecord | undefined> {
    const entry = historyEntryOf(alias);
    try {
      await dynamoClient().send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: k.pk(alias.model), sk: k.aliasHistory(alias.alias, entry.at, entry.revision), ...entry },
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
      return entry;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  /**
   * Write the history item of the alias's current holder if a crash left it unwritten (what every
   * move does first). Returns the entry it wrote, if any.
   */
  async repairAliasHistory(model: string, alias: string): Promise<AliasHistoryRecord | undefined> {
    const current = await this.getAlias(model, alias);
    if (!current) return undefined;
    const key = k.aliasHistory(alias, current.updatedAt, current.revision ?? 0);
    if (await this.get(model, key)) return undefined;
    return this.recordAliasHistory(current);
  }

  /** The moves of one alias (or of every alias), oldest first: by alias, then by revision. */
  async listAliasHistory(model: string, alias?: string): Promise<AliasHistoryRecord[]> {
    const items = await this.query<AliasHistoryRecord & Record<string, unknown>>(model, k.aliasHistoryPrefix(alias));
    return items.sort((a, b) =>
      a.alias === b.alias ? a.revision - b.revision || a.at.localeCompare(b.at) : a.alias.localeCompare(b.alias),
    );
  }

  /**
   * Attach the pipeline's task token to a version that waits for approval. Fails (a condition
   * failure) unless the version is still pending-approval.
   */
  async requestApproval(model: string, version: number, approval: ApprovalRecord): Promise<void> {
    await dynamoClient().send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: k.pk(model), sk: k.version(version) },
        UpdateExpression: 'SET approval = :a',
        ConditionExpression: '#s = :pending',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':a': approval, ':pending': 'pending-approval' },
      }),
    );
  }

  /**
   * Decide a pending approval in one conditional write: the version must still be pending with
   * this task token, so of two concurrent decisions exactly one is recorded. Returns false when
   * the version was decided (or changed) first.
   */
  async decideApproval(
    model: string,
    version: number,
    taskToken: string,
    decision: { decision: 'approved' | 'rejected'; decidedBy: string; decidedAt: string; reason: string },
  ): Promise<boolean> {
    try {
      await dynamoClient().send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: k.pk(model), sk: k.version(version) },
          UpdateExpression:
            'SET #s = :decision, approval.decision = :decision, approval.decidedBy = :by, approval.decidedAt = :at, approval.reason = :reason REMOVE approval.taskToken',
          ConditionExpression: '#s = :pending AND approval.taskToken = :token',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':decision': decision.decision,
            ':by': decision.decidedBy,
            ':at': decision.decidedAt,
            ':reason': decision.reason,
            ':pending': 'pending-approval',
            ':token': taskToken,
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /**
   * Set and remove tags of a version, in one conditional UpdateItem on the version item (which
   * must exist): `SET tags.#k = :v ... REMOVE tags.#r ...`, so concurrent taggers of different
   * keys never lose each other's tags. A version with no tags map yet gets one first by a put of
   * the map conditional on its absence (then the update is retried). Returns the tags after the
   * write, or undefined when the version does not exist.
   */
  async updateVersionTags(
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
          const current = await this.getVersion(model, version);
          return current ? (current.tags ?? {}) : undefined;
        }
        const out = await dynamoClient().send(
          new UpdateCommand({
            TableName: this.table,
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
        await dynamoClient().send(
          new UpdateCommand({
            TableName: this.table,
            Key: key,
            UpdateExpression: 'SET #t = :empty',
            ConditionExpression: 'attribute_exists(sk) AND attribute_not_exists(#t)',
            ExpressionAttributeNames: { '#t': 'tags' },
            ExpressionAttributeValues: { ':empty': {} },
          }),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        if (!(await this.getVersion(model, version))) return undefined;
      }
    }
    throw new Error(`Could not update the tags of version ${version} of model '${model}': the version kept changing.`);
  }

  /**
   * Archive a version in one conditional write: it must exist and be in `fromStatus` still (what
   * the caller checked). Returns false when the condition failed (the version changed first).
   */
  async archiveVersion(
    model: string,
    version: number,
    archived: { at: string; by: string; reason: string; fromStatus: ModelVersionStatus },
  ): Promise<boolean> {
    try {
      await dynamoClient().send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: k.pk(model), sk: k.version(version) },
          UpdateExpression: 'SET #s = :archived, archived = :info',
          ConditionExpression: 'attribute_exists(sk) AND #s = :from',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':archived': 'archived', ':info': archived, ':from': archived.fromStatus },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Undo `archiveVersion` (an alias was moved onto the version while it was being archived). */
  async unarchiveVersion(model: string, version: number, status: ModelVersionStatus, at: string): Promise<void> {
    await dynamoClient().send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: k.pk(model), sk: k.version(version) },
        UpdateExpression: 'SET #s = :status REMOVE archived',
        ConditionExpression: '#s = :archived AND archived.#at = :at',
        ExpressionAttributeNames: { '#s': 'status', '#at': 'at' },
        ExpressionAttributeValues: { ':status': status, ':archived': 'archived', ':at': at },
      }),
    );
  }

  /** Record the gate's outcome on a version once the alias move is known (register's last step). */
  async setVersionDecision(model: string, version: number, promoted: boolean, decision: string): Promise<void> {
    await dynamoClient().send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: k.pk(model), sk: k.version(version) },
        UpdateExpression: 'SET promoted = :p, decision = :d',
        ConditionExpression: 'attribute_exists(sk)',
        ExpressionAttributeValues: { ':p': promoted, ':d': decision },
      }),
    );
  }

  /**
   * Take the model's training slot for `execution` for `ttlSeconds`: one conditional write on the
   * model item. Succeeds when no execution holds it, when the holder's lease ran out (an execution
   * that died without releasing it), or when `execution` already holds it (a retry, which renews
   * it). Returns false while another execution holds it.
   */
  async acquireTrainingLease(model: string, execution: string, ttlSeconds: number): Promise<boolean> {
    const now = new Date();
    return this.conditionally(
      new UpdateCommand({
        TableName: this.table,
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
  async releaseTrainingLease(model: string, execution: string): Promise<void> {
    await this.conditionally(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: k.pk(model), sk: k.meta },
        UpdateExpression: 'REMOVE trainingLease',
        ConditionExpression: 'trainingLease.execution = :me',
        ExpressionAttributeValues: { ':me': execution },
      }),
    );
  }

  /**
   * Write a run's record: the given fields are set, the others kept, so that what an earlier step
   * recorded (why a retraining run exists, its source) survives the record of how it ended.
   */
  async putRun(record: RunRecord): Promise<void> {
    await dynamoClient().send(this.runUpdate(record));
  }

  /**
   * Record how a run ended unless it is recorded as ended already (a run absent or RUNNING is
   * written; SUCCEEDED, FAILED or DUPLICATE stay). Returns whether it wrote.
   */
  async putRunIfNotEnded(record: RunRecord): Promise<boolean> {
    return this.conditionally(
      this.runUpdate(record, { expression: 'attribute_not_exists(sk) OR #status = :running', values: { ':running': 'RUNNING' } }),
    );
  }

  /** The UpdateItem that sets every defined field of `record` on its RUN# item (and keeps the others). */
  private runUpdate(record: RunRecord, condition?: { expression: string; values: Record<string, unknown> }): UpdateCommand {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ...condition?.values };
    const sets: string[] = [];
    for (const [field, value] of Object.entries(record)) {
      if (value === undefined) continue;
      names[`#${field}`] = field;
      values[`:${field}`] = value;
      sets.push(`#${field} = :${field}`);
    }
    return new UpdateCommand({
      TableName: this.table,
      Key: { pk: k.pk(record.model), sk: k.run(record.execution) },
      UpdateExpression: `SET ${sets.join(', ')}`,
      ...(condition ? { ConditionExpression: condition.expression } : {}),
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
  }

  /** The runs a dropped object (its s3:// URI) started, oldest first. */
  async runsOfSource(model: string, source: string): Promise<RunRecord[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      FilterExpression: '#source = :source',
      ExpressionAttributeNames: { '#source': 'source' },
      ExpressionAttributeValues: { ':pk': k.pk(model), ':prefix': k.run(''), ':source': source },
      ConsistentRead: true,
    });
    return items.map((item) => strip(item as RunRecord & Record<string, unknown>)!).sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
  }

  async getRun(model: string, execution: string): Promise<RunRecord | undefined> {
    return this.get<RunRecord & Record<string, unknown>>(model, k.run(execution));
  }

  async putDrift(record: DriftRecord, watermark: string | undefined): Promise<void> {
    await dynamoClient().send(
      new PutCommand({ TableName: this.table, Item: { pk: k.pk(record.model), sk: k.drift(new Date(record.at)), ...record } }),
    );
    if (watermark !== undefined) {
      await dynamoClient().send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: k.pk(record.model), sk: k.meta },
          UpdateExpression: 'SET driftWatermark = :w',
          ExpressionAttributeValues: { ':w': watermark },
        }),
      );
    }
  }

  async listDrift(model: string, limit = 20): Promise<DriftRecord[]> {
    return this.query<DriftRecord & Record<string, unknown>>(model, k.driftPrefix, true, limit);
  }
}
