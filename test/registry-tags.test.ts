/**
 * Tags and archiving of model versions against the local emulators, without training: tags set
 * and removed by one conditional write, invalid tags and unknown versions refused with clear
 * errors, archiving (refused for an alias holder, naming the alias), an archived version refused
 * by promote and rollback, the `Model Version Archived` event's payload, tags and archive state
 * in `models list` and `models lineage`, and `mloop models tag --json` as a separate process.
 * Versions are registered from placeholder candidate files, as in registry.test.ts.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { REGISTRY_EVENT_SOURCE, VERSION_ARCHIVED } from '../lambdas/shared/events';
import { readLocalEvents, type LocalEventLine } from '../local/events-journal';
import type { Registry } from '../lambdas/shared/registry/registry';
import { promote, rollback } from '../lambdas/registry/aliases';
import { lineage, type Lineage } from '../lambdas/registry/lineage';
import { register } from '../lambdas/registry/register';
import { archiveVersion, tagVersion, type VersionTags } from '../lambdas/registry/versions';
import { runModelsCommand } from '../bin/commands/models';
import { REPO_ROOT } from '../lib/function-catalog';
import { startCloud, stopCloud, type TestCloud } from './helpers/cloud';
import { registerFixture, registryEnv, REGISTRY_TARGETS } from './helpers/registry';
import { once } from './helpers/once';

jest.setTimeout(60_000);

let t: TestCloud;
let registry: Registry;
let eventsFile: string;
const TARGETS = REGISTRY_TARGETS;

beforeAll(async () => {
  t = await startCloud();
  registry = t.registry;
  eventsFile = t.cloud.eventsJournal;
}, 120_000);

afterAll(async () => {
  await stopCloud(t);
}, 60_000);

const env = () => registryEnv(t);

/** Register a version from placeholder candidate files (promoted to champion when `promote`). */
async function registerVersion(model: string, execution: string, promote = false): Promise<number> {
  const champion = (await registry.aliases.get(model, 'champion'))?.version ?? null;
  const input = await registerFixture(t, model, execution, { champion });
  return (await register({ ...input, promote }, env())).modelVersion;
}

/** Run a `models` subcommand through the admin function, as the CLI does; return its JSON answer. */
async function models<T>(sub: string, values: Record<string, string | string[] | undefined>): Promise<T> {
  const out: string[] = [];
  expect(await runModelsCommand(t.cloud, { json: true, out: (line) => out.push(line), err: () => undefined }, sub, values)).toBe(0);
  expect(out).toHaveLength(1);
  return JSON.parse(out[0]) as T;
}

/** A model of its own for one test: version 1 (the champion) and version 2. */
async function twoVersions(model: string): Promise<void> {
  await registerVersion(model, 'exec-1', true);
  await registerVersion(model, 'exec-2');
}

const archivedEvents = (from: number) =>
  readLocalEvents(eventsFile)
    .slice(from)
    .filter(
      (l): l is Extract<LocalEventLine, { kind: 'eventbridge' }> => l.kind === 'eventbridge' && l.event['detail-type'] === VERSION_ARCHIVED,
    );

