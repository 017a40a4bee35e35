/**
 * The inference API beyond prediction (test/predict-api.test.ts covers that): the model route,
 * the feedback route, capture batching and sampling, shadow scoring, a champion hot swap under
 * concurrent load through the local HTTP server, and property-based tests (fast-check) that
 * random malformed requests never produce a 5xx. One classification and one regression model
 * are trained through the pipeline once; further versions are registered as copies of their
 * artifacts (a different version number is all a swap or a shadow needs).
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import fc from 'fast-check';
import { CaptureBuffer } from '../lambdas/inference/capture';
import { PredictApi } from '../lambdas/inference/http';
import { ModelServer } from '../lambdas/inference/serving';
import { loadEnv, predictEnv, type PredictEnv } from '../lambdas/shared/env';
import { s3Keys, s3Uri } from '../lambdas/shared/layout';
import type { ModelVersionRecord } from '../lambdas/shared/registry/versions';
import type { ModelCard } from '../lambdas/shared/types';
import { apiEvent, startApiServer, type ApiServer } from '../local/api-server';
import { binaryClassificationCsv, regressionCsv } from './helpers/datasets';
import { getObjectJson, getText, listKeys, putObject, splitUri, startCloud, stopCloud, trainModel, type TestCloud } from './helpers/cloud';
import { clsInstance, expectError, regInstance } from './helpers/api';

jest.setTimeout(60_000);

const CLS = 'churn-inf';
const REG = 'price-inf';
const SWAP = 'swap-inf';

let test_: TestCloud;
let server: ApiServer;
let maxBatch: number;
let clsV1: ModelVersionRecord;
let regV1: ModelVersionRecord;

/** An API Gateway proxy event for a path of the API, as the local server would build it. */
function event(method: string, path: string, body: string | null = null, query: Record<string, string> = {}): APIGatewayProxyEvent {
  const url = new URL(`http://127.0.0.1${path}`);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return apiEvent(test_.cloud.apiRoutes, method, url, body);
}

/** Through the predict function as the local runtime runs it (the module the template names). */
async function call(
  method: string,
  path: string,
  body: unknown = null,
  query: Record<string, string> = {},
): Promise<APIGatewayProxyResult> {
  const text = body === null ? null : typeof body === 'string' ? body : JSON.stringify(body);
  return (await test_.cloud.invoke('predict', event(method, path, text, query))) as APIGatewayProxyResult;
}

/** The predict function's environment from the template, with overrides. */
function envWith(overrides: Partial<Record<keyof PredictEnv, string>> = {}): PredictEnv {
  const base = test_.cloud.template.functions.find((f) => f.functionId === 'predict')!.environment;
  return loadEnv(predictEnv, { ...base, ...overrides });
}

/** A capture buffer that keeps its objects in memory: what S3 would have received, in order. */
function memoryCapture(options: { maxRecords?: number; maxAgeMs?: number; timers?: boolean; now?: () => number } = {}) {
  const objects: { key: string; lines: Record<string, unknown>[] }[] = [];
  const buffer = new CaptureBuffer({
    bucket: 'unused',
    maxRecords: options.maxRecords ?? 1000,
    maxAgeMs: options.maxAgeMs ?? 3_600_000,
    timers: options.timers ?? false,
    now: options.now,
    write: async (key, body) => {
      objects.push({
        key,
        lines: body
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      });
    },
  });
  return { buffer, objects, lines: () => objects.flatMap((o) => o.lines) };
}

/** Register a copy of a version's artifacts as another version (of the same or another model). */
async function registerCopy(of: ModelVersionRecord, model: string, version: number): Promise<void> {
  await test_.registry.versions.put({ ...of, model, version, promoted: false, createdAt: new Date().toISOString() });
}

const predictBody = (res: APIGatewayProxyResult) =>
  JSON.parse(res.body) as { predictions: unknown[]; model: { name: string; version: number }; requestId: string };

beforeAll(async () => {
  test_ = await startCloud();
  maxBatch = Number(test_.cloud.template.functions.find((f) => f.functionId === 'predict')!.environment.MAX_BATCH);
  await trainModel(test_, CLS, binaryClassificationCsv(400, 21), 'label');
  await trainModel(test_, REG, regressionCsv(400, 22), 'price');
  clsV1 = (await test_.registry.versions.get(CLS, 1))!;
  regV1 = (await test_.registry.versions.get(REG, 1))!;
  server = await startApiServer(test_.cloud.apiRoutes, (e) => test_.cloud.invoke('predict', e) as Promise<APIGatewayProxyResult>);
}, 240_000);

afterAll(async () => {
  await server?.close();
  await stopCloud(test_);
}, 60_000);

// -------------------------------------------------------------------------------------------------

