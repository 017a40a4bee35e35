/**
 * A model's META item: created by the first number taken from one of its counters, it holds the
 * dataset and version counters, the schema fixed by the first accepted dataset, the drift
 * watermark and the leases (see `leases.ts`). Every model is also indexed under one partition of
 * the `byKind` index, which is how the registry lists them.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { registryKeys as k } from '../layout';
import type { DatasetSchema } from '../types';
import type { TrainingLease } from './leases';
import type { RegistryTable } from './table';

export interface ModelRecord {
  readonly model: string;
  readonly schema?: DatasetSchema;
  readonly datasetCounter?: number;
  readonly versionCounter?: number;
  readonly latestDataset?: number;
  readonly createdAt: string;
  readonly driftWatermark?: string;
  /** The execution that may train this model now, until when (see `LeaseStore.acquireTraining`). */
  readonly trainingLease?: TrainingLease;
}

export class ModelStore {
  constructor(private readonly table: RegistryTable) {}

  async get(model: string): Promise<ModelRecord | undefined> {
    return this.table.get<ModelRecord & Record<string, unknown>>(model, k.meta);
  }

  /** Every model known to the registry (the `byKind` index holds one entry per model). */
  async list(): Promise<string[]> {
    const items = await this.table.queryAll({
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
    const out = await this.table.send(
      new UpdateCommand({
        TableName: this.table.name,
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
    const out = await this.table.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(model), sk: k.meta },
        UpdateExpression: 'SET #s = if_not_exists(#s, :schema), latestDataset = :dv',
        ExpressionAttributeNames: { '#s': 'schema' },
        ExpressionAttributeValues: { ':schema': schema, ':dv': datasetVersion },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return out.Attributes?.schema as DatasetSchema;
  }
}
