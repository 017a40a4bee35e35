/**
 * `mloop --stack NAME`: every command through AWS's APIs, against the local stack behind the local
 * runtime's edge endpoint (AWS_ENDPOINT_URL), as it runs against a deployed stack: the stack found
 * by DescribeStacks, a drop put with PutObject and followed by DescribeExecution, `models` and
 * `drift` by Lambda Invoke, predictions by SigV4-signed HTTP to the stack's ApiUrl, `datasets` and
 * `models list` by DynamoDB and S3 reads. The CLI runs as separate processes with no local
 * runtime of their own (their MLOOP_HOME is another folder); the test's own process owns the
 * stack and checks what the commands did in its registry.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../lib/function-catalog';
import { LOCAL_REGION } from '../local/template';
import { churnRows, DEMO_FEATURES, toCsv } from '../local/demo-data';
import type { RunReport } from '../bin/cli';
import type { AliasChange } from '../lambdas/registry/aliases';
import type { Lineage } from '../lambdas/registry/lineage';
import { getText, splitUri, startCloud, stopCloud, tempDir, type TestCloud } from './helpers/cloud';

jest.setTimeout(600_000);

let t: TestCloud | undefined;
/** The CLI's own MLOOP_HOME: where it writes reports; never the stack's. */
const cliHome = tempDir('stack-cli');
const inputs = tempDir('stack-inputs');
const csv1 = path.join(inputs, 'churn-1.csv');
const csv2 = path.join(inputs, 'churn-2.csv');
fs.writeFileSync(csv1, toCsv(churnRows({ rows: 1500, seed: 1 })));
fs.writeFileSync(csv2, toCsv(churnRows({ rows: 1500, seed: 5 })));

beforeAll(async () => {
  t = await startCloud();
}, 120_000);

afterAll(async () => {
  await stopCloud(t);
  fs.rmSync(cliHome, { recursive: true, force: true });
  fs.rmSync(inputs, { recursive: true, force: true });
}, 60_000);

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run the CLI as its own process with AWS's environment (the home's credentials, which the edge takes).
 * Asynchronous: the stack it calls runs in this process, whose event loop must keep serving.
 */
