/**
 * Which model answers: an alias resolves to a version through the registry with a short cache
 * (a promotion is served within ALIAS_CACHE_SECONDS, no redeploy), and each version's ONNX
 * session is created once per container and kept.
 *
 * A switch never fails or stalls a request: when the alias moves to a version that this container
 * has not loaded yet, requests keep being answered by the version that served until then while
 * the new one loads in the background, and the alias switches once it is ready (a new version is
 * loaded before it is used). Only a cold container, with nothing loaded for the alias yet, waits
 * for the load. Concurrent requests share one registry read per alias and one load per version.
 */
import { ModelArtifactInvalid, ModelNotFound } from '../shared/errors';
import { parseS3Uri } from '../shared/layout';
import { ModelRuntime, type RuntimeOptions } from '../shared/model-runtime';
import { logger } from '../shared/observability';
import type { Registry } from '../shared/registry/registry';
import type { ModelVersionRecord } from '../shared/registry/versions';
import { getBytes } from '../shared/storage';
import type { ModelCard } from '../shared/types';

export interface ServedModel {
  readonly name: string;
  readonly version: number;
  readonly runtime: ModelRuntime;
  /** The registry's record of the version: metrics, lineage (immutable once registered). */
  readonly record: ModelVersionRecord;
}

interface Loaded {
  readonly runtime: ModelRuntime;
  readonly record: ModelVersionRecord;
}

interface AliasEntry {
  /** The version serving for the alias here; undefined when no version holds the alias. */
  version: number | undefined;
  /** Why there is none (the 404 message), when version is undefined. */
  missing?: string;
  expires: number;
  /** The version the registry names, while it loads (the entry switches once it is ready). */
  next?: number;
}

/** A background load older than this is abandoned and retried (a frozen Lambda's socket may never answer). */
const STALE_LOAD_MS = 60_000;

export class ModelServer {
  private readonly aliases = new Map<string, AliasEntry>();
  private readonly refreshing = new Map<string, Promise<AliasEntry>>();
  private readonly loading = new Map<string, { promise: Promise<Loaded>; started: number }>();
  private readonly ready = new Map<string, Loaded>();

  constructor(
    private readonly registry: Registry,
    private readonly aliasTtlMs: number,
    private readonly now: () => number = Date.now,
    /** How each version's session runs (batch scoring: one intra-op thread). */
    private readonly runtimeOptions: RuntimeOptions = {},
  ) {}

  /** Read the alias from the registry and update the cache; one read at a time per alias. */
  private refresh(name: string, alias: string): Promise<AliasEntry> {
    const key = `${name}@${alias}`;
    let pending = this.refreshing.get(key);
    if (!pending) {
      pending = (async () => {
        const current = this.aliases.get(key);
        let record;
        try {
          record = await this.registry.aliases.get(name, alias);
        } catch (error) {
          // The registry is unreachable: keep serving what served (checked again next time).
          if (current?.version !== undefined) {
            logger.warn('Alias refresh failed; the cached version keeps serving', { model: name, alias, error: error as Error });
            return current;
          }
          throw error;
        }
        let entry: AliasEntry;
        if (!record) {
          const known = await this.registry.models.get(name);
          const missing = known ? `Model '${name}' has no version with alias '${alias}' yet.` : `Model '${name}' is not in the registry.`;
          entry = { version: undefined, missing, expires: this.now() + this.aliasTtlMs };
        } else if (current?.version === undefined || current.version === record.version || this.ready.has(`${name}#${record.version}`)) {
          entry = { version: record.version, expires: this.now() + this.aliasTtlMs };
        } else {
          // A switch: keep the serving version until the new one is loaded.
          entry = { version: current.version, expires: this.now() + this.aliasTtlMs, next: record.version };
          const next = record.version;
          this.load(name, next).then(
            () => {
              const latest = this.aliases.get(key);
              if (latest?.next === next) this.aliases.set(key, { version: next, expires: latest.expires });
            },
            (error: Error) =>
              logger.error('Loading the new version of an alias failed; the previous one keeps serving', {
                model: name,
                alias,
                version: next,
                error,
              }),
          );
        }
        this.aliases.set(key, entry);
        return entry;
      })();
      this.refreshing.set(key, pending);
      const clear = () => this.refreshing.delete(key);
      pending.then(clear, clear);
    }
    return pending;
  }

