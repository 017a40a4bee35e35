/** Lambda entry of the inference API (API Gateway REST, proxy integration). */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { loadEnv, predictEnv } from '../shared/env';
import { Registry } from '../shared/registry';
import { PredictApi } from './predict';
import { ModelServer } from './serving';

const env = loadEnv(predictEnv);
// Module scope: the alias cache and loaded ONNX sessions live as long as the container.
const api = new PredictApi(new ModelServer(new Registry(env.REGISTRY_TABLE), env.ALIAS_CACHE_SECONDS * 1000), env);

export async function handler(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  return api.handle(event);
}