function mloop(args: string[], env: Record<string, string | undefined> = {}): Promise<Ran> {
  const base: Record<string, string | undefined> = {
    ...process.env,
    MLOOP_HOME: cliHome,
    AWS_ENDPOINT_URL: t!.cloud.awsEndpoint,
    AWS_ACCESS_KEY_ID: t!.cloud.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: t!.cloud.credentials.secretAccessKey,
    AWS_REGION: LOCAL_REGION,
    AWS_EC2_METADATA_DISABLED: 'true',
    ...env,
  };
  for (const [k, v] of Object.entries(base)) if (v === undefined) delete base[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'mloop.js'), ...args], { env: base as NodeJS.ProcessEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `mloop --stack <the local stack> ARGS --json`: its one JSON document; fails the test on a non-zero exit. */
async function json<T>(...args: string[]): Promise<T> {
  const r = await mloop(['--stack', t!.cloud.localStack.name, ...args, '--json']);
  if (r.code !== 0) throw new Error(`mloop ${args.join(' ')} exited ${r.code}: ${r.stdout}\n${r.stderr.slice(-2000)}`);
  expect(r.stdout.trim().split('\n')).toHaveLength(1); // exactly one document
  return JSON.parse(r.stdout) as T;
}

describe('the loop through --stack', () => {
  let first: RunReport;

  it('run: the drop trains and promotes; its execution is the one the object version names; its states are printed as it enters them', async () => {
    const r = await mloop([
      '--stack',
      t!.cloud.localStack.name,
      'run',
      '--model',
      'churn',
      '--data',
      csv1,
      '--target',
      'churned',
      '--json',
    ]);
    expect(r.code).toBe(0);
    first = JSON.parse(r.stdout) as RunReport;
    // From GetExecutionHistory, in order: the stages the execution entered.
    const stages = r.stderr.split('\n').filter((line) => /^\[.+\]$/.test(line));
    for (const stage of ['[Ingest dataset]', '[Train model]', '[Evaluate candidate]', '[Register and promote]'])
      expect(stages).toContain(stage);
    expect(stages.indexOf('[Ingest dataset]')).toBeLessThan(stages.indexOf('[Evaluate candidate]'));
    expect(first).toMatchObject({ status: 'SUCCEEDED', model: 'churn', datasetVersion: 1, modelVersion: 1, promoted: true, error: null });
    expect(first.execution).toMatch(/^churn-[0-9a-f]{32}$/);
    expect(first.metrics?.accuracy).toBeGreaterThan(0.5);
    // What the stack recorded agrees.
    expect((await t!.registry.aliases.get('churn', 'champion'))?.version).toBe(1);
    expect((await t!.registry.runs.get('churn', first.execution))?.status).toBe('SUCCEEDED');
  });

  it('run again with the same bytes: DUPLICATE, nothing trained', async () => {
    const again = await json<RunReport>('run', '--model', 'churn', '--data', csv1, '--target', 'churned');
    expect(again).toMatchObject({ status: 'DUPLICATE', datasetVersion: 1, modelVersion: 1 });
  });

  it('train: an existing dataset version trained again by StartExecution', async () => {
    const trained = await json<RunReport>('train', '--model', 'churn', '--reason', 'new seed');
    expect(trained).toMatchObject({ status: 'SUCCEEDED', datasetVersion: 1, modelVersion: 2 });
    expect(trained.execution).toMatch(/^churn-train-[0-9a-f]{24}$/);
  });

  it('models list, promote, history, lineage: the registry read and its admin function invoked', async () => {
    const list = await json<{ champion: number; versions: { version: number }[] }>('models', 'list', '--model', 'churn');
    expect(list.versions.map((v) => v.version)).toEqual([1, 2]);
    const champion = (await t!.registry.aliases.get('churn', 'champion'))!.version;
    expect(list.champion).toBe(champion);

    const change = await json<AliasChange>(
      'models',
      'promote',
      '--model',
      'churn',
      '--version',
      '2',
      '--alias',
      'challenger',
      '--reason',
      'shadow',
    );
    expect(change).toMatchObject({ alias: 'challenger', toVersion: 2, changed: true, reason: 'shadow' });
    expect((await t!.registry.aliases.get('churn', 'challenger'))?.version).toBe(2);

    const lineage = await json<Lineage>('models', 'lineage', '--model', 'churn', '--version', '1');
    const dataset = (await t!.registry.datasets.get('churn', 1))!;
    expect(lineage.dataset.sha256).toBe(dataset.sha256);
    expect(lineage.dataset.s3Uri).toBe(dataset.s3Uri);
  });

  it('models tag, history and rollback: each an Invoke of the admin function, recorded in the registry', async () => {
    const tags = await json<{ version: number; tags: Record<string, string> }>(
      'models',
      'tag',
      '--model',
      'churn',
      '--version',
      '1',
      '--tag',
      'team=risk',
    );
    expect(tags).toMatchObject({ version: 1, tags: { team: 'risk' } });
    expect((await t!.registry.versions.get('churn', 1))?.tags).toEqual({ team: 'risk' });
    const back = await json<AliasChange>(
      'models',
      'rollback',
      '--model',
      'churn',
      '--alias',
      'challenger',
      '--version',
      '1',
      '--reason',
      'undo',
    );
    expect(back).toMatchObject({ alias: 'challenger', fromVersion: 2, toVersion: 1, changed: true });
    const history = await json<{ history: { alias: string; toVersion?: number; version?: number }[] }>(
      'models',
      'history',
      '--model',
      'churn',
      '--alias',
      'challenger',
    );
    expect(history.history).toHaveLength(2); // the promotion, then the rollback
  });

  it("a handler's refusal is the command's one line, as locally", async () => {
    const r = await mloop(['--stack', t!.cloud.localStack.name, 'models', 'promote', '--model', 'churn', '--version', '99', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ status: 'FAILED', error: "Model 'churn' has no version 99 (its versions: 1-2)." });
    expect(r.stderr.trim().split('\n').pop()).toBe("mloop: Model 'churn' has no version 99 (its versions: 1-2).");
  });

  it('datasets list, show and diff', async () => {
    const second = await json<RunReport>('run', '--model', 'churn', '--data', csv2, '--target', 'churned');
    expect(second).toMatchObject({ status: 'SUCCEEDED', datasetVersion: 2 });
    const list = await json<{ datasets: { version: number; status: string; rows: number }[] }>('datasets', 'list', '--model', 'churn');
    expect(list.datasets.map((d) => [d.version, d.status, d.rows])).toEqual([
      [1, 'accepted', 1500],
      [2, 'accepted', 1500],
    ]);
    const show = await json<{ dataset: { version: number }; schema: unknown; profile: unknown }>('datasets', 'show', '--model', 'churn');
    expect(show.dataset.version).toBe(2);
    expect(show.profile).not.toBeNull();
    const diff = await json<{ a: number; b: number; rows: { a: number; b: number } }>('datasets', 'diff', '--model', 'churn', '1', '2');
    expect(diff).toMatchObject({ a: 1, b: 2, rows: { a: 1500, b: 1500 } });
  });

  it('predict: a CSV of 1,500 rows answered through the signed API, in two batches, in order', async () => {
    const rows = churnRows({ rows: 1500, seed: 42 });
    const file = path.join(inputs, 'live.csv');
    // The features only (no target): what a caller sends.
    fs.writeFileSync(file, [DEMO_FEATURES.join(','), ...rows.map((r) => DEMO_FEATURES.map((f) => r[f]).join(','))].join('\n') + '\n');
    const answer = await json<{ predictions: { label: string }[]; model: { version: number }; requestIds: string[] }>(
      'predict',
      '--model',
      'churn',
      '--input',
      file,
    );
    expect(answer.predictions).toHaveLength(1500);
    expect(answer.requestIds).toHaveLength(2);
    const champion = (await t!.registry.aliases.get('churn', 'champion'))!.version;
    expect(answer.model.version).toBe(champion);
    // --top-k: the API's top_k, each prediction with its most probable class only.
    const top = await json<{ predictions: { label: string; probabilities: Record<string, number> }[] }>(
      'predict',
      '--model',
      'churn',
      '--input',
      file,
      '--top-k',
      '1',
    );
    expect(top.predictions.map((p) => Object.keys(p.probabilities))).toEqual(answer.predictions.map((p) => [p.label]));
    // The same instances one by one through the stack in this process answer the same labels.
    const { predictThroughApi } = await import('../bin/cli');
    for (const i of [0, 999, 1000, 1499]) {
      const one = await predictThroughApi(t!.cloud, 'churn', {
        instances: [Object.fromEntries(DEMO_FEATURES.map((f) => [f, rows[i][f]]))],
      });
      expect((JSON.parse(one.body) as { predictions: { label: string }[] }).predictions[0].label).toBe(answer.predictions[i].label);
    }
  });

  it("drift: the monitor invoked, its HTML report copied from S3 into the CLI's home", async () => {
    await t!.cloud.flush(); // the API's captures, buffered in this process, written for the monitor
    const run = await json<{ rows: number; report: { html: string; file: string } }>('drift', '--model', 'churn', '--window', '24h');
    expect(run.rows).toBeGreaterThanOrEqual(1500);
    expect(run.report.file.startsWith(path.join(cliHome, 'reports', 'churn', 'drift-'))).toBe(true);
    const { bucket, key } = splitUri(run.report.html);
    expect(fs.readFileSync(run.report.file, 'utf8')).toBe(await getText(bucket, key));
  });
});

describe('what fails, in one line naming the stack and the region', () => {
  it('a stack that does not exist', async () => {
    const r = await mloop(['--stack', 'NoSuchStack', 'models', 'list', '--model', 'churn']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').pop()).toBe(
      `mloop: stack NoSuchStack does not exist in ${LOCAL_REGION}: deploy it there, or name its region with --region (or AWS_REGION)`,
    );
  });

  it('the right stack asked in the wrong region', async () => {
    const r = await mloop(['--stack', t!.cloud.localStack.name, '--region', 'eu-west-1', 'models', 'list', '--model', 'churn']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').pop()).toBe(
      `mloop: stack ${t!.cloud.localStack.name} does not exist in eu-west-1: deploy it there, or name its region with --region (or AWS_REGION)`,
    );
  });

  it('no credentials anywhere in the chain', async () => {
    const empty = path.join(inputs, 'empty-aws-config');
    fs.writeFileSync(empty, '');
    const r = await mloop(['--stack', t!.cloud.localStack.name, 'datasets', 'list', '--model', 'churn', '--json'], {
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_SESSION_TOKEN: undefined,
      AWS_PROFILE: undefined,
      AWS_CONFIG_FILE: empty,
      AWS_SHARED_CREDENTIALS_FILE: empty,
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined,
      AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined,
      AWS_WEB_IDENTITY_TOKEN_FILE: undefined,
    });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatch(
      new RegExp(`^no AWS credentials for stack ${t!.cloud.localStack.name} in ${LOCAL_REGION}: set AWS_PROFILE \\(or --profile\\)`),
    );
  });

  it('serve and demo refuse --stack', async () => {
    const r = await mloop(['--stack', 'Mloop', 'demo']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('mloop demo runs the local stack only');
  });
});
