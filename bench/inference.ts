/**
 * Inference benchmarks (`npm run bench -- inference`), on one model trained for the run (the demo
 * churn data, 2,000 rows) in a temporary local cloud:
 *
 * - handler latency: per-request p50/p99 of the predict handler (an API Gateway proxy event in,
 *   a response out: JSON parsing, validation, feeds, ONNX, the response, capture) at batch 1 and
 *   batch 100, against bare onnxruntime-node `session.run` on the same inputs (tensors built
 *   beforehand) with a session created with the same options; the difference and the ratio. The
 *   handler is measured as deployed (capture on, batched) and with capture off. Rounds alternate
 *   between the three so that they share the machine's state;
 * - cold start: from spawning a Node.js process to its first answer, running the handler bundled
 *   as Lambda gets it (esbuild with MloopFunction's BUNDLE_OPTIONS: minified, the AWS SDK inside,
 *   onnxruntime-node external) against the local emulators: module load, first answer (registry
 *   read, model download, ONNX session, inference) and a second, warm answer; the bundle's size.
 *   The baseline, measured in the same run with starts alternating, is the bundle as it was before
 *   issue 14: `@aws-sdk/*` external, loaded from node_modules as Lambda's runtime loads its own
 *   copy; the ratios are bundled over baseline;
 * - load: `mloop serve` in its own process, driven by autocannon on 127.0.0.1 (10 connections,
 *   10 seconds, batch 1): throughput, latency p50/p99 and the error count (errors, timeouts and
 *   non-2xx answers), which should be zero.
 *
 * Numbers depend on the machine; tests never assert them.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import * as ort from 'onnxruntime-node';
import { runPipeline } from '../bin/cli';
import { PredictApi } from '../lambdas/inference/http';
import { ModelServer } from '../lambdas/inference/serving';
import { loadEnv, predictEnv } from '../lambdas/shared/env';
import { BUNDLE_OPTIONS } from '../lib/mloop-function';
import { logger } from '../lambdas/shared/observability';
import { parseS3Uri } from '../lambdas/shared/layout';
import { Registry } from '../lambdas/shared/registry/registry';
import { getBytes } from '../lambdas/shared/storage';
import type { ModelCard } from '../lambdas/shared/types';
import { REPO_ROOT } from '../lib/function-catalog';
import { LocalCloud } from '../local/cloud';
import { churnRows, DEMO_FEATURES, DEMO_TARGET, toCsv } from '../local/demo-data';
import { apiEvent, apiRoutes } from '../local/api-server';

const MODEL = 'bench-churn';
const ROUNDS = { 1: 40, 100: 10 } as const;
const PER_ROUND = 50;
const COLD_STARTS = 5;
const LOAD = { connections: 10, durationSeconds: 10 };

const log = (line: string) => process.stderr.write(`  ${line}\n`);
const round3 = (n: number) => Math.round(n * 1000) / 1000;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50Ms: round3(quantile(sorted, 0.5)),
    p90Ms: round3(quantile(sorted, 0.9)),
    p99Ms: round3(quantile(sorted, 0.99)),
    n: samples.length,
  };
}

/** The one route the bench sends to (the events are made before a cloud starts). */
const PREDICT_ROUTE = apiRoutes([{ method: 'POST', resource: '/v1/models/{name}/predict', functionArn: 'predict', requestModels: {} }]);

function predictEvent(instances: Record<string, unknown>[]): APIGatewayProxyEvent {
  const url = new URL(`http://127.0.0.1/v1/models/${MODEL}/predict`);
  return apiEvent(PREDICT_ROUTE, 'POST', url, JSON.stringify({ instances }));
}

