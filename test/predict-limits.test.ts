/**
 * The Lambda response limit (issue 14): a predict response with every class probability of a
 * 200-class model for 1,000 instances is over Lambda's 6 MB, which API Gateway would answer with a
 * bare 502. The API measures the response first: over the budget it answers 413 naming the size,
 * the limit and the fix, `top_k` trims it, and a response just under the budget is answered.
 *
 * The HTTP layer and the prediction core are the real ones (PredictApi, Predictor); the model is a
 * stand-in ModelServer whose runtime answers float32 probabilities as onnxruntime does, so that a
 * 200-class model needs no training run. test/predict-api.test.ts checks top_k on a trained model.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { CaptureBuffer } from '../lambdas/inference/capture';
import { PredictApi } from '../lambdas/inference/http';
import {
  keepTopK,
  LAMBDA_RESPONSE_LIMIT_BYTES,
  parseTopK,
  proxyResultBytes,
  RESPONSE_BUDGET_BYTES,
} from '../lambdas/inference/response-limits';
import type { ModelServer, ServedModel } from '../lambdas/inference/serving';
import { loadEnv, predictEnv } from '../lambdas/shared/env';
import type { Prediction } from '../lambdas/shared/model-runtime';
import type { ModelCard } from '../lambdas/shared/types';
import { expectError } from './helpers/api';

const CLASSES = 200;
const MODEL = 'wide';

/** A card with one numeric feature `x` and `classes` classes named class_000, class_001... (or a regression card). */
function card(task: 'classification' | 'regression', classes = CLASSES): ModelCard {
  return {
    formatVersion: 2,
    task,
    target: 'y',
    features: [{ name: 'x', type: 'numeric' }],
    ...(task === 'classification' ? { classes: Array.from({ length: classes }, (_, c) => `class_${String(c).padStart(3, '0')}`) } : {}),
    hyperparameters: {},
    validationMetrics: {},
    trainingSeconds: 1,
    epochs: 1,
    torchVersion: '2',
    device: 'cpu',
    framework: 'pytorch',
  } as ModelCard;
}

/** Probabilities as an ONNX graph answers them: float32 values (long decimals once in JSON), summing to 1, by instance. */
function probabilities(x: number, classes: string[]): Prediction {
  const weights = classes.map((_, c) => Math.exp(Math.sin(x * 7.1 + c * 1.3) * 3));
  const total = weights.reduce((a, b) => a + b, 0);
  const probs = weights.map((w) => Math.fround(w / total));
  let best = 0;
  probs.forEach((p, c) => (p > probs[best] ? (best = c) : undefined));
  return { label: classes[best], probabilities: Object.fromEntries(classes.map((label, c) => [label, probs[c]])) };
}

/** A ModelServer that serves one stand-in model: the HTTP layer and the prediction core are real. */
function serverOf(modelCard: ModelCard): ModelServer {
  const runtime = {
    card: modelCard,
    predict: async (instances: Record<string, unknown>[]): Promise<Prediction[]> =>
      instances.map((i) =>
        modelCard.task === 'regression' ? { value: Math.fround(Number(i.x) * 1.5) } : probabilities(Number(i.x), modelCard.classes!),
      ),
  };
  const served = { name: MODEL, version: 3, runtime, record: {} } as unknown as ServedModel;
  return { get: async () => served, peek: () => undefined } as unknown as ModelServer;
}

/** The API with a capture buffer kept in memory: the lines it would have written. */
function apiOf(modelCard: ModelCard) {
  const captured: string[] = [];
  const capture = new CaptureBuffer({
    bucket: 'unused',
    maxRecords: 1_000_000,
    maxAgeMs: 3_600_000,
    timers: false,
    write: async (_key, body) => void captured.push(...body.trimEnd().split('\n')),
  });
  const env = loadEnv(predictEnv, { REGISTRY_TABLE: 'unused', DATA_BUCKET: 'unused', MAX_BATCH: '1000' });
  const api = new PredictApi(serverOf(modelCard), env, { capture, random: () => 0, awaitCapture: false });
  return { api, captured: async () => (await capture.flush(), captured) };
}