describe('GET /v1/models/{name}', () => {
  it('describes the champion of a classification model: schema with types, categories and classes, and its metrics', async () => {
    const res = await call('GET', `/v1/models/${CLS}`);
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(res.body);
    expect(Object.keys(body).sort()).toEqual([
      'alias',
      'datasetVersion',
      'metrics',
      'model',
      'registeredAt',
      'requestId',
      'schema',
      'validationMetrics',
    ]);
    expect(body.model).toEqual({ name: CLS, version: 1 });
    expect(body.alias).toBe('champion');
    expect(body.schema).toEqual({
      target: 'label',
      task: 'classification',
      classes: ['0', '1'],
      features: [
        { name: 'x1', type: 'numeric' },
        { name: 'x2', type: 'numeric' },
        { name: 'x3', type: 'numeric' },
        { name: 'color', type: 'categorical', categories: ['blue', 'green', 'red'] },
      ],
    });
    // The metrics are the registry's record of the version (test split), not recomputed.
    expect(body.metrics).toEqual(clsV1.metrics);
    expect(typeof body.metrics.accuracy).toBe('number');
    expect(body.validationMetrics).toEqual(clsV1.validationMetrics);
    expect(body.datasetVersion).toBe(clsV1.lineage.datasetVersion);
    expect(body.registeredAt).toBe(clsV1.createdAt);
  });

  it('matches the model card the version was trained with', async () => {
    const body = JSON.parse((await call('GET', `/v1/models/${REG}`)).body);
    const cardAt = splitUri(regV1.artifact.cardUri);
    const card = await getObjectJson<ModelCard>(cardAt.bucket, cardAt.key);
    expect(body.schema.features).toEqual(
      card.features.map((f) =>
        f.type === 'categorical' ? { name: f.name, type: f.type, categories: f.categories } : { name: f.name, type: f.type },
      ),
    );
  });

  it('describes a regression model without classes', async () => {
    const body = JSON.parse((await call('GET', `/v1/models/${REG}`)).body);
    expect(body.schema.task).toBe('regression');
    expect(body.schema.target).toBe('price');
    expect('classes' in body.schema).toBe(false);
    expect(body.schema.features.find((f: { name: string }) => f.name === 'city')).toEqual({
      name: 'city',
      type: 'categorical',
      categories: ['lille', 'lyon', 'paris'],
    });
    expect(Object.keys(body.metrics)).toContain('rmse');
  });

  it('describes an explicit ?version (no alias) or ?alias', async () => {
    const byVersion = JSON.parse((await call('GET', `/v1/models/${CLS}`, null, { version: '1' })).body);
    expect([byVersion.model, byVersion.alias]).toEqual([{ name: CLS, version: 1 }, null]);
    const byAlias = JSON.parse((await call('GET', `/v1/models/${CLS}`, null, { alias: 'champion' })).body);
    expect([byAlias.model, byAlias.alias]).toEqual([{ name: CLS, version: 1 }, 'champion']);
  });

  it('answers 404 for an unknown model, version or alias and 400 for a bad name or query', async () => {
    await expectError(call('GET', '/v1/models/no-such-model'), 404, 'ModelNotFound', "Model 'no-such-model' is not in the registry.");
    await expectError(call('GET', `/v1/models/${CLS}`, null, { version: '99' }), 404, 'ModelNotFound', `Model '${CLS}' has no version 99.`);
    await expectError(
      call('GET', `/v1/models/${CLS}`, null, { alias: 'nobody' }),
      404,
      'ModelNotFound',
      `Model '${CLS}' has no version with alias 'nobody' yet.`,
    );
    await expectError(call('GET', '/v1/models/Bad_Name'), 400, 'RequestInvalid', /^Model name 'Bad_Name' is not valid/);
    await expectError(
      call('GET', `/v1/models/${CLS}`, null, { version: 'x' }),
      400,
      'RequestInvalid',
      "?version must be a positive integer, got 'x'.",
    );
    await expectError(
      call('GET', `/v1/models/${CLS}`, null, { version: '1', alias: 'champion' }),
      400,
      'RequestInvalid',
      'Give either ?version or ?alias, not both.',
    );
  });

  it('is served by the local HTTP server (and POST on it is 405)', async () => {
    const res = await fetch(`${server.url}/v1/models/${CLS}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { model: unknown }).model).toEqual({ name: CLS, version: 1 });
    const post = await fetch(`${server.url}/v1/models/${CLS}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(post.status).toBe(405);
    expect(await post.json()).toEqual({ error: 'MethodNotAllowed', message: `POST is not allowed on /v1/models/${CLS}.` });
  });
});

// -------------------------------------------------------------------------------------------------

describe('POST /v1/models/{name}/feedback', () => {
  const feedback = (model: string, body: unknown) => call('POST', `/v1/models/${model}/feedback`, body);
  const problemsOf = async (body: unknown, model = CLS) => {
    const res = await expectError(feedback(model, body), 400, 'RequestInvalid', /^The feedback has \d+\+? problem\(s\)\.$/);
    return res.problems;
  };

  /** Every feedback line stored for a model. */
  const stored = async (model: string) => {
    const keys = await listKeys(test_.cloud.dataBucket, s3Keys.feedbackModelPrefix(model));
    const lines = (await Promise.all(keys.map((k) => getText(test_.cloud.dataBucket, k))))
      .join('')
      .split('\n')
      .filter((l) => l !== '');
    return { keys, lines: lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
  };

  it('stores labels for earlier predictions as JSON Lines under feedback/<model>/<hour>/, one line per entry', async () => {
    const prediction = predictBody(await call('POST', `/v1/models/${CLS}/predict`, { instances: [clsInstance(0), clsInstance(1)] }));
    const res = await feedback(CLS, {
      feedback: [
        { requestId: prediction.requestId, index: 0, label: '1' },
        { requestId: prediction.requestId, index: 1, label: 0 }, // a number is read as the class "0"
      ],
    });
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(res.body);
    expect(Object.keys(body).sort()).toEqual(['accepted', 'model', 'requestId']);
    expect([body.accepted, body.model]).toEqual([2, CLS]);

    const { keys, lines } = await stored(CLS);
    const mine = keys.filter((k) => k.endsWith(`-${body.requestId}.jsonl`));
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatch(new RegExp(`^feedback/${CLS}/\\d{4}/\\d{2}/\\d{2}/\\d{2}/\\d{15}-${body.requestId}\\.jsonl$`));
    const text = await getText(test_.cloud.dataBucket, mine[0]);
    expect(text.endsWith('\n')).toBe(true);
    const records = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records).toEqual([
      { requestId: prediction.requestId, index: 0, label: '1', model: CLS, at: expect.any(String), feedbackRequestId: body.requestId },
      { requestId: prediction.requestId, index: 1, label: '0', model: CLS, at: expect.any(String), feedbackRequestId: body.requestId },
    ]);
    expect(new Date(records[0].at).toISOString()).toBe(records[0].at);
    expect(lines.length).toBeGreaterThanOrEqual(2);
  });

  it('defaults index to 0 and takes numbers as regression labels', async () => {
    const res = await feedback(REG, { feedback: [{ requestId: 'req-1', label: 123456.5 }] });
    expect(res.statusCode).toBe(200);
    const { lines } = await stored(REG);
    expect(lines.find((l) => l.feedbackRequestId === JSON.parse(res.body).requestId)).toEqual(
      expect.objectContaining({ requestId: 'req-1', index: 0, label: 123456.5 }),
    );
  });

  it('over the local HTTP server', async () => {
    const res = await fetch(`${server.url}/v1/models/${CLS}/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ feedback: [{ requestId: 'abc', label: '0' }] }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { accepted: number }).accepted).toBe(1);
  });

  it('rejects a missing, malformed or misshapen body', async () => {
    const expected = 'The request has no body: expected {"feedback": [{"requestId": "...", "index": 0, "label": ...}]}.';
    await expectError(feedback(CLS, null), 400, 'RequestInvalid', expected);
    await expectError(feedback(CLS, ''), 400, 'RequestInvalid', expected);
    await expectError(feedback(CLS, '{"feedback": ['), 400, 'RequestInvalid', /^The request body is not valid JSON: .+\.$/);
    const shape = 'The request body must be a JSON object with a "feedback" array.';
    for (const body of [[], 'x', 3, { labels: [] }]) await expectError(feedback(CLS, JSON.stringify(body)), 400, 'RequestInvalid', shape);
    await expectError(
      feedback(CLS, { feedback: { requestId: 'a', label: '1' } }),
      400,
      'RequestInvalid',
      '"feedback" must be an array of objects.',
    );
    await expectError(feedback(CLS, { feedback: [] }), 400, 'RequestInvalid', '"feedback" is empty: send at least one entry.');
    const many = Array.from({ length: maxBatch + 1 }, (_, i) => ({ requestId: `r${i}`, label: '1' }));
    await expectError(
      feedback(CLS, { feedback: many }),
      400,
      'RequestInvalid',
      `"feedback" has ${maxBatch + 1} items; at most ${maxBatch} are accepted per request.`,
    );
  });

  it('lists every problem by entry index and field, with its message', async () => {
    const problems = await problemsOf({
      extra: true,
      feedback: [
        { requestId: 'ok', index: 0, label: '1' }, // fine
        'not an object',
        { index: 0, label: '1' },
        { requestId: 42, label: '1' },
        { requestId: 'has spaces', label: '1' },
        { requestId: 'r5', index: -1, label: '1' },
        { requestId: 'r6', index: 1.5, label: '1' },
        { requestId: 'r7', index: '0', label: '1' },
        { requestId: 'r8', index: maxBatch, label: '1' },
        { requestId: 'r9' },
        { requestId: 'r10', label: '2' },
        { requestId: 'r11', label: ['1'] },
        { requestId: 'r12', label: null },
        { requestId: 'r13', label: '1', score: 0.9 },
        { requestId: 'ok', label: '0' }, // same requestId and index as entry 0
      ],
    });
    expect(problems).toEqual([
      { field: 'extra', message: `The request body has unknown field 'extra': expected only "feedback".` },
      { index: 1, message: 'feedback[1] must be an object with "requestId" and "label".' },
      { index: 2, field: 'requestId', message: 'feedback[2] is missing "requestId" (the id a prediction answered with).' },
      { index: 3, field: 'requestId', message: 'feedback[3].requestId must be a string, got number.' },
      { index: 4, field: 'requestId', message: 'feedback[4].requestId must be 1 to 128 letters, digits or . _ : -.' },
      {
        index: 5,
        field: 'index',
        message: `feedback[5].index must be an integer from 0 to ${maxBatch - 1} (the instance's position in its request), got -1.`,
      },
      {
        index: 6,
        field: 'index',
        message: `feedback[6].index must be an integer from 0 to ${maxBatch - 1} (the instance's position in its request), got 1.5.`,
      },
      {
        index: 7,
        field: 'index',
        message: `feedback[7].index must be an integer from 0 to ${maxBatch - 1} (the instance's position in its request), got "0".`,
      },
      {
        index: 8,
        field: 'index',
        message: `feedback[8].index must be an integer from 0 to ${maxBatch - 1} (the instance's position in its request), got ${maxBatch}.`,
      },
      { index: 9, field: 'label', message: 'feedback[9] is missing "label" (the true class).' },
      { index: 10, field: 'label', message: "feedback[10].label '2' is not a class of this model: expected one of '0', '1'." },
      { index: 11, field: 'label', message: 'feedback[11].label must be a class (a string), got array.' },
      { index: 12, field: 'label', message: 'feedback[12].label must be a class (a string), got null.' },
      { index: 13, field: 'score', message: "feedback[13] has unknown field 'score': expected requestId, index and label." },
      { index: 14, field: 'requestId', message: 'feedback[14] repeats feedback[0] (the same requestId and index).' },
    ]);
  });

  it('checks regression labels as finite numbers', async () => {
    const problems = await problemsOf(
      { feedback: [{ requestId: 'a', label: '12' }, { requestId: 'b', label: true }, { requestId: 'c' }] },
      REG,
    );
    expect(problems).toEqual([
      { index: 0, field: 'label', message: 'feedback[0].label must be a number, got string.' },
      { index: 1, field: 'label', message: 'feedback[1].label must be a number, got boolean.' },
      { index: 2, field: 'label', message: 'feedback[2] is missing "label" (the true value).' },
    ]);
    // 1e999 is Infinity once parsed: JSON cannot carry it, but a hand-written body can.
    const inf = await problemsOf('{"feedback": [{"requestId": "a", "label": 1e999}]}', REG);
    expect(inf).toEqual([{ index: 0, field: 'label', message: 'feedback[0].label must be a finite number.' }]);
  });

  it('stores nothing for a rejected request', async () => {
    const before = (await stored(CLS)).lines.length;
    const res = await feedback(CLS, {
      feedback: [
        { requestId: 'good', label: '1' },
        { requestId: 'bad', label: 'nope' },
      ],
    });
    expect(res.statusCode).toBe(400);
    expect((await stored(CLS)).lines.length).toBe(before);
  });

  it('answers 404 for an unknown model and 400 for a bad model name', async () => {
    await expectError(
      feedback('no-such-model', { feedback: [{ requestId: 'a', label: '1' }] }),
      404,
      'ModelNotFound',
      "Model 'no-such-model' is not in the registry.",
    );
    await expectError(
      feedback('Bad_Name', { feedback: [{ requestId: 'a', label: '1' }] }),
      400,
      'RequestInvalid',
      /^Model name 'Bad_Name' is not valid/,
    );
  });

  it('answers an opaque 500 when the feedback cannot be stored', async () => {
    const api = new PredictApi(new ModelServer(test_.registry, 10_000), envWith({ DATA_BUCKET: 'no-such-bucket' }), {
      capture: memoryCapture().buffer,
    });
    const res = await api.handle(
      event('POST', `/v1/models/${CLS}/feedback`, JSON.stringify({ feedback: [{ requestId: 'a', label: '1' }] })),
    );
    expect(res.statusCode).toBe(500);
    const body = JSON.parse(res.body);
    expect(Object.keys(body).sort()).toEqual(['error', 'message', 'requestId']);
    expect([body.error, body.message]).toEqual(['InternalError', 'The request failed. Quote the request id when reporting it.']);
    expect(res.body).not.toMatch(/no-such-bucket|NoSuchBucket|feedback\/|Error:/);
  });
});

