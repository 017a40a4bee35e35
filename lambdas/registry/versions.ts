/**
 * Tags and archiving of model versions (`mloop models tag|archive`), over the registry store.
 *
 * Tags are a map on the version item, changed by one conditional UpdateItem (the version must
 * exist). Archiving sets the version's status to `archived` by one conditional write (the version
 * must exist, still in the status it was read in), refused while any alias points at the version;
 * an archived version can no longer be promoted (see aliases.ts, assertPromotable). Archiving
 * publishes `Model Version Archived`.
 */
import { InvalidInput } from '../shared/errors';
import { publishOrLog, versionArchivedEvent, type EventTargets } from '../shared/events';
import type { Registry } from '../shared/registry/registry';
import type { ModelVersionStatus } from '../shared/registry/versions';
import { VersionNotFound, VersionStateInvalid } from './errors';
import { assertActor, requireModel, requireVersion } from './preconditions';

/** Tag keys: 1-128 characters of letters, digits and `_.:/=+-@` (as AWS resource tags). */
const TAG_KEY = /^[A-Za-z0-9_.:/=+\-@]{1,128}$/;
/** Tag values: 1-128 characters, no control characters. */
const TAG_VALUE = /^[^\p{Cc}]{1,128}$/u;
/** Most tags one request may set or remove. */
export const MAX_TAGS_PER_REQUEST = 50;

export function assertTagKey(key: unknown): string {
  if (typeof key !== 'string' || !TAG_KEY.test(key)) {
    throw new InvalidInput(`Tag key '${String(key)}' is not valid: expected 1-128 characters of letters, digits and _.:/=+-@.`);
  }
  return key;
}

export function assertTagValue(key: string, value: unknown): string {
  if (typeof value !== 'string' || !TAG_VALUE.test(value)) {
    throw new InvalidInput(`Tag '${key}' has an invalid value '${String(value)}': expected 1-128 characters, no control characters.`);
  }
  return value;
}

/** What `tag` did: the version's tags after the write. */
export interface VersionTags {
  readonly model: string;
  readonly version: number;
  readonly tags: Record<string, string>;
  readonly set: string[];
  readonly removed: string[];
}

/** Set `tags` and remove the keys of `untag` on one version, in one conditional write. */
export async function tagVersion(
  registry: Registry,
  request: { model: string; version: number; tags?: Record<string, string>; untag?: string[] },
): Promise<VersionTags> {
  const set: Record<string, string> = {};
  for (const [key, value] of Object.entries(request.tags ?? {})) set[assertTagKey(key)] = assertTagValue(key, value);
  const removed = [...new Set((request.untag ?? []).map(assertTagKey))];
  const keys = Object.keys(set);
  if (keys.length === 0 && removed.length === 0) throw new InvalidInput('Nothing to do: give at least one --tag KEY=VALUE or --untag KEY.');
  if (keys.length + removed.length > MAX_TAGS_PER_REQUEST)
    throw new InvalidInput(`At most ${MAX_TAGS_PER_REQUEST} tags may be set or removed at once.`);
  const both = keys.find((key) => removed.includes(key));
  if (both !== undefined) throw new InvalidInput(`Tag '${both}' is both set and removed: give it once.`);
  await requireModel(registry, request.model);
  if (!Number.isInteger(request.version) || request.version < 1) {
    throw new InvalidInput(`Version '${request.version}' is not valid: expected a positive integer.`);
  }
  const tags = await registry.versions.updateTags(request.model, request.version, set, removed);
  if (tags === undefined) {
    await requireVersion(registry, request.model, request.version); // throws VersionNotFound, naming the known versions
    throw new VersionNotFound(`Model '${request.model}' has no version ${request.version}.`);
  }
  return { model: request.model, version: request.version, tags: sortKeys(tags), set: keys, removed };
}

function sortKeys(tags: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).sort(([a], [b]) => a.localeCompare(b)));
}

/** What `archive` did. */
export interface VersionArchive {
  readonly model: string;
  readonly version: number;
  /** False when the version was archived already: nothing was written, no event sent. */
  readonly changed: boolean;
  readonly status: 'archived';
  readonly fromStatus: ModelVersionStatus;
  readonly at: string;
  readonly by: string;
  readonly reason: string;
  readonly eventsPublished: boolean;
}

async function aliasesOf(registry: Registry, model: string, version: number): Promise<string[]> {
  return (await registry.aliases.list(model)).filter((a) => a.version === version).map((a) => a.alias);
}

function heldBy(model: string, version: number, aliases: string[]): VersionStateInvalid {
  const names = aliases.map((a) => `'${a}'`).join(', ');
  return new VersionStateInvalid(
    `Version ${version} of model '${model}' holds alias ${names}: move ${aliases.length > 1 ? 'them' : 'it'} to another version first (mloop models promote or rollback), then archive it.`,
  );
}

/**
 * Archive a version: refused while an alias points at it (checked before the conditional write,
 * and again after it: an alias moved onto the version in between undoes the archive), refused for
 * a version waiting for approval. Archiving an archived version changes nothing.
 */
export async function archiveVersion(
  registry: Registry,
  targets: EventTargets,
  request: { model: string; version: number; reason?: string; by: string },
): Promise<VersionArchive> {
  assertActor(request.by, 'archives the version');
  await requireModel(registry, request.model);
  const record = await requireVersion(registry, request.model, request.version);
  if (record.status === 'archived') {
    const a = record.archived;
    return {
      model: request.model,
      version: request.version,
      changed: false,
      status: 'archived',
      fromStatus: a?.fromStatus ?? 'archived',
      at: a?.at ?? '',
      by: a?.by ?? '',
      reason: `Version ${request.version} is archived already${a ? ` (by ${a.by} at ${a.at}: ${a.reason})` : ''}; nothing to do.`,
      eventsPublished: true,
    };
  }
  if (record.status === 'pending-approval') {
    throw new VersionStateInvalid(
      `Version ${request.version} of model '${request.model}' is waiting for approval: reject it first (mloop models reject), then archive it.`,
    );
  }
  const holders = await aliasesOf(registry, request.model, request.version);
  if (holders.length > 0) throw heldBy(request.model, request.version, holders);

  const at = new Date().toISOString();
  const reason = request.reason?.trim() || `Archived by ${request.by}.`;
  const archived = { at, by: request.by, reason, fromStatus: record.status };
  if (!(await registry.versions.archive(request.model, request.version, archived))) {
    const now = await registry.versions.get(request.model, request.version);
    throw new VersionStateInvalid(
      `Version ${request.version} of model '${request.model}' changed during the archive (it is now ${now?.status ?? 'gone'}); nothing was changed.`,
    );
  }
  // An alias moved onto the version between the check and the write: undo, refuse.
  const late = await aliasesOf(registry, request.model, request.version);
  if (late.length > 0) {
    await registry.versions.unarchive(request.model, request.version, record.status, at);
    throw heldBy(request.model, request.version, late);
  }
  const detail = { model: request.model, version: request.version, fromStatus: record.status, at, by: request.by, reason };
  const eventsPublished = await publishOrLog([versionArchivedEvent(detail)], targets);
  return { ...detail, changed: true, status: 'archived', eventsPublished };
}
