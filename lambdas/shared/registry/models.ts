/**
 * A model's META item: created by the first number taken from one of its counters, it holds the
 * dataset and version counters, the schema fixed by the first accepted dataset, the drift
 * watermark and the leases (see `leases.ts`). Every model is also indexed under one partition of
 * the `byKind` index, which is how the registry lists them.
 *
 * The schema lists each categorical column's categories (up to 1,000 each), so a wide schema can
 * pass DynamoDB's 400 KB item limit: one over INLINE_SCHEMA_MAX_BYTES is written to S3 (beside the
 * profile of the dataset that fixed it) and the item holds a reference with its SHA-256. Every
 * reader goes through `ModelStore.schemaOf`, which loads and checks it.
 */
import { createHash } from 'node:crypto';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { parseS3Uri, registryKeys as k, s3Keys, s3Uri } from '../layout';
import { getBytes, putBytes } from '../storage';
import type { SplitHash } from '../split-scheme';
import type { DatasetSchema } from '../types';
import { valueBytes } from './item-size';
import type { TrainingLease } from './leases';
import type { RegistryTable } from './table';

/**
 * The largest schema kept in the META item itself (as DynamoDB counts it): a quarter of the
 * 400 KB item limit, leaving the rest to the counters and the leases, whatever the schema.
 */
export const INLINE_SCHEMA_MAX_BYTES = 100 * 1024;

/** Where a schema too big for the item is: its S3 object and the SHA-256 of its bytes. */
export interface SchemaReference {
  readonly s3Uri: string;
  readonly sha256: string;
  readonly bytes: number;
  /** How many columns it has, to be read without loading it. */
  readonly columns: number;
}

/** A META item's schema: the schema itself, or where it is. */
export type StoredSchema = DatasetSchema | SchemaReference;

export function isSchemaReference(stored: StoredSchema): stored is SchemaReference {
  return 's3Uri' in stored;
}

export interface ModelRecord {
  readonly model: string;
  /** Read it with `ModelStore.schemaOf`: it may be a reference to S3. */
  readonly schema?: StoredSchema;
  readonly datasetCounter?: number;
  readonly versionCounter?: number;
  readonly latestDataset?: number;
  /**
   * How the model's datasets split their rows (../split-scheme.ts), fixed by its first accepted
   * dataset. Absent on a model whose first dataset was accepted before schemes were recorded.
   */
  readonly splitHash?: SplitHash;
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

  /**
   * Fix the model's schema (and its split scheme, when given) with its first accepted dataset;
   * later calls leave them as they are. A schema too big for the item is written to `bucket` first
   * (s3Keys.modelSchema) and the item gets its reference. Returns the model's schema, as fixed (by
   * this call or an earlier one).
   */
  async fixSchema(
    model: string,
    schema: DatasetSchema,
    datasetVersion: number,
    bucket: string,
    splitHash?: SplitHash,
  ): Promise<DatasetSchema> {
    // The split scheme is fixed the same way: by the first accepted dataset that names one (on a
    // model from before schemes were recorded, the scheme of then, LEGACY_SPLIT_HASH).
    const out = await this.table.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(model), sk: k.meta },
        UpdateExpression: `SET #s = if_not_exists(#s, :schema), latestDataset = :dv${splitHash !== undefined ? ', splitHash = if_not_exists(splitHash, :sh)' : ''}`,
        ExpressionAttributeNames: { '#s': 'schema' },
        ExpressionAttributeValues: {
          ':schema': await storedSchema(model, schema, datasetVersion, bucket),
          ':dv': datasetVersion,
          ...(splitHash !== undefined ? { ':sh': splitHash } : {}),
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return (await this.schemaOf(out.Attributes as ModelRecord))!;
  }

  /** The model's schema, loaded from S3 (and its SHA-256 checked) when the item holds a reference. */
  async schemaOf(record: Pick<ModelRecord, 'model' | 'schema'> | undefined): Promise<DatasetSchema | undefined> {
    const stored = record?.schema;
    if (stored === undefined || !isSchemaReference(stored)) return stored;
    const { bucket, key } = parseS3Uri(stored.s3Uri);
    const bytes = await getBytes(bucket, key);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (sha256 !== stored.sha256) {
      throw new Error(
        `The schema of model '${record!.model}' at ${stored.s3Uri} has SHA-256 ${sha256}, not the ${stored.sha256} its registry item holds: the object was changed after the schema was fixed.`,
      );
    }
    return JSON.parse(bytes.toString('utf8')) as DatasetSchema;
  }
}

/** What the META item holds for `schema`: itself when it fits INLINE_SCHEMA_MAX_BYTES, else a reference to it, written to S3. */
export async function storedSchema(model: string, schema: DatasetSchema, datasetVersion: number, bucket: string): Promise<StoredSchema> {
  if (valueBytes(schema) <= INLINE_SCHEMA_MAX_BYTES) return schema;
  const body = JSON.stringify(schema);
  const key = s3Keys.modelSchema(model, datasetVersion);
  await putBytes(bucket, key, body, 'application/json');
  return {
    s3Uri: s3Uri(bucket, key),
    sha256: createHash('sha256').update(body).digest('hex'),
    bytes: Buffer.byteLength(body, 'utf8'),
    columns: schema.columns.length,
  };
}