  private async resolve(name: string, alias: string): Promise<number> {
    const cached = this.aliases.get(`${name}@${alias}`);
    const entry = cached && cached.expires > this.now() ? cached : await this.refresh(name, alias);
    if (entry.version === undefined) throw new ModelNotFound(entry.missing ?? `Model '${name}' has no version with alias '${alias}' yet.`);
    return entry.version;
  }

  private load(name: string, version: number): Promise<Loaded> {
    const key = `${name}#${version}`;
    const done = this.ready.get(key);
    if (done) return Promise.resolve(done);
    const pending = this.loading.get(key);
    if (pending && this.now() - pending.started < STALE_LOAD_MS) return pending.promise;
    const promise = (async (): Promise<Loaded> => {
      const record = await this.registry.versions.get(name, version);
      if (!record) throw new ModelNotFound(`Model '${name}' has no version ${version}.`);
      const onnx = parseS3Uri(record.artifact.onnxUri);
      const card = parseS3Uri(record.artifact.cardUri);
      const [onnxBytes, cardBytes] = await Promise.all([getBytes(onnx.bucket, onnx.key), getBytes(card.bucket, card.key)]);
      let parsed: ModelCard;
      try {
        parsed = JSON.parse(cardBytes.toString('utf8')) as ModelCard;
      } catch {
        throw new ModelArtifactInvalid(`The model card of ${name} version ${version} is not valid JSON.`);
      }
      return { runtime: await ModelRuntime.load(onnxBytes, parsed, record.artifact.onnxUri, this.runtimeOptions), record };
    })();
    this.loading.set(key, { promise, started: this.now() });
    // A failed load is not cached: the next request tries again.
    promise.then(
      (loaded) => {
        if (!this.ready.has(key)) this.ready.set(key, loaded);
        this.loading.delete(key);
      },
      () => {
        if (this.loading.get(key)?.promise === promise) this.loading.delete(key);
      },
    );
    return promise.then((loaded) => this.ready.get(key) ?? loaded);
  }

  private served(name: string, version: number, loaded: Loaded): ServedModel {
    return { name, version, runtime: loaded.runtime, record: loaded.record };
  }

  /** The model for a request: an explicit version, else the alias (champion by default). */
  async get(name: string, target: { version?: number; alias?: string } = {}): Promise<ServedModel> {
    const version = target.version ?? (await this.resolve(name, target.alias ?? 'champion'));
    return this.served(name, version, await this.load(name, version));
  }

  /**
   * The model holding an alias if it is ready now, without waiting: undefined when no version
   * holds the alias (as the cache last saw it), 'loading' while the alias is first read or its
   * model loads. An expired or unknown alias is refreshed, and its model loaded, in the
   * background. For shadow scoring, which must never delay an answer.
   */
  peek(name: string, alias: string): ServedModel | 'loading' | undefined {
    const entry = this.aliases.get(`${name}@${alias}`);
    if (!entry || entry.expires <= this.now()) {
      this.refresh(name, alias)
        .then(
          (fresh) => (fresh.version === undefined ? undefined : this.load(name, fresh.version)),
          () => undefined,
        )
        .catch((error: Error) => logger.warn('Loading a shadow model failed', { model: name, alias, error }));
    }
    if (!entry) return 'loading';
    if (entry.version === undefined) return undefined;
    const loaded = this.ready.get(`${name}#${entry.version}`);
    if (loaded) return this.served(name, entry.version, loaded);
    this.load(name, entry.version).catch((error: Error) => logger.warn('Loading a shadow model failed', { model: name, alias, error }));
    return 'loading';
  }
}
