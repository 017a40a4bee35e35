/**
 * The prediction API end to end on the local cloud: one classification and one regression model
 * are trained through the pipeline once, then served by the same predict handler that runs
 * behind API Gateway, called both in-process (an API Gateway proxy event) and through the local
 * HTTP server. Covers the response shapes, every validation error, model and version routing,
 * 5xx bodies, and data capture.
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import { predictThroughApi } from '../bin/cli';
import { s3Keys, s3Uri } from '../lambdas/shared/layout';
import { apiEvent, startApiServer, type ApiServer } from '../local/api-server';
import { binaryClassificationCsv, regressionCsv } from './helpers/datasets';
import { getText, listKeys, putObject, startCloud, stopCloud, trainModel, type TestCloud } from './helpers/cloud';
import { clsInstance, expectError, regInstance, type ErrorBody } from './helpers/api';

jest.setTimeout(60_000);

const CLS = 'churn-api';
const REG = 'price-api';

let test_: TestCloud;
let server: ApiServer;
let maxBatch: number;

/** A request whose body is sent as is (not JSON-encoded by the helper): malformed or absent bodies. */
async function rawPredict(model: string, body: string | null, query: Record<string, string> = {}): Promise<APIGatewayProxyResult> {
  const url = new URL(`http://127.0.0.1/v1/models/${encodeURIComponent(model)}/predict`);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return (await test_.cloud.invoke('predict', apiEvent(test_.cloud.apiRoutes, 'POST', url, body))) as APIGatewayProxyResult;
}

beforeAll(async () => {
  test_ = await startCloud();
  maxBatch = Number(test_.cloud.template.functions.find((f) => f.functionId === 'predict')!.environment.MAX_BATCH);
  await trainModel(test_, CLS, binaryClassificationCsv(400, 11), 'label');
  await trainModel(test_, REG, regressionCsv(400, 12), 'price');
  server = await startApiServer(test_.cloud.apiRoutes, (event) => test_.cloud.invoke('predict', event) as Promise<APIGatewayProxyResult>);
}, 240_000);

afterAll(async () => {
  await server?.close();
  await stopCloud(test_);
}, 60_000);