/** The graph's inputs for instances, as the model card's contract says (the bare baseline's tensors). */
function feeds(card: ModelCard, instances: Record<string, unknown>[]): Record<string, ort.Tensor> {
  const numeric = card.features.filter((f) => f.type === 'numeric');
  const categorical = card.features.filter((f) => f.type === 'categorical');
  const out: Record<string, ort.Tensor> = {};
  if (numeric.length) {
    const data = new Float32Array(instances.length * numeric.length);
    instances.forEach((row, r) =>
      numeric.forEach((f, c) => (data[r * numeric.length + c] = row[f.name] === null ? NaN : Number(row[f.name]))),
    );
    out.numeric = new ort.Tensor('float32', data, [instances.length, numeric.length]);
  }
  if (categorical.length && card.formatVersion === 2) {
    // One string input per categorical feature, the raw value; the graph does the lookup.
    for (const f of categorical) {
      out[f.name] = new ort.Tensor(
        'string',
        instances.map((row) => (row[f.name] === null || row[f.name] === undefined ? '' : String(row[f.name]))),
        [instances.length, 1],
      );
    }
  } else if (categorical.length) {
    const data = new BigInt64Array(instances.length * categorical.length);
    instances.forEach((row, r) =>
      categorical.forEach((f, c) => (data[r * categorical.length + c] = BigInt((f.categories ?? []).indexOf(String(row[f.name])) + 1))),
    );
    out.categorical = new ort.Tensor('int64', data, [instances.length, categorical.length]);
  }
  return out;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

async function handlerLatency(cloud: LocalCloud) {
  const registry = new Registry(cloud.registryTable);
  const alias = (await registry.aliases.get(MODEL, 'champion'))!;
  const record = (await registry.versions.get(MODEL, alias.version))!;
  const onnxAt = parseS3Uri(record.artifact.onnxUri);
  const cardAt = parseS3Uri(record.artifact.cardUri);
  const card = JSON.parse((await getBytes(cardAt.bucket, cardAt.key)).toString('utf8')) as ModelCard;
  const session = await ort.InferenceSession.create(await getBytes(onnxAt.bucket, onnxAt.key), {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
  });

  const deployed = (event: APIGatewayProxyEvent) => cloud.invoke('predict', event) as Promise<APIGatewayProxyResult>;
  const environment = cloud.template.functions.find((f) => f.functionId === 'predict')!.environment;
  const noCapture = new PredictApi(new ModelServer(registry, 10_000), loadEnv(predictEnv, { ...environment, CAPTURE_ENABLED: 'false' }));

  const live = churnRows({ rows: 1000, seed: 42 }).map((r) => Object.fromEntries(DEMO_FEATURES.map((f) => [f, r[f]])));
  const results: Record<string, unknown> = {};
  for (const batch of [1, 100] as const) {
    const inputs = Array.from({ length: 10 }, (_, i) => live.slice((i * batch) % live.length, ((i * batch) % live.length) + batch));
    const events = inputs.map(predictEvent);
    const tensors = inputs.map((instances) => feeds(card, instances));
    const samples = { handler: [] as number[], handlerNoCapture: [] as number[], bare: [] as number[] };
    // Warm-up: sessions, caches, JIT.
    for (let i = 0; i < 50; i++) {
      const res = await deployed(events[i % events.length]);
      if (res.statusCode !== 200) throw new Error(`The handler answered ${res.statusCode}: ${res.body}`);
      await noCapture.handle(events[i % events.length]);
      await session.run(tensors[i % tensors.length]);
    }
    for (let round = 0; round < ROUNDS[batch]; round++) {
      for (let i = 0; i < PER_ROUND; i++) samples.handler.push(await time(() => deployed(events[i % events.length])));
      for (let i = 0; i < PER_ROUND; i++) samples.handlerNoCapture.push(await time(() => noCapture.handle(events[i % events.length])));
      for (let i = 0; i < PER_ROUND; i++) samples.bare.push(await time(() => session.run(tensors[i % tensors.length])));
    }
    const handler = summary(samples.handler);
    const handlerNoCapture = summary(samples.handlerNoCapture);
    const bare = summary(samples.bare);
    results[`batch${batch}`] = {
      handler,
      handlerNoCapture,
      bareSessionRun: bare,
      handlerMinusBare: { p50Ms: round3(handler.p50Ms - bare.p50Ms), p99Ms: round3(handler.p99Ms - bare.p99Ms) },
      handlerOverBare: { p50: round3(handler.p50Ms / bare.p50Ms), p99: round3(handler.p99Ms / bare.p99Ms) },
    };
    log(
      `batch ${batch}: handler p50 ${handler.p50Ms} ms p99 ${handler.p99Ms} ms; bare session.run p50 ${bare.p50Ms} ms p99 ${bare.p99Ms} ms`,
    );
  }
  await session.release();
  return results;
}

/** How the SDK reaches the handler: inside its bundle (as deployed), or external (the baseline: the runtime's copy). */
type SdkBundling = 'bundled' | 'external';

/** The predict handler bundled as CDK bundles it for Lambda, behind a tiny entry that times it. */
async function bundleColdStartEntry(dir: string, sdk: SdkBundling): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require('esbuild') as typeof import('esbuild');
  const outfile = path.join(dir, `cold-start-${sdk}.js`);
  const entry = `
    const fs = require('node:fs');
    const event = JSON.parse(fs.readFileSync(process.env.BENCH_EVENT, 'utf8'));
    const loadStarted = performance.now();
    const { handler } = require('./lambdas/inference/predict-handler.ts');
    const loaded = performance.now();
    handler(event).then(async (first) => {
      const answered = performance.now();
      await handler(event);
      const warm = performance.now() - answered;
      process.stdout.write(JSON.stringify({ status: first.statusCode, beforeLoadMs: loadStarted, moduleLoadMs: loaded - loadStarted, firstAnswerMs: answered, warmAnswerMs: warm }) + '\\n', () => process.exit(0));
    }, (error) => { process.stderr.write(String(error) + '\\n'); process.exit(1); });
  `;
  await esbuild.build({
    stdin: { contents: entry, resolveDir: REPO_ROOT, loader: 'js', sourcefile: 'cold-start-entry.js' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: BUNDLE_OPTIONS.minify,
    ...(sdk === 'bundled'
      ? { mainFields: [...BUNDLE_OPTIONS.mainFields], external: ['onnxruntime-node', ...BUNDLE_OPTIONS.externalModules] }
      : { external: ['onnxruntime-node', '@aws-sdk/*'] }),
    outfile,
    logLevel: 'silent',
  });
  return outfile;
}

async function coldStart(cloud: LocalCloud, dir: string) {
  const bundles: Record<SdkBundling, string> = {
    bundled: await bundleColdStartEntry(dir, 'bundled'),
    external: await bundleColdStartEntry(dir, 'external'),
  };
  const eventFile = path.join(dir, 'event.json');
  fs.writeFileSync(
    eventFile,
    JSON.stringify(predictEvent(churnRows({ rows: 1, seed: 5 }).map((r) => Object.fromEntries(DEMO_FEATURES.map((f) => [f, r[f]]))))),
  );
  const environment = cloud.template.functions.find((f) => f.functionId === 'predict')!.environment;
  const env = {
    PATH: process.env.PATH ?? '',
    NODE_PATH: path.join(REPO_ROOT, 'node_modules'),
    ...Object.fromEntries(Object.entries(environment).filter(([k]) => k !== 'NODE_OPTIONS')),
    MLOOP_S3_ENDPOINT: process.env.MLOOP_S3_ENDPOINT ?? '',
    MLOOP_DYNAMODB_ENDPOINT: process.env.MLOOP_DYNAMODB_ENDPOINT ?? '',
    // The emulators' ports take only the home's credentials (local/edge-credentials.ts).
    MLOOP_EDGE_ACCESS_KEY_ID: cloud.credentials.accessKeyId,
    MLOOP_EDGE_SECRET_ACCESS_KEY: cloud.credentials.secretAccessKey,
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    BENCH_EVENT: eventFile,
  };
  type Run = { spawnToAnswerMs: number; moduleLoadMs: number; firstAnswerMs: number; warmAnswerMs: number };
  const runs: Record<SdkBundling, Run[]> = { bundled: [], external: [] };
  // Alternate the two bundles, so that they share the machine's state.
  for (let i = 0; i < 2 * COLD_STARTS; i++) {
    const sdk: SdkBundling = i % 2 === 0 ? 'external' : 'bundled';
    const bundle = bundles[sdk];
    const started = performance.now();
    const line = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [bundle], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (code) =>
        code === 0 ? resolve(out.split('\n')[0]) : reject(new Error(`cold-start child exited ${code}: ${err.slice(0, 500)}`)),
      );
    });
    const spawnToAnswerMs = performance.now() - started;
    const child = JSON.parse(line) as { status: number; moduleLoadMs: number; firstAnswerMs: number; warmAnswerMs: number };
    if (child.status !== 200) throw new Error(`The cold handler answered ${child.status}.`);
    runs[sdk].push({
      spawnToAnswerMs: round3(spawnToAnswerMs),
      moduleLoadMs: round3(child.moduleLoadMs),
      firstAnswerMs: round3(child.firstAnswerMs),
      warmAnswerMs: round3(child.warmAnswerMs),
    });
  }
  const median = (sdk: SdkBundling, key: keyof Run) =>
    round3(
      quantile(
        runs[sdk].map((r) => r[key]).sort((a, b) => a - b),
        0.5,
      ),
    );
  const medians = (sdk: SdkBundling) => ({
    spawnToAnswerMs: median(sdk, 'spawnToAnswerMs'),
    moduleLoadMs: median(sdk, 'moduleLoadMs'),
    processStartToFirstAnswerMs: median(sdk, 'firstAnswerMs'),
    warmAnswerMs: median(sdk, 'warmAnswerMs'),
  });
  const bundled = medians('bundled');
  const baseline = medians('external');
  const ratio = (key: keyof typeof bundled) => round3(bundled[key] / baseline[key]);
  const result = {
    runs: COLD_STARTS,
    median: bundled,
    bundleKb: Math.round(fs.statSync(bundles.bundled).size / 1024),
    baseline: {
      sdk: '@aws-sdk/* external (loaded from node_modules)',
      median: baseline,
      bundleKb: Math.round(fs.statSync(bundles.external).size / 1024),
    },
    ratioToBaseline: {
      spawnToAnswer: ratio('spawnToAnswerMs'),
      moduleLoad: ratio('moduleLoadMs'),
      processStartToFirstAnswer: ratio('processStartToFirstAnswerMs'),
    },
    each: runs,
    note: 'firstAnswerMs is measured from process start (performance.timeOrigin) in the child; spawnToAnswerMs from the parent, including Node.js start-up',
  };
  log(
    `cold start: ${bundled.spawnToAnswerMs} ms from spawn to first answer with the SDK bundled, ${baseline.spawnToAnswerMs} ms with it external (ratio ${result.ratioToBaseline.spawnToAnswer}); module load ${bundled.moduleLoadMs} ms against ${baseline.moduleLoadMs} ms (median of ${COLD_STARTS} each)`,
  );
  return result;
}

