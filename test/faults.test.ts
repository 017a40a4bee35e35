/**
 * Fault injection (issue 11): a real `mloop run` is killed (SIGKILL to its process group) in each
 * stage of the pipeline, and a real `mloop serve` under load, then the next commands run on the
 * same MLOOP_HOME. For each kill: the next drop of the same bytes trains and promotes (test/retrain.test.ts
 * and e2e show it is a DUPLICATE once a model version exists), a different file for the same model is not blocked, the
 * registry is consistent (numbers gapless or the gap recorded, one champion, alias history
 * intact, no claim or lease left held), and no dropped file is lost. Also: a first run that fails
 * in Train and its retry, and damaged files in the home named in clear errors.
 *
 * The kill points are exact: MLOOP_FAULT_HOLD (local/faults.ts) stops the process at a given
 * write and prints `[fault] holding at ...`; Train is killed while the trainer prints epochs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { dynamoClient } from '../lambdas/shared/clients';
import { registryKeys, s3Keys } from '../lambdas/shared/layout';
import { churnRows, DEMO_FEATURES, toCsv } from '../local/demo-data';
import { getText, listKeys, startCloud, stopCloud } from './helpers/cloud';

jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '..');
const homes: string[] = [];

afterAll(() => {
  for (const home of homes) fs.rmSync(home, { recursive: true, force: true });
});

function newHome(): { home: string; data: string } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-faults-'));
  homes.push(home);
  const data = path.join(home, 'inputs');
  fs.mkdirSync(data);
  return { home, data };
}

function writeCsv(dir: string, name: string, seed: number, rows = 400): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, toCsv(churnRows({ rows, seed })));
  return file;
}

interface Done {
  code: number | null;
  json: Record<string, unknown>;
  stderr: string;
}

/** An mloop command to completion (its own process), with --json. */
function mloop(home: string, args: string[], env: Record<string, string> = {}): Done {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'mloop.js'), ...args, '--json'], {
    env: { ...process.env, MLOOP_HOME: home, ...env },
    encoding: 'utf8',
    timeout: 240_000,
  });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(result.stdout.trim()) as Record<string, unknown>;
  } catch {
    throw new Error(`mloop ${args.join(' ')} printed no JSON document:\n${result.stdout}\n--- stderr ---\n${result.stderr.slice(-3000)}`);
  }
  return { code: result.status, json, stderr: result.stderr };
}

/** An mloop command in its own process group, its stderr collected as it comes. */
function start(
  home: string,
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; stderr: () => string; stdout: () => string } {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'mloop.js'), ...args, '--json'], {
    env: { ...process.env, MLOOP_HOME: home, ...env },
    detached: true, // its own process group: the kill reaches the trainer it spawns too
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  return { child, stderr: () => err, stdout: () => out };
}