function predictEvent(instances: number, query: Record<string, string> = {}, extra: Record<string, unknown> = {}): APIGatewayProxyEvent {
  return {
    httpMethod: 'POST',
    resource: '/v1/models/{name}/predict',
    path: `/v1/models/${MODEL}/predict`,
    pathParameters: { name: MODEL },
    queryStringParameters: Object.keys(query).length ? query : null,
    body: JSON.stringify({ instances: Array.from({ length: instances }, (_, i) => ({ x: i })), ...extra }),
    requestContext: { requestId: `req-${instances}` },
  } as unknown as APIGatewayProxyEvent;
}

describe('a 200-class model answering 1,000 instances', () => {
  test('would be over Lambda’s 6 MB with every probability: refused with a 413 naming the size, the limit and the fix', async () => {
    const { api, captured } = apiOf(card('classification'));
    const res = await api.handle(predictEvent(1000));
    const body = await expectError(
      Promise.resolve(res),
      413,
      'ResponseTooLarge',
      /^The response would be 7,[0-9]{3},[0-9]{3} bytes, over the 6,225,920 bytes a prediction response may have \(Lambda refuses responses over 6,291,456 bytes\): keep only the most probable classes of each prediction with top_k \(\?top_k=5, or "top_k": 5 in the body; the model has 200 classes\), or send fewer instances per request \(1000 sent; about 8[0-9]{2} fit\)\.$/,
    );
    const { responseBytes, limitBytes } = body as unknown as { responseBytes: number; limitBytes: number };
    // What Lambda would have been handed really is over its limit: without the check, a 502.
    expect(responseBytes).toBeGreaterThan(LAMBDA_RESPONSE_LIMIT_BYTES);
    expect(limitBytes).toBe(RESPONSE_BUDGET_BYTES);
    // The refusal itself is small, and the refused request is not captured as answered.
    expect(proxyResultBytes(res)).toBeLessThan(2048);
    expect(await captured()).toEqual([]);
  });

  test('is answered with ?top_k=5: five classes per prediction, the label among them, the fields unchanged', async () => {
    const { api, captured } = apiOf(card('classification'));
    const res = await api.handle(predictEvent(1000, { top_k: '5' }));
    expect(res.statusCode).toBe(200);
    expect(proxyResultBytes(res)).toBeLessThan(RESPONSE_BUDGET_BYTES);
    const body = JSON.parse(res.body) as { predictions: { label: string; probabilities: Record<string, number> }[] };
    expect(Object.keys(body).sort()).toEqual(['model', 'predictions', 'requestId']);
    expect(body.predictions).toHaveLength(1000);
    body.predictions.forEach((p, i) => {
      const full = probabilities(i, card('classification').classes!) as { label: string; probabilities: Record<string, number> };
      const top5 = Object.values(full.probabilities)
        .sort((a, b) => b - a)
        .slice(0, 5);
      expect(Object.keys(p).sort()).toEqual(['label', 'probabilities']);
      expect(p.label).toBe(full.label);
      expect(Object.values(p.probabilities).sort((a, b) => b - a)).toEqual(top5);
      expect(p.probabilities[p.label]).toBe(top5[0]);
    });
    // Capture keeps every probability: the drift monitor reads the model's whole answer.
    const lines = await captured();
    expect(lines).toHaveLength(1000);
    expect(Object.keys((JSON.parse(lines[0]) as { prediction: { probabilities: object } }).prediction.probabilities)).toHaveLength(CLASSES);
  });

  test('is answered with "top_k" in the body as with the query', async () => {
    const { api } = apiOf(card('classification'));
    const inBody = await api.handle(predictEvent(1000, {}, { top_k: 3 }));
    const inQuery = await api.handle(predictEvent(1000, { top_k: '3' }));
    expect(inBody.statusCode).toBe(200);
    expect(JSON.parse(inBody.body).predictions).toEqual(JSON.parse(inQuery.body).predictions);
    expect(Object.keys(JSON.parse(inBody.body).predictions[0].probabilities)).toHaveLength(3);
  });

  test('a response just under the budget is answered; one more instance is refused', async () => {
    const { api } = apiOf(card('classification'));
    // The largest batch whose full response fits, found by asking the API itself.
    let [fits, over] = [1, 1000];
    while (over - fits > 1) {
      const mid = Math.floor((fits + over) / 2);
      if ((await api.handle(predictEvent(mid))).statusCode === 200) fits = mid;
      else over = mid;
    }
    const atLimit = await api.handle(predictEvent(fits));
    expect(atLimit.statusCode).toBe(200);
    const perPrediction = proxyResultBytes(atLimit) / fits;
    // Just under: less than one more prediction's worth away from the budget.
    expect(proxyResultBytes(atLimit)).toBeLessThanOrEqual(RESPONSE_BUDGET_BYTES);
    expect(proxyResultBytes(atLimit)).toBeGreaterThan(RESPONSE_BUDGET_BYTES - 1.1 * perPrediction);
    expect(JSON.parse(atLimit.body).predictions).toHaveLength(fits);
    const oneMore = await api.handle(predictEvent(fits + 1));
    expect(oneMore.statusCode).toBe(413);
    expect(JSON.parse(oneMore.body).message).toContain(`(${fits + 1} sent; about ${fits} fit)`);
  });

  test('a top_k still too large names the smaller top_k as the fix', async () => {
    const { api } = apiOf(card('classification', 400));
    const res = await api.handle(predictEvent(1000, { top_k: '200' }));
    await expectError(
      Promise.resolve(res),
      413,
      'ResponseTooLarge',
      /: a smaller top_k \(200 asked\), or send fewer instances per request/,
    );
  });
});