describe('successful predictions', () => {
  it('answers a classification model with labels and probabilities that sum to 1', async () => {
    const instances = [clsInstance(0), clsInstance(1), clsInstance(2)];
    const res = await predictThroughApi(test_.cloud, CLS, { instances });
    expect(res.statusCode).toBe(200);
    expect(res.headers?.['content-type']).toBe('application/json');
    const body = JSON.parse(res.body);
    expect(Object.keys(body).sort()).toEqual(['model', 'predictions', 'requestId']);
    expect(body.model).toEqual({ name: CLS, version: 1 });
    expect(typeof body.requestId).toBe('string');
    expect(body.predictions).toHaveLength(3);
    for (const p of body.predictions) {
      expect(Object.keys(p).sort()).toEqual(['label', 'probabilities']);
      expect(Object.keys(p.probabilities).sort()).toEqual(['0', '1']);
      const values = Object.values(p.probabilities) as number[];
      for (const v of values) expect(v).toBeGreaterThanOrEqual(0);
      expect(values.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      // The label is the most probable class.
      expect(p.probabilities[p.label]).toBe(Math.max(...values));
    }
  });

  it('learned the rule: clear cases get the right label', async () => {
    // score = 2*x1 - (x2-10)/1.5 + colour effect; far from 0 either way.
    const res = await predictThroughApi(test_.cloud, CLS, {
      instances: [
        { x1: 2.5, x2: 6, x3: 50, color: 'red' },
        { x1: -2.5, x2: 14, x3: 50, color: 'green' },
      ],
    });
    const body = JSON.parse(res.body);
    expect(body.predictions.map((p: { label: string }) => p.label)).toEqual(['1', '0']);
  });

  it('answers a regression model with a number per instance', async () => {
    const res = await predictThroughApi(test_.cloud, REG, { instances: [regInstance(0), regInstance(1)] });
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(res.body);
    expect(body.model).toEqual({ name: REG, version: 1 });
    expect(body.predictions).toHaveLength(2);
    for (const p of body.predictions) {
      expect(Object.keys(p)).toEqual(['value']);
      expect(typeof p.value).toBe('number');
      expect(Number.isFinite(p.value)).toBe(true);
    }
    // In the target's own units (prices of 100k-300k), not standardized.
    expect(body.predictions[0].value).toBeGreaterThan(50_000);
    expect(body.predictions[0].value).toBeLessThan(400_000);
  });

  it('accepts null as a missing value, numeric and categorical', async () => {
    const res = await predictThroughApi(test_.cloud, CLS, { instances: [{ x1: null, x2: 10, x3: null, color: null }] });
    expect(res.statusCode).toBe(200);
    const [p] = JSON.parse(res.body).predictions;
    expect((Object.values(p.probabilities) as number[]).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('accepts an unknown category (it maps to the unknown index)', async () => {
    const res = await predictThroughApi(test_.cloud, CLS, { instances: [{ ...clsInstance(), color: 'purple' }] });
    expect(res.statusCode).toBe(200);
  });

  it('keeps only the k most probable classes with top_k (query or body), the label among them', async () => {
    const instances = [clsInstance(0), clsInstance(1)];
    const full = JSON.parse((await predictThroughApi(test_.cloud, CLS, { instances })).body);
    const inQuery = await rawPredict(CLS, JSON.stringify({ instances }), { top_k: '1' });
    const inBody = await predictThroughApi(test_.cloud, CLS, { instances, top_k: 1 });
    for (const res of [inQuery, inBody]) {
      expect(res.statusCode).toBe(200);
      const body = JSON.parse(res.body);
      expect(Object.keys(body).sort()).toEqual(['model', 'predictions', 'requestId']);
      body.predictions.forEach((p: { label: string; probabilities: Record<string, number> }, i: number) => {
        expect(p.label).toBe(full.predictions[i].label);
        expect(p.probabilities).toEqual({ [p.label]: full.predictions[i].probabilities[p.label] });
      });
    }
    await expectError(
      rawPredict(REG, JSON.stringify({ instances: [regInstance(0)] }), { top_k: '1' }),
      400,
      'RequestInvalid',
      `top_k keeps the most probable classes of a classification model; '${REG}' is a regression model, which answers one value per instance.`,
    );
  });

  it('accepts exactly MAX_BATCH instances', async () => {
    const instances = Array.from({ length: maxBatch }, (_, i) => clsInstance(i % 5));
    const res = await predictThroughApi(test_.cloud, CLS, { instances });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body).predictions).toHaveLength(maxBatch);
  });
});

describe('request validation (400)', () => {
  it('rejects malformed JSON', async () => {
    await expectError(rawPredict(CLS, '{"instances": [', {}), 400, 'RequestInvalid', /^The request body is not valid JSON: .+\.$/);
  });

  it('rejects a request with no body', async () => {
    await expectError(rawPredict(CLS, null), 400, 'RequestInvalid', 'The request has no body: expected {"instances": [...]}.');
    await expectError(rawPredict(CLS, ''), 400, 'RequestInvalid', 'The request has no body: expected {"instances": [...]}.');
  });

  it('rejects a body without instances, or one that is not an object', async () => {
    const message = 'The request body must be a JSON object with an "instances" array.';
    await expectError(predictThroughApi(test_.cloud, CLS, { rows: [clsInstance()] }), 400, 'RequestInvalid', message);
    await expectError(predictThroughApi(test_.cloud, CLS, [clsInstance()]), 400, 'RequestInvalid', message);
    await expectError(predictThroughApi(test_.cloud, CLS, null), 400, 'RequestInvalid', message);
    await expectError(predictThroughApi(test_.cloud, CLS, 'instances'), 400, 'RequestInvalid', message);
  });

  it('rejects instances that are not an array', async () => {
    await expectError(
      predictThroughApi(test_.cloud, CLS, { instances: clsInstance() }),
      400,
      'RequestInvalid',
      '"instances" must be an array of objects.',
    );
    await expectError(
      predictThroughApi(test_.cloud, CLS, { instances: 'x' }),
      400,
      'RequestInvalid',
      '"instances" must be an array of objects.',
    );
  });

  it('rejects empty instances', async () => {
    await expectError(
      predictThroughApi(test_.cloud, CLS, { instances: [] }),
      400,
      'RequestInvalid',
      '"instances" is empty: send at least one instance.',
    );
  });

  it('rejects more than MAX_BATCH instances', async () => {
    const instances = Array.from({ length: maxBatch + 1 }, () => clsInstance());
    await expectError(
      predictThroughApi(test_.cloud, CLS, { instances }),
      400,
      'RequestInvalid',
      `"instances" has ${maxBatch + 1} items; at most ${maxBatch} are accepted per request.`,
    );
  });

  it('rejects an instance that is not an object', async () => {
    const body = await expectError(
      predictThroughApi(test_.cloud, CLS, { instances: [clsInstance(), 42, null, [1, 2]] }),
      400,
      'RequestInvalid',
      'The request has 3 invalid value(s).',
    );
    expect(body.problems).toEqual([
      { index: 1, message: 'instances[1] must be an object of feature values.' },
      { index: 2, message: 'instances[2] must be an object of feature values.' },
      { index: 3, message: 'instances[3] must be an object of feature values.' },
    ]);
  });

  it('rejects an unknown feature', async () => {
    const body = await expectError(
      predictThroughApi(test_.cloud, CLS, { instances: [{ ...clsInstance(), x4: 1 }] }),
      400,
      'RequestInvalid',
      'The request has 1 invalid value(s).',
    );
    expect(body.problems).toEqual([{ index: 0, field: 'x4', message: "instances[0] has unknown feature 'x4'." }]);
  });

  it('rejects the target as a feature (it is not one)', async () => {
    const body = await expectError(
      predictThroughApi(test_.cloud, CLS, { instances: [{ ...clsInstance(), label: '1' }] }),
      400,
      'RequestInvalid',
      'The request has 1 invalid value(s).',
    );
    expect(body.problems).toEqual([{ index: 0, field: 'label', message: "instances[0] has unknown feature 'label'." }]);
  });

  it('rejects a missing feature and says how to send a missing value', async () => {
    const { x3: _x3, ...instance } = clsInstance();
    const body = await expectError(
      predictThroughApi(test_.cloud, CLS, { instances: [instance] }),
      400,
      'RequestInvalid',
      'The request has 1 invalid value(s).',
    );
    expect(body.problems).toEqual([
      { index: 0, field: 'x3', message: "instances[0] is missing feature 'x3' (send null for a missing value)." },
    ]);
  });

  it('rejects a string for a numeric feature', async () => {
    const body = await expectError(
      predictThroughApi(test_.cloud, CLS, { instances: [{ ...clsInstance(), x1: '0.5' }] }),
      400,
      'RequestInvalid',
      'The request has 1 invalid value(s).',
    );
    expect(body.problems).toEqual([{ index: 0, field: 'x1', message: 'instances[0].x1 must be a number or null, got string.' }]);
  });

  it('rejects "NaN" for a numeric feature: JSON has no non-finite numbers, so it is a type error', async () => {
    // JSON.stringify(NaN) is null (accepted as missing); the only way to say NaN is a string.
    expect(JSON.stringify({ x: NaN, y: Infinity })).toBe('{"x":null,"y":null}');
    const body = await expectError(
      predictThroughApi(test_.cloud, CLS, { instances: [{ ...clsInstance(), x1: 'NaN', x2: 'Infinity' }] }),
      400,
      'RequestInvalid',
      'The request has 2 invalid value(s).',
    );
    expect(body.problems).toEqual([
      { index: 0, field: 'x1', message: 'instances[0].x1 must be a number or null, got string.' },
      { index: 0, field: 'x2', message: 'instances[0].x2 must be a number or null, got string.' },
    ]);
    // A literal NaN token is not JSON at all.
    await expectError(
      rawPredict(CLS, '{"instances":[{"x1":NaN,"x2":1,"x3":1,"color":"red"}]}'),
      400,
      'RequestInvalid',
      /^The request body is not valid JSON/,
    );
  });

  it('rejects a non-scalar for a categorical feature', async () => {
    const body = await expectError(
      predictThroughApi(test_.cloud, CLS, { instances: [{ ...clsInstance(), color: ['red'] }] }),
      400,
      'RequestInvalid',
      'The request has 1 invalid value(s).',
    );
    expect(body.problems).toEqual([
      { index: 0, field: 'color', message: 'instances[0].color must be a string (a category) or null, got array.' },
    ]);
  });

  it('lists every problem of a batch, by instance index and field', async () => {
    const { x2: _x2, ...noX2 } = clsInstance();
    const instances = [
      clsInstance(), // fine
      { ...clsInstance(), x1: 'a', extra: true }, // wrong type + unknown
      noX2, // missing
      'not an object',
      { ...clsInstance(), color: { name: 'red' }, x3: false }, // two wrong types
    ];
    const body = await expectError(
      predictThroughApi(test_.cloud, CLS, { instances }),
      400,
      'RequestInvalid',
      'The request has 6 invalid value(s).',
    );
    expect(body.problems!.map((p) => [p.index, p.field ?? null])).toEqual([
      [1, 'extra'],
      [1, 'x1'],
      [2, 'x2'],
      [3, null],
      [4, 'x3'],
      [4, 'color'],
    ]);
    for (const p of body.problems!) expect(p.message).toMatch(new RegExp(`^instances\\[${p.index}\\]`));
  });

  it('validates against the model asked for (a regression feature set)', async () => {
    const body = await expectError(
      predictThroughApi(test_.cloud, REG, { instances: [clsInstance()] }),
      400,
      'RequestInvalid',
      'The request has 8 invalid value(s).',
    );
    expect(body.problems!.filter((p) => p.message.includes('unknown')).map((p) => p.field)).toEqual(['x1', 'x2', 'x3', 'color']);
    expect(
      body
        .problems!.filter((p) => p.message.includes('missing'))
        .map((p) => p.field)
        .sort(),
    ).toEqual(['age', 'area', 'city', 'rooms']);
  });

  it('rejects a model name that is not valid', async () => {
    await expectError(
      predictThroughApi(test_.cloud, 'Not_A_Model', { instances: [clsInstance()] }),
      400,
      'RequestInvalid',
      /^Model name 'Not_A_Model' is not valid/,
    );
  });
});

describe('model and version routing', () => {
  it('answers 404 ModelNotFound for an unknown model', async () => {
    await expectError(
      predictThroughApi(test_.cloud, 'no-such-model', { instances: [clsInstance()] }),
      404,
      'ModelNotFound',
      "Model 'no-such-model' is not in the registry.",
    );
  });

  it('serves an explicit ?version', async () => {
    const res = await predictThroughApi(test_.cloud, CLS, { instances: [clsInstance()] }, { version: '1' });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body).model).toEqual({ name: CLS, version: 1 });
  });

  it('answers 404 for a version that does not exist', async () => {
    await expectError(
      predictThroughApi(test_.cloud, CLS, { instances: [clsInstance()] }, { version: '99' }),
      404,
      'ModelNotFound',
      `Model '${CLS}' has no version 99.`,
    );
  });

  it('answers 400 for a version that is not a positive integer', async () => {
    for (const version of ['abc', '0', '-1', '1.5', '01']) {
      await expectError(
        predictThroughApi(test_.cloud, CLS, { instances: [clsInstance()] }, { version }),
        400,
        'RequestInvalid',
        `?version must be a positive integer, got '${version}'.`,
      );
    }
  });

  it('serves ?alias=champion and answers 404 for an alias nobody holds', async () => {
    const res = await predictThroughApi(test_.cloud, CLS, { instances: [clsInstance()] }, { alias: 'champion' });
    expect(JSON.parse(res.body).model).toEqual({ name: CLS, version: 1 });
    await expectError(
      predictThroughApi(test_.cloud, CLS, { instances: [clsInstance()] }, { alias: 'challenger' }),
      404,
      'ModelNotFound',
      `Model '${CLS}' has no version with alias 'challenger' yet.`,
    );
    await expectError(
      predictThroughApi(test_.cloud, CLS, { instances: [clsInstance()] }, { alias: 'Bad Alias' }),
      400,
      'RequestInvalid',
      "?alias 'Bad Alias' is not a valid alias name.",
    );
    await expectError(
      predictThroughApi(test_.cloud, CLS, { instances: [clsInstance()] }, { alias: 'champion', version: '1' }),
      400,
      'RequestInvalid',
      'Give either ?version or ?alias, not both.',
    );
  });
});

