/**
 * The whole loop through the real CLI (bin/mloop.js), as a user runs it: each command is its own
 * process on the same MLOOP_HOME, so state survives between commands as it does between runs.
 *
 * Every test can run alone (`npx jest test/e2e.test.ts -t NAME`): what a test needs from before it
 * (a trained champion, the demo's home) comes from a fixture that runs once per file, whichever
 * test asks first, and no test counts what another one left behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { churnRows, DEMO_FEATURES, toCsv } from '../local/demo-data';
import { once } from './helpers/once';

const ROOT = path.resolve(__dirname, '..');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-e2e-'));
const data = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-e2e-data-'));

interface CliResult {
  code: number | null;
  json: Record<string, unknown>;
  stdout: string;
  stderr: string;
}

function mloop(...args: string[]): CliResult {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'mloop.js'), ...args, '--json'], {
    cwd: data,
    env: { ...process.env, MLOOP_HOME: home },
    encoding: 'utf8',
    timeout: 240_000,
  });
  const stdout = result.stdout.trim();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    const shown = args.map((a) => (a.length > 80 ? `${a.slice(0, 80)}...` : a)).join(' ');
    throw new Error(
      `mloop ${shown} did not print one JSON document on stdout:\n${stdout.slice(0, 2000)}\n--- stderr ---\n${result.stderr.slice(-2000)}`,
    );
  }
  return { code: result.status, json, stdout, stderr: result.stderr };
}

function write(name: string, text: string): string {
  const file = path.join(data, name);
  fs.writeFileSync(file, text);
  return file;
}

/** The first run of the churn model on the shared home: the champion the other tests use. */
const trainedChurn = once(() => {
  const file = write('churn.csv', toCsv(churnRows({ rows: 2000, seed: 1 })));
  return mloop('run', '--model', 'churn', '--data', file, '--target', 'churned');
});

const features = (rows: ReturnType<typeof churnRows>) => rows.map((r) => Object.fromEntries(DEMO_FEATURES.map((f) => [f, r[f]])));

afterAll(() => {
  fs.rmSync(home, { recursive: true, force: true });
  fs.rmSync(data, { recursive: true, force: true });
});