// -------------------------------------------------------------------------------------------------

describe('capture batching and sampling', () => {
  const predictEvent = (i = 0, query: Record<string, string> = {}) =>
    event('POST', `/v1/models/${CLS}/predict`, JSON.stringify({ instances: [clsInstance(i)] }), query);

  it('buffers lines and writes one object per N lines, the rest on flush', async () => {
    const capture = memoryCapture({ maxRecords: 10 });
    const api = new PredictApi(new ModelServer(test_.registry, 10_000), envWith(), { capture: capture.buffer });
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      const res = await api.handle(predictEvent(i));
      expect(res.statusCode).toBe(200);
      ids.push(predictBody(res).requestId);
    }
    await new Promise((r) => setImmediate(r)); // the in-memory writes resolve on the next turn
    expect(capture.objects.map((o) => o.lines.length)).toEqual([10, 10]);
    expect(capture.buffer.buffered).toBe(5);
    await api.flush();
    expect(capture.objects.map((o) => o.lines.length)).toEqual([10, 10, 5]);
    expect(capture.buffer.buffered).toBe(0);
    // Every request once, in order; keys time-ordered under the model's hour partition.
    expect(capture.lines().map((l) => l.requestId)).toEqual(ids);
    const keys = capture.objects.map((o) => o.key);
    for (const key of keys)
      expect(key).toMatch(new RegExp(`^capture/${CLS}/\\d{4}/\\d{2}/\\d{2}/\\d{2}/\\d{15}-[0-9a-f]{12}-\\d{6}\\.jsonl$`));
    expect([...keys].sort()).toEqual(keys);
    expect(new Set(keys).size).toBe(3);
    expect(capture.buffer.written).toEqual({ objects: 3, lines: 25, dropped: 0 });
  });

  it('keeps the line format the drift monitor reads: one line per instance', async () => {
    const capture = memoryCapture();
    const api = new PredictApi(new ModelServer(test_.registry, 10_000), envWith(), { capture: capture.buffer });
    const instances = [clsInstance(0), { ...clsInstance(1), x3: null }];
    const res = predictBody(await api.handle(event('POST', `/v1/models/${CLS}/predict`, JSON.stringify({ instances }))));
    await api.flush();
    expect(capture.lines()).toHaveLength(2);
    capture.lines().forEach((line, i) => {
      expect(Object.keys(line).sort()).toEqual(['at', 'instance', 'latencyMs', 'model', 'prediction', 'requestId', 'version']);
      expect(line).toEqual({
        requestId: res.requestId,
        at: expect.any(String),
        model: CLS,
        version: 1,
        instance: instances[i],
        prediction: res.predictions[i],
        latencyMs: expect.any(Number),
      });
    });
  });

  it('writes one object per model when a flush holds several', async () => {
    const capture = memoryCapture();
    const api = new PredictApi(new ModelServer(test_.registry, 10_000), envWith(), { capture: capture.buffer });
    await api.handle(predictEvent());
    await api.handle(event('POST', `/v1/models/${REG}/predict`, JSON.stringify({ instances: [regInstance()] })));
    await api.handle(predictEvent(1));
    await api.flush();
    expect(capture.objects.map((o) => [o.key.split('/')[1], o.lines.length])).toEqual([
      [CLS, 2],
      [REG, 1],
    ]);
  });

  it('writes an old buffer on a timer in a long-running process, without a request waiting', async () => {
    const capture = memoryCapture({ maxAgeMs: 100, timers: true });
    const api = new PredictApi(new ModelServer(test_.registry, 10_000), envWith(), { capture: capture.buffer, awaitCapture: false });
    expect((await api.handle(predictEvent())).statusCode).toBe(200);
    expect(capture.objects).toHaveLength(0); // buffered, not written on the request's path
    const deadline = Date.now() + 5_000;
    while (capture.objects.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(capture.objects.map((o) => o.lines.length)).toEqual([1]);
  });

  it('on Lambda, writes at the end of the invocation that finds the buffer older than T, and waits for it', async () => {
    let clock = 1_000_000;
    const writes: { key: string; lines: number; finishedBeforeReturn?: boolean }[] = [];
    let returned = false;
    const buffer = new CaptureBuffer({
      bucket: 'unused',
      maxRecords: 1000,
      maxAgeMs: 1_000,
      timers: false,
      now: () => clock,
      write: async (key, body) => {
        const entry: (typeof writes)[number] = { key, lines: body.trimEnd().split('\n').length };
        writes.push(entry);
        await new Promise((r) => setTimeout(r, 50)); // a slow PutObject
        entry.finishedBeforeReturn = !returned;
      },
    });
    const api = new PredictApi(new ModelServer(test_.registry, 10_000), envWith(), { capture: buffer, awaitCapture: true });
    await api.handle(predictEvent(0));
    clock += 400;
    await api.handle(predictEvent(1));
    expect(writes).toEqual([]); // 400 ms old: not due, nothing waited for
    clock += 700; // the oldest line is now 1.1 s old
    await api.handle(predictEvent(2));
    returned = true;
    expect(writes).toEqual([
      { key: expect.stringMatching(new RegExp(`^${s3Keys.captureModelPrefix(CLS)}`)), lines: 3, finishedBeforeReturn: true },
    ]);
    // The key carries the flush time (keys order by write time, so the monitor's watermark never skips one).
    expect(Number(/\/(\d{15})-[0-9a-f]{12}-\d{6}\.jsonl$/.exec(writes[0].key)![1])).toBe(clock);
  });

  it('never waits for S3 outside Lambda, and never fails a prediction when a write fails or hangs', async () => {
    const hanging = new CaptureBuffer({
      bucket: 'unused',
      maxRecords: 1,
      maxAgeMs: 0,
      timers: false,
      write: () => new Promise<void>(() => {}),
    });
    const api = new PredictApi(new ModelServer(test_.registry, 10_000), envWith(), { capture: hanging, awaitCapture: false });
    for (let i = 0; i < 3; i++) expect((await api.handle(predictEvent(i))).statusCode).toBe(200);

    const failing = new CaptureBuffer({
      bucket: 'unused',
      maxRecords: 1,
      maxAgeMs: 0,
      timers: false,
      write: () => Promise.reject(new Error('SlowDown')),
    });
    const lambdaApi = new PredictApi(new ModelServer(test_.registry, 10_000), envWith(), { capture: failing, awaitCapture: true });
    for (let i = 0; i < 3; i++) expect((await lambdaApi.handle(predictEvent(i))).statusCode).toBe(200);
    expect(failing.written).toEqual({ objects: 0, lines: 0, dropped: 3 });
  });

  it('samples whole requests at CAPTURE_SAMPLE_RATE', async () => {
    const draws = [0.1, 0.9, 0.49, 0.5, 0.01, 0.99]; // captured when < 0.5: requests 0, 2 and 4
    let n = 0;
    const capture = memoryCapture();
    const api = new PredictApi(new ModelServer(test_.registry, 10_000), envWith({ CAPTURE_SAMPLE_RATE: '0.5' }), {
      capture: capture.buffer,
      random: () => draws[n++],
    });
    const ids: string[] = [];
    for (let i = 0; i < draws.length; i++) {
      // Two instances per request: a sampled request is captured whole.
      ids.push(
        predictBody(
          await api.handle(event('POST', `/v1/models/${CLS}/predict`, JSON.stringify({ instances: [clsInstance(i), clsInstance(i + 1)] }))),
        ).requestId,
      );
    }
    await api.flush();
    expect(capture.lines().map((l) => l.requestId)).toEqual([ids[0], ids[0], ids[2], ids[2], ids[4], ids[4]]);
  });

  it('captures nothing at rate 0, everything at rate 1, and nothing when capture is disabled', async () => {
    for (const [rate, expected] of [
      ['0', 0],
      ['1', 5],
    ] as const) {
      const capture = memoryCapture();
      const api = new PredictApi(new ModelServer(test_.registry, 10_000), envWith({ CAPTURE_SAMPLE_RATE: rate }), {
        capture: capture.buffer,
      });
      for (let i = 0; i < 5; i++) await api.handle(predictEvent(i));
      await api.flush();
      expect([rate, capture.lines().length]).toEqual([rate, expected]);
    }
    const disabled = new PredictApi(new ModelServer(test_.registry, 10_000), envWith({ CAPTURE_ENABLED: 'false' }));
    expect(disabled.capture).toBeUndefined();
    expect((await disabled.handle(predictEvent())).statusCode).toBe(200);
  });

  it('through the deployed handler: batched objects in S3, one line per instance', async () => {
    await test_.cloud.flush(); // start from an empty buffer
    const before = (await listKeys(test_.cloud.dataBucket, s3Keys.captureModelPrefix(REG))).length;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(predictBody(await call('POST', `/v1/models/${REG}/predict`, { instances: [regInstance(i), regInstance(i + 1)] })).requestId);
    // Five requests, one flush: one new object with their ten lines.
    await test_.cloud.flush();
    const keys = await listKeys(test_.cloud.dataBucket, s3Keys.captureModelPrefix(REG));
    expect(keys.length - before).toBe(1);
    const lines = (await getText(test_.cloud.dataBucket, keys[keys.length - 1]))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.requestId)).toEqual(ids.flatMap((id) => [id, id]));
    // What the drift monitor reads of each line: the instance, keyed by feature name.
    for (const line of lines) expect(Object.keys(line.instance).sort()).toEqual(['age', 'area', 'city', 'rooms']);
  });
});

