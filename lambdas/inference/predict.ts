/**
 * The inference API's core: routes API Gateway proxy events, validates requests against the
 * serving model, predicts, and captures what it saw. Errors map to status codes by name; a 5xx
 * body says only that something failed, with the request id to find it in the logs.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { PredictEnv } from '../shared/env';
import { InvalidInput, MloopError, ModelNotFound, RequestInvalid } from '../shared/errors';
import { assertModelName, s3Keys } from '../shared/layout';
import type { Prediction } from '../shared/model-runtime';
import { logger } from '../shared/observability';
import { putBytes } from '../shared/storage';
import type { ModelServer } from './serving';
import { parseBody, validateInstances } from './validate';

export interface PredictResponse {
  readonly predictions: Prediction[];
  readonly model: { readonly name: string; readonly version: number };
  readonly requestId: string;
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
  if (alias !== undefined && !/^[a-z][a-z0-9-]{0,39}$/.test(alias)) throw new RequestInvalid(`?alias '${alias}' is not a valid alias name.`);
  return alias ? { alias } : {};
}

export class PredictApi {
  constructor(
    private readonly server: ModelServer,
    private readonly env: PredictEnv,
  ) {}

  async predict(name: string, body: string | null | undefined, query: APIGatewayProxyEvent['queryStringParameters'], requestId: string): Promise<PredictResponse> {
    assertModelName(name);
    const payload = parseBody(body);
    const served = await this.server.get(name, parseTarget(query));
    const started = performance.now();
    const instances = validateInstances(payload, served.runtime.card, this.env.MAX_BATCH);
    const predictions = await served.runtime.predict(instances);
    const latencyMs = performance.now() - started;
    if (this.env.CAPTURE_ENABLED === 'true') await this.capture(name, served.version, requestId, instances, predictions, latencyMs);
    return { predictions, model: { name, version: served.version }, requestId };
  }

  /** Capture must never fail a prediction: a failed write is logged, not raised. */
  private async capture(model: string, version: number, requestId: string, instances: Record<string, unknown>[], predictions: Prediction[], latencyMs: number) {
    const at = new Date();
    const lines = instances.map((instance, i) =>
      JSON.stringify({ requestId, at: at.toISOString(), model, version, instance, prediction: predictions[i], latencyMs } satisfies CaptureRecord),
    );
    try {
      await putBytes(this.env.DATA_BUCKET, s3Keys.capture(model, at, requestId), lines.join('\n') + '\n', 'application/x-ndjson');
    } catch (error) {
      logger.error('Data capture failed; the prediction was still answered', { model, requestId, error: error as Error });
    }
  }

  async handle(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
    const requestId = event.requestContext?.requestId ?? randomUUID();
    try {
      if (event.httpMethod === 'GET' && event.resource === '/v1/health') return json(200, { status: 'ok' });
      if (event.httpMethod === 'POST' && event.resource === '/v1/models/{name}/predict') {
        const name = event.pathParameters?.name ?? '';
        return json(200, await this.predict(name, event.body, event.queryStringParameters, requestId));
      }
      return json(404, { error: 'NotFound', message: `No route for ${event.httpMethod} ${event.path}.` });
    } catch (error) {
      if (error instanceof RequestInvalid) return json(400, { error: error.name, message: error.message, problems: error.problems, requestId });
      if (error instanceof InvalidInput) return json(400, { error: 'RequestInvalid', message: error.message, problems: [], requestId });
      if (error instanceof ModelNotFound) return json(404, { error: error.name, message: error.message, requestId });
      logger.error('Prediction failed', { requestId, error: error as Error, named: error instanceof MloopError });
      return json(500, { error: 'InternalError', message: 'The prediction failed. Quote the request id when reporting it.', requestId });
    }
  }
}
