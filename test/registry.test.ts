/**
 * The model registry against the local emulators, without training: Register's numbering under
 * concurrency, alias moves (promotion, rollback, concurrent movers), the append-only alias history
 * and its recovery after a crash, registry events (the local events file, and the payloads sent
 * to EventBridge and SNS), lineage, manual approval, and the errors for unknown models, versions
 * and aliases. Versions are registered from placeholder candidate files: Register copies bytes and
 * never loads them.
 */
import * as fs from 'node:fs';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PublishCommand } from '@aws-sdk/client-sns';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { dynamoClient, eventsClient, snsClient } from '../lambdas/shared/clients';
import {
  ALIAS_CHANGED,
  aliasChangedEvent,
  publishOrLog,
  publishRegistryEvents,
  REGISTRY_EVENT_SOURCE,
  VERSION_REGISTERED,
  versionRegisteredEvent,
} from '../lambdas/shared/events';
import { registryKeys, s3Keys, s3Uri } from '../lambdas/shared/layout';
import { logger } from '../lambdas/shared/observability';
import type { EvaluationOutput } from '../lambdas/shared/pipeline';
import type { AliasHistoryRecord } from '../lambdas/shared/registry/aliases';
import type { Registry } from '../lambdas/shared/registry/registry';
import { VersionStore } from '../lambdas/shared/registry/versions';
import { readLocalEvents, type LocalEventLine } from '../local/events-journal';
import { taskTokenFile, taskTokensDir } from '../local/task-tokens';
import { aliasHistory, previousHolder, promote, rollback } from '../lambdas/registry/aliases';
import { lineage } from '../lambdas/registry/lineage';
import { decideApproval, promoteApproved, requestApproval } from '../lambdas/registry/approval';
import { register } from '../lambdas/registry/register';
import { getObjectJson, splitUri, startCloud, stopCloud, type TestCloud } from './helpers/cloud';
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

/** The events written since `from` lines (the local runtime's EventBridge and SNS). */
const eventsSince = (from: number): LocalEventLine[] => readLocalEvents(eventsFile).slice(from);
const eventCount = () => readLocalEvents(eventsFile).length;
const busEvents = (lines: LocalEventLine[], model: string) =>
  lines.flatMap((l) => (l.kind === 'eventbridge' && (l.event.detail as { model?: string }).model === model ? [l.event] : []));

const fixture = (model: string, execution: string, opts: Parameters<typeof registerFixture>[3] = {}) =>
  registerFixture(t, model, execution, opts);

/** Register a version (promotion as `promote` says) and return its number. */
async function registerVersion(model: string, execution: string, promote = false, champion: number | null = null): Promise<number> {
  const input = await fixture(model, execution, { champion });
  return (await register({ ...input, promote }, env())).modelVersion;
}

const user = (name: string) => `user:${name}`;

/** A model of its own for one test: versions 1-4 registered, and the aliases given moved by user:alice. */
async function fourVersions(model: string, aliases: Record<string, number> = {}): Promise<void> {
  for (let i = 1; i <= 4; i++) await registerVersion(model, `a-${i}`, false);
  for (const [alias, version] of Object.entries(aliases)) await promote(registry, TARGETS, { model, version, alias, by: user('alice') });
}

// -------------------------------------------------------------------------------------------------

