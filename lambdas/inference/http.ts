/**
 * The inference API's HTTP layer, for its Lambda entry (predict-handler.ts): routes API Gateway
 * proxy events, decodes each request (model name, JSON body, ?version or ?alias) for the
 * prediction core (predict.ts) and the feedback store (feedback.ts), and maps errors to status
 * codes by name; a 5xx body says only that something failed, with the request id to find it in
 * the logs.
 *
 *   GET  /v1/health
 *   GET  /v1/models/{name}            the serving version: schema, metrics (?version=N | ?alias=A)
 *   POST /v1/models/{name}/predict    {"instances": [...], "top_k"?: k} (?version=N | ?alias=A, ?top_k=k)
 *                                     413 when the response would be too large for Lambda (response-limits.ts)
 *   POST /v1/models/{name}/feedback   {"feedback": [{"requestId", "index", "label"}]}
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { PredictEnv } from '../shared/env';
import { InvalidInput, MloopError, ModelNotFound, RequestInvalid, ResponseTooLarge } from '../shared/errors';
import { assertModelName } from '../shared/layout';
import { logger } from '../shared/observability';
import type { CaptureBuffer } from './capture';
import { acceptFeedback } from './feedback';
import { Predictor, type PredictorOptions, type PredictResponse, type Target } from './predict';
import { fitResponse, parseTopK } from './response-limits';
import type { ModelServer } from './serving';
import { parseBody } from './validate';

export interface PredictApiOptions extends PredictorOptions {
  /**
   * Wait, at the end of each request, for a capture write that is due (see CaptureBuffer.settle).
   * @default true on Lambda (AWS_LAMBDA_FUNCTION_NAME is set), where a frozen process cannot write in the background
   */
  readonly awaitCapture?: boolean;
}

const FEEDBACK_EXAMPLE = '{"feedback": [{"requestId": "...", "index": 0, "label": ...}]}';

const json = (statusCode: number, body: unknown): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** How many classes the model answers probabilities for (undefined for regression). */
function classCount(response: PredictResponse): number | undefined {
  const first = response.predictions[0];
  return first && 'probabilities' in first ? Object.keys(first.probabilities).length : undefined;
}

function parseTarget(query: APIGatewayProxyEvent['queryStringParameters']): Target {
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
  private readonly predictor: Predictor;
  private readonly awaitCapture: boolean;

  constructor(
    private readonly server: ModelServer,
    private readonly env: PredictEnv,
    options: PredictApiOptions = {},
  ) {
    this.predictor = new Predictor(server, env, options);
    this.awaitCapture = options.awaitCapture ?? Boolean(process.env.AWS_LAMBDA_FUNCTION_NAME);
  }

  /** The capture buffer; undefined when capture is disabled. */
  get capture(): CaptureBuffer | undefined {
    return this.predictor.capture;
  }

  /** Write the capture buffer now (the local runtime calls it before it stops, and before a drift run). */
  async flush(): Promise<void> {
    await this.predictor.flush();
  }

  async handle(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
    const requestId = event.requestContext?.requestId ?? randomUUID();
    const route = `${event.httpMethod} ${event.resource}`;
    try {
      const name = event.pathParameters?.name ?? '';
      // Each request is decoded in this order (name, body, target): the first problem is the one answered.
      switch (route) {
        case 'GET /v1/health':
          return json(200, { status: 'ok' });
        case 'GET /v1/models/{name}': {
          assertModelName(name);
          return json(200, await this.predictor.describe(name, parseTarget(event.queryStringParameters), requestId));
        }
        case 'POST /v1/models/{name}/predict': {
          assertModelName(name);
          const payload = parseBody(event.body);
          const target = parseTarget(event.queryStringParameters);
          const topK = parseTopK(event.queryStringParameters, payload);
          let answer: APIGatewayProxyResult | undefined;
          await this.predictor.predict(name, payload, target, requestId, {
            topK,
            // Measured before capture: a response too large for Lambda is refused (413), not a 502.
            admit: (response) => {
              answer = fitResponse(json(200, response), { instances: response.predictions.length, topK, classes: classCount(response) });
            },
          });
          return answer!;
        }
        case 'POST /v1/models/{name}/feedback': {
          assertModelName(name);
          const payload = parseBody(event.body, FEEDBACK_EXAMPLE);
          return json(200, await acceptFeedback(this.server, this.env, name, payload, requestId));
        }
        default:
          return json(404, { error: 'NotFound', message: `No route for ${event.httpMethod} ${event.path}.` });
      }
    } catch (error) {
      if (error instanceof RequestInvalid)
        return json(400, { error: error.name, message: error.message, problems: error.problems, requestId });
      if (error instanceof InvalidInput) return json(400, { error: 'RequestInvalid', message: error.message, problems: [], requestId });
      if (error instanceof ModelNotFound) return json(404, { error: error.name, message: error.message, requestId });
      if (error instanceof ResponseTooLarge)
        return json(413, {
          error: error.name,
          message: error.message,
          responseBytes: error.responseBytes,
          limitBytes: error.limitBytes,
          requestId,
        });
      logger.error('Request failed', { route, requestId, error: error as Error, named: error instanceof MloopError });
      const what = route.endsWith('/predict') ? 'The prediction' : 'The request';
      return json(500, { error: 'InternalError', message: `${what} failed. Quote the request id when reporting it.`, requestId });
    } finally {
      if (this.awaitCapture && this.capture) await this.capture.settle();
    }
  }
}
