/**
 * The registry table's handle: the one place that sends commands to it, reads one item, queries a
 * model's items by key prefix, and sends a conditional write. Every write that must not race is a
 * single-item conditional write (the local DynamoDB has no transactions, and a single conditional
 * write is also what makes an alias move atomic on AWS). The item keys are `registryKeys` in
 * `../layout`; the record stores beside this file each own one kind of item.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  GetCommand,
  QueryCommand,
  type DeleteCommand,
  type DeleteCommandOutput,
  type PutCommand,
  type PutCommandOutput,
  type QueryCommandInput,
  type UpdateCommand,
  type UpdateCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { dynamoClient } from '../clients';
import { registryKeys as k } from '../layout';

/** Whether an error is DynamoDB's answer to a failed condition. */
export function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException || (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException'
  );
}

/** An item as a record: without the table's own attributes (its keys and the `byKind` index key). */
export const strip = <T extends Record<string, unknown>>(item: T | undefined): T | undefined => {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, kind: _kind, ...rest } = item as Record<string, unknown>;
  return rest as T;
};

export class RegistryTable {
  constructor(readonly name: string) {}

  /** Send a write whose failure (a failed condition included) is the caller's to handle. */
  send(command: UpdateCommand): Promise<UpdateCommandOutput>;
  send(command: PutCommand): Promise<PutCommandOutput>;
  send(command: DeleteCommand): Promise<DeleteCommandOutput>;
  async send(command: PutCommand | UpdateCommand | DeleteCommand): Promise<UpdateCommandOutput | PutCommandOutput | DeleteCommandOutput> {
    return dynamoClient().send(command as UpdateCommand);
  }

  /** Send a conditional write: true when it was applied, false when its condition failed. */
  async conditionally(command: PutCommand | UpdateCommand | DeleteCommand): Promise<boolean> {
    try {
      await dynamoClient().send(command as UpdateCommand);
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** One item of a model (a consistent read), as a record; undefined when it does not exist. */
  async get<T extends Record<string, unknown>>(model: string, sk: string): Promise<T | undefined> {
    const out = await dynamoClient().send(new GetCommand({ TableName: this.name, Key: { pk: k.pk(model), sk }, ConsistentRead: true }));
    return strip(out.Item as T | undefined);
  }

  /** The items a query answers, page after page (at most `limit` of them when given), as stored. */
  async queryAll(input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await dynamoClient().send(new QueryCommand({ ...input, TableName: this.name, ExclusiveStartKey: start }));
      items.push(...(out.Items ?? []));
      start = input.Limit !== undefined && items.length >= input.Limit ? undefined : out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /** A model's items whose sort key starts with `prefix` (oldest key first unless `newestFirst`), as records. */
  async query<T extends Record<string, unknown>>(model: string, prefix: string, newestFirst = false, limit?: number): Promise<T[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': k.pk(model), ':prefix': prefix },
      ScanIndexForward: !newestFirst,
      ConsistentRead: true,
      Limit: limit,
    });
    return items.map((item) => strip(item as T)!);
  }
}