describe('version numbers under concurrency', () => {
  it('20 concurrent registrations get versions 1..20: no gap, no duplicate, each stored with its report', async () => {
    const model = 'numbering';
    const inputs = await Promise.all(Array.from({ length: 20 }, (_, i) => fixture(model, `run-${i}`)));
    const outputs = await Promise.all(inputs.map((input) => register({ ...input, promote: false }, env())));
    expect(outputs.map((o) => o.modelVersion).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const versions = await registry.versions.list(model);
    expect(versions.map((v) => v.version)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // Each version holds the candidate of the execution that got its number.
    for (const o of outputs) {
      const record = versions.find((v) => v.version === o.modelVersion)!;
      const report = await getObjectJson<{ version: number; execution: string }>(
        t.cloud.dataBucket,
        s3Keys.evaluation(model, o.modelVersion),
      );
      expect([report.version, report.execution]).toEqual([o.modelVersion, record.lineage.execution]);
      expect(record.artifact.sha256).toBe(`sha-of-${record.lineage.execution}`);
    }
    expect(await registry.aliases.get(model, 'champion')).toBeUndefined();
  });

  it('of 20 concurrent registrations that all want to be the first champion, exactly one is promoted', async () => {
    const model = 'first-champion';
    const inputs = await Promise.all(Array.from({ length: 20 }, (_, i) => fixture(model, `race-${i}`)));
    const outputs = await Promise.all(inputs.map((input) => register(input, env())));
    const promoted = outputs.filter((o) => o.promoted);
    expect(promoted).toHaveLength(1);
    expect(await registry.aliases.get(model, 'champion')).toMatchObject({
      version: promoted[0].modelVersion,
      revision: 1,
      updatedBy: expect.stringMatching(/^pipeline:race-/),
    });
    for (const loser of outputs.filter((o) => !o.promoted)) {
      expect(loser.reason).toMatch(/Not promoted: the champion moved while this version was being evaluated; it stays registered\.$/);
      expect(await registry.versions.get(model, loser.modelVersion)).toMatchObject({ promoted: false, status: 'registered' });
    }
    expect(await registry.versions.get(model, promoted[0].modelVersion)).toMatchObject({ promoted: true });
    expect(await registry.aliases.history(model)).toEqual([
      expect.objectContaining({ revision: 1, fromVersion: null, toVersion: promoted[0].modelVersion }),
    ]);
  });
});

describe('a retried Register (Step Functions retries Lambda service errors)', () => {
  it('reuses its version number and its version item: no gap, no second registration', async () => {
    const model = 'retried';
    const input = await fixture(model, 'once');
    const first = await register(input, env());
    const again = await register(input, env());
    expect([first.modelVersion, again.modelVersion]).toEqual([1, 1]);
    expect(again).toMatchObject({ promoted: true });
    expect((await registry.versions.list(model)).map((v) => v.version)).toEqual([1]);
    expect(await registry.aliases.history(model)).toHaveLength(1);
    // The next execution takes the next number.
    expect(await registerVersion(model, 'next')).toBe(2);
  });

  it('finishes a promotion that an earlier attempt applied but did not record', async () => {
    const model = 'retried-crash';
    const input = await fixture(model, 'crashy');
    const spy = jest.spyOn(VersionStore.prototype, 'setDecision').mockRejectedValueOnce(new Error('Lambda timed out'));
    await expect(register(input, env())).rejects.toThrow('Lambda timed out');
    spy.mockRestore();
    expect(await registry.aliases.get(model, 'champion')).toMatchObject({ version: 1 });
    expect(await registry.versions.get(model, 1)).toMatchObject({ promoted: false });
    const retried = await register(input, env());
    expect(retried).toMatchObject({
      modelVersion: 1,
      promoted: true,
      reason: 'Candidate accuracy 0.900 beats champion accuracy 0.500 (margin 0).',
    });
    expect(await registry.versions.get(model, 1)).toMatchObject({ promoted: true });
    expect(await registry.aliases.history(model)).toEqual([expect.objectContaining({ revision: 1, toVersion: 1, by: 'pipeline:crashy' })]);
  });
});

// -------------------------------------------------------------------------------------------------

describe('alias moves', () => {
  const model = 'aliases';

  beforeAll(async () => {
    for (let i = 1; i <= 4; i++) await registerVersion(model, `a-${i}`, false);
  });

  it('promotes, keeps an append-only history, and rolls back through it', async () => {
    const by = user('alice');
    expect(await promote(registry, TARGETS, { model, version: 1, by })).toMatchObject({
      changed: true,
      fromVersion: null,
      toVersion: 1,
      revision: 1,
    });
    await promote(registry, TARGETS, { model, version: 2, by, reason: 'better recall' });
    await promote(registry, TARGETS, { model, version: 3, by: user('bob') });

    // Rollback without a version goes to the previous holder, and again to the one before.
    expect(await rollback(registry, TARGETS, { model, by })).toMatchObject({
      action: 'rollback',
      fromVersion: 3,
      toVersion: 2,
      revision: 4,
    });
    expect(await rollback(registry, TARGETS, { model, by })).toMatchObject({ fromVersion: 2, toVersion: 1, revision: 5 });
    await expect(rollback(registry, TARGETS, { model, by })).rejects.toThrow(
      "Alias 'champion' of model 'aliases' has no earlier holder to roll back to: version 1 is the first in its history.",
    );
    // ... or to a given version.
    expect(await rollback(registry, TARGETS, { model, version: 3, by, reason: 'v1 misbehaves' })).toMatchObject({
      fromVersion: 1,
      toVersion: 3,
    });

    const history = await registry.aliases.history(model, 'champion');
    expect(history.map((e) => [e.revision, e.fromVersion, e.toVersion, e.action, e.by])).toEqual([
      [1, null, 1, 'promote', 'user:alice'],
      [2, 1, 2, 'promote', 'user:alice'],
      [3, 2, 3, 'promote', 'user:bob'],
      [4, 3, 2, 'rollback', 'user:alice'],
      [5, 2, 1, 'rollback', 'user:alice'],
      [6, 1, 3, 'rollback', 'user:alice'],
    ]);
    expect(history[1].reason).toBe('better recall');
    expect(history[2].reason).toBe('Promoted to champion by user:bob.');
    expect(history[3].reason).toBe('Rolled back from version 3 to version 2 by user:alice.');
    expect(history[5].reason).toBe('v1 misbehaves');
    // The items are ALIASHIST#<alias>#<iso ts>#<revision>, one per move.
    const keys = await dynamoClient().send(
      new QueryCommand({
        TableName: t.cloud.registryTable,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':pk': registryKeys.pk(model), ':p': 'ALIASHIST#champion#' },
      }),
    );
    expect((keys.Items ?? []).map((i) => i.sk).sort()).toEqual(
      history.map((e) => `ALIASHIST#champion#${e.at}#${String(e.revision).padStart(6, '0')}`).sort(),
    );
    expect(await registry.aliases.get(model, 'champion')).toMatchObject({ version: 3, previousVersion: 1, revision: 6 });
  });

  it('moves any alias by name, independently of the champion', async () => {
    // Its own model, whose champion is version 3.
    const model = 'aliases-named';
    await fourVersions(model, { champion: 3 });
    const by = user('carol');
    await promote(registry, TARGETS, { model, version: 4, alias: 'challenger', by });
    await promote(registry, TARGETS, { model, version: 2, alias: 'shadow', by });
    const champion = await registry.aliases.get(model, 'champion');
    expect(await registry.aliases.get(model, 'challenger')).toMatchObject({ version: 4, revision: 1 });
    const all = await aliasHistory(registry, TARGETS, model);
    expect(all.aliases.map((a) => [a.alias, a.version])).toEqual([
      ['challenger', 4],
      ['champion', champion!.version],
      ['shadow', 2],
    ]);
    expect((await aliasHistory(registry, TARGETS, model, 'challenger')).history).toEqual([
      expect.objectContaining({ alias: 'challenger', revision: 1, fromVersion: null, toVersion: 4, by }),
    ]);
  });

  it('promoting the version an alias already holds changes nothing', async () => {
    // Its own model, whose challenger is version 4.
    const model = 'aliases-noop';
    await fourVersions(model, { champion: 3, challenger: 4 });
    const before = await registry.aliases.history(model, 'challenger');
    const out = await promote(registry, TARGETS, { model, version: 4, alias: 'challenger', by: user('dan') });
    expect(out).toMatchObject({ changed: false, reason: "Alias 'challenger' already points at version 4; nothing to do." });
    expect(await registry.aliases.history(model, 'challenger')).toEqual(before);
  });

  it('of concurrent moves from the same holder exactly one wins, and the history gains exactly one entry', async () => {
    // Its own model, whose champion is version 3 (each racer moves it to another version).
    const model = 'aliases-race';
    await fourVersions(model, { champion: 3 });
    const before = await registry.aliases.get(model, 'champion');
    const results = await Promise.all(
      [1, 2, 4, 1, 2, 4, 1, 2].map((version, i) =>
        registry.aliases.moveWithHistory(
          {
            model,
            alias: 'champion',
            version,
            updatedAt: new Date().toISOString(),
            updatedBy: `user:racer-${i}`,
            reason: 'race',
            action: 'promote',
          },
          before!.version,
        ),
      ),
    );
    const winners = results.filter((r) => r.moved);
    expect(winners).toHaveLength(1);
    const after = await registry.aliases.get(model, 'champion');
    expect(after!.revision).toBe(before!.revision! + 1);
    const history = await registry.aliases.history(model, 'champion');
    expect(history[history.length - 1]).toMatchObject({
      revision: after!.revision,
      fromVersion: before!.version,
      toVersion: after!.version,
    });
    expect(history.filter((e) => e.reason === 'race')).toHaveLength(1);
  });

  it('two concurrent promotions: one wins, the other fails with a clear error and writes nothing', async () => {
    // Its own model, whose champion is version 3.
    const model = 'aliases-duel';
    await fourVersions(model, { champion: 3 });
    const by = user('erin');
    const start = (await registry.aliases.get(model, 'champion'))!;
    const [a, b] = [1, 2, 4].filter((v) => v !== start.version);
    // Make the race deterministic: the second promotion reads the holder, then the first one
    // completes before the second one's conditional write.
    const original = registry.aliases.moveWithHistory.bind(registry.aliases);
    let first: Promise<unknown> | undefined;
    const spy = jest.spyOn(registry.aliases, 'moveWithHistory').mockImplementationOnce(async (record, expected) => {
      spy.mockRestore();
      first = promote(registry, TARGETS, { model, version: a, by });
      await first;
      return original(record, expected);
    });
    const eventsBefore = eventCount();
    await expect(promote(registry, TARGETS, { model, version: b, by })).rejects.toThrow(
      `Alias 'champion' of model 'aliases-duel' was moved by someone else during this promotion (it now points at version ${a}, moved by user:erin); nothing was changed.`,
    );
    expect(await first).toMatchObject({ changed: true, fromVersion: start.version, toVersion: a });
    expect(await registry.aliases.get(model, 'champion')).toMatchObject({ version: a, revision: start.revision! + 1 });
    // One move, one event.
    const changed = busEvents(eventsSince(eventsBefore), model).filter((e) => e['detail-type'] === ALIAS_CHANGED);
    expect(changed.map((e) => (e.detail as AliasHistoryRecord).toVersion)).toEqual([a]);
  });

  it('a move whose history item a crash left unwritten is recovered, announced late, before the alias moves again', async () => {
    const crashModel = 'crash';
    await registerVersion(crashModel, 'c-1');
    await registerVersion(crashModel, 'c-2');
    await promote(registry, TARGETS, { model: crashModel, version: 1, by: user('fay') });
    // A mover wrote revision 2 of the alias item and crashed before its history item.
    const at = new Date().toISOString();
    await dynamoClient().send(
      new PutCommand({
        TableName: t.cloud.registryTable,
        Item: {
          pk: registryKeys.pk(crashModel),
          sk: registryKeys.alias('champion'),
          model: crashModel,
          alias: 'champion',
          version: 2,
          previousVersion: 1,
          revision: 2,
          updatedAt: at,
          updatedBy: 'user:crashed',
          reason: 'lost in a crash',
          action: 'promote',
        },
      }),
    );
    expect((await registry.aliases.history(crashModel)).map((e) => e.revision)).toEqual([1]);
    const before = eventCount();
    // The next move writes the missing entry first, then its own.
    await rollback(registry, TARGETS, { model: crashModel, by: user('fay') });
    const history = await registry.aliases.history(crashModel, 'champion');
    expect(history.map((e) => [e.revision, e.fromVersion, e.toVersion, e.by])).toEqual([
      [1, null, 1, 'user:fay'],
      [2, 1, 2, 'user:crashed'],
      [3, 2, 1, 'user:fay'],
    ]);
    expect(history[1]).toMatchObject({ at, reason: 'lost in a crash' });
    const details = busEvents(eventsSince(before), crashModel).map((e) => e.detail as AliasHistoryRecord & { recovered: boolean });
    expect(details.map((d) => [d.revision, d.recovered])).toEqual([
      [2, true],
      [3, false],
    ]);
  });

  it('previousHolder: each rollback cancels the move before it', () => {
    const e = (fromVersion: number | null, toVersion: number, action: 'promote' | 'rollback') =>
      ({ fromVersion, toVersion, action }) as AliasHistoryRecord;
    expect(previousHolder([])).toBeNull();
    expect(previousHolder([e(null, 1, 'promote')])).toBeNull();
    expect(previousHolder([e(null, 1, 'promote'), e(1, 2, 'promote')])).toBe(1);
    expect(previousHolder([e(null, 1, 'promote'), e(1, 2, 'promote'), e(2, 3, 'promote'), e(3, 2, 'rollback')])).toBe(1);
    expect(previousHolder([e(null, 1, 'promote'), e(1, 2, 'promote'), e(2, 1, 'rollback'), e(1, 3, 'promote')])).toBe(1);
  });
});

// -------------------------------------------------------------------------------------------------

describe('clear errors', () => {
  const model = 'errors';

  beforeAll(async () => {
    await registerVersion(model, 'e-1');
    await registerVersion(model, 'e-2');
    await registerVersion(model, 'e-3');
    await promote(registry, TARGETS, { model, version: 1, by: user('gus') });
  });

  it('for an unknown model', async () => {
    const message = "Model 'nope' is not in the registry.";
    await expect(promote(registry, TARGETS, { model: 'nope', version: 1, by: 'user:x' })).rejects.toThrow(message);
    await expect(rollback(registry, TARGETS, { model: 'nope', by: 'user:x' })).rejects.toThrow(message);
    await expect(aliasHistory(registry, TARGETS, 'nope')).rejects.toThrow(message);
    await expect(lineage(registry, 'nope', 1)).rejects.toThrow(message);
    await expect(lineage(registry, 'Bad Name', 1)).rejects.toThrow("Model name 'Bad Name' is not valid");
  });

  it('for an unknown version', async () => {
    await expect(promote(registry, TARGETS, { model, version: 99, by: 'user:x' })).rejects.toMatchObject({
      name: 'VersionNotFound',
      message: "Model 'errors' has no version 99 (its versions: 1-3).",
    });
    await expect(rollback(registry, TARGETS, { model, version: 7, by: 'user:x' })).rejects.toThrow(
      "Model 'errors' has no version 7 (its versions: 1-3).",
    );
    await expect(lineage(registry, model, 0)).rejects.toThrow("Version '0' is not valid: expected a positive integer.");
  });

  it('for an unknown or invalid alias', async () => {
    await expect(rollback(registry, TARGETS, { model, alias: 'shadow', by: 'user:x' })).rejects.toMatchObject({
      name: 'AliasNotFound',
      message: "Model 'errors' has no alias 'shadow' (its aliases: champion).",
    });
    await expect(aliasHistory(registry, TARGETS, model, 'shadow')).rejects.toThrow(
      "Model 'errors' has no alias 'shadow' (its aliases: champion).",
    );
    await expect(promote(registry, TARGETS, { model, version: 2, alias: 'Not#Valid', by: 'user:x' })).rejects.toThrow(
      "Alias name 'Not#Valid' is not valid: expected 1 to 40 lower-case letters, digits or hyphens, starting with a letter.",
    );
  });

  it('for a rollback to the version the alias holds, or a promotion of a version that may not serve', async () => {
    await expect(rollback(registry, TARGETS, { model, version: 1, by: 'user:x' })).rejects.toThrow(
      "Alias 'champion' of model 'errors' already points at version 1: nothing to roll back.",
    );
    // The pending version goes to a model of its own: the versions of 'errors' stay 1-3 for the other tests.
    const input = await fixture('errors-pending', 'e-pending');
    const pending = (await register({ ...input, awaitApproval: true }, env())).modelVersion;
    await expect(promote(registry, TARGETS, { model: 'errors-pending', version: pending, by: 'user:x' })).rejects.toThrow(
      `Version ${pending} of model 'errors-pending' is pending-approval: only a registered or approved version can hold an alias.`,
    );
  });
});

// -------------------------------------------------------------------------------------------------

describe('registry events', () => {
  it('a registration and its promotion publish "Model Version Registered" and "Model Alias Changed" with their payloads', async () => {
    const before = eventCount();
    const input = await fixture('events', 'ev-1');
    const out = await register(input, env());
    const lines = eventsSince(before);
    const bus = busEvents(lines, 'events');
    expect(bus.map((e) => [e.source, e['detail-type']])).toEqual([
      [REGISTRY_EVENT_SOURCE, VERSION_REGISTERED],
      [REGISTRY_EVENT_SOURCE, ALIAS_CHANGED],
    ]);
    expect(lines.filter((l) => l.kind === 'eventbridge').every((l) => l.kind === 'eventbridge' && l.eventBusName === 'default')).toBe(true);
    expect(bus[0].detail).toEqual({
      model: 'events',
      version: out.modelVersion,
      status: 'registered',
      task: 'classification',
      promoted: true,
      decision: 'Candidate accuracy 0.900 beats champion accuracy 0.500 (margin 0).',
      metrics: { accuracy: 0.9, macro_f1: 0.8, log_loss: 0.3 },
      datasetVersion: 1,
      datasetSha256: 'sha-of-dataset-1',
      trainingJob: 'mloop-events-ev-1',
      codeVersion: 'code-sha',
      execution: 'ev-1',
      onnxUri: s3Uri(t.cloud.dataBucket, s3Keys.modelOnnx('events', out.modelVersion)),
      evaluationUri: s3Uri(t.cloud.dataBucket, s3Keys.evaluation('events', out.modelVersion)),
      registeredAt: expect.any(String),
    });
    expect(bus[1].detail).toEqual({
      model: 'events',
      alias: 'champion',
      revision: 1,
      fromVersion: null,
      toVersion: out.modelVersion,
      at: expect.any(String),
      by: 'pipeline:ev-1',
      reason: 'Candidate accuracy 0.900 beats champion accuracy 0.500 (margin 0).',
      action: 'promote',
      recovered: false,
    });
    const sns = lines.filter((l): l is Extract<LocalEventLine, { kind: 'sns' }> => l.kind === 'sns');
    expect(sns.map((m) => [m.topicArn, m.subject])).toEqual([
      [TARGETS.topicArn, `mloop: events v${out.modelVersion} registered (promoted to champion)`],
      [TARGETS.topicArn, `mloop: events champion is now v${out.modelVersion} (promote)`],
    ]);
    expect(sns[0].message).toContain('Evaluation report: s3://');
    expect(sns[1].message).toBe(
      `Alias champion of model events moved from no version to version ${out.modelVersion} (promote) at ${(bus[1].detail as AliasHistoryRecord).at} by pipeline:ev-1.\nReason: Candidate accuracy 0.900 beats champion accuracy 0.500 (margin 0).`,
    );
  });

  it('a registration without promotion publishes only "Model Version Registered"', async () => {
    const before = eventCount();
    await registerVersion('events', 'ev-2', false);
    expect(busEvents(eventsSince(before), 'events').map((e) => [e['detail-type'], (e.detail as { promoted: boolean }).promoted])).toEqual([
      [VERSION_REGISTERED, false],
    ]);
  });

  describe('what EventBridge and SNS answer (their clients spied)', () => {
    afterEach(() => {
      jest.restoreAllMocks();
    });

    const entry: AliasHistoryRecord = {
      model: 'm',
      alias: 'champion',
      revision: 3,
      fromVersion: 2,
      toVersion: 5,
      at: '2024-05-01T12:00:00.000Z',
      by: 'user:zoe',
      reason: 'r',
      action: 'rollback',
    };

    it('puts each event on the bus with source mloop.registry and publishes a message to the topic', async () => {
      const put = jest.spyOn(eventsClient(), 'send').mockResolvedValue({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] } as never);
      const publish = jest.spyOn(snsClient(), 'send').mockResolvedValue({ MessageId: 'm' } as never);
      await publishRegistryEvents([aliasChangedEvent(entry)], {
        eventBusName: 'default',
        topicArn: 'arn:aws:sns:eu-west-1:123456789012:t',
      });
      const putInput = (put.mock.calls[0][0] as PutEventsCommand).input;
      expect(put.mock.calls[0][0]).toBeInstanceOf(PutEventsCommand);
      expect(putInput.Entries).toEqual([
        {
          Source: 'mloop.registry',
          DetailType: 'Model Alias Changed',
          EventBusName: 'default',
          Detail: JSON.stringify({ ...entry, recovered: false }),
        },
      ]);
      expect(publish.mock.calls[0][0]).toBeInstanceOf(PublishCommand);
      expect((publish.mock.calls[0][0] as PublishCommand).input).toEqual({
        TopicArn: 'arn:aws:sns:eu-west-1:123456789012:t',
        Subject: 'mloop: m champion is now v5 (rollback)',
        Message:
          'Alias champion of model m moved from version 2 to version 5 (rollback) at 2024-05-01T12:00:00.000Z by user:zoe.\nReason: r',
      });
    });

    it('reports entries EventBridge rejects, and a publish that fails never throws through publishOrLog', async () => {
      jest
        .spyOn(eventsClient(), 'send')
        .mockResolvedValue({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'AccessDenied', ErrorMessage: 'no' }] } as never);
      jest.spyOn(snsClient(), 'send').mockRejectedValue(new Error('topic is gone') as never);
      const events = [aliasChangedEvent(entry)];
      await expect(publishRegistryEvents(events, { topicArn: 'arn:t' })).rejects.toThrow(
        'Publishing registry events failed: EventBridge rejected 1 of 1 events (AccessDenied: no); topic is gone',
      );
      const logged = jest.spyOn(logger, 'error').mockImplementation(() => undefined);
      expect(await publishOrLog(events, { topicArn: 'arn:t' })).toBe(false);
      expect(logged).toHaveBeenCalledWith('Registry events were not published', {
        error: 'Publishing registry events failed: EventBridge rejected 1 of 1 events (AccessDenied: no); topic is gone',
        events: [{ detailType: 'Model Alias Changed', model: 'm' }],
      });
    });

    it('sends no SNS message without a topic, and at most 10 entries per PutEvents call', async () => {
      const put = jest.spyOn(eventsClient(), 'send').mockResolvedValue({ FailedEntryCount: 0 } as never);
      const publish = jest.spyOn(snsClient(), 'send');
      await publishRegistryEvents(
        Array.from({ length: 12 }, () => aliasChangedEvent(entry)),
        {},
      );
      expect(put.mock.calls.map((c) => (c[0] as PutEventsCommand).input.Entries!.length)).toEqual([10, 2]);
      expect((put.mock.calls[0][0] as PutEventsCommand).input.Entries![0].EventBusName).toBeUndefined(); // the default bus
      expect(publish).not.toHaveBeenCalled();
    });
  });

  it('SNS subjects stay within 100 printable characters', () => {
    const record = {
      model: 'a'.repeat(40),
      version: 123456,
      status: 'registered',
      promoted: true,
      metrics: {},
      decision: 'd',
      lineage: {},
      artifact: {},
    };
    const subject = versionRegisteredEvent(record as never).subject;
    expect(subject.length).toBeLessThanOrEqual(100);
    expect(subject).toMatch(/^[\x20-\x7e]+$/);
  });
});

