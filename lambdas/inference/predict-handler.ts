/** Lambda entry of the inference API (API Gateway REST, proxy integration). */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { loadEnv, predictEnv } from '../shared/env';
import { Registry } from '../shared/registry';
import { PredictApi } from './predict';
import { ModelServer } from './serving';

const env = loadEnv(predictEnv);
// Module scope: the alias cache, loaded ONNX sessions and the capture buffer live as long as the container.
const api = new PredictApi(new ModelServer(new Registry(env.REGISTRY_TABLE), env.ALIAS_CACHE_SECONDS * 1000), env);

export async function handler(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  return api.handle(event);
}

/** Write buffered work (captured lines) now: the local runtime calls it before it stops or runs the drift monitor. */
export async function flush(): Promise<void> {
  await api.flush();
}
