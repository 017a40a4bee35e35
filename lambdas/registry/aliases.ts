/**
 * Alias moves over the registry store: promotion, rollback and the alias history. Every alias
 * move is one conditional write (lambdas/shared/registry/aliases.ts, moveWithHistory) followed by
 * its history item and its events; two concurrent moves of the same alias can never both win.
 *
 * Who moved an alias: `pipeline:<execution>` for the training pipeline, `user:<name>` for a
 * person (the CLI sends the operating-system user; on AWS, whoever may invoke the function).
 */
import { InvalidInput } from '../shared/errors';
import { aliasChangedEvent, publishOrLog, type EventTargets, type RegistryEvent } from '../shared/events';
import { assertAliasName } from '../shared/layout';
import type { AliasAction, AliasHistoryRecord, AliasMove, AliasRecord } from '../shared/registry/aliases';
import type { Registry } from '../shared/registry/registry';
import type { ModelVersionRecord } from '../shared/registry/versions';
import { AliasConflict, AliasNotFound, VersionNotFound, VersionStateInvalid } from './errors';
import { assertActor, requireModel, requireVersion } from './preconditions';

export const DEFAULT_ALIAS = 'champion';

/** What a promotion or a rollback did. */
export interface AliasChange {
  readonly model: string;
  readonly alias: string;
  /** False when the alias already pointed at the version: nothing was written, no event sent. */
  readonly changed: boolean;
  readonly fromVersion: number | null;
  readonly toVersion: number;
  readonly action: AliasAction;
  readonly by: string;
  readonly reason: string;
  readonly revision: number | null;
  readonly at: string | null;
  /** Whether every event of the change went out (false: see the function's logs). */
  readonly eventsPublished: boolean;
}

export interface AliasHistory {
  readonly model: string;
  readonly alias: string | null;
  /** The aliases' current holders. */
  readonly aliases: { alias: string; version: number; updatedAt: string; updatedBy: string; revision: number | null }[];
  /** Oldest first, by alias then revision. */
  readonly history: AliasHistoryRecord[];
}

async function aliasNotFound(registry: Registry, model: string, alias: string): Promise<AliasNotFound> {
  const names = (await registry.aliases.list(model)).map((a) => a.alias);
  const known = names.length === 0 ? 'it has no aliases yet' : `its aliases: ${names.join(', ')}`;
  return new AliasNotFound(`Model '${model}' has no alias '${alias}' (${known}).`);
}

const PROMOTABLE = new Set(['registered', 'approved']);

function assertPromotable(record: ModelVersionRecord): void {
  if (record.status === 'archived') {
    const a = record.archived;
    throw new VersionStateInvalid(
      `Version ${record.version} of model '${record.model}' is archived${a ? ` (by ${a.by} at ${a.at}: ${a.reason})` : ''}: an archived version cannot hold an alias.`,
    );
  }
  if (!PROMOTABLE.has(record.status)) {
    throw new VersionStateInvalid(
      `Version ${record.version} of model '${record.model}' is ${record.status}: only a registered or approved version can hold an alias.`,
    );
  }
}

/**
 * Move `alias` from `expected` to `version`: one conditional write, its history item, and the
 * events (including the late events of a move whose history a crash had left unwritten).
 */
export async function moveAlias(
  registry: Registry,
  targets: EventTargets,
  change: { model: string; alias: string; version: number; by: string; reason: string; action: AliasAction },
  expected: number | undefined,
): Promise<{ move: AliasMove; eventsPublished: boolean }> {
  const move = await registry.aliases.moveWithHistory(
    {
      model: change.model,
      alias: change.alias,
      version: change.version,
      updatedAt: new Date().toISOString(),
      updatedBy: change.by,
      reason: change.reason,
      action: change.action,
    },
    expected,
  );
  const events: RegistryEvent[] = move.recovered.map((entry) => aliasChangedEvent(entry, true));
  if (move.moved) events.push(aliasChangedEvent(move.entry));
  const eventsPublished = events.length === 0 ? true : await publishOrLog(events, targets);
  return { move, eventsPublished };
}

function changeOf(move: AliasMove & { moved: true }, eventsPublished: boolean): AliasChange {
  const e = move.entry;
  return {
    model: e.model,
    alias: e.alias,
    changed: true,
    fromVersion: e.fromVersion,
    toVersion: e.toVersion,
    action: e.action,
    by: e.by,
    reason: e.reason,
    revision: e.revision,
    at: e.at,
    eventsPublished,
  };
}

function conflict(model: string, alias: string, current: AliasRecord | undefined, what: string): AliasConflict {
  const now = current ? `it now points at version ${current.version}, moved by ${current.updatedBy}` : 'it has no holder now';
  return new AliasConflict(
    `Alias '${alias}' of model '${model}' was moved by someone else during this ${what} (${now}); nothing was changed.`,
  );
}