// -------------------------------------------------------------------------------------------------

describe('shadow scoring', () => {
  const SHADOW_VERSION = 2;

  beforeAll(async () => {
    await registerCopy(clsV1, CLS, SHADOW_VERSION);
    expect(
      await test_.registry.aliases.move(
        {
          model: CLS,
          alias: 'shadow',
          version: SHADOW_VERSION,
          updatedAt: new Date().toISOString(),
          updatedBy: 'test',
          reason: 'shadow test',
        },
        undefined,
      ),
    ).toBe(true);
  });

  /** An API whose shadow model is loaded: the first shadowed request only starts its load. */
  async function warmShadowApi(overrides: Partial<Record<keyof PredictEnv, string>>, random?: () => number) {
    const capture = memoryCapture();
    const modelServer = new ModelServer(test_.registry, 10_000);
    const api = new PredictApi(modelServer, envWith(overrides), { capture: capture.buffer, random });
    await api.handle(event('POST', `/v1/models/${CLS}/predict`, JSON.stringify({ instances: [clsInstance()] })));
    const deadline = Date.now() + 10_000;
    while (typeof modelServer.peek(CLS, 'shadow') !== 'object' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await api.flush();
    capture.objects.length = 0;
    return { api, capture, modelServer };
  }

  it('scores a share of champion requests with the shadow alias, records it in the capture, and never returns it', async () => {
    const { api, capture } = await warmShadowApi({ SHADOW_SHARE: '1' });
    const instances = [clsInstance(0), clsInstance(1), clsInstance(2)];
    const res = await api.handle(event('POST', `/v1/models/${CLS}/predict`, JSON.stringify({ instances })));
    expect(res.statusCode).toBe(200);
    const body = predictBody(res);
    expect(Object.keys(body).sort()).toEqual(['model', 'predictions', 'requestId']);
    expect(body.model).toEqual({ name: CLS, version: 1 });
    expect(res.body).not.toContain('shadow');
    await api.flush();
    const lines = capture.lines();
    expect(lines).toHaveLength(3);
    lines.forEach((line, i) => {
      expect(line.version).toBe(1);
      // The shadow version is a copy of the champion's artifacts: the same answer, from version 2.
      expect(line.shadow).toEqual({ alias: 'shadow', version: SHADOW_VERSION, prediction: body.predictions[i] });
    });
  });

  it('does not wait for a shadow model that is not loaded yet: the first request goes unshadowed', async () => {
    const capture = memoryCapture();
    const modelServer = new ModelServer(test_.registry, 10_000);
    await modelServer.get(CLS); // the champion is loaded; the shadow is not
    const api = new PredictApi(modelServer, envWith({ SHADOW_SHARE: '1' }), { capture: capture.buffer });
    expect((await api.handle(event('POST', `/v1/models/${CLS}/predict`, JSON.stringify({ instances: [clsInstance()] })))).statusCode).toBe(
      200,
    );
    await api.flush();
    expect(capture.lines().map((l) => 'shadow' in l)).toEqual([false]);
    expect(modelServer.peek(CLS, 'shadow')).toBe('loading');
  });

  it('draws the shadow share per request; shadowed requests are always captured', async () => {
    // Per request: the shadow draw (< 0.5 shadows), then, if not shadowed, the sampling draw (< 0.3 captures).
    const draws = [0.2, 0.7, 0.9, 0.6, 0.1, 0.4];
    let n = 0;
    const { api, capture } = await warmShadowApi({ SHADOW_SHARE: '0.5', CAPTURE_SAMPLE_RATE: '0.3' }, () => draws[n++ % draws.length]);
    n = 0;
    const ids: string[] = [];
    for (let i = 0; i < 4; i++)
      ids.push(
        predictBody(await api.handle(event('POST', `/v1/models/${CLS}/predict`, JSON.stringify({ instances: [clsInstance(i)] }))))
          .requestId,
      );
    await api.flush();
    // Request 0: shadowed (0.2). 1: not shadowed (0.7), not sampled (0.9). 2: not shadowed (0.6), sampled (0.1). 3: shadowed (0.4).
    expect(capture.lines().map((l) => [l.requestId, 'shadow' in l])).toEqual([
      [ids[0], true],
      [ids[2], false],
      [ids[3], true],
    ]);
  });

  it('never shadows a request that names a version or an alias, nor at share 0', async () => {
    const { api, capture } = await warmShadowApi({ SHADOW_SHARE: '1' });
    await api.handle(event('POST', `/v1/models/${CLS}/predict`, JSON.stringify({ instances: [clsInstance()] }), { version: '1' }));
    await api.handle(event('POST', `/v1/models/${CLS}/predict`, JSON.stringify({ instances: [clsInstance()] }), { alias: 'champion' }));
    const off = await warmShadowApi({ SHADOW_SHARE: '0' });
    await off.api.handle(event('POST', `/v1/models/${CLS}/predict`, JSON.stringify({ instances: [clsInstance()] })));
    await api.flush();
    await off.api.flush();
    expect([...capture.lines(), ...off.capture.lines()].map((l) => 'shadow' in l)).toEqual([false, false, false]);
  });

  it('uses the challenger alias when there is no shadow alias', async () => {
    await registerCopy(regV1, REG, 2);
    expect(
      await test_.registry.aliases.move(
        { model: REG, alias: 'challenger', version: 2, updatedAt: new Date().toISOString(), updatedBy: 'test', reason: 'challenger test' },
        undefined,
      ),
    ).toBe(true);
    const capture = memoryCapture();
    const modelServer = new ModelServer(test_.registry, 10_000);
    const api = new PredictApi(modelServer, envWith({ SHADOW_SHARE: '1' }), { capture: capture.buffer });
    const send = () => api.handle(event('POST', `/v1/models/${REG}/predict`, JSON.stringify({ instances: [regInstance()] })));
    await send();
    const deadline = Date.now() + 10_000;
    while (typeof modelServer.peek(REG, 'challenger') !== 'object' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const body = predictBody(await send());
    await api.flush();
    const last = capture.lines().at(-1)!;
    expect(last.requestId).toBe(body.requestId);
    expect(last.shadow).toEqual({ alias: 'challenger', version: 2, prediction: body.predictions[0] });
  });

  it('answers normally when the shadow model fails to load or to score', async () => {
    // A shadow version whose artifact is not an ONNX model: it never loads.
    await putObject(test_.cloud.dataBucket, s3Keys.modelOnnx(SWAP, 9), 'not a model');
    await registerCopy(clsV1, SWAP, 1);
    await registerCopy(
      { ...clsV1, artifact: { ...clsV1.artifact, onnxUri: s3Uri(test_.cloud.dataBucket, s3Keys.modelOnnx(SWAP, 9)) } },
      SWAP,
      9,
    );
    await test_.registry.aliases.move(
      { model: SWAP, alias: 'champion', version: 1, updatedAt: new Date().toISOString(), updatedBy: 'test', reason: 'failing shadow' },
      undefined,
    );
    await test_.registry.aliases.move(
      { model: SWAP, alias: 'shadow', version: 9, updatedAt: new Date().toISOString(), updatedBy: 'test', reason: 'failing shadow' },
      undefined,
    );
    const capture = memoryCapture();
    const api = new PredictApi(new ModelServer(test_.registry, 10_000), envWith({ SHADOW_SHARE: '1' }), { capture: capture.buffer });
    for (let i = 0; i < 5; i++) {
      const res = await api.handle(event('POST', `/v1/models/${SWAP}/predict`, JSON.stringify({ instances: [clsInstance(i)] })));
      expect(predictBody(res).model).toEqual({ name: SWAP, version: 1 });
      await new Promise((r) => setTimeout(r, 20));
    }
    await api.flush();
    expect(capture.lines().map((l) => 'shadow' in l)).toEqual([false, false, false, false, false]);

    // A shadow model that throws when it scores.
    const real = new ModelServer(test_.registry, 10_000);
    const champion = await real.get(CLS);
    const failingShadow = {
      ...champion,
      version: 7,
      runtime: { card: champion.runtime.card, predict: () => Promise.reject(new Error('shadow exploded')) },
    };
    const fake = { get: (name: string, target?: object) => real.get(name, target), peek: () => failingShadow } as unknown as ModelServer;
    const capture2 = memoryCapture();
    const api2 = new PredictApi(fake, envWith({ SHADOW_SHARE: '1' }), { capture: capture2.buffer });
    const res = await api2.handle(event('POST', `/v1/models/${CLS}/predict`, JSON.stringify({ instances: [clsInstance()] })));
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toMatch(/shadow|exploded/);
    await api2.flush();
    expect(capture2.lines().map((l) => ['shadow' in l, l.version])).toEqual([[false, 1]]);
  });
});

// -------------------------------------------------------------------------------------------------

describe('hot swap under concurrent load', () => {
  const MODEL = 'hotswap-inf';
  const TTL_MS = 300;
  const IN_FLIGHT = 200;

  it('answers every request while the champion moves from v1 to v2, and names v2 once the alias cache has expired', async () => {
    await registerCopy(clsV1, MODEL, 1);
    await registerCopy(clsV1, MODEL, 2);
    const alias = (version: number) => ({
      model: MODEL,
      alias: 'champion',
      version,
      updatedAt: new Date().toISOString(),
      updatedBy: 'test',
      reason: 'hot swap test',
    });
    expect(await test_.registry.aliases.move(alias(1), undefined)).toBe(true);

    // The real local HTTP server in front of a handler whose alias cache lives 300 ms.
    const api = new PredictApi(new ModelServer(test_.registry, TTL_MS), envWith({ ALIAS_CACHE_SECONDS: String(TTL_MS / 1000) }), {
      capture: memoryCapture().buffer,
    });
    const swapServer = await startApiServer(test_.cloud.apiRoutes, (e) => api.handle(e));
    const results: { started: number; ended: number; status: number; version?: number; error?: string }[] = [];
    const predictOnce = async () => {
      const started = performance.now();
      try {
        const res = await fetch(`${swapServer.url}/v1/models/${MODEL}/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ instances: [clsInstance(results.length % 5)] }),
        });
        const body = (await res.json()) as { model?: { version: number } };
        results.push({ started, ended: performance.now(), status: res.status, version: body.model?.version });
      } catch (error) {
        results.push({ started, ended: performance.now(), status: 0, error: String(error) });
      }
    };
    try {
      expect(((await fetch(`${swapServer.url}/v1/models/${MODEL}`).then((r) => r.json())) as { model: unknown }).model).toEqual({
        name: MODEL,
        version: 1,
      });
      let stop = false;
      // 200 requests in flight at all times until `stop`.
      const workers = Array.from({ length: IN_FLIGHT }, async () => {
        while (!stop) await predictOnce();
      });
      await new Promise((r) => setTimeout(r, 500));
      const movedAt = performance.now();
      expect(await test_.registry.aliases.move(alias(2), 1)).toBe(true);
      // Keep the load on until v2 has answered for a while (bounded).
      const deadline = movedAt + 20_000;
      while (performance.now() < deadline && !results.some((r) => r.version === 2 && r.started > movedAt + TTL_MS + 500)) {
        await new Promise((r) => setTimeout(r, 50));
      }
      stop = true;
      await Promise.all(workers);

      const failed = results.filter((r) => r.status !== 200);
      expect(failed).toEqual([]);
      // The load was on across the move (a fact of the order of events, not of the machine's speed):
      // every worker had a request out before it, and some were in flight while it happened.
      expect(results.filter((r) => r.started < movedAt).length).toBeGreaterThanOrEqual(IN_FLIGHT);
      expect(results.some((r) => r.started < movedAt && r.ended > movedAt)).toBe(true);
      const versions = new Set(results.map((r) => r.version));
      expect([...versions].sort()).toEqual([1, 2]);
      // Once v2 has answered, it answers every request that starts afterwards: no flapping back.
      const firstV2 = Math.min(...results.filter((r) => r.version === 2).map((r) => r.ended));
      expect(
        results
          .filter((r) => r.started > firstV2)
          .map((r) => r.version)
          .filter((v) => v !== 2),
      ).toEqual([]);

      // After the alias cache TTL, every answer names v2.
      await new Promise((r) => setTimeout(r, TTL_MS + 50));
      results.length = 0;
      await Promise.all(Array.from({ length: IN_FLIGHT }, () => predictOnce()));
      expect(results.map((r) => [r.status, r.version]).filter(([s, v]) => s !== 200 || v !== 2)).toEqual([]);
    } finally {
      await swapServer.close();
    }
  });
});

// -------------------------------------------------------------------------------------------------

describe('property-based: malformed requests never produce a 5xx', () => {
  const FEATURES = ['x1', 'x2', 'x3', 'color'];

  /** 200, or a 400 that lists problems (RequestInvalid); never anything else. */
  function expectClientOutcome(res: APIGatewayProxyResult, instancesSent?: unknown): void {
    const body = JSON.parse(res.body);
    if (res.statusCode === 200) {
      if (Array.isArray(instancesSent)) expect(body.predictions).toHaveLength(instancesSent.length);
      return;
    }
    expect([res.statusCode, body.error, Array.isArray(body.problems), typeof body.message]).toEqual([
      400,
      'RequestInvalid',
      true,
      'string',
    ]);
  }

  const hugeNumber = fc.constantFrom(1e308, -1e308, Number.MAX_VALUE, Number.MIN_VALUE, 3.5e38, -3.5e38, 1e-320, 2 ** 53 + 1, -0);
  const nested: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constant(null),
      fc.boolean(),
      fc.double(),
      hugeNumber,
      fc.string(),
      fc.array(tie('value'), { maxLength: 3 }),
    ),
  })).value;
  const featureValue = fc.oneof(
    fc.double(),
    hugeNumber,
    fc.integer(),
    fc.string(),
    fc.constantFrom('red', 'green', 'blue', ''),
    fc.boolean(),
    fc.constant(null),
    nested,
    fc.object(),
  );
  const featureName = fc.oneof(fc.constantFrom(...FEATURES, '__proto__', 'constructor', 'toString', 'label'), fc.string());
  const instance = fc.oneof(
    fc.dictionary(featureName, featureValue, { maxKeys: 8 }),
    // Complete instances with random values: mostly type errors, sometimes valid.
    fc.record({ x1: featureValue, x2: featureValue, x3: featureValue, color: featureValue }),
    fc.jsonValue(),
  );
  const instancesBody = fc
    .record({ instances: fc.oneof(fc.array(instance, { maxLength: 6 }), fc.jsonValue()) })
    .map((b) => JSON.stringify(b));
  const rawBody = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.json(),
    instancesBody,
    // Number literals JSON can hold but doubles cannot, and deep nesting.
    fc
      .tuple(fc.constantFrom('1e999', '-1e999', '1e400', '123456789012345678901234567890'), fc.constantFrom(...FEATURES))
      .map(([n, f]) => `{"instances": [{"x1": 0, "x2": 0, "x3": 0, "color": "red", "${f}": ${n}}]}`),
    fc.integer({ min: 1, max: 5000 }).map((depth) => `{"instances": ${'['.repeat(depth)}${']'.repeat(depth)}}`),
    instancesBody.map((s) => s.slice(0, Math.max(0, s.length - 2))), // truncated JSON
  );

  it('random bodies to predict: 200 or 400 with problems', async () => {
    await fc.assert(
      fc.asyncProperty(rawBody, async (body) => {
        const res = await call('POST', `/v1/models/${CLS}/predict`, body);
        let sent: unknown;
        try {
          sent = (JSON.parse(body) as { instances?: unknown }).instances;
        } catch {
          sent = undefined;
        }
        expectClientOutcome(res, sent);
      }),
      { numRuns: 300 },
    );
  });

  it('random bodies to feedback: 200 or 400 with problems', async () => {
    const entry = fc.oneof(
      fc.dictionary(fc.oneof(fc.constantFrom('requestId', 'index', 'label'), fc.string()), featureValue, { maxKeys: 5 }),
      fc.record(
        {
          requestId: fc.oneof(fc.string(), fc.uuid(), featureValue),
          index: fc.oneof(fc.integer(), featureValue),
          label: fc.oneof(fc.constantFrom('0', '1', 0, 1), featureValue),
        },
        { requiredKeys: [] },
      ),
      fc.jsonValue(),
    );
    const body = fc.oneof(
      rawBody,
      fc.record({ feedback: fc.oneof(fc.array(entry, { maxLength: 6 }), fc.jsonValue()) }).map((b) => JSON.stringify(b)),
    );
    await fc.assert(
      fc.asyncProperty(body, async (text) => expectClientOutcome(await call('POST', `/v1/models/${CLS}/feedback`, text))),
      { numRuns: 200 },
    );
  });

  it('random query strings: never a 5xx', async () => {
    const query = fc.dictionary(
      fc.constantFrom('version', 'alias', 'other'),
      fc.oneof(fc.string(), fc.nat().map(String), fc.constantFrom('99999999999999999999', '1e3', '0x1')),
      { maxKeys: 3 },
    );
    await fc.assert(
      fc.asyncProperty(query, fc.constantFrom('GET', 'POST'), async (q, method) => {
        const res =
          method === 'GET'
            ? await call('GET', `/v1/models/${CLS}`, null, q)
            : await call('POST', `/v1/models/${CLS}/predict`, { instances: [clsInstance()] }, q);
        expect([404, 200, 400]).toContain(res.statusCode);
        if (res.statusCode === 400) expect(Array.isArray(JSON.parse(res.body).problems)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('over the local HTTP server, random paths and bodies: never a 5xx', async () => {
    const path = fc.oneof(
      fc.constant(`/v1/models/${CLS}/predict`),
      fc.constant(`/v1/models/${CLS}/feedback`),
      fc.string({ maxLength: 12 }).map((s) => `/v1/models/${encodeURIComponent(s)}/predict`),
      fc.constantFrom('/v1/models/%E0%A4%A/predict', '/v1/models/%/feedback', '/v1/models/%zz', '/v1//predict', '/v1/models/a/b/c'),
    );
    await fc.assert(
      fc.asyncProperty(path, rawBody, async (p, body) => {
        const res = await fetch(`${server.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        expect(res.status).toBeLessThan(500);
        const json = (await res.json()) as { error: string; problems?: unknown };
        if (res.status === 400) expect([json.error, Array.isArray(json.problems)]).toEqual(['RequestInvalid', true]);
      }),
      { numRuns: 150 },
    );
  });
});
