/**
 * The prediction core: the model a request names (a version, or an alias, champion by default)
 * answers its instances, checked against the model's schema; a share of champion requests is also
 * scored by the shadow (or challenger) alias; and what the model saw and answered is captured.
 * It takes decoded requests (a valid model name, a parsed payload, a target): routes, status codes
 * and response bodies are the HTTP layer's (http.ts).
 */
import type { PredictEnv } from '../shared/env';
import type { CaptureRecord } from '../shared/capture-record';
import type { Prediction } from '../shared/model-runtime';
import { logger } from '../shared/observability';
import { inputFields, type InputField } from '../shared/model-inputs';
import type { Task } from '../shared/types';
import { RequestInvalid } from '../shared/errors';
import { CaptureBuffer } from './capture';
import { keepTopK } from './response-limits';
import type { ModelServer, ServedModel } from './serving';
import { validateInstances } from './validate';
import { boundedInstance } from '../shared/category-limit';

export interface PredictResponse {
  readonly predictions: Prediction[];
  readonly model: { readonly name: string; readonly version: number };
  readonly requestId: string;
}

/** GET /v1/models/{name}: the version that serves, what it expects and how good it is. */
export interface ModelDescription {
  readonly model: { readonly name: string; readonly version: number };
  /** The alias the version was resolved through; null for an explicit ?version. */
  readonly alias: string | null;
  readonly schema: {
    readonly target: string;
    readonly task: Task;
    /** Class labels in output order (classification only). */
    readonly classes?: string[];
    readonly features: InputField[];
  };
  /** Metrics on the held-out test split (the registry's record of the version). */
  readonly metrics: Record<string, number>;
  /** Metrics on the validation split, from training. */
  readonly validationMetrics: Record<string, number>;
  readonly datasetVersion: number;
  readonly registeredAt: string;
  readonly requestId: string;
}

/** Which version answers: an explicit version, or an alias (champion when neither is given). */
export interface Target {
  readonly version?: number;
  readonly alias?: string;
}

/** How a prediction request is answered beyond its instances and target. */
export interface PredictOptions {
  /** Keep only the k most probable classes of each prediction (classification models only). */
  readonly topK?: number;
  /**
   * Called with the response before anything is captured; throws to refuse it (the HTTP layer
   * refuses a response too large for Lambda), in which case the request is not recorded as answered.
   */
  readonly admit?: (response: PredictResponse) => void;
}

/** Aliases that score shadow traffic, in order of preference. */
export const SHADOW_ALIASES = ['shadow', 'challenger'] as const;

export interface PredictorOptions {
  /** The capture buffer. @default one built from the environment (when capture is enabled) */
  readonly capture?: CaptureBuffer;
  /** Draws for capture sampling and shadow traffic. @default Math.random */
  readonly random?: () => number;
}

export class Predictor {
  readonly capture: CaptureBuffer | undefined;
  private readonly random: () => number;

  constructor(
    private readonly server: ModelServer,
    private readonly env: PredictEnv,
    options: PredictorOptions = {},
  ) {
    this.capture =
      env.CAPTURE_ENABLED !== 'true'
        ? undefined
        : (options.capture ??
          new CaptureBuffer({
            bucket: env.DATA_BUCKET,
            maxRecords: env.CAPTURE_BATCH_RECORDS,
            maxAgeMs: env.CAPTURE_FLUSH_SECONDS * 1000,
          }));
    this.random = options.random ?? Math.random;
  }

  /** The version that serves `target`: what it expects and how good it is. */
  async describe(name: string, target: Target, requestId: string): Promise<ModelDescription> {
    const served = await this.server.get(name, target);
    const card = served.runtime.card;
    return {
      model: { name, version: served.version },
      alias: target.version !== undefined ? null : (target.alias ?? 'champion'),
      schema: {
        target: card.target,
        task: card.task,
        ...(card.task === 'classification' ? { classes: card.classes ?? [] } : {}),
        // What a request sends: a date-time column raw, not the features derived from it.
        features: inputFields(card),
      },
      metrics: served.record.metrics,
      validationMetrics: served.record.validationMetrics ?? card.validationMetrics ?? {},
      datasetVersion: served.record.lineage.datasetVersion,
      registeredAt: served.record.createdAt,
      requestId,
    };
  }