describe('mloop on the local runtime', () => {
  jest.setTimeout(300_000);

  test('run trains, evaluates, registers and promotes the first model of a dataset', () => {
    const { code, json } = trainedChurn();
    expect(code).toBe(0);
    expect(json).toMatchObject({
      status: 'SUCCEEDED',
      datasetVersion: 1,
      modelVersion: 1,
      promoted: true,
      error: null,
      reason: null,
      retryOf: null,
    });
    expect((json.metrics as Record<string, number>).accuracy).toBeGreaterThan(0.7);
  });

  test('predict answers from the champion through the API handler', () => {
    expect(trainedChurn().code).toBe(0);
    const instances = features(churnRows({ rows: 3, seed: 2 }));
    const { code, json } = mloop('predict', '--model', 'churn', '--input', JSON.stringify({ instances }));
    expect(code).toBe(0);
    expect(json.model).toEqual({ name: 'churn', version: 1 });
    const predictions = json.predictions as { label: string; probabilities: Record<string, number> }[];
    expect(predictions).toHaveLength(3);
    for (const p of predictions) {
      expect(['0', '1']).toContain(p.label);
      expect(p.probabilities['0'] + p.probabilities['1']).toBeCloseTo(1, 5);
    }
  });

  test('a dataset with text in a numeric column is rejected, kept, and the champion still serves', () => {
    expect(trainedChurn().code).toBe(0);
    const listDatasets = () =>
      (mloop('datasets', 'list', '--model', 'churn').json.datasets as { version: number; status: string }[]).map((d) => [
        d.version,
        d.status,
      ]);
    const before = listDatasets();
    expect(before).toContainEqual([1, 'accepted']);
    const next = Math.max(...before.map(([version]) => version as number)) + 1;
    const rows = churnRows({ rows: 300, seed: 3 });
    const csv = toCsv(rows).split('\n');
    csv[5] = csv[5].replace(/^\d+/, 'twelve');
    const file = write('churn-bad.csv', csv.join('\n'));
    const { code, json, stderr } = mloop('run', '--model', 'churn', '--data', file);
    expect(code).toBe(1);
    expect(json.status).toBe('FAILED');
    expect(json.error).toMatch(/churn-bad\.csv/);
    expect(json.error).toMatch(/tenure_months/);
    expect(json.error).toMatch(/twelve|non-numeric|number/);
    expect(stderr).toMatch(/^mloop: /m);
    expect(json.datasetVersion).toBe(next);
    expect(listDatasets()).toEqual([...before, [next, 'rejected']]);
    const models = mloop('models', 'list', '--model', 'churn').json;
    expect(models.champion).toBe(1);
    expect(mloop('predict', '--model', 'churn', '--input', JSON.stringify([features(rows)[0]])).json.model).toEqual({
      name: 'churn',
      version: 1,
    });
  });

  test('a dataset without the target column fails with a reason naming the file and the column', () => {
    expect(trainedChurn().code).toBe(0);
    const csv = toCsv(churnRows({ rows: 100, seed: 4 }))
      .split('\n')
      .map((line) => line.split(',').slice(0, -1).join(','))
      .join('\n');
    const file = write('no-target.csv', csv);
    const { code, json } = mloop('run', '--model', 'churn', '--data', file);
    expect(code).toBe(1);
    expect(json.error).toMatch(/no-target\.csv/);
    expect(json.error).toMatch(/churned/);
  });

  test('an empty file fails with a reason naming the file', () => {
    const file = write('empty.csv', '');
    const { code, json } = mloop('run', '--model', 'fresh', '--data', file, '--target', 'y');
    expect(code).toBe(1);
    expect(json.status).toBe('FAILED');
    expect(json.error).toMatch(/empty\.csv/);
    expect(json.error).toMatch(/empty/i);
  });

  test('the same bytes dropped again make no new version and no training run, and name the model version they produced', () => {
    expect(trainedChurn().code).toBe(0);
    const file = write('churn.csv', toCsv(churnRows({ rows: 2000, seed: 1 })));
    const { code, json } = mloop('run', '--model', 'churn', '--data', file);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      status: 'DUPLICATE',
      datasetVersion: 1,
      modelVersion: 1,
      reason: expect.stringMatching(/already produced model version 1/),
    });
  });

  test('drift flags shifted inputs and not unshifted ones', () => {
    expect(trainedChurn().code).toBe(0);
    // Close the window on whatever other tests predicted, so that the next ones hold only these rows.
    expect(mloop('predict', '--model', 'churn', '--input', JSON.stringify(features(churnRows({ rows: 1, seed: 7 })))).code).toBe(0);
    expect(mloop('drift', '--model', 'churn').json.rows).toBeGreaterThanOrEqual(1);

    const same = write('same.json', JSON.stringify({ instances: features(churnRows({ rows: 400, seed: 5 })) }));
    expect(mloop('predict', '--model', 'churn', '--input', same).code).toBe(0);
    const calm = mloop('drift', '--model', 'churn').json;
    expect(calm.rows).toBe(400);
    expect(calm.datasetDrift).toBe(false);

    const shifted = write('shifted.json', JSON.stringify(features(churnRows({ rows: 400, seed: 6, shift: 1.5 }))));
    expect(mloop('predict', '--model', 'churn', '--input', shifted).code).toBe(0);
    const drifted = mloop('drift', '--model', 'churn').json;
    expect(drifted.rows).toBe(400);
    expect(drifted.datasetDrift).toBe(true);
    const byName = Object.fromEntries((drifted.features as { name: string; drifted: boolean }[]).map((f) => [f.name, f.drifted]));
    expect(byName).toMatchObject({ tenure_months: true, monthly_charges: true });
    expect(byName.payment).toBe(false);
    expect(String((drifted.report as { json: string }).json)).toMatch(/^s3:\/\/.+\/monitoring\/churn\/drift\/.+\.json$/);
  });
});

