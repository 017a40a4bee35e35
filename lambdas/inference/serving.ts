/**
 * Which model answers: an alias resolves to a version through the registry with a short cache
 * (a promotion is served within ALIAS_CACHE_SECONDS, no redeploy), and each version's ONNX
 * session is created once per container and kept.
 */
import { ModelArtifactInvalid, ModelNotFound } from '../shared/errors';
import { parseS3Uri } from '../shared/layout';
import { ModelRuntime } from '../shared/model-runtime';
import { Registry } from '../shared/registry';
import { getBytes } from '../shared/storage';
import type { ModelCard } from '../shared/types';

export interface ServedModel {
  readonly name: string;
  readonly version: number;
  readonly runtime: ModelRuntime;
}

export class ModelServer {
  private readonly aliases = new Map<string, { version: number; expires: number }>();
  private readonly loaded = new Map<string, Promise<ModelRuntime>>();

  constructor(
    private readonly registry: Registry,
    private readonly aliasTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private async resolve(name: string, alias: string): Promise<number> {
    const cacheKey = `${name}@${alias}`;
    const cached = this.aliases.get(cacheKey);
    if (cached && cached.expires > this.now()) return cached.version;
    const record = await this.registry.getAlias(name, alias);
    if (!record) {
      const known = await this.registry.getModel(name);
      throw new ModelNotFound(
        known ? `Model '${name}' has no version with alias '${alias}' yet.` : `Model '${name}' is not in the registry.`,
      );
    }
    this.aliases.set(cacheKey, { version: record.version, expires: this.now() + this.aliasTtlMs });
    return record.version;
  }

  private load(name: string, version: number): Promise<ModelRuntime> {
    const key = `${name}#${version}`;
    let pending = this.loaded.get(key);
    if (!pending) {
      pending = (async () => {
        const record = await this.registry.getVersion(name, version);
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
        return ModelRuntime.load(onnxBytes, parsed, record.artifact.onnxUri);
      })();
      // A failed load is not cached: the next request tries again.
      pending.catch(() => this.loaded.delete(key));
      this.loaded.set(key, pending);
    }
    return pending;
  }

  /** The model for a request: an explicit version, else the alias (champion by default). */
  async get(name: string, target: { version?: number; alias?: string } = {}): Promise<ServedModel> {
    const version = target.version ?? (await this.resolve(name, target.alias ?? 'champion'));
    return { name, version, runtime: await this.load(name, version) };
  }
}
