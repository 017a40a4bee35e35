/**
 * Pipeline runs (`RUN#<execution>`): one item per execution, written as the run goes (the fields
 * given are set, the others kept) and once more with how it ended.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { registryKeys as k } from '../layout';
import { strip, type RegistryTable } from './table';

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
  /** Since when the run waits for its model's training slot (first found busy), if it ever did. */
  readonly waitingSince?: string;
  /** The execution that held the slot when the wait began. */
  readonly waitingFor?: string;
  /** When a run that waited took the slot. */
  readonly slotAcquiredAt?: string;
  readonly updatedAt: string;
}

export class RunStore {
  constructor(private readonly table: RegistryTable) {}

  /**
   * Write a run's record: the given fields are set, the others kept, so that what an earlier step
   * recorded (why a retraining run exists, its source) survives the record of how it ended.
   */
  async put(record: RunRecord): Promise<void> {
    await this.table.send(this.update(record));
  }

  /**
   * Record how a run ended unless it is recorded as ended already (a run absent or RUNNING is
   * written; SUCCEEDED, FAILED or DUPLICATE stay). Returns whether it wrote.
   */
  async putIfNotEnded(record: RunRecord): Promise<boolean> {
    return this.table.conditionally(
      this.update(record, { expression: 'attribute_not_exists(sk) OR #status = :running', values: { ':running': 'RUNNING' } }),
    );
  }

  /** The UpdateItem that sets every defined field of `record` on its RUN# item (and keeps the others). */
  private update(record: RunRecord, condition?: { expression: string; values: Record<string, unknown> }): UpdateCommand {
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
      TableName: this.table.name,
      Key: { pk: k.pk(record.model), sk: k.run(record.execution) },
      UpdateExpression: `SET ${sets.join(', ')}`,
      ...(condition ? { ConditionExpression: condition.expression } : {}),
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
  }

  /** The runs a dropped object (its s3:// URI) started, oldest first. */
  async ofSource(model: string, source: string): Promise<RunRecord[]> {
    const items = await this.table.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      FilterExpression: '#source = :source',
      ExpressionAttributeNames: { '#source': 'source' },
      ExpressionAttributeValues: { ':pk': k.pk(model), ':prefix': k.run(''), ':source': source },
      ConsistentRead: true,
    });
    return items.map((item) => strip(item as RunRecord & Record<string, unknown>)!).sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
  }

  /** The model's runs, newest first (by their last update). */
  async list(model: string): Promise<RunRecord[]> {
    const items = await this.table.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': k.pk(model), ':prefix': k.run('') },
    });
    return items.map((item) => strip(item as RunRecord & Record<string, unknown>)!).sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
  }

  async get(model: string, execution: string): Promise<RunRecord | undefined> {
    return this.table.get<RunRecord & Record<string, unknown>>(model, k.run(execution));
  }
}