describe('two mloop commands on one home', () => {
  jest.setTimeout(300_000);

  test('predict and run beside a running serve attach to it: the serving process runs the pipeline', async () => {
    expect(trainedChurn().code).toBe(0);
    const serve = spawn(process.execPath, [path.join(ROOT, 'bin', 'mloop.js'), 'serve', '--port', '0', '--aws-port', '0', '--json'], {
      cwd: data,
      env: { ...process.env, MLOOP_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => serve.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        serve.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          const line = out.split('\n')[0];
          if (out.includes('\n')) resolve((JSON.parse(line) as { url: string }).url);
        });
        serve.on('exit', (code) => reject(new Error(`mloop serve exited with ${code} before listening`)));
      });
      expect(JSON.parse(fs.readFileSync(path.join(home, 'runtime.json'), 'utf8'))).toMatchObject({ pid: serve.pid });

      const instance = features(churnRows({ rows: 1, seed: 8 }))[0];
      const http = await fetch(`${url}/v1/models/churn/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ instances: [instance] }),
      });
      expect(http.status).toBe(200);

      const beside = mloop('predict', '--model', 'churn', '--input', JSON.stringify([instance]));
      expect(beside.code).toBe(0);
      expect(beside.json.model).toEqual({ name: 'churn', version: 1 });
      expect(((await http.json()) as { predictions: unknown[] }).predictions).toEqual(beside.json.predictions);

      // A run beside it goes through the serving process's AWS edge, as against a deployed stack:
      // the owner runs the pipeline, this process follows the execution by its history.
      // (Spawned, not spawnSync: serve's output pipes must keep being read while it trains.)
      const file = write('while-serving.csv', toCsv(churnRows({ rows: 1200, seed: 9 })));
      const run = spawn(process.execPath, [path.join(ROOT, 'bin', 'mloop.js'), 'run', '--model', 'churn', '--data', file, '--json'], {
        cwd: data,
        env: { ...process.env, MLOOP_HOME: home },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let runOut = '';
      let runErr = '';
      run.stdout.on('data', (chunk: Buffer) => (runOut += chunk.toString('utf8')));
      run.stderr.on('data', (chunk: Buffer) => (runErr += chunk.toString('utf8')));
      const runCode = await new Promise<number | null>((resolve) => run.on('exit', (code) => resolve(code)));
      expect({ code: runCode, stderr: runCode === 0 ? '' : runErr }).toEqual({ code: 0, stderr: '' });
      expect(JSON.parse(runOut.trim())).toMatchObject({ status: 'SUCCEEDED', model: 'churn', modelVersion: 2 });
      expect(runErr).toContain('[Train model]'); // the owner's states, read from its execution history
    } finally {
      serve.kill('SIGTERM');
      await exited;
    }
    expect(fs.existsSync(path.join(home, 'runtime.json'))).toBe(false);
  });
});

describe('manual approval across two terminals', () => {
  jest.setTimeout(300_000);
  const approvalHome = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-e2e-approval-'));
  afterAll(() => fs.rmSync(approvalHome, { recursive: true, force: true }));

  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, 'bin', 'mloop.js'), ...args, '--json'], {
      cwd: data,
      env: { ...process.env, MLOOP_HOME: approvalHome },
      encoding: 'utf8',
      timeout: 120_000,
    });

  test('a run waiting for approval is resumed by `models approve` from another process', async () => {
    const file = write('approve-me.csv', toCsv(churnRows({ rows: 1500, seed: 12 })));
    const run = spawn(
      process.execPath,
      [path.join(ROOT, 'bin', 'mloop.js'), 'run', '--model', 'gated', '--data', file, '--target', 'churned', '--json'],
      {
        cwd: data,
        env: { ...process.env, MLOOP_HOME: approvalHome, CDK_CONTEXT_JSON: JSON.stringify({ 'mloop:requireApproval': true }) },
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    let stdout = '';
    run.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => run.on('exit', (code) => resolve(code)));

    // The run owns the home once its emulators are up; commands after that attach to them.
    const runtime = path.join(approvalHome, 'runtime.json');
    for (let i = 0; i < 300; i++) {
      const owner = fs.existsSync(runtime)
        ? (JSON.parse(fs.readFileSync(runtime, 'utf8')) as { pid: number; s3Endpoint?: string })
        : undefined;
      if (owner?.pid === run.pid && owner?.s3Endpoint) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // Wait until the candidate is registered and waiting for a decision.
    let pending = false;
    for (let i = 0; i < 30 && !pending; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const list = cli('models', 'list', '--model', 'gated');
      if (list.status !== 0) continue;
      const versions = (JSON.parse(list.stdout) as { versions: { version: number; status: string }[] }).versions;
      pending = versions.some((v) => v.version === 1 && v.status === 'pending-approval');
    }
    expect(pending).toBe(true);

    const approve = cli('models', 'approve', '--model', 'gated', '--version', '1', '--reason', 'reviewed the evaluation');
    expect(approve.status).toBe(0);
    expect(await exited).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ status: 'SUCCEEDED', modelVersion: 1, promoted: true });
  });
});

describe('npm start (mloop demo)', () => {
  jest.setTimeout(300_000);
  const demoHome = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-e2e-demo-'));
  afterAll(() => fs.rmSync(demoHome, { recursive: true, force: true }));

  /** `mloop demo` on the demo's fresh home, once. */
  const demo = once(() =>
    spawnSync(process.execPath, [path.join(ROOT, 'bin', 'mloop.js'), 'demo', '--json'], {
      cwd: data,
      env: { ...process.env, MLOOP_HOME: demoHome },
      encoding: 'utf8',
      timeout: 240_000,
    }),
  );

  test('runs the whole loop on a fresh home: train, promote, predict, drift', () => {
    const result = demo();
    expect(result.status).toBe(0);
    const json = JSON.parse(result.stdout) as {
      run: { status: string; promoted: boolean; modelVersion: number };
      prediction: { model: { name: string; version: number }; first: { label: string } };
      drift: { rows: number; datasetDrift: boolean };
    };
    expect(json.run).toMatchObject({ status: 'SUCCEEDED', promoted: true, modelVersion: 1 });
    expect(json.prediction.model).toEqual({ name: 'churn', version: 1 });
    expect(['0', '1']).toContain(json.prediction.first.label);
    expect(json.drift).toMatchObject({ rows: 1000, datasetDrift: false });
  });

  const demoCli = (...args: string[]) => {
    const result = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'mloop.js'), ...args, '--json'], {
      cwd: data,
      env: { ...process.env, MLOOP_HOME: demoHome },
      encoding: 'utf8',
      timeout: 240_000,
    });
    return { code: result.status, json: JSON.parse(result.stdout) as Record<string, unknown>, stderr: result.stderr };
  };

  test('mloop train trains an existing dataset version again, without a drop', () => {
    expect(demo().status).toBe(0);
    const { code, json } = demoCli('train', '--model', 'churn', '--reason', 'a second opinion');
    expect(code).toBe(0);
    expect(json).toMatchObject({
      status: 'SUCCEEDED',
      model: 'churn',
      datasetVersion: 1,
      modelVersion: 2,
      error: null,
      retryOf: expect.stringMatching(/^churn-[0-9a-f]{32}$/),
    });
    expect(json.execution).toMatch(/^churn-train-[0-9a-f]{24}$/);
    const missing = demoCli('train', '--model', 'churn', '--dataset-version', '5');
    expect(missing.code).toBe(1);
    expect(missing.json).toMatchObject({
      status: 'FAILED',
      datasetVersion: null,
      error: expect.stringMatching(/Model 'churn' has no dataset version 5 to train on/),
    });
    expect(demoCli('train', '--model', 'churn', '--dataset-version', 'two').json.error).toBe(
      "--dataset-version must be a positive integer, got 'two'.",
    );
  });

  test('mloop doctor reports the Python it trains with, and the home', () => {
    const { code, json } = demoCli('doctor');
    expect(code).toBe(0);
    expect(json).toMatchObject({
      node: { version: process.version, ok: true },
      python: { ok: true, torch: expect.any(String), numpy: expect.any(String), cuda: expect.any(Boolean) },
      provisioning: { next: 'none', commands: [] },
      home: { path: demoHome, exists: true, owner: null },
    });
  });
});