describe('server errors (5xx)', () => {
  const expectOpaque500 = async (response: Promise<APIGatewayProxyResult>) => {
    const res = await response;
    expect(res.statusCode).toBe(500);
    const body = JSON.parse(res.body);
    expect(Object.keys(body).sort()).toEqual(['error', 'message', 'requestId']);
    expect(body.error).toBe('InternalError');
    expect(body.message).toBe('The prediction failed. Quote the request id when reporting it.');
    // Nothing of the failure leaks: no stack frames, no paths, no S3 keys or error names.
    expect(res.body).not.toMatch(/\bat \S+ \(|\.ts:\d+|node_modules|NoSuchKey|models\/|Error:/);
  };

  /** A version record whose artifact is not what the registry says. */
  async function putBrokenVersion(version: number, onnxKey: string): Promise<void> {
    const bucket = test_.cloud.dataBucket;
    const good = (await test_.registry.versions.get(CLS, 1))!;
    await test_.registry.versions.put({
      ...good,
      version,
      promoted: false,
      artifact: { ...good.artifact, onnxUri: s3Uri(bucket, onnxKey) },
      createdAt: new Date().toISOString(),
    });
  }

  it('answers an opaque 500 when a version artifact is missing', async () => {
    await putBrokenVersion(50, s3Keys.modelOnnx(CLS, 50)); // never written
    await expectOpaque500(predictThroughApi(test_.cloud, CLS, { instances: [clsInstance()] }, { version: '50' }));
  });

  it('answers an opaque 500 when a version artifact is not an ONNX model', async () => {
    await putObject(test_.cloud.dataBucket, s3Keys.modelOnnx(CLS, 51), 'this is not a protobuf');
    await putBrokenVersion(51, s3Keys.modelOnnx(CLS, 51));
    await expectOpaque500(predictThroughApi(test_.cloud, CLS, { instances: [clsInstance()] }, { version: '51' }));
    // The failure is not cached against the healthy versions.
    expect((await predictThroughApi(test_.cloud, CLS, { instances: [clsInstance()] }, { version: '1' })).statusCode).toBe(200);
  });
});

describe('through the local HTTP server', () => {
  it('answers the health route', async () => {
    const res = await fetch(`${server.url}/v1/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('predicts over HTTP', async () => {
    const res = await fetch(`${server.url}/v1/models/${CLS}/predict?version=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [clsInstance(), clsInstance(1)] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as { model: unknown; predictions: unknown[]; requestId: string };
    expect(body.model).toEqual({ name: CLS, version: 1 });
    expect(body.predictions).toHaveLength(2);
    expect(typeof body.requestId).toBe('string');
  });

  it('passes validation errors through with their status', async () => {
    const res = await fetch(`${server.url}/v1/models/${REG}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{oops',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).message).toMatch(/^The request body is not valid JSON/);
    const none = await fetch(`${server.url}/v1/models/${REG}/predict`, { method: 'POST' });
    expect(none.status).toBe(400);
    expect(((await none.json()) as ErrorBody).message).toBe('The request has no body: expected {"instances": [...]}.');
    const missing = await fetch(`${server.url}/v1/models/nope/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [{}] }),
    });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as ErrorBody).error).toBe('ModelNotFound');
  });

  it('answers 404 for an unknown route and 405 for a wrong method', async () => {
    const unknown = await fetch(`${server.url}/v1/nothing-here`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'NotFound', message: 'No route for GET /v1/nothing-here.' });

    const wrongMethod = await fetch(`${server.url}/v1/models/${CLS}/predict`);
    expect(wrongMethod.status).toBe(405);
    expect(await wrongMethod.json()).toEqual({ error: 'MethodNotAllowed', message: `GET is not allowed on /v1/models/${CLS}/predict.` });

    const postHealth = await fetch(`${server.url}/v1/health`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(postHealth.status).toBe(405);
  });
});

