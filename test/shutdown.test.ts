/**
 * Lambda's shutdown (issue 11): the predict function registers itself as an internal extension
 * while its module loads, so that Lambda sends it SIGTERM when it retires the container, and the
 * capture buffer is written then. A fake Extensions API on loopback plays Lambda; the function's
 * module runs in its own Node.js process, as in a container.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { flushOnShutdown } from '../lambdas/shared/shutdown';
import { tempDir } from './helpers/cloud';

const ROOT = path.resolve(__dirname, '..');

interface Api {
  readonly address: string;
  readonly requests: { method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

/** The Extensions API as Lambda serves it: register answers an identifier; next stays open. */
async function fakeExtensionsApi(registerStatus = 200): Promise<Api> {
  const requests: Api['requests'] = [];
  const open: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers, body });
      if (req.url === '/2020-01-01/extension/register') {
        if (registerStatus !== 200) {
          res.writeHead(registerStatus, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ errorMessage: 'Extension registration closed', errorType: 'Extension.RegistrationClosed' }));
          return;
        }
        res.writeHead(200, { 'lambda-extension-identifier': 'ext-1234', 'content-type': 'application/json' });
        res.end(JSON.stringify({ functionName: 'predict' }));
      } else open.push(res); // /extension/event/next: no event before shutdown
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: async () => {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test('outside Lambda nothing is registered', () => {
  expect(flushOnShutdown(async () => undefined, 'x', {})).toEqual({ status: 'not-lambda' });
});

/** Run a function module (as Lambda loads one) in its own process; the hook's answer is its first stdout line. */
async function loadFunction(dir: string, api: Api, out: string) {
  const module = path.join(dir, 'function.ts');
  // The hook at module scope, then the runtime would call for invocations; here the process just
  // stays up until its SIGTERM. (Its own process: the module blocks while it registers, and the
  // fake API must answer from elsewhere.)
  fs.writeFileSync(
    module,
    [
      "import * as fs from 'node:fs';",
      `import { flushOnShutdown } from ${JSON.stringify(path.join(ROOT, 'lambdas', 'shared', 'shutdown'))};`,
      'const hook = flushOnShutdown(async () => {',
      '  await new Promise((resolve) => setTimeout(resolve, 50));',
      `  fs.writeFileSync(${JSON.stringify(out)}, 'written at shutdown');`,
      '});',
      "process.stdout.write(JSON.stringify(hook) + '\\n');",
      'setInterval(() => undefined, 1000);',
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', module], {
    env: { ...process.env, AWS_LAMBDA_RUNTIME_API: api.address },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  for (let i = 0; i < 200 && !stdout.includes('\n'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  return { child, hook: JSON.parse(stdout.split('\n')[0]) as unknown };
}

test('a refused registration is answered, not thrown', async () => {
  const api = await fakeExtensionsApi(403);
  const dir = tempDir('shutdown');
  const { child, hook } = await loadFunction(dir, api, path.join(dir, 'flushed'));
  try {
    expect(hook).toEqual({
      status: 'failed',
      reason: expect.stringMatching(/^the Extensions API answered 403: .*Extension registration closed/),
    });
  } finally {
    child.kill('SIGKILL');
    await api.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);

test('on Lambda: registered during the module load, ready, and on SIGTERM the buffer is written before the process exits', async () => {
  const api = await fakeExtensionsApi();
  const dir = tempDir('shutdown');
  const out = path.join(dir, 'flushed');
  const { child, hook } = await loadFunction(dir, api, out);
  try {
    // The module finished loading only once the registration was answered.
    expect(hook).toEqual({ status: 'registered', extensionId: 'ext-1234' });
    const register = api.requests.find((r) => r.url === '/2020-01-01/extension/register');
    expect(register).toMatchObject({ method: 'POST', headers: { 'lambda-extension-name': 'mloop-flush' } });
    expect(JSON.parse(register!.body)).toEqual({ events: [] });
    for (let i = 0; i < 100 && !api.requests.some((r) => r.url === '/2020-01-01/extension/event/next'); i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(api.requests.find((r) => r.url === '/2020-01-01/extension/event/next')).toMatchObject({
      method: 'GET',
      headers: { 'lambda-extension-identifier': 'ext-1234' },
    });

    expect(fs.existsSync(out)).toBe(false);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toBe('written at shutdown');
  } finally {
    child.kill('SIGKILL');
    await api.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);
