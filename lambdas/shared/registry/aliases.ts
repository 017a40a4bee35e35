/**
 * Aliases (`ALIAS#<alias>`: champion, challenger, ...) and their append-only history
 * (`ALIASHIST#<alias>#<at>#<revision>`). An alias moves in one conditional write on its revision,
 * and every move is also written to the history, with no transaction (see `moveWithHistory`).
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { registryKeys as k } from '../layout';
import { isConditionFailure, type RegistryTable } from './table';

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
 * the alias item before the alias moves again (see `AliasStore.moveWithHistory`).
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

/** What `moveWithHistory` did. `recovered`: history items a crashed earlier move had left unwritten. */
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

export class AliasStore {
  constructor(private readonly table: RegistryTable) {}

  async get(model: string, alias: string): Promise<AliasRecord | undefined> {
    return this.table.get<AliasRecord & Record<string, unknown>>(model, k.alias(alias));
  }

  /** Every alias of a model (champion, challenger, ...), by name. */
  async list(model: string): Promise<AliasRecord[]> {
    return this.table.query<AliasRecord & Record<string, unknown>>(model, k.aliasPrefix);
  }

  /**
   * Move an alias in one conditional write: it succeeds only if the alias still points where the
   * caller last saw it (`expected`, undefined = no holder yet). Returns false when another writer
   * moved it first; nothing is half-applied either way. See `moveWithHistory`.
   */
  async move(record: Omit<AliasRecord, 'previousVersion' | 'revision'>, expected: number | undefined): Promise<boolean> {
    return (await this.moveWithHistory(record, expected)).moved;
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
   * complete before the alias moves again (`repairHistory` does the same for readers).
   */
  async moveWithHistory(record: Omit<AliasRecord, 'previousVersion' | 'revision'>, expected: number | undefined): Promise<AliasMove> {
    const current = await this.get(record.model, record.alias);
    const recovered: AliasHistoryRecord[] = [];
    if (current?.version !== expected) return { moved: false, current, recovered };
    if (current) {
      const repaired = await this.recordHistory(current);
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
      await this.table.send(
        new PutCommand({ TableName: this.table.name, Item: { pk: k.pk(record.model), sk: k.alias(record.alias), ...item }, ...condition }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return { moved: false, current: await this.get(record.model, record.alias), recovered };
    }
    await this.recordHistory(item);
    return { moved: true, entry: historyEntryOf(item), recovered };
  }

  /**
   * Put the history item of the move that wrote `alias`, unless it is there already. Returns the
   * entry when this call wrote it (it had been left unwritten), undefined otherwise. Idempotent.
   */
  async recordHistory(alias: AliasRecord): Promise<AliasHistoryRecord | undefined> {
    const entry = historyEntryOf(alias);
    const written = await this.table.conditionally(
      new PutCommand({
        TableName: this.table.name,
        Item: { pk: k.pk(alias.model), sk: k.aliasHistory(alias.alias, entry.at, entry.revision), ...entry },
        ConditionExpression: 'attribute_not_exists(sk)',
      }),
    );
    return written ? entry : undefined;
  }

  /**
   * Write the history item of the alias's current holder if a crash left it unwritten (what every
   * move does first). Returns the entry it wrote, if any.
   */
  async repairHistory(model: string, alias: string): Promise<AliasHistoryRecord | undefined> {
    const current = await this.get(model, alias);
    if (!current) return undefined;
    const key = k.aliasHistory(alias, current.updatedAt, current.revision ?? 0);
    if (await this.table.get(model, key)) return undefined;
    return this.recordHistory(current);
  }

  /** The moves of one alias (or of every alias), oldest first: by alias, then by revision. */
  async history(model: string, alias?: string): Promise<AliasHistoryRecord[]> {
    const items = await this.table.query<AliasHistoryRecord & Record<string, unknown>>(model, k.aliasHistoryPrefix(alias));
    return items.sort((a, b) =>
      a.alias === b.alias ? a.revision - b.revision || a.at.localeCompare(b.at) : a.alias.localeCompare(b.alias),
    );
  }
}