describe('data capture', () => {
  it('writes one JSON line per instance under capture/<model>/', async () => {
    const instances = [regInstance(0), regInstance(1), { ...regInstance(2), age: null }];
    const res = await predictThroughApi(test_.cloud, REG, { instances });
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(res.body);

    // Capture is written in batches (see test/inference-api.test.ts): write the buffer now.
    await test_.cloud.flush();
    const keys = await listKeys(test_.cloud.dataBucket, s3Keys.captureModelPrefix(REG));
    for (const key of keys)
      expect(key).toMatch(new RegExp(`^capture/${REG}/\\d{4}/\\d{2}/\\d{2}/\\d{2}/\\d{15}-[0-9a-f]{12}-\\d{6}\\.jsonl$`));
    const all = (await Promise.all(keys.map((k) => getText(test_.cloud.dataBucket, k)))).join('');
    const lines = all.split('\n').filter((l) => l !== '' && JSON.parse(l).requestId === body.requestId);
    expect(lines).toHaveLength(instances.length);
    lines.forEach((line, i) => {
      const record = JSON.parse(line);
      expect(record).toMatchObject({
        requestId: body.requestId,
        model: REG,
        version: 1,
        instance: instances[i],
        prediction: body.predictions[i],
      });
      expect(new Date(record.at).toISOString()).toBe(record.at);
      expect(typeof record.latencyMs).toBe('number');
    });
  });

  it('captures nothing for a rejected request', async () => {
    const res = await predictThroughApi(test_.cloud, REG, { instances: [{ ...regInstance(), area: 'big' }] });
    expect(res.statusCode).toBe(400);
    const { requestId } = JSON.parse(res.body);
    await test_.cloud.flush();
    const keys = await listKeys(test_.cloud.dataBucket, s3Keys.captureModelPrefix(REG));
    const all = (await Promise.all(keys.map((k) => getText(test_.cloud.dataBucket, k)))).join('');
    expect(all).not.toContain(requestId);
  });

  it("keeps each model's captures under its own prefix", async () => {
    const keys = await listKeys(test_.cloud.dataBucket, 'capture/');
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(key).toMatch(new RegExp(`^capture/(${CLS}|${REG})/`));
  });
});