describe('version tags', () => {
  const model = 'tagged';
  beforeAll(async () => {
    await registerVersion(model, 'exec-1', true);
    await registerVersion(model, 'exec-2');
  });

  it('sets and removes tags on the version item, and shows them in lineage', async () => {
    const first = await tagVersion(registry, { model, version: 2, tags: { owner: 'team-a', 'cost:center': 'ml/42' } });
    expect(first).toEqual({
      model,
      version: 2,
      tags: { 'cost:center': 'ml/42', owner: 'team-a' },
      set: ['owner', 'cost:center'],
      removed: [],
    });
    const second = await tagVersion(registry, { model, version: 2, tags: { owner: 'team-b', stage: 'canary' }, untag: ['cost:center'] });
    expect(second.tags).toEqual({ owner: 'team-b', stage: 'canary' });
    expect((await registry.versions.get(model, 2))!.tags).toEqual({ owner: 'team-b', stage: 'canary' });
    // Removing a key that is not there changes nothing else.
    expect((await tagVersion(registry, { model, version: 2, untag: ['stage', 'absent'] })).tags).toEqual({ owner: 'team-b' });
    // Another version's tags are its own.
    expect((await lineage(registry, model, 1)).tags).toEqual({});
    expect((await lineage(registry, model, 2)).tags).toEqual({ owner: 'team-b' });
  });

  it("concurrent taggers of different keys keep each other's tags", async () => {
    // Its own model: version 1 of 'tagged' keeps no tags for the first test.
    const model = 'tagged-concurrent';
    await twoVersions(model);
    await Promise.all(
      ['a', 'b', 'c', 'd', 'e'].map((key) => tagVersion(registry, { model, version: 1, tags: { [key]: key.toUpperCase() } })),
    );
    expect((await registry.versions.get(model, 1))!.tags).toEqual({ a: 'A', b: 'B', c: 'C', d: 'D', e: 'E' });
  });

  it('refuses invalid tags with a message naming the tag, and writes nothing', async () => {
    const before = (await registry.versions.get(model, 2))!.tags;
    await expect(tagVersion(registry, { model, version: 2, tags: { 'bad key': 'x' } })).rejects.toThrow(
      "Tag key 'bad key' is not valid: expected 1-128 characters of letters, digits and _.:/=+-@.",
    );
    await expect(tagVersion(registry, { model, version: 2, tags: { ['k'.repeat(129)]: 'x' } })).rejects.toThrow(
      `Tag key '${'k'.repeat(129)}' is not valid`,
    );
    await expect(tagVersion(registry, { model, version: 2, tags: { owner: '' } })).rejects.toThrow(
      "Tag 'owner' has an invalid value '': expected 1-128 characters, no control characters.",
    );
    await expect(tagVersion(registry, { model, version: 2, tags: { note: 'v'.repeat(129) } })).rejects.toThrow(
      "Tag 'note' has an invalid value",
    );
    await expect(tagVersion(registry, { model, version: 2, untag: ['no spaces'] })).rejects.toThrow("Tag key 'no spaces' is not valid");
    await expect(tagVersion(registry, { model, version: 2, tags: { owner: 'x' }, untag: ['owner'] })).rejects.toThrow(
      "Tag 'owner' is both set and removed: give it once.",
    );
    await expect(tagVersion(registry, { model, version: 2 })).rejects.toThrow(
      'Nothing to do: give at least one --tag KEY=VALUE or --untag KEY.',
    );
    await expect(models('tag', { model, version: '2', tag: ['novalue'] })).rejects.toThrow(
      "--tag 'novalue' is not valid: expected KEY=VALUE.",
    );
    expect((await registry.versions.get(model, 2))!.tags).toEqual(before);
  });

  it('refuses an unknown version or model', async () => {
    await expect(tagVersion(registry, { model, version: 9, tags: { owner: 'x' } })).rejects.toThrow(
      "Model 'tagged' has no version 9 (its versions: 1-2).",
    );
    await expect(tagVersion(registry, { model: 'ghost', version: 1, tags: { owner: 'x' } })).rejects.toThrow(
      "Model 'ghost' is not in the registry.",
    );
    // The failed tag did not create a version item.
    expect(await registry.versions.get(model, 9)).toBeUndefined();
  });

  it("through the admin function (the CLI's path): tags in the answer and in lineage", async () => {
    // Its own model, whose version 1 has the tags a-e (as concurrent taggers leave them).
    const model = 'tagged-admin';
    await twoVersions(model);
    await tagVersion(registry, { model, version: 1, tags: { a: 'A', b: 'B', c: 'C', d: 'D', e: 'E' } });
    const out = await models<VersionTags>('tag', { model, version: '1', tag: ['owner=team-c', 'url=https://x.io/a=b'], untag: ['e'] });
    expect(out.tags).toEqual({ a: 'A', b: 'B', c: 'C', d: 'D', owner: 'team-c', url: 'https://x.io/a=b' });
    const l = await models<Lineage>('lineage', { model, version: '1' });
    expect(l.tags).toEqual(out.tags);
    expect(l.archived).toBeNull();
  });
});

