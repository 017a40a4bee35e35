/**
 * The model registry's store: the item shapes of the registry table and the only code that reads
 * or writes them. Every write that must not race is a single-item conditional write (the local
 * DynamoDB has no transactions, and a single conditional write is also what makes an alias move
 * atomic on AWS).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamoClient } from './clients';
import { registryKeys as k } from './layout';
import type { DatasetSchema, Task } from './types';

export type DatasetStatus = 'accepted' | 'rejected';

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
  readonly reportUri: string;
  readonly splits?: { train: string; validation: string; test: string };
  readonly splitRows?: { train: number; validation: number; test: number };
  readonly parentVersion?: number;
  readonly sourceEvent: { execution: string; eventId?: string; eventTime?: string };
  readonly reason?: string;
  readonly createdAt: string;
}

export type ModelVersionStatus = 'registered' | 'failed';

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
}

export interface ModelRecord {
  readonly model: string;
  readonly schema?: DatasetSchema;
  readonly datasetCounter?: number;
  readonly versionCounter?: number;
  readonly latestDataset?: number;
  readonly createdAt: string;
  readonly driftWatermark?: string;
}

export interface AliasRecord {
  readonly model: string;
  readonly alias: string;
  readonly version: number;
  readonly previousVersion?: number;
  readonly updatedAt: string;
  readonly updatedBy: string;
  readonly reason: string;
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

/** Whether an error is DynamoDB's answer to a failed condition. */
export function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException'
  );
}

export class Registry {
  constructor(private readonly table: string) {}

  private async get<T extends Record<string, unknown>>(model: string, sk: string): Promise<T | undefined> {
    const out = await dynamoClient().send(new GetCommand({ TableName: this.table, Key: { pk: k.pk(model), sk }, ConsistentRead: true }));
    return strip(out.Item as T | undefined);
  }

  private async query<T extends Record<string, unknown>>(model: string, prefix: string, newestFirst = false, limit?: number): Promise<T[]> {
    const items: T[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await dynamoClient().send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': k.pk(model), ':prefix': prefix },
          ScanIndexForward: !newestFirst,
          ExclusiveStartKey: start,
          ConsistentRead: true,
          Limit: limit,
        }),
      );
      for (const item of out.Items ?? []) items.push(strip(item as T)!);
      start = limit !== undefined && items.length >= limit ? undefined : out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async getModel(model: string): Promise<ModelRecord | undefined> {
    return this.get<ModelRecord & Record<string, unknown>>(model, k.meta);
  }

  /** Every model known to the registry (the `byKind` index holds one entry per model). */
  async listModels(): Promise<string[]> {
    const names: string[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await dynamoClient().send(
        new QueryCommand({
          TableName: this.table,
          IndexName: 'byKind',
          KeyConditionExpression: 'kind = :kind',
          ExpressionAttributeValues: { ':kind': k.modelsIndexPk },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) names.push(String(item.model));
      start = out.LastEvaluatedKey;
    } while (start);
    return names.sort();
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
  async claimContent(model: string, sha256: string, execution: string): Promise<{ execution: string; datasetVersion?: number } | undefined> {
    try {
      await dynamoClient().send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: k.pk(model), sk: k.dataHash(sha256), execution, claimedAt: new Date().toISOString() },
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
      return undefined;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    return this.get<{ execution: string; datasetVersion?: number }>(model, k.dataHash(sha256));
  }

  /** Which dataset version holds these bytes, if any execution has ingested them. */
  async getContent(model: string, sha256: string): Promise<{ execution: string; datasetVersion?: number } | undefined> {
    return this.get<{ execution: string; datasetVersion?: number }>(model, k.dataHash(sha256));
  }

  /**
   * Give up this execution's claim on some bytes (their dataset was rejected), so that the same
   * file can be dropped again once what rejected it changed (a target given, a threshold moved).
   */
  async releaseContent(model: string, sha256: string, execution: string): Promise<void> {
    try {
      await dynamoClient().send(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: k.pk(model), sk: k.dataHash(sha256) },
          ConditionExpression: 'execution = :e',
          ExpressionAttributeValues: { ':e': execution },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
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

  async putDataset(record: DatasetRecord): Promise<void> {
    await dynamoClient().send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: k.pk(record.model), sk: k.dataset(record.version), ...record },
        ConditionExpression: 'attribute_not_exists(sk)',
      }),
    );
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

  /**
   * Move an alias in one conditional write: it succeeds only if the alias still points where the
   * caller last saw it (`expected`, undefined = no holder yet). Returns false when another writer
   * moved it first; nothing is half-applied either way.
   */
  async moveAlias(record: Omit<AliasRecord, 'previousVersion'>, expected: number | undefined): Promise<boolean> {
    try {
      await dynamoClient().send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: k.pk(record.model), sk: k.alias(record.alias), ...record, previousVersion: expected },
          ConditionExpression: expected === undefined ? 'attribute_not_exists(sk)' : 'version = :expected',
          ExpressionAttributeValues: expected === undefined ? undefined : { ':expected': expected },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async putRun(record: RunRecord): Promise<void> {
    await dynamoClient().send(
      new PutCommand({ TableName: this.table, Item: { pk: k.pk(record.model), sk: k.run(record.execution), ...record } }),
    );
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