async function loadTest(home: string) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Promise<{
    requests: { average: number; total: number };
    latency: { p50: number; p99: number; average: number; max: number };
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
  }>;
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'mloop.js'), 'serve', '--port', '0', '--aws-port', '0', '--json'], {
    cwd: REPO_ROOT,
    env: { ...process.env, MLOOP_HOME: home, POWERTOOLS_LOG_LEVEL: 'SILENT' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`mloop serve did not start in 120 s: ${stderr.slice(-500)}`)), 120_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { url: string }).url);
        }
      });
      void exited.then((code) => reject(new Error(`mloop serve exited ${code}: ${stderr.slice(-500)}`)));
    });
    const body = JSON.stringify({
      instances: churnRows({ rows: 1, seed: 9 }).map((r) => Object.fromEntries(DEMO_FEATURES.map((f) => [f, r[f]]))),
    });
    const target = `${url}/v1/models/${MODEL}/predict`;
    for (let i = 0; i < 20; i++) {
      const res = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      if (res.status !== 200) throw new Error(`mloop serve answered ${res.status}: ${await res.text()}`);
    }
    const result = await autocannon({
      url: target,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      connections: LOAD.connections,
      duration: LOAD.durationSeconds,
    });
    const out = {
      connections: LOAD.connections,
      durationSeconds: LOAD.durationSeconds,
      requestsPerSecond: result.requests.average,
      requests: result.requests.total,
      latencyP50Ms: result.latency.p50,
      latencyP99Ms: result.latency.p99,
      latencyMaxMs: result.latency.max,
      errors: result.errors + result.timeouts + result.non2xx,
      detail: { errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, ok: result['2xx'] },
    };
    log(`load: ${out.requestsPerSecond} req/s, p99 ${out.latencyP99Ms} ms, ${out.errors} errors`);
    return out;
  } finally {
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    if (code === 'timeout') child.kill('SIGKILL');
  }
}