// -------------------------------------------------------------------------------------------------

describe('lineage', () => {
  it('names the dataset bytes, the training job, the code, the hyperparameters, the metrics and the report', async () => {
    const input = await fixture('lineage', 'l-1');
    const { modelVersion } = await register(input, env());
    const l = await lineage(registry, 'lineage', modelVersion);
    expect(l).toMatchObject({
      model: 'lineage',
      version: modelVersion,
      status: 'registered',
      aliases: ['champion'],
      dataset: {
        version: 1,
        sha256: 'sha-of-dataset-1',
        s3Uri: s3Uri(t.cloud.dataBucket, 'datasets/lineage/data-1.csv'),
        s3VersionId: 's3-version-1',
        rows: 100,
        bytes: 1234,
      },
      training: { job: 'mloop-lineage-l-1', codeVersion: 'code-sha', hyperparameters: { epochs: 5, lr: 0.01 }, execution: 'l-1' },
      metrics: { accuracy: 0.9, macro_f1: 0.8, log_loss: 0.3 },
      validationMetrics: { accuracy: 0.88 },
      evaluation: { reportUri: s3Uri(t.cloud.dataBucket, s3Keys.evaluation('lineage', modelVersion)), promoted: true },
      approval: null,
    });
    // The stored evaluation report carries the structured details.
    const { bucket, key } = splitUri(l.evaluation.reportUri);
    const report = await getObjectJson<EvaluationOutput>(bucket, key);
    expect(report.details?.candidate?.confusionMatrix).toEqual([
      [40, 10],
      [0, 50],
    ]);
  });
});