async function waitFor(what: () => string, pattern: RegExp, child: ChildProcess, timeoutMs = 180_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pattern.test(what())) {
    if (child.exitCode !== null) throw new Error(`The process ended (code ${child.exitCode}) before ${pattern}:\n${what().slice(-3000)}`);
    if (Date.now() > until) throw new Error(`No ${pattern} within ${timeoutMs} ms:\n${what().slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** SIGKILL to the process group, as a crash or `kill -9` of a terminal's job would do. */
async function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const ended = new Promise<void>((resolve) => child.once('close', () => resolve()));
  process.kill(-child.pid!, signal);
  await ended;
}

/** Every item of a model's partition, by sort key. */
async function items(table: string, model: string): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  let start: Record<string, unknown> | undefined;
  do {
    const page = await dynamoClient().send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': registryKeys.pk(model) },
        ExclusiveStartKey: start,
        ConsistentRead: true,
      }),
    );
    for (const item of page.Items ?? []) out.set(String(item.sk), item);
    start = page.LastEvaluatedKey;
  } while (start);
  return out;
}

/**
 * The registry and the bucket of `home` are consistent for `model`: dataset and model version
 * numbers have no silent gap, one champion on a version that can hold it, an alias history with
 * every revision, no lease or unfinished claim held, every claim's run ended, and every dropped
 * file a dataset version or a recorded run. Returns the registry's items for further checks.
 */
async function expectConsistent(home: string, model: string): Promise<Map<string, Record<string, unknown>>> {
  const t = await startCloud({ home });
  try {
    const all = await items(t.cloud.registryTable, model);
    const meta = all.get('META')!;
    expect(meta.trainingLease).toBeUndefined();
    for (let n = 1; n <= Number(meta.datasetCounter ?? 0); n++) {
      expect({ dataset: n, recorded: all.has(registryKeys.dataset(n)) }).toEqual({ dataset: n, recorded: true });
    }
    const versionClaims = [...all.values()].filter((i) => String(i.sk).startsWith('VERSIONOF#')).map((i) => Number(i.version));
    for (let n = 1; n <= Number(meta.versionCounter ?? 0); n++) {
      expect({ version: n, recorded: all.has(registryKeys.version(n)) || versionClaims.includes(n) }).toEqual({
        version: n,
        recorded: true,
      });
    }
    const champion = all.get(registryKeys.alias('champion'));
    expect(champion).toBeDefined();
    expect(['registered', 'approved']).toContain(all.get(registryKeys.version(Number(champion!.version)))?.status);
    const history = [...all.values()]
      .filter((i) => String(i.sk).startsWith('ALIASHIST#champion#'))
      .sort((a, b) => Number(a.revision) - Number(b.revision));
    expect(history.map((h) => h.revision)).toEqual(Array.from({ length: Number(champion!.revision) }, (_, i) => i + 1));
    expect(history[history.length - 1]).toMatchObject({ toVersion: champion!.version });
    for (const claim of [...all.values()].filter((i) => String(i.sk).startsWith('DATAHASH#'))) {
      expect(claim.datasetVersion).toBeDefined(); // no unfinished ingestion left claiming bytes
      const run = all.get(registryKeys.run(String(claim.execution)));
      expect({ claim: claim.sk, run: run?.status }).toEqual({ claim: claim.sk, run: expect.stringMatching(/^(SUCCEEDED|FAILED)$/) });
    }
    const sources = new Set([...all.values()].flatMap((i) => [i.s3Uri, i.source]).filter((u): u is string => typeof u === 'string'));
    for (const key of await listKeys(t.cloud.dataBucket, s3Keys.dataset(model, ''))) {
      expect({ key, recorded: sources.has(`s3://${t.cloud.dataBucket}/${key}`) }).toEqual({ key, recorded: true });
    }
    return all;
  } finally {
    await stopCloud(t, true);
  }
}

describe('a mloop run killed in each stage', () => {
  const stages: { stage: string; point: string | RegExp; modelVersionSurvives: boolean }[] = [
    { stage: 'Ingest', point: 's3:Put:splits/', modelVersionSurvives: false },
    { stage: 'Train', point: /epoch=2 /, modelVersionSurvives: false },
    { stage: 'Evaluate', point: 's3:Put:candidates/', modelVersionSurvives: false },
    { stage: 'Register', point: 'dynamodb:Put:ALIAS#champion', modelVersionSurvives: true },
  ];

  test.each(stages)('during $stage: the next commands find a consistent home and go on', async ({ stage, point, modelVersionSurvives }) => {
    const { home, data } = newHome();
    const file = writeCsv(data, 'first.csv', 1);
    const env: Record<string, string> = typeof point === 'string' ? { MLOOP_FAULT_HOLD: point } : {};
    const killed = start(home, ['run', '--model', 'churn', '--data', file, '--target', 'churned'], env);
    await waitFor(killed.stderr, typeof point === 'string' ? /\[fault\] holding at / : point, killed.child);
    await killGroup(killed.child);

    // The same bytes again: trained and promoted (a retry of the version, or a new version where
    // the kill came before the ingestion finished).
    const again = mloop(home, ['run', '--model', 'churn', '--data', file, '--target', 'churned']);
    expect(again.stderr).toMatch(
      /Recovered execution churn-[0-9a-f]{32}, left running since .* by process \d+, which is gone: ended as ABORTED/,
    );
    expect(again.json).toMatchObject({ status: 'SUCCEEDED', promoted: true, error: null });
    expect(again.json.datasetVersion).toBe(stage === 'Ingest' ? 2 : 1);
    expect(again.json.modelVersion).toBe(modelVersionSurvives ? 2 : 1);
    if (stage !== 'Ingest') expect(again.json.retryOf).toMatch(/^churn-[0-9a-f]{32}$/);

    // A different file for the same model is not blocked by anything the killed run held.
    const other = mloop(home, ['run', '--model', 'churn', '--data', writeCsv(data, 'second.csv', 2), '--target', 'churned']);
    expect(other.json).toMatchObject({ status: 'SUCCEEDED', error: null });
    expect(other.stderr).not.toMatch(/Wait for training slot/);

    const all = await expectConsistent(home, 'churn');
    const killedRun = [...all.values()].find((i) => String(i.sk).startsWith('RUN#') && i.error === 'States.Aborted');
    expect(killedRun).toMatchObject({ status: 'FAILED', stage: 'execution' });
    if (stage === 'Ingest') {
      expect(all.get(registryKeys.dataset(1))).toMatchObject({ status: 'abandoned', sourceEvent: { execution: killedRun!.execution } });
    }
    if (modelVersionSurvives)
      expect(all.get(registryKeys.version(1))).toMatchObject({ status: 'registered', lineage: { execution: killedRun!.execution } });
  });
});

