/**
 * What a prediction response may weigh, and `top_k`, the way to make it lighter.
 *
 * Lambda refuses a synchronous response over 6 MB (6,291,456 bytes, counted on the whole proxy
 * result JSON: status, headers and the body as an escaped string), and API Gateway then answers
 * 502 with no word of why. Every class probability for 1,000 instances is 6.18 MB at 200 classes,
 * so the API measures each response before it answers and refuses one over the budget with a 413
 * that names the size, the limit and the fix; `top_k` keeps the k most probable classes of each
 * prediction.
 */
import type { APIGatewayProxyEventQueryStringParameters, APIGatewayProxyResult } from 'aws-lambda';
import { RequestInvalid, ResponseTooLarge } from '../shared/errors';
import type { Prediction } from '../shared/model-runtime';

/** Lambda's limit on a synchronous invocation's response (the serialized proxy result). */
export const LAMBDA_RESPONSE_LIMIT_BYTES = 6_291_456;

/**
 * What a response may use: the limit less 64 KiB, so that what is measured here and what the
 * runtime sends may differ a little (the runtime's own serialization, a header added later)
 * without tipping a response that measured just under into a 502.
 */
export const RESPONSE_BUDGET_BYTES = LAMBDA_RESPONSE_LIMIT_BYTES - 64 * 1024;

/** The size of a proxy result as the Lambda runtime sends it: its JSON, in UTF-8 bytes. */
export function proxyResultBytes(result: APIGatewayProxyResult): number {
  return Buffer.byteLength(JSON.stringify(result), 'utf8');
}

const formatBytes = (n: number) => n.toLocaleString('en-US');

/**
 * `result` if it fits the budget, else ResponseTooLarge naming its size, the budget, Lambda's
 * limit and the fix: `top_k` (when the predictions carry class probabilities) or fewer instances.
 */
export function fitResponse(
  result: APIGatewayProxyResult,
  request: { readonly instances: number; readonly topK?: number; readonly classes?: number },
  budget = RESPONSE_BUDGET_BYTES,
): APIGatewayProxyResult {
  const bytes = proxyResultBytes(result);
  if (bytes <= budget) return result;
  // Predictions weigh about the same each: that many would have fitted.
  const fitting = Math.max(0, Math.floor((request.instances * budget) / bytes));
  const fixes: string[] = [];
  if (request.classes !== undefined && request.classes > 1) {
    fixes.push(
      request.topK === undefined
        ? `keep only the most probable classes of each prediction with top_k (?top_k=5, or "top_k": 5 in the body; the model has ${request.classes} classes)`
        : `a smaller top_k (${request.topK} asked)`,
    );
  }
  fixes.push(`send fewer instances per request (${request.instances} sent; about ${fitting} fit)`);
  throw new ResponseTooLarge(
    `The response would be ${formatBytes(bytes)} bytes, over the ${formatBytes(budget)} bytes a prediction response may have ` +
      `(Lambda refuses responses over ${formatBytes(LAMBDA_RESPONSE_LIMIT_BYTES)} bytes): ${fixes.join(', or ')}.`,
    bytes,
    budget,
  );
}

const TOP_K_FIELD = 'top_k';

/**
 * `top_k` from the query (?top_k=N) or the body ("top_k": N): a positive integer; both may be
 * given only with the same value. Undefined when neither is.
 */
export function parseTopK(query: APIGatewayProxyEventQueryStringParameters | null | undefined, payload: unknown): number | undefined {
  const fromQuery = query?.[TOP_K_FIELD];
  let topK: number | undefined;
  if (fromQuery !== undefined) {
    if (!/^[1-9][0-9]{0,5}$/.test(fromQuery)) throw new RequestInvalid(`?top_k must be a positive integer, got '${fromQuery}'.`);
    topK = Number(fromQuery);
  }
  if (typeof payload === 'object' && payload !== null && !Array.isArray(payload) && Object.hasOwn(payload, TOP_K_FIELD)) {
    const fromBody = (payload as Record<string, unknown>)[TOP_K_FIELD];
    if (typeof fromBody !== 'number' || !Number.isInteger(fromBody) || fromBody < 1)
      throw new RequestInvalid(`"top_k" must be a positive integer, got ${JSON.stringify(fromBody) ?? String(fromBody)}.`);
    if (topK !== undefined && topK !== fromBody)
      throw new RequestInvalid(`top_k is ${topK} in the query and ${fromBody} in the body: give it once, or the same in both.`);
    topK = fromBody;
  }
  return topK;
}

/**
 * Each prediction with only its `k` most probable classes; the label (the most probable class) is
 * always kept, and other ties go to the class that comes first in the prediction's probabilities.
 * Regression predictions have no classes and are refused by the caller before this.
 */
export function keepTopK(predictions: Prediction[], k: number): Prediction[] {
  return predictions.map((prediction) => {
    if (!('probabilities' in prediction)) return prediction;
    const entries = Object.entries(prediction.probabilities);
    if (entries.length <= k) return prediction;
    const kept = entries
      .map(([label, p], order) => ({ label, p, order }))
      .sort((a, b) => b.p - a.p || Number(b.label === prediction.label) - Number(a.label === prediction.label) || a.order - b.order)
      .slice(0, k);
    return { label: prediction.label, probabilities: Object.fromEntries(kept.map((e) => [e.label, e.p])) };
  });
}