// -------------------------------------------------------------------------------------------------

describe('manual approval (the steps, in-process)', () => {
  const tokensDir = () => taskTokensDir(t.home);
  const readResult = (token: string) => JSON.parse(fs.readFileSync(taskTokenFile(tokensDir(), token), 'utf8'));

  it('approve: registered as pending without touching the champion, approved once, then promoted by the pipeline', async () => {
    const model = 'approval';
    await registerVersion(model, 'p-0', true); // v1, champion
    const input = await fixture(model, 'p-1', { champion: 1 });
    const registered = await register({ ...input, awaitApproval: true }, env());
    expect(registered).toMatchObject({ promoted: false });
    expect(registered.reason).toMatch(/Waiting for a manual approval\.$/);
    const version = registered.modelVersion;
    expect(await registry.versions.get(model, version)).toMatchObject({ status: 'pending-approval', promoted: false });
    expect(await registry.aliases.get(model, 'champion')).toMatchObject({ version: 1 });

    const request = { model, version, reason: 'looks good', by: user('hal'), decision: 'approved' as const };
    await expect(decideApproval(registry, TARGETS, request)).rejects.toThrow(
      `Version ${version} of model 'approval' is pending, but its pipeline has not reached the approval step yet; try again in a moment.`,
    );
    await requestApproval(registry, { stage: 'await-approval', taskToken: 'token-approve', execution: 'p-1', model, version });
    await expect(decideApproval(registry, TARGETS, { ...request, reason: ' ' })).rejects.toThrow(
      'A reason is required to approve a version (--reason TEXT).',
    );

    const decided = await decideApproval(registry, TARGETS, request);
    expect(decided).toMatchObject({ decision: 'approved', by: 'user:hal', reason: 'looks good', execution: 'p-1', resumed: true });
    expect(readResult('token-approve')).toEqual({
      status: 'success',
      output: { decision: 'approved', by: 'user:hal', reason: 'looks good', decidedAt: decided.decidedAt },
    });
    const record = await registry.versions.get(model, version);
    expect(record).toMatchObject({
      status: 'approved',
      approval: { decision: 'approved', decidedBy: 'user:hal', reason: 'looks good', execution: 'p-1' },
    });
    expect(record!.approval!.taskToken).toBeUndefined();
    // A second decision finds nothing pending.
    await expect(decideApproval(registry, TARGETS, { ...request, decision: 'rejected' })).rejects.toThrow(
      `Version ${version} of model 'approval' is not waiting for approval: it is approved.`,
    );

    const out = await promoteApproved(registry, TARGETS, {
      stage: 'promote-approved',
      execution: 'p-1',
      model,
      version,
      evaluation: input.evaluation,
      approval: readResult('token-approve').output,
    });
    expect(out).toMatchObject({ modelVersion: version, promoted: true });
    expect(await registry.aliases.get(model, 'champion')).toMatchObject({
      version,
      previousVersion: 1,
      updatedBy: 'pipeline:p-1',
      reason: expect.stringMatching(/Approved by user:hal: looks good$/),
    });
    expect(await registry.runs.get(model, 'p-1')).toMatchObject({ status: 'SUCCEEDED', promoted: true });
  });

  /** Model 'rejection': version 1 the champion, version 2 registered for approval, asked for it and rejected by user:ivy. */
  const rejected = once(async () => {
    const model = 'rejection';
    await registerVersion(model, 'r-0', true);
    const input = await fixture(model, 'r-1', { champion: 1 });
    const { modelVersion: version } = await register({ ...input, awaitApproval: true }, env());
    await requestApproval(registry, { stage: 'await-approval', taskToken: 'token-reject', execution: 'r-1', model, version });
    const decided = await decideApproval(registry, TARGETS, {
      model,
      version,
      reason: 'recall dropped on segment B',
      by: user('ivy'),
      decision: 'rejected',
    });
    return { model, version, decided };
  });

  it('reject: the waiting task fails with ModelRejected and the champion stays', async () => {
    const { model, version, decided } = await rejected(); // registers, asks and rejects (once per file)
    expect(decided).toMatchObject({ decision: 'rejected', resumed: true });
    expect(readResult('token-reject')).toEqual({
      status: 'failure',
      error: 'ModelRejected',
      cause: `Version ${version} of rejection was rejected by user:ivy: recall dropped on segment B`,
    });
    expect(await registry.versions.get(model, version)).toMatchObject({ status: 'rejected', promoted: false });
    expect(await registry.aliases.get(model, 'champion')).toMatchObject({ version: 1 });
    expect(await registry.runs.get(model, 'r-1')).toMatchObject({
      promoted: false,
      reason: 'Rejected by user:ivy: recall dropped on segment B',
    });
    await expect(promote(registry, TARGETS, { model, version, by: 'user:x' })).rejects.toThrow(
      `Version ${version} of model 'rejection' is rejected: only a registered or approved version can hold an alias.`,
    );
  });

  it('a waiting version cannot be asked for approval twice once decided', async () => {
    const { version } = await rejected(); // version 2 of 'rejection', rejected
    expect(version).toBe(2);
    await expect(
      requestApproval(registry, { stage: 'await-approval', taskToken: 't', execution: 'x', model: 'rejection', version: 2 }),
    ).rejects.toThrow("Version 2 of model 'rejection' cannot wait for approval: it is rejected.");
  });
});