describe('the first run on a machine without torch, then with it', () => {
  test('fails in Train with a clear message, and the same command trains and promotes once torch is there', () => {
    const { home } = newHome();
    const noTorch = mloop(home, ['demo'], { MLOOP_PYTHON: path.join(home, 'no-python-here'), MLOOP_PROVISION: 'never' });
    expect(noTorch.code).toBe(1);
    expect(noTorch.json.error).toMatch(/MLOOP_PYTHON=.*no-python-here cannot be used for training/);
    const again = mloop(home, ['demo']);
    expect(again.code).toBe(0);
    expect(again.json).toMatchObject({
      run: { status: 'SUCCEEDED', datasetVersion: 1, modelVersion: 1, promoted: true },
      prediction: { model: { name: 'churn', version: 1 } },
    });
    // And the CLI shows no multi-line AWS SDK notice.
    expect(again.stderr).not.toMatch(/NodeVersionSupportWarning|versions published after/);
  });
});

describe('mloop serve killed under load', () => {
  const instances = churnRows({ rows: 50, seed: 4 }).map((r) => Object.fromEntries(DEMO_FEATURES.map((f) => [f, r[f]])));

  async function load(url: string, until: () => boolean): Promise<number> {
    let answered = 0;
    const worker = async () => {
      while (!until()) {
        try {
          const res = await fetch(`${url}/v1/models/churn/predict`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ instances }),
          });
          if (res.status === 200) answered += instances.length;
          await res.arrayBuffer();
        } catch {
          return; // the server is gone
        }
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    return answered;
  }

  async function capturedLines(home: string): Promise<number> {
    const t = await startCloud({ home });
    try {
      let lines = 0;
      for (const key of await listKeys(t.cloud.dataBucket, s3Keys.captureModelPrefix('churn'))) {
        const text = await getText(t.cloud.dataBucket, key);
        expect(text.endsWith('\n')).toBe(true); // whole objects only: never a line cut short
        for (const line of text.split('\n').filter(Boolean)) {
          expect(() => JSON.parse(line)).not.toThrow();
          lines++;
        }
      }
      return lines;
    } finally {
      await stopCloud(t, true);
    }
  }

  test('SIGTERM flushes every captured line; SIGKILL leaves only whole capture objects and a home the next command uses', async () => {
    const { home, data } = newHome();
    expect(mloop(home, ['run', '--model', 'churn', '--data', writeCsv(data, 'train.csv', 3, 600), '--target', 'churned']).json.status).toBe(
      'SUCCEEDED',
    );

    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const before = await capturedLines(home);
      const serve = start(home, ['serve', '--port', '0', '--aws-port', '0']);
      await waitFor(serve.stdout, /"url"/, serve.child);
      const { url } = JSON.parse(serve.stdout().trim()) as { url: string };
      let stop = false;
      const running = load(url, () => stop);
      await new Promise((resolve) => setTimeout(resolve, 2500));
      if (signal === 'SIGTERM') {
        stop = true;
        const answered = await running;
        await killGroup(serve.child, 'SIGTERM');
        expect(serve.child.exitCode).toBe(0);
        expect(answered).toBeGreaterThan(0);
        expect((await capturedLines(home)) - before).toBe(answered);
      } else {
        await killGroup(serve.child, 'SIGKILL');
        stop = true;
        const answered = await running;
        const after = await capturedLines(home);
        expect(after - before).toBeLessThanOrEqual(answered);
      }
    }
    // The home is usable: a prediction and a drift run over what was captured.
    const predicted = mloop(home, ['predict', '--model', 'churn', '--input', JSON.stringify({ instances: instances.slice(0, 2) })]);
    expect(predicted.code).toBe(0);
    const drift = mloop(home, ['drift', '--model', 'churn', '--window', '1h']);
    expect(drift.code).toBe(0);
    expect(Number(drift.json.rows)).toBeGreaterThan(0);
  });
});

