/**
 * Drift monitor runs (`DRIFT#<at>`), newest first when listed, and the watermark on the model's
 * META item that says which captured predictions the last run read.
 */
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { registryKeys as k } from '../layout';
import type { RegistryTable } from './table';

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

export class DriftRecordStore {
  constructor(private readonly table: RegistryTable) {}

  /** Record a monitor run; with a `watermark`, also move the model's drift watermark to it. */
  async put(record: DriftRecord, watermark: string | undefined): Promise<void> {
    await this.table.send(
      new PutCommand({ TableName: this.table.name, Item: { pk: k.pk(record.model), sk: k.drift(new Date(record.at)), ...record } }),
    );
    if (watermark !== undefined) {
      await this.table.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: { pk: k.pk(record.model), sk: k.meta },
          UpdateExpression: 'SET driftWatermark = :w',
          ExpressionAttributeValues: { ':w': watermark },
        }),
      );
    }
  }

  /** The model's latest monitor runs, newest first. */
  async list(model: string, limit = 20): Promise<DriftRecord[]> {
    return this.table.query<DriftRecord & Record<string, unknown>>(model, k.driftPrefix, true, limit);
  }
}
