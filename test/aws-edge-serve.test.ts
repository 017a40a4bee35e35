/**
 * `mloop serve --aws-port`: the AWS edge endpoint of the home, on 127.0.0.1, announced as the line
 * to use it (AWS_ENDPOINT_URL=... AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=..., the home's
 * credentials, which it alone accepts) and in --json as `awsEndpoint`, `awsAccessKeyId` and
 * `awsSecretAccessKey`; a busy port is one clear line.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { tempDir } from './helpers/cloud';

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '..');

/** Start `mloop serve` on a fresh home; resolves once `ready` matches its stdout (or rejects when it exits first). */
function serve(home: string, args: string[], ready: RegExp) {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'mloop.js'), 'serve', '--port', '0', ...args], {
    cwd: home,
    env: { ...process.env, MLOOP_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const started = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (ready.test(stdout)) resolve(stdout);
    });
    void exited.then((code) => reject(new Error(`mloop serve exited with ${code}: ${stdout}${stderr}`)));
  });
  return { child, started, exited, output: () => ({ stdout, stderr }) };
}

test("serve --aws-port 0 listens on 127.0.0.1, says so, and prints the line with the home's credentials, which it alone accepts", async () => {
  const home = tempDir('serve-edge');
  const server = serve(home, ['--aws-port', '0'], /^AWS_ENDPOINT_URL=.*\n/m);
  try {
    const stdout = await server.started;
    const line = /^AWS_ENDPOINT_URL=(http:\/\/127\.0\.0\.1:\d+) AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)$/m.exec(stdout);
    expect(line).not.toBeNull();
    const [, endpoint, accessKeyId, secretAccessKey] = line!;
    expect(stdout).toContain(
      `for stack Mloop, on 127.0.0.1 only, with this home's credentials (also in ${path.join(home, 'runtime.json')}); to use them:`,
    );
    const runtime = path.join(home, 'runtime.json');
    expect(JSON.parse(fs.readFileSync(runtime, 'utf8'))).toMatchObject({ awsEndpoint: endpoint, accessKeyId, secretAccessKey });
    expect(fs.statSync(runtime).mode & 0o777).toBe(0o600);

    const cfn = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
      new CloudFormationClient({ endpoint, region: 'us-east-1', credentials }).send(new DescribeStacksCommand({ StackName: 'Mloop' }));
    expect((await cfn({ accessKeyId, secretAccessKey })).Stacks?.[0].StackName).toBe('Mloop');
    await expect(cfn({ accessKeyId: 'AKIAOTHERKEY', secretAccessKey: 'x' })).rejects.toMatchObject({ name: 'InvalidClientTokenId' });
    const unsigned = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=DescribeStacks&Version=2010-05-15&StackName=Mloop',
    });
    expect(unsigned.status).toBe(403);
    expect(await unsigned.text()).toContain('<Code>InvalidClientTokenId</Code>');
  } finally {
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test("serve --json adds awsEndpoint and the home's credentials beside url", async () => {
  const home = tempDir('serve-edge-json');
  const server = serve(home, ['--aws-port', '0', '--json'], /\n/);
  try {
    const document = JSON.parse((await server.started).split('\n')[0]) as Record<string, string>;
    expect(document).toEqual({
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      awsEndpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      awsAccessKeyId: expect.stringMatching(/^[A-Z0-9]{20}$/),
      awsSecretAccessKey: expect.any(String),
    });
    expect(document.awsEndpoint).not.toBe(document.url);
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('serve on a busy --aws-port fails with one line naming the port and what to do, and gives the home back', async () => {
  const home = tempDir('serve-edge-busy');
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const server = serve(home, ['--aws-port', String(port)], /$^/);
    server.started.catch(() => undefined);
    expect(await server.exited).toBe(1);
    const message = `mloop: 127.0.0.1:${port} is already in use (another mloop serve, or LocalStack?): pass --aws-port N for another port, or --aws-port 0 for any free one.`;
    expect(server.output().stderr.trim().split('\n').at(-1)).toBe(message);
    expect(fs.existsSync(path.join(home, 'runtime.json'))).toBe(false);
  } finally {
    blocker.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
});