describe('damaged files in the home', () => {
  /** A home with a trained champion, never damaged itself. */
  let trained: string;
  beforeAll(() => {
    const { home, data } = newHome();
    expect(mloop(home, ['run', '--model', 'churn', '--data', writeCsv(data, 'train.csv', 5), '--target', 'churned']).json.status).toBe(
      'SUCCEEDED',
    );
    trained = home;
  });

  /** A copy of the trained home for one test to damage: no test sees another's damage, in any order. */
  function homeToDamage(): string {
    const { home } = newHome();
    fs.cpSync(trained, home, { recursive: true });
    return home;
  }

  test('a runtime.json that is empty or garbage is taken over, saying so', () => {
    const home = homeToDamage();
    fs.writeFileSync(path.join(home, 'runtime.json'), '{"pid": 12');
    const past = new Date(Date.now() - 60_000);
    fs.utimesSync(path.join(home, 'runtime.json'), past, past);
    const listed = mloop(home, ['models', 'list', '--model', 'churn']);
    expect(listed.code).toBe(0);
    expect(listed.stderr).toMatch(/runtime\.json names no process .*taking the home over/);
  });

  test('an execution record that is not JSON is named, with what to do', () => {
    const home = homeToDamage();
    const dir = path.join(home, 'executions');
    const machine = fs.readdirSync(dir)[0];
    const file = path.join(dir, machine, 'churn-00000000000000000000000000000000.json');
    fs.writeFileSync(file, '{"executionArn": "arn:aws:states:us-east-1:0');
    const listed = mloop(home, ['models', 'list', '--model', 'churn']);
    expect(listed.code).toBe(1);
    expect(listed.stderr).toMatch(
      new RegExp(
        `mloop: Cannot check .* for executions a stopped process left running: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a readable execution record`,
      ),
    );
    expect(listed.stderr).not.toMatch(/\n\s+at /); // one line, no stack trace
    fs.rmSync(file);
  });

  test("an object's metadata file that is not JSON is named in the error", () => {
    const home = homeToDamage();
    const s3 = path.join(home, 's3');
    const card = spawnSync('find', [s3, '-path', '*models/churn/v1/model-card.json._S3rver_metadata.json'], {
      encoding: 'utf8',
    }).stdout.trim();
    expect(card).not.toBe('');
    fs.writeFileSync(card, '{"content-type": "appl');
    const predicted = mloop(home, ['predict', '--model', 'churn', '--input', JSON.stringify({ instances: [{ tenure_months: 3 }] })]);
    expect(predicted.code).toBe(1);
    expect(predicted.stderr).toMatch(
      /mloop: .*model-card\.json\._S3rver_metadata\.json \(metadata of s3:\/\/.*models\/churn\/v1\/model-card\.json\) is not JSON/,
    );
  });

  test('a registry database file that is garbage is named in the error', () => {
    const home = homeToDamage();
    const dynamo = path.join(home, 'dynamodb');
    const current = path.join(dynamo, 'CURRENT');
    fs.writeFileSync(current, 'garbage\n');
    const listed = mloop(home, ['models', 'list', '--model', 'churn']);
    expect(listed.code).toBe(1);
    expect(listed.stderr).toMatch(
      new RegExp(`mloop: The local DynamoDB store in ${dynamo.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} cannot be opened`),
    );
    expect(listed.stderr).not.toMatch(/\n\s+at /);
  });
});