/** Point `alias` (champion by default) at `version`. */
export async function promote(
  registry: Registry,
  targets: EventTargets,
  request: { model: string; version: number; alias?: string; reason?: string; by: string },
): Promise<AliasChange> {
  const alias = assertAliasName(request.alias ?? DEFAULT_ALIAS);
  assertActor(request.by);
  await requireModel(registry, request.model);
  const record = await requireVersion(registry, request.model, request.version);
  assertPromotable(record);
  const current = await registry.aliases.get(request.model, alias);
  const reason = request.reason?.trim() || `Promoted to ${alias} by ${request.by}.`;
  if (current?.version === request.version) {
    return {
      model: request.model,
      alias,
      changed: false,
      fromVersion: current.version,
      toVersion: current.version,
      action: 'promote',
      by: request.by,
      reason: `Alias '${alias}' already points at version ${current.version}; nothing to do.`,
      revision: current.revision ?? null,
      at: null,
      eventsPublished: true,
    };
  }
  const { move, eventsPublished } = await moveAlias(
    registry,
    targets,
    { model: request.model, alias, version: request.version, by: request.by, reason, action: 'promote' },
    current?.version,
  );
  if (!move.moved) throw conflict(request.model, alias, move.current, 'promotion');
  return changeOf(move, eventsPublished);
}

/**
 * The holder before the current one, from the history: walking back from the newest entry, each
 * rollback cancels the move before it, so repeated rollbacks keep going back (v1 -> v2 -> v3,
 * rollback: v2, rollback: v1) instead of swinging between the last two versions.
 */
export function previousHolder(history: AliasHistoryRecord[]): number | null {
  let undone = 0;
  for (let i = history.length - 1; i >= 0; i--) {
    const entry = history[i];
    if (entry.action === 'rollback') undone++;
    else if (undone > 0) undone--;
    else return entry.fromVersion;
  }
  return null;
}

/** Move `alias` back: to `version`, or to the previous holder from the history. */
export async function rollback(
  registry: Registry,
  targets: EventTargets,
  request: { model: string; alias?: string; version?: number; reason?: string; by: string },
): Promise<AliasChange> {
  const alias = assertAliasName(request.alias ?? DEFAULT_ALIAS);
  assertActor(request.by);
  await requireModel(registry, request.model);
  const current = await registry.aliases.get(request.model, alias);
  if (!current) throw await aliasNotFound(registry, request.model, alias);
  // A history item left unwritten by a crash is written (and announced) before it is read.
  const repaired = await registry.aliases.repairHistory(request.model, alias);
  const lateSent = !repaired || (await publishOrLog([aliasChangedEvent(repaired, true)], targets));
  const history = await registry.aliases.history(request.model, alias);
  let target = request.version;
  if (target === undefined) {
    const previous = previousHolder(history);
    if (previous === null) {
      throw new VersionNotFound(
        `Alias '${alias}' of model '${request.model}' has no earlier holder to roll back to: version ${current.version} is the first in its history.`,
      );
    }
    target = previous;
  }
  const record = await requireVersion(registry, request.model, target);
  assertPromotable(record);
  if (target === current.version) {
    throw new InvalidInput(`Alias '${alias}' of model '${request.model}' already points at version ${target}: nothing to roll back.`);
  }
  const reason = request.reason?.trim() || `Rolled back from version ${current.version} to version ${target} by ${request.by}.`;
  const { move, eventsPublished } = await moveAlias(
    registry,
    targets,
    { model: request.model, alias, version: target, by: request.by, reason, action: 'rollback' },
    current.version,
  );
  if (!move.moved) throw conflict(request.model, alias, move.current, 'rollback');
  return changeOf(move, eventsPublished && lateSent);
}

/** The current holders and the append-only history of one alias or of every alias. */
export async function aliasHistory(registry: Registry, targets: EventTargets, model: string, alias?: string): Promise<AliasHistory> {
  await requireModel(registry, model);
  if (alias !== undefined) assertAliasName(alias);
  const current = (await registry.aliases.list(model)).filter((a) => alias === undefined || a.alias === alias);
  const repaired: AliasHistoryRecord[] = [];
  for (const a of current) {
    const entry = await registry.aliases.repairHistory(model, a.alias);
    if (entry) repaired.push(entry);
  }
  if (repaired.length > 0)
    await publishOrLog(
      repaired.map((e) => aliasChangedEvent(e, true)),
      targets,
    );
  const history = await registry.aliases.history(model, alias);
  if (alias !== undefined && current.length === 0 && history.length === 0) throw await aliasNotFound(registry, model, alias);
  return {
    model,
    alias: alias ?? null,
    aliases: current.map((a) => ({
      alias: a.alias,
      version: a.version,
      updatedAt: a.updatedAt,
      updatedBy: a.updatedBy,
      revision: a.revision ?? null,
    })),
    history,
  };
}
