/**
 * Dataset versions (`DATASET#<n>`): one item per number a model's dataset counter gave out, written
 * once (accepted, rejected, or abandoned) and never overwritten.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { registryKeys as k } from '../layout';
import type { SplitHash } from '../split-scheme';
import type { RegistryTable } from './table';

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
  /** How its rows were hashed into the splits (../split-scheme.ts); absent on versions from before schemes were recorded (sha1-json). */
  readonly splitHash?: SplitHash;
  /** How many byte-range parts the file was ingested in (absent: in one pass). */
  readonly parts?: number;
  readonly parentVersion?: number;
  readonly sourceEvent: { execution: string; eventId?: string; eventTime?: string };
  readonly reason?: string;
  readonly createdAt: string;
}

/** The newest accepted dataset version that has splits: what a retraining trains on by default. */
export function newestAccepted(datasets: DatasetRecord[]): DatasetRecord | undefined {
  return datasets.filter((d) => d.status === 'accepted' && d.splits).sort((a, b) => b.version - a.version)[0];
}

export class DatasetStore {
  constructor(private readonly table: RegistryTable) {}

  /** Record a dataset version; fails (a condition failure) when the number has a record already. */
  async put(record: DatasetRecord): Promise<void> {
    await this.table.send(this.putCommand(record));
  }

  /** Record a dataset version unless the number has a record already. Returns whether it wrote. */
  async putIfAbsent(record: DatasetRecord): Promise<boolean> {
    return this.table.conditionally(this.putCommand(record));
  }

  private putCommand(record: DatasetRecord): PutCommand {
    return new PutCommand({
      TableName: this.table.name,
      Item: { pk: k.pk(record.model), sk: k.dataset(record.version), ...record },
      ConditionExpression: 'attribute_not_exists(sk)',
    });
  }

  async get(model: string, version: number): Promise<DatasetRecord | undefined> {
    return this.table.get<DatasetRecord & Record<string, unknown>>(model, k.dataset(version));
  }

  async list(model: string): Promise<DatasetRecord[]> {
    return this.table.query<DatasetRecord & Record<string, unknown>>(model, k.datasetPrefix);
  }
}
