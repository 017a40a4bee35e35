/** Lambda entry of the inference API (API Gateway REST, proxy integration): the HTTP layer (http.ts), kept per container. */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { loadEnv, predictEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { Registry } from '../shared/registry/registry';
import { flushOnShutdown } from '../shared/shutdown';
import { PredictApi } from './http';
import { ModelServer } from './serving';

const env = loadEnv(predictEnv);
// Module scope: the alias cache, loaded ONNX sessions and the capture buffer live as long as the container.
const api = new PredictApi(new ModelServer(new Registry(env.REGISTRY_TABLE), env.ALIAS_CACHE_SECONDS * 1000), env);
// Captured lines still buffered when Lambda retires the container are written on its SIGTERM.
const shutdown = flushOnShutdown(() => api.flush(), 'mloop-capture-flush');
if (shutdown.status === 'failed')
  logger.warn('Capture lines buffered at shutdown may be lost: the shutdown hook was not registered', { reason: shutdown.reason });

export async function handler(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  return api.handle(event);
}

/** Write buffered work (captured lines) now: the local runtime calls it before it stops or runs the drift monitor. */
export async function flush(): Promise<void> {
  await api.flush();
}
