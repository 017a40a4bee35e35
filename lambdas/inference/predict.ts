/**
 * The inference API's core: routes API Gateway proxy events, validates requests against the
 * serving model, predicts, and captures what it saw. Errors map to status codes by name; a 5xx
 * body says only that something failed, with the request id to find it in the logs.
 *
 *   GET  /v1/health
 *   GET  /v1/models/{name}            the serving version: schema, metrics (?version=N | ?alias=A)
 *   POST /v1/models/{name}/predict    {"instances": [...]} (?version=N | ?alias=A)
 *   POST /v1/models/{name}/feedback   {"feedback": [{"requestId", "index", "label"}]}
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { PredictEnv } from '../shared/env';
import { InvalidInput, MloopError, ModelNotFound, RequestInvalid } from '../shared/errors';
import { assertModelName, s3Keys } from '../shared/layout';
import type { Prediction } from '../shared/model-runtime';
import { logger } from '../shared/observability';
import { putBytes } from '../shared/storage';
import type { FeatureType, Task } from '../shared/types';
import { CaptureBuffer } from './capture';
import { validateFeedback, type FeedbackRecord } from './feedback';
import type { ModelServer, ServedModel } from './serving';
import { parseBody, validateInstances } from './validate';

export interface PredictResponse {
  readonly predictions: Prediction[];
  readonly model: { readonly name: string; readonly version: number };
  readonly requestId: string;
}

/** What a shadow model answered for the same instance: recorded, never returned. */
export interface ShadowResult {
  readonly alias: string;
  readonly version: number;
  readonly prediction: Prediction;
}

/** One captured line per instance: what the model saw and answered. */
export interface CaptureRecord {
  readonly requestId: string;
  readonly at: string;
  readonly model: string;
  readonly version: number;
  readonly instance: Record<string, unknown>;
  readonly prediction: Prediction;
  readonly latencyMs: number;
  /** Present when the request was also scored by the shadow (or challenger) alias. */
  readonly shadow?: ShadowResult;
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
    readonly features: { readonly name: string; readonly type: FeatureType; readonly categories?: string[] }[];
  };
  /** Metrics on the held-out test split (the registry's record of the version). */
  readonly metrics: Record<string, number>;
  /** Metrics on the validation split, from training. */
  readonly validationMetrics: Record<string, number>;
  readonly datasetVersion: number;
  readonly registeredAt: string;
  readonly requestId: string;
}

export interface FeedbackResponse {
  readonly accepted: number;
  readonly model: string;
  readonly requestId: string;
}

/** Aliases that score shadow traffic, in order of preference. */
export const SHADOW_ALIASES = ['shadow', 'challenger'] as const;

export interface PredictApiOptions {
  /** The capture buffer. @default one built from the environment (when capture is enabled) */
  readonly capture?: CaptureBuffer;
  /**
   * Wait, at the end of each request, for a capture write that is due (see CaptureBuffer.settle).
   * @default true on Lambda (AWS_LAMBDA_FUNCTION_NAME is set), where a frozen process cannot write in the background
   */
  readonly awaitCapture?: boolean;
  /** Draws for capture sampling and shadow traffic. @default Math.random */
  readonly random?: () => number;
}

const json = (statusCode: number, body: unknown): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

function parseTarget(query: APIGatewayProxyEvent['queryStringParameters']): { version?: number; alias?: string } {
  const version = query?.version;
  const alias = query?.alias;
  if (version !== undefined && alias !== undefined) throw new RequestInvalid('Give either ?version or ?alias, not both.');
  if (version !== undefined) {
    if (!/^[1-9][0-9]*$/.test(version)) throw new RequestInvalid(`?version must be a positive integer, got '${version}'.`);
    return { version: Number(version) };
  }
  if (alias !== undefined && !/^[a-z][a-z0-9-]{0,39}$/.test(alias))
    throw new RequestInvalid(`?alias '${alias}' is not a valid alias name.`);
  return alias ? { alias } : {};
}

export class PredictApi {
  readonly capture: CaptureBuffer | undefined;
  private readonly awaitCapture: boolean;
  private readonly random: () => number;