  /** Check the instances of `payload` against the model `target` names, predict, score the shadow, capture. */
  async predict(name: string, payload: unknown, target: Target, requestId: string, options: PredictOptions = {}): Promise<PredictResponse> {
    const served = await this.server.get(name, target);
    const started = performance.now();
    const instances = validateInstances(payload, served.runtime.card, this.env.MAX_BATCH, this.env.MAX_CATEGORY_LENGTH);
    if (options.topK !== undefined && served.runtime.card.task !== 'classification') {
      throw new RequestInvalid(
        `top_k keeps the most probable classes of a classification model; '${name}' is a ${served.runtime.card.task} model, which answers one value per instance.`,
      );
    }
    // Shadow traffic: only requests the champion answers by default, only a model already loaded.
    const shadow =
      this.capture &&
      this.env.SHADOW_SHARE > 0 &&
      target.version === undefined &&
      target.alias === undefined &&
      this.random() < this.env.SHADOW_SHARE
        ? this.shadowModel(name, served.version)
        : undefined;
    const predictions = await served.runtime.predict(instances);
    const latencyMs = performance.now() - started;
    const shadowPredictions = shadow ? await this.scoreShadow(shadow.model, instances, requestId) : undefined;
    const response: PredictResponse = {
      predictions: options.topK === undefined ? predictions : keepTopK(predictions, options.topK),
      model: { name, version: served.version },
      requestId,
    };
    options.admit?.(response);
    // A shadowed request is always captured: the comparison is what it was scored for.
    if (this.capture && (shadowPredictions || this.random() < this.env.CAPTURE_SAMPLE_RATE)) {
      this.record(
        name,
        served.version,
        requestId,
        instances,
        predictions,
        latencyMs,
        shadowPredictions && { alias: shadow!.alias, version: shadow!.model.version, predictions: shadowPredictions },
      );
    }
    return response;
  }

  /** The shadow model for a request, if one is ready now (never waits: see ModelServer.peek). */
  private shadowModel(name: string, servingVersion: number): { alias: string; model: ServedModel } | undefined {
    for (const alias of SHADOW_ALIASES) {
      const model = this.server.peek(name, alias);
      if (model === undefined) continue; // no such alias: try the next one
      if (model === 'loading' || model.version === servingVersion) return undefined;
      return { alias, model };
    }
    return undefined;
  }

  /** A shadow failure is logged and costs the answer nothing. */
  private async scoreShadow(
    model: ServedModel,
    instances: Record<string, unknown>[],
    requestId: string,
  ): Promise<Prediction[] | undefined> {
    try {
      return await model.runtime.predict(instances);
    } catch (error) {
      logger.error('Shadow scoring failed; the answer is unaffected', {
        model: model.name,
        version: model.version,
        requestId,
        error: error as Error,
      });
      return undefined;
    }
  }

  /** Capture must never fail a prediction: lines go to the buffer, which writes them later. */
  private record(
    model: string,
    version: number,
    requestId: string,
    instances: Record<string, unknown>[],
    predictions: Prediction[],
    latencyMs: number,
    shadow?: { alias: string; version: number; predictions: Prediction[] },
  ) {
    try {
      const at = new Date().toISOString();
      const lines = instances.map((instance, i) =>
        JSON.stringify({
          requestId,
          at,
          model,
          version,
          // Fields that are not categories (free text sent along) may be long: cut before capture.
          instance: boundedInstance(instance, this.env.MAX_CATEGORY_LENGTH),
          prediction: predictions[i],
          latencyMs,
          ...(shadow ? { shadow: { alias: shadow.alias, version: shadow.version, prediction: shadow.predictions[i] } } : {}),
        } satisfies CaptureRecord),
      );
      this.capture!.add(model, lines);
    } catch (error) {
      logger.error('Data capture failed; the prediction was still answered', { model, requestId, error: error as Error });
    }
  }

  /** Write the capture buffer now (the local runtime calls it before it stops, and before a drift run). */
  async flush(): Promise<void> {
    await this.capture?.flush();
  }
}