export async function run(): Promise<unknown> {
  // Handler logs go to stdout, which carries the results (MLOOP_LOG_LEVEL=INFO shows them on a debug run).
  process.env.POWERTOOLS_LOG_LEVEL ??= process.env.MLOOP_LOG_LEVEL ?? 'SILENT';
  logger.setLogLevel(process.env.POWERTOOLS_LOG_LEVEL as Parameters<typeof logger.setLogLevel>[0]);
  const loadAverage = os.loadavg().map((l) => round3(l));
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-bench-inference-'));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-bench-cold-'));
  try {
    const cloud = await LocalCloud.start({ home, log: () => {} });
    let latency: unknown;
    let cold: unknown;
    let modelVersion: number | null = null;
    try {
      const file = path.join(home, `${MODEL}.csv`);
      fs.writeFileSync(file, toCsv(churnRows({ rows: 2000, seed: 7 })));
      log('training the benchmark model...');
      const report = await runPipeline(cloud, MODEL, file, DEMO_TARGET);
      if (report.status !== 'SUCCEEDED') throw new Error(`Training the benchmark model failed: ${report.error}`);
      modelVersion = report.modelVersion;
      latency = await handlerLatency(cloud);
      cold = await coldStart(cloud, work);
    } finally {
      await cloud.stop();
    }
    const load = await loadTest(home);
    // The machine's load when the run started: tails (p99) on a shared machine mostly measure its other tenants.
    return {
      model: { name: MODEL, version: modelVersion, features: DEMO_FEATURES.length },
      node: process.version,
      cpus: os.cpus().length,
      loadAverage,
      latency,
      coldStart: cold,
      load,
    };
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
}