describe('archiving', () => {
  const model = 'archival';
  let champion: number;
  let other: number;
  let third: number;
  beforeAll(async () => {
    champion = await registerVersion(model, 'exec-1', true);
    other = await registerVersion(model, 'exec-2');
    third = await registerVersion(model, 'exec-3');
  });

  it('refuses to archive the champion, naming the alias', async () => {
    await expect(archiveVersion(registry, TARGETS, { model, version: champion, by: 'user:alice' })).rejects.toThrow(
      `Version ${champion} of model 'archival' holds alias 'champion': move it to another version first (mloop models promote or rollback), then archive it.`,
    );
    expect((await registry.versions.get(model, champion))!.status).toBe('registered');
  });

  it('refuses to archive any alias holder, naming the alias', async () => {
    await promote(registry, TARGETS, { model, version: third, alias: 'challenger', by: 'user:alice' });
    await expect(models('archive', { model, version: String(third) })).rejects.toThrow(
      `Version ${third} of model 'archival' holds alias 'challenger'`,
    );
    expect((await registry.versions.get(model, third))!.status).toBe('registered');
  });

  /** Version `other` archived by user:alice, and the events journal's length before and after. */
  const archivedOther = once(async () => {
    const from = readLocalEvents(eventsFile).length;
    const out = await archiveVersion(registry, TARGETS, { model, version: other, reason: 'superseded', by: 'user:alice' });
    return { from, to: readLocalEvents(eventsFile).length, out };
  });

  it('archives a version, publishes "Model Version Archived" with its payload, and shows it in list and lineage', async () => {
    const { from, to, out } = await archivedOther(); // archives version `other` (once per file)
    expect(out).toMatchObject({
      model,
      version: other,
      changed: true,
      status: 'archived',
      fromStatus: 'registered',
      by: 'user:alice',
      reason: 'superseded',
      eventsPublished: true,
    });
    const record = (await registry.versions.get(model, other))!;
    expect(record.status).toBe('archived');
    expect(record.archived).toEqual({ at: out.at, by: 'user:alice', reason: 'superseded', fromStatus: 'registered' });

    const events = archivedEvents(from);
    expect(events).toHaveLength(1);
    expect(events[0].event.source).toBe(REGISTRY_EVENT_SOURCE);
    expect(events[0].event.detail).toEqual({
      model,
      version: other,
      fromStatus: 'registered',
      at: out.at,
      by: 'user:alice',
      reason: 'superseded',
    });
    const sns = readLocalEvents(eventsFile)
      .slice(from, to) // what the archive published (other tests may have published since)
      .filter((l) => l.kind === 'sns');
    expect(sns).toEqual([
      expect.objectContaining({
        topicArn: TARGETS.topicArn,
        subject: `mloop: archival v${other} archived`,
        message: expect.stringContaining('Reason: superseded'),
      }),
    ]);

    const l = await models<Lineage>('lineage', { model, version: String(other) });
    expect(l.status).toBe('archived');
    expect(l.archived).toEqual(record.archived);

    // Archiving it again changes nothing and sends nothing.
    const again = await archiveVersion(registry, TARGETS, { model, version: other, by: 'user:bob' });
    expect(again).toMatchObject({ changed: false, by: 'user:alice' });
    expect(archivedEvents(from)).toHaveLength(1);
  });

  it('an archived version cannot be promoted or rolled back to', async () => {
    await archivedOther(); // version `other` archived by user:alice
    const message = `Version ${other} of model 'archival' is archived (by user:alice at `;
    await expect(promote(registry, TARGETS, { model, version: other, by: 'user:bob' })).rejects.toThrow(message);
    await expect(promote(registry, TARGETS, { model, version: other, alias: 'shadow', by: 'user:bob' })).rejects.toThrow(
      /is archived \(by user:alice at .+: superseded\): an archived version cannot hold an alias\.$/,
    );
    await expect(rollback(registry, TARGETS, { model, version: other, by: 'user:bob' })).rejects.toThrow(message);
    await expect(models('promote', { model, version: String(other) })).rejects.toThrow(message);
    expect((await registry.aliases.get(model, 'champion'))!.version).toBe(champion);
    expect(await registry.aliases.get(model, 'shadow')).toBeUndefined();
  });

  it('refuses an unknown version', async () => {
    await expect(archiveVersion(registry, TARGETS, { model, version: 42, by: 'user:x' })).rejects.toThrow(
      "Model 'archival' has no version 42 (its versions: 1-3).",
    );
  });
});

describe('the mloop CLI (a separate process on the same home)', () => {
  const model = 'tagged-cli';
  beforeAll(async () => {
    // Its own model (version 2 tagged owner=team-b, stage=canary), registered while the cloud runs.
    await twoVersions(model);
    await tagVersion(registry, { model, version: 2, tags: { owner: 'team-b', stage: 'canary' } });
    await stopCloud(t, true);
    t = { ...t, cloud: { stop: async () => undefined } as never };
  }, 60_000);

  // The describes that run after this one (in any order) find the cloud running again, on the same home.
  afterAll(async () => {
    t = await startCloud({ home: t.home });
    registry = t.registry;
    eventsFile = t.cloud.eventsJournal;
  }, 120_000);

  const mloop = (...args: string[]) => {
    const result = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'mloop.js'), ...args], {
      env: { ...process.env, MLOOP_HOME: t.home },
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  it('models tag --json prints exactly one JSON document; models list shows the tags', () => {
    const tagged = mloop(
      'models',
      'tag',
      '--model',
      model,
      '--version',
      '2',
      '--tag',
      'owner=cli',
      '--tag',
      'ticket=ML-7',
      '--untag',
      'stage',
      '--json',
    );
    expect(tagged.code).toBe(0);
    expect(tagged.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(tagged.stdout)).toEqual({
      model: 'tagged-cli',
      version: 2,
      tags: { owner: 'cli', ticket: 'ML-7' },
      set: ['owner', 'ticket'],
      removed: ['stage'],
    });

    const listed = mloop('models', 'list', '--model', model, '--json');
    expect(listed.code).toBe(0);
    const list = JSON.parse(listed.stdout) as { versions: { version: number; tags: Record<string, string> }[] };
    expect(list.versions.find((v) => v.version === 2)!.tags).toEqual({ owner: 'cli', ticket: 'ML-7' });
  });

  it('an invalid tag fails with exit 1, a FAILED document and one line naming the tag', () => {
    const { code, stdout, stderr } = mloop('models', 'tag', '--model', model, '--version', '2', '--tag', 'bad key=x', '--json');
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toEqual({
      status: 'FAILED',
      error: "Tag key 'bad key' is not valid: expected 1-128 characters of letters, digits and _.:/=+-@.",
    });
    expect(stderr.trim().split('\n').pop()).toBe(
      "mloop: Tag key 'bad key' is not valid: expected 1-128 characters of letters, digits and _.:/=+-@.",
    );
  });
});
