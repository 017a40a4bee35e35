/**
 * The UI's server without a browser: `mloop serve` mounts it at / beside the prediction API (the
 * API's routes keep answering), `mloop ui` starts and says where, and a page's action is checked
 * before it reaches the admin function (a known action, a reason).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { actionRequest, errorAnswer } from '../bin/ui/server';
import { NotFound } from '../bin/ui/data';
import { run } from '../bin/cli';
import { tempDir } from './helpers/cloud';

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '..');

/** Start an mloop command on a fresh home; resolves with its first --json line. */
function start(home: string, args: string[]) {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'mloop.js'), ...args, '--json'], {
    cwd: home,
    env: { ...process.env, MLOOP_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n')) resolve(JSON.parse(line) as Record<string, unknown>);
    });
    void exited.then((code) => reject(new Error(`mloop ${args[0]} exited with ${code}: ${stdout}${stderr}`)));
  });
  return { child, started, exited };
}

test('mloop serve answers the UI at / and its JSON under /ui/api, and the prediction API as before', async () => {
  const home = tempDir('serve-ui');
  const server = start(home, ['serve', '--port', '0', '--aws-port', '0']);
  try {
    const { url } = (await server.started) as { url: string };
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script src="/ui/app.js"></script>');
    const script = await fetch(`${url}/ui/app.js`);
    expect(script.headers.get('content-type')).toContain('text/javascript');
    expect((await script.text()).length).toBeGreaterThan(50_000); // the app with its charting library
    expect(await (await fetch(`${url}/ui/api/models`)).json()).toEqual([]);
    const write = await fetch(`${url}/ui/api/models/churn/actions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'promote', version: 1, reason: 'r' }),
    });
    expect(write.status).toBe(403);
    expect(((await write.json()) as { message: string }).message).toContain('--allow-writes');
    const foreign = await fetch(`${url}/ui/api/models`, { headers: { origin: 'http://evil.example' } });
    expect(foreign.status).toBe(403);
    const health = await fetch(`${url}/v1/health`);
    expect(health.status).toBe(200);
  } finally {
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('mloop ui --port 0 --json says where it listens and what it reads', async () => {
  const home = tempDir('ui-cmd');
  const ui = start(home, ['ui', '--port', '0']);
  try {
    const started = await ui.started;
    expect(started).toMatchObject({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/$/), allowWrites: false });
    expect(String(started.where)).toContain(home);
    const missing = await fetch(`${String(started.url)}ui/api/models/nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { message: string }).message).toBe("Model 'nope' is not in the registry.");
  } finally {
    ui.child.kill('SIGTERM');
    expect(await ui.exited).toBe(0);
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('mloop ui refuses a port that is not one', async () => {
  const out: string[] = [];
  const io = { json: false, out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
  await expect(run(['ui', '--port', 'eighty'], io)).rejects.toThrow('--port must be a port number (0: any free port), got eighty.');
});

describe('a page action', () => {
  test('becomes the mloop models request, by the acting user', () => {
    expect(actionRequest('churn', JSON.stringify({ action: 'promote', version: 3, reason: ' better recall ' }), 'user:ann')).toEqual({
      action: 'promote',
      model: 'churn',
      version: 3,
      alias: undefined,
      reason: 'better recall',
      by: 'user:ann',
    });
    expect(actionRequest('churn', JSON.stringify({ action: 'rollback', reason: 'regression' }), 'user:ann')).toMatchObject({
      action: 'rollback',
      version: undefined,
    });
  });

  test('needs a reason', () => {
    expect(() => actionRequest('churn', JSON.stringify({ action: 'approve', version: 2, reason: '  ' }), 'user:ann')).toThrow(
      "A reason is required to approve a version (it is kept in the model's history).",
    );
  });

  test('is one of promote, rollback, approve', () => {
    expect(() => actionRequest('churn', JSON.stringify({ action: 'archive', version: 2, reason: 'x' }), 'user:ann')).toThrow(
      "Unknown action 'archive': expected one of promote, rollback, approve.",
    );
    expect(() => actionRequest('churn', 'not json', 'user:ann')).toThrow('The action must be a JSON object');
  });

  test('errors map to statuses with one line, never a stack', () => {
    expect(errorAnswer(new NotFound('Model x is not in the registry.'))).toEqual({
      status: 404,
      body: { error: 'NotFound', message: 'Model x is not in the registry.' },
    });
    expect(errorAnswer(new Error('boom\n    at somewhere'))).toEqual({ status: 500, body: { error: 'Failed', message: 'boom' } });
  });
});
