/**
 * The local API trusts no web page (issue 18, findings 5 and 11): a foreign Host (DNS rebinding)
 * or Origin (a cross-site request) is refused, a body a page could send without a CORS preflight
 * is refused, an oversized body is refused as soon as it is announced or read past, and a client
 * that sends its request too slowly is cut off. Tools (curl, the SDKs) are unaffected. The server
 * runs with a function that records what reaches it, so a refusal is shown never to reach it.
 */
import * as http from 'node:http';
import { guardProblem } from '../local/api-guard';
import { apiRoutes, MAX_BODY_BYTES, startApiServer, type ApiServer } from '../local/api-server';

let server: ApiServer;
const reached: string[] = [];

beforeAll(async () => {
  const routes = apiRoutes([
    { method: 'POST', resource: '/v1/models/{name}/feedback', functionArn: 'arn:aws:lambda:us-east-1:0:function:f', requestModels: {} },
    { method: 'GET', resource: '/v1/health', functionArn: 'arn:aws:lambda:us-east-1:0:function:f', requestModels: {} },
  ]);
  server = await startApiServer(
    routes,
    async (event) => {
      reached.push(`${event.httpMethod} ${event.path}`);
      return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"accepted":1}' };
    },
    0,
    { headersMs: 1000, requestMs: 1500 },
  );
});

afterAll(() => server.close());
beforeEach(() => reached.splice(0));

const port = () => Number(new URL(server.url).port);

/** A raw request: exact headers (Host included), an optional body, the status and body answered, or the socket's end. */
function raw(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: port(), method, path, headers, setHost: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const local = { host: '127.0.0.1:8080', 'content-type': 'application/json' };
const feedback = '/v1/models/churn/feedback';

describe('guardProblem', () => {
  it('takes what tools send: a loopback Host, no Origin or a loopback one, JSON or no body type', () => {
    for (const host of ['127.0.0.1', '127.0.0.1:8080', 'localhost:3000', 'LOCALHOST', '[::1]:8080'])
      expect(guardProblem('POST', { host, 'content-type': 'application/json; charset=utf-8' })).toBeUndefined();
    expect(guardProblem('POST', { host: 'localhost', origin: 'http://localhost:5173' })).toBeUndefined();
    expect(guardProblem('GET', { host: 'localhost', 'content-type': 'text/plain' })).toBeUndefined();
  });

  it('refuses a rebound or missing Host, a foreign or null Origin, and the content types of simple requests', () => {
    expect(guardProblem('GET', { host: 'evil.example:8080' })?.message).toBe(
      'Host "evil.example:8080" is not a loopback name: the local API answers requests to 127.0.0.1, localhost or [::1] only.',
    );
    expect(guardProblem('GET', {})?.status).toBe(403);
    expect(guardProblem('GET', { host: '127.0.0.1.evil.example' })?.status).toBe(403);
    expect(guardProblem('POST', { host: 'localhost', origin: 'https://evil.example' })?.message).toBe(
      'Cross-site requests are refused: Origin "https://evil.example" is not this machine\'s loopback.',
    );
    expect(guardProblem('POST', { host: 'localhost', origin: 'null' })?.status).toBe(403);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])
      expect(guardProblem('POST', { host: 'localhost', 'content-type': type })).toMatchObject({
        status: 415,
        error: 'UnsupportedMediaType',
      });
  });
});

describe('the local API server', () => {
  it('answers a tool as before', async () => {
    expect(await raw('POST', feedback, local, '{"feedback":[]}')).toEqual({ status: 200, body: '{"accepted":1}' });
    expect(reached).toEqual([`POST ${feedback}`]);
  });

  it('refuses a cross-site text/plain POST and a rebound Host before any function runs', async () => {
    const crossSite = await raw(
      'POST',
      feedback,
      { host: '127.0.0.1:8080', origin: 'https://evil.example', 'content-type': 'text/plain' },
      '{}',
    );
    expect(crossSite.status).toBe(403);
    const plain = await raw('POST', feedback, { host: '127.0.0.1:8080', 'content-type': 'text/plain' }, '{}');
    expect(plain.status).toBe(415);
    const rebound = await raw('GET', '/v1/health', { host: 'attacker.example' });
    expect(rebound.status).toBe(403);
    expect(reached).toEqual([]);
  });

  it('refuses a body announced over the limit without reading it', async () => {
    const answer = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: port(),
          method: 'POST',
          path: feedback,
          headers: { ...local, 'content-length': String(MAX_BODY_BYTES + 1) },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.write('{'); // one byte of the 6 MiB announced: the answer comes anyway
    });
    expect(answer).toBe(413);
    expect(reached).toEqual([]);
  });

  it('cuts off a client that sends its body too slowly', async () => {
    const started = Date.now();
    const ended = await new Promise<string>((resolve) => {
      const req = http.request(
        { host: '127.0.0.1', port: port(), method: 'POST', path: feedback, headers: { ...local, 'content-length': '100' } },
        (res) => {
          res.resume();
          resolve(`status ${res.statusCode}`);
        },
      );
      req.on('error', (error) => resolve(`closed: ${(error as NodeJS.ErrnoException).code}`));
      req.write('{"feedback":'); // and never the rest
    });
    expect(ended).toMatch(/^(status 408|closed: ECONNRESET)$/);
    expect(Date.now() - started).toBeLessThan(10_000); // the 1.5 s request timeout, not Node's 300 s default
    expect(reached).toEqual([]);
  });
});