  constructor(
    private readonly server: ModelServer,
    private readonly env: PredictEnv,
    options: PredictApiOptions = {},
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
    this.awaitCapture = options.awaitCapture ?? Boolean(process.env.AWS_LAMBDA_FUNCTION_NAME);
    this.random = options.random ?? Math.random;
  }

  async describe(name: string, query: APIGatewayProxyEvent['queryStringParameters'], requestId: string): Promise<ModelDescription> {
    assertModelName(name);
    const target = parseTarget(query);
    const served = await this.server.get(name, target);
    const card = served.runtime.card;
    return {
      model: { name, version: served.version },
      alias: target.version !== undefined ? null : (target.alias ?? 'champion'),
      schema: {
        target: card.target,
        task: card.task,
        ...(card.task === 'classification' ? { classes: card.classes ?? [] } : {}),
        features: card.features.map((f) => ({
          name: f.name,
          type: f.type,
          ...(f.type === 'categorical' ? { categories: f.categories ?? [] } : {}),
        })),
      },
      metrics: served.record.metrics,
      validationMetrics: served.record.validationMetrics ?? card.validationMetrics ?? {},
      datasetVersion: served.record.lineage.datasetVersion,
      registeredAt: served.record.createdAt,
      requestId,
    };
  }

  async predict(
    name: string,
    body: string | null | undefined,
    query: APIGatewayProxyEvent['queryStringParameters'],
    requestId: string,
  ): Promise<PredictResponse> {
    assertModelName(name);
    const payload = parseBody(body);
    const target = parseTarget(query);
    const served = await this.server.get(name, target);
    const started = performance.now();
    const instances = validateInstances(payload, served.runtime.card, this.env.MAX_BATCH);
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
    return { predictions, model: { name, version: served.version }, requestId };
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
          instance,
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

  async feedback(name: string, body: string | null | undefined, requestId: string): Promise<FeedbackResponse> {
    assertModelName(name);
    const payload = parseBody(body, '{"feedback": [{"requestId": "...", "index": 0, "label": ...}]}');
    // Labels are checked against the champion's task and classes (fixed by the model's schema).
    const served = await this.server.get(name);
    const entries = validateFeedback(payload, served.runtime.card, this.env.MAX_BATCH);
    const at = new Date();
    const lines = entries.map((entry) =>
      JSON.stringify({ ...entry, model: name, at: at.toISOString(), feedbackRequestId: requestId } satisfies FeedbackRecord),
    );
    await putBytes(this.env.DATA_BUCKET, s3Keys.feedback(name, at, requestId), lines.join('\n') + '\n', 'application/x-ndjson');
    return { accepted: entries.length, model: name, requestId };
  }

  /** Write the capture buffer now (the local runtime calls it before it stops, and before a drift run). */
  async flush(): Promise<void> {
    await this.capture?.flush();
  }

  async handle(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
    const requestId = event.requestContext?.requestId ?? randomUUID();
    const route = `${event.httpMethod} ${event.resource}`;
    try {
      const name = event.pathParameters?.name ?? '';
      switch (route) {
        case 'GET /v1/health':
          return json(200, { status: 'ok' });
        case 'GET /v1/models/{name}':
          return json(200, await this.describe(name, event.queryStringParameters, requestId));
        case 'POST /v1/models/{name}/predict':
          return json(200, await this.predict(name, event.body, event.queryStringParameters, requestId));
        case 'POST /v1/models/{name}/feedback':
          return json(200, await this.feedback(name, event.body, requestId));
        default:
          return json(404, { error: 'NotFound', message: `No route for ${event.httpMethod} ${event.path}.` });
      }
    } catch (error) {
      if (error instanceof RequestInvalid)
        return json(400, { error: error.name, message: error.message, problems: error.problems, requestId });
      if (error instanceof InvalidInput) return json(400, { error: 'RequestInvalid', message: error.message, problems: [], requestId });
      if (error instanceof ModelNotFound) return json(404, { error: error.name, message: error.message, requestId });
      logger.error('Request failed', { route, requestId, error: error as Error, named: error instanceof MloopError });
      const what = route.endsWith('/predict') ? 'The prediction' : 'The request';
      return json(500, { error: 'InternalError', message: `${what} failed. Quote the request id when reporting it.`, requestId });
    } finally {
      if (this.awaitCapture && this.capture) await this.capture.settle();
    }
  }
}