describe('top_k requests', () => {
  test('a bad top_k answers 400 naming where it was given and what it got', async () => {
    const { api } = apiOf(card('classification'));
    for (const [query, extra, message] of [
      [{ top_k: '0' }, {}, "?top_k must be a positive integer, got '0'."],
      [{ top_k: 'five' }, {}, "?top_k must be a positive integer, got 'five'."],
      [{}, { top_k: 2.5 }, '"top_k" must be a positive integer, got 2.5.'],
      [{}, { top_k: '5' }, '"top_k" must be a positive integer, got "5".'],
      [{ top_k: '5' }, { top_k: 4 }, 'top_k is 5 in the query and 4 in the body: give it once, or the same in both.'],
    ] as const) {
      await expectError(api.handle(predictEvent(2, query, extra)), 400, 'RequestInvalid', message);
    }
    // The same value twice is one request.
    expect((await api.handle(predictEvent(2, { top_k: '4' }, { top_k: 4 }))).statusCode).toBe(200);
  });

  test('a regression model refuses top_k: it has no classes', async () => {
    const { api } = apiOf(card('regression'));
    await expectError(
      api.handle(predictEvent(2, { top_k: '3' })),
      400,
      'RequestInvalid',
      "top_k keeps the most probable classes of a classification model; 'wide' is a regression model, which answers one value per instance.",
    );
    expect((await api.handle(predictEvent(2))).statusCode).toBe(200);
  });

  test('keepTopK keeps the label on a tie and leaves a prediction with k classes or fewer as it is', () => {
    // Integer-like keys come first in an object whatever the class order: the label still wins the tie.
    const tie: Prediction = { label: '7', probabilities: { '2': 0.5, '7': 0.5 } };
    expect(keepTopK([tie], 1)).toEqual([{ label: '7', probabilities: { '7': 0.5 } }]);
    expect(keepTopK([tie], 2)[0]).toBe(tie);
    expect(keepTopK([{ value: 3 }], 1)).toEqual([{ value: 3 }]);
  });

  test('parseTopK reads neither from an absent query or a body without it', () => {
    expect(parseTopK(null, { instances: [] })).toBeUndefined();
    expect(parseTopK({ version: '2' }, [])).toBeUndefined();
  });
});
