/**
 * `mloop --stack NAME ui`: the UI against a deployed stack, through AWS's APIs (the local stack
 * behind the local runtime's edge endpoint, as in stack-cli.test.ts): the registry and the bucket
 * read with the stack's settings, lineage through Lambda Invoke, a run's stage timeline through
 * GetExecutionHistory (AwsTarget.executionHistory).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../lib/function-catalog';
import { LOCAL_REGION } from '../local/template';
import type { ExecutionStep } from '../bin/target';
import type { ModelSummary } from '../bin/ui/data';
import { binaryClassificationCsv } from './helpers/datasets';
import { startCloud, stopCloud, tempDir, trainModel, type TestCloud } from './helpers/cloud';

jest.setTimeout(180_000);

let t: TestCloud | undefined;
const cliHome = tempDir('ui-stack');

beforeAll(async () => {
  t = await startCloud();
}, 120_000);

afterAll(async () => {
  await stopCloud(t);
  fs.rmSync(cliHome, { recursive: true, force: true });
}, 60_000);

test('the models, a version and a run with its stages, read from the stack with AWS credentials', async () => {
  const report = await trainModel(t!, 'loop', binaryClassificationCsv(400, 21), 'label');
  const child = spawn(
    process.execPath,
    [path.join(REPO_ROOT, 'bin', 'mloop.js'), '--stack', t!.cloud.localStack.name, 'ui', '--port', '0', '--json'],
    {
      env: {
        ...process.env,
        MLOOP_HOME: cliHome,
        AWS_ENDPOINT_URL: t!.cloud.awsEndpoint,
        AWS_ACCESS_KEY_ID: t!.cloud.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: t!.cloud.credentials.secretAccessKey,
        AWS_REGION: LOCAL_REGION,
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const started = await new Promise<{ url: string; where: string }>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString('utf8');
        if (stdout.includes('\n')) resolve(JSON.parse(stdout.split('\n')[0]) as { url: string; where: string });
      });
      void exited.then((code) => reject(new Error(`mloop ui exited ${code}: ${stdout}${stderr}`)));
    });
    expect(started.where).toBe(`stack ${t!.cloud.localStack.name} in ${LOCAL_REGION}`);
    const get = async <T>(route: string): Promise<T> => {
      const r = await fetch(`${started.url}ui/api${route}`);
      expect([route, r.status]).toEqual([route, 200]);
      return (await r.json()) as T;
    };
    const [loop] = await get<ModelSummary[]>('/models');
    expect(loop).toMatchObject({
      model: 'loop',
      champion: { version: 1, metric: report.metrics!.accuracy },
      lastRun: { status: 'SUCCEEDED' },
    });
    const version = await get<{ lineage: { training: { execution: string } } }>('/models/loop/versions/1');
    expect(version.lineage.training.execution).toBe(report.execution);
    const run = await get<{ steps: ExecutionStep[] }>(`/models/loop/runs/${report.execution}`);
    const entered = run.steps.filter((s) => s.type.endsWith('StateEntered')).map((s) => s.state);
    expect(entered).toEqual(expect.arrayContaining(['Ingest dataset', 'Train model', 'Register and promote']));
    expect(run.steps[0].type).toBe('ExecutionStarted');
    expect(run.steps[run.steps.length - 1].type).toBe('ExecutionSucceeded');
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
});
