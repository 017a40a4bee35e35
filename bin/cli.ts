/**
 * The mloop CLI: the whole loop on one machine, on the same code as on AWS (see local/cloud.ts).
 * Every command accepts --json, which prints exactly one JSON document on stdout; without it,
 * readable text. Progress and logs go to stderr. Exit 0 on success; non-zero with a one-line
 * reason on failure.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseCsv } from 'csv-parse/sync';
import { assertModelName, s3Keys } from '../lambdas/shared/layout';
import { inputFields } from '../lambdas/shared/model-inputs';
import { ownRecord } from '../lambdas/shared/own-record';
import type { DriftRun } from '../lambdas/monitoring/drift-run';
import type { PredictResponse } from '../lambdas/inference/predict';
import type { IngestOutput, RegisterOutput } from '../lambdas/shared/pipeline';
import { Registry } from '../lambdas/shared/registry/registry';
import type { ModelVersionRecord } from '../lambdas/shared/registry/versions';
import type { AliasRecord } from '../lambdas/shared/registry/aliases';
import { getJson } from '../lambdas/shared/storage';
import type { ModelCard } from '../lambdas/shared/types';
import { RETRAIN_METADATA_KEY, TARGET_METADATA_KEY } from '../lambdas/data/ingest';
import type { TrainRequest } from '../lambdas/shared/pipeline';
import { TRAINER_METADATA_KEY, type TrainerChoice, trainerViolation } from '../lambdas/shared/trainers';
import { trainExecutionName } from '../lambdas/pipeline/start';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { startApiServer } from '../local/api-server';
import type { LocalCloud } from '../local/cloud';
import { packageVersion } from '../lib/package-root';
import { churnRows, DEMO_FEATURES, toCsv } from '../local/demo-data';
import { localTarget, targetOf } from './local-target';
import { loadLocalCloud, withTarget } from './open-target';
import type { ApiAnswer, LoopTarget } from './target';
import { CliError } from './cli-error';
import { escapeControls } from './terminal-text';
import { commandModels, MODELS_USAGE } from './commands/models';
import { commandDatasets, DATASETS_USAGE } from './commands/datasets';
import { commandDrift as driftCommand, describeDriftRun, DRIFT_USAGE } from './commands/drift';
import { commandDoctor, DOCTOR_USAGE } from './commands/doctor';
import { scoreCommand, SCORE_USAGE } from './commands/score';
import { commandUi, UI_USAGE } from './commands/ui';
import { handleUiRequest } from './ui/server';
import { appScript } from './ui/bundle';

export { CliError };

interface Io {
  json: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
}

const USAGE = `mloop: the model life cycle as a loop, on AWS or on this machine

Usage:
  mloop run --model NAME --data FILE [--target COLUMN] [--retrain] [--trainer mlp|xgboost|auto]
                                                         drop FILE as a dataset and run the pipeline
  mloop train --model NAME [--dataset-version N] [--reason TEXT] [--trainer mlp|xgboost|auto]
                                                         train an existing dataset version again
                                                         (--trainer: this run's trainer; default the
                                                         model's hyperparameters.json, else auto)
  mloop predict --model NAME --input FILE|JSON [--version N | --alias A] [--top-k K]
${SCORE_USAGE}
  mloop serve [--port N] [--aws-port N] [--allow-writes] serve the prediction API, and the AWS APIs (default
                                                         port 4566; 0: any) for AWS_ENDPOINT_URL, on 127.0.0.1;
                                                         the UI (mloop ui) at /
${UI_USAGE}
${DRIFT_USAGE}
  mloop models list --model NAME
${MODELS_USAGE}
  mloop datasets list --model NAME
${DATASETS_USAGE}
  mloop demo                                             the whole loop on a generated dataset
${DOCTOR_USAGE}

mloop --version prints the version. Every command accepts --json (one JSON document on stdout). State lives in .mloop/ (MLOOP_HOME).
Every command but serve and demo accepts --stack NAME [--region R] [--profile P] (or MLOOP_STACK):
it then runs against that deployed stack, found through CloudFormation with your AWS credentials;
AWS_ENDPOINT_URL=http://127.0.0.1:4566 points it at the local stack of a running \`mloop serve\`.`;

export interface RunReport {
  status: 'SUCCEEDED' | 'FAILED' | 'DUPLICATE';
  model: string;
  execution: string;
  datasetVersion: number | null;
  /** The model version the run registered; for DUPLICATE, the one these bytes already produced (null while a run on them is in progress). */
  modelVersion: number | null;
  promoted: boolean | null;
  metrics: Record<string, number> | null;
  error: string | null;
  /** DUPLICATE: why nothing was trained (else null). */
  reason: string | null;
  /** When the run trained an existing dataset version again: the run on it before this one (else null). */
  retryOf: string | null;
}

/** Drop a dataset, wait for the pipeline it starts, and report what happened. */
export async function runPipeline(
  on: LoopTarget | LocalCloud,
  model: string,
  file: string,
  target?: string,
  options: { retrain?: boolean; trainer?: string } = {},
): Promise<RunReport> {
  assertModelName(model);
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) throw new CliError(`Dataset file ${file} does not exist or is not a file.`);
  const stack = await targetOf(on);
  const execution = await stack.dropDataset(s3Keys.dataset(model, path.basename(file)), fs.readFileSync(file), {
    ...(target ? { [TARGET_METADATA_KEY]: target } : {}),
    ...(options.retrain ? { [RETRAIN_METADATA_KEY]: 'true' } : {}),
    ...(options.trainer ? { [TRAINER_METADATA_KEY]: options.trainer } : {}),
  });
  return reportExecution(stack, model, execution);
}

/**
 * Train an existing dataset version again, without dropping bytes: the pipeline's state machine
 * entered with a TrainRequest (lambdas/data/known-data.ts), as `aws stepfunctions start-execution`
 * would enter it on AWS. Waits for it and reports it as `run` does.
 */
export async function trainAgain(on: LoopTarget | LocalCloud, request: TrainRequest): Promise<RunReport> {
  assertModelName(request.model);
  const stack = await targetOf(on);
  const name = trainExecutionName(request.model);
  await stack.startPipeline({ id: randomUUID(), time: new Date().toISOString(), detail: { retrain: request } }, name);
  return reportExecution(stack, request.model, name);
}

/** Wait for an execution of the pipeline and report it as `mloop run --json` does. */
async function reportExecution(stack: LoopTarget, model: string, execution: string): Promise<RunReport> {
  const result = await stack.waitForExecution(execution);
  const report: RunReport = {
    status: result.status,
    model,
    execution,
    datasetVersion: null,
    modelVersion: null,
    promoted: null,
    metrics: null,
    error: null,
    reason: null,
    retryOf: null,
  };
  if (result.status === 'SUCCEEDED') {
    const ingest = result.output?.ingest as IngestOutput | undefined;
    if (ingest?.status === 'DUPLICATE') {
      return {
        ...report,
        status: 'DUPLICATE',
        datasetVersion: ingest.datasetVersion,
        modelVersion: ingest.modelVersion ?? null,
        reason: ingest.reason ?? null,
      };
    }
    if (ingest?.status === 'CONFIG') return report; // schema.json or hyperparameters.json: checked, nothing trained
    const registration = result.output?.registration as RegisterOutput;
    return {
      ...report,
      datasetVersion: registration.datasetVersion,
      modelVersion: registration.modelVersion,
      promoted: registration.promoted,
      metrics: registration.metrics,
      ...(ingest?.status === 'ACCEPTED' && ingest.retryOf ? { retryOf: ingest.retryOf } : {}),
    };
  }
  const failure = (result as { cause?: string }).cause ?? result.error ?? 'the pipeline failed';
  // A rejected dataset still got a version: the one this execution recorded, or the one it trained.
  const registry = new Registry(stack.registryTable);
  const [datasets, run] = await Promise.all([registry.datasets.list(model), registry.runs.get(model, execution)]);
  const recorded = datasets.find((d) => d.sourceEvent.execution === execution)?.version ?? run?.datasetVersion;
  return { ...report, datasetVersion: recorded ?? null, error: failure, ...(run?.retryOf ? { retryOf: run.retryOf } : {}) };
}

/** Turn --input (inline JSON, a .json file or a .csv file) into prediction instances. */
export async function readInstances(input: string, card: ModelCard | undefined): Promise<unknown> {
  const trimmed = input.trim();
  let payload: unknown;
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      payload = JSON.parse(trimmed);
    } catch (error) {
      throw new CliError(`--input is not valid JSON: ${(error as Error).message}`);
    }
  } else {
    if (!fs.existsSync(input)) throw new CliError(`--input ${input} is neither JSON nor an existing file.`);
    const text = fs.readFileSync(input, 'utf8');
    if (input.toLowerCase().endsWith('.csv')) {
      // Array rows keyed by the header with own properties: `columns: true` would assign
      // record[name] = value and lose a column named __proto__.
      const [header = [], ...rows] = parseCsv(text, { bom: true, skip_empty_lines: true }) as string[][];
      // A request's fields: features, a date-time column sent raw (its derived features are the model's).
      const fields = card ? inputFields(card) : [];
      const numeric = new Set(fields.filter((f) => f.type === 'numeric').map((f) => f.name));
      const known = new Set(fields.map((f) => f.name));
      payload = rows.map((cells) =>
        ownRecord(
          header.flatMap((k, i) =>
            known.size === 0 || known.has(k) ? [[k, cells[i] === '' ? null : numeric.has(k) ? Number(cells[i]) : cells[i]] as const] : [],
          ),
        ),
      );
    } else {
      try {
        payload = JSON.parse(text);
      } catch (error) {
        throw new CliError(`${input} is not valid JSON: ${(error as Error).message}`);
      }
    }
  }
  return Array.isArray(payload) ? { instances: payload } : payload;
}

async function servingCard(stack: LoopTarget, model: string): Promise<ModelCard | undefined> {
  const registry = new Registry(stack.registryTable);
  const alias = await registry.aliases.get(model, 'champion');
  if (!alias) return undefined;
  const version = await registry.versions.get(model, alias.version);
  if (!version) return undefined;
  const uri = new URL(version.artifact.cardUri);
  return getJson<ModelCard>(uri.host, uri.pathname.slice(1));
}

/** A prediction through the API (the local stack: its handler, as API Gateway would deliver the request). */
export async function predictThroughApi(
  on: LoopTarget | LocalCloud,
  model: string,
  body: unknown,
  query: Record<string, string> = {},
): Promise<ApiAnswer> {
  return (await targetOf(on)).predict(model, body, query);
}

function formatMetrics(metrics: Record<string, number> | null): string {
  if (!metrics) return '-';
  return Object.entries(metrics)
    .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(4)}`)
    .join(' ');
}

function describeRun(r: RunReport): string {
  if (r.status === 'DUPLICATE') {
    const why = r.reason ? `: ${r.reason}` : '';
    const hint = r.modelVersion !== null ? ` (mloop train --model ${r.model} --dataset-version ${r.datasetVersion} trains it again)` : '';
    return `DUPLICATE: these bytes are already dataset version ${r.datasetVersion ?? '?'} of ${r.model}${why}; nothing new to train${hint}.`;
  }
  if (r.status === 'FAILED') return `FAILED: ${r.error}`;
  return [
    `SUCCEEDED: ${r.model} dataset v${r.datasetVersion} -> model v${r.modelVersion}${r.promoted ? ' (promoted to champion)' : ' (not promoted)'}${r.retryOf ? ` (trained again after run ${r.retryOf})` : ''}`,
    `  test metrics: ${formatMetrics(r.metrics)}`,
  ].join('\n');
}

function requireModel(value: string | undefined): string {
  if (!value) throw new CliError('--model NAME is required.');
  return assertModelName(value);
}

type Values = Record<string, string | boolean | undefined>;

/** Run `work` against the command's stack (--stack, or the local one), drawing training progress on stderr. */
function withStack<T>(io: Io, values: Values, work: (stack: LoopTarget) => Promise<T>): Promise<T> {
  return withTarget(io, values, work, process.stderr);
}

/** The local stack (loaded only when a command runs it: a command against a deployed stack never loads CDK). */
async function startCloud(io: Io, options: { awsPort?: number } = {}): Promise<LocalCloud> {
  const { LocalCloud } = loadLocalCloud();
  return LocalCloud.start({ log: (line) => io.err(line), progress: process.stderr, ...options });
}

/**
 * serve and demo run the local stack only: an explicit --stack, --region or --profile is refused;
 * MLOOP_STACK, set for a whole shell, is not theirs and is left to the other commands.
 */
function localOnly(command: string, values: Values): void {
  if (values.stack !== undefined || values.region !== undefined || values.profile !== undefined)
    throw new CliError(`mloop ${command} runs the local stack only: --stack, --region and --profile are for the other commands.`);
}

/** The local stack, for the commands that only run locally (demo). */
async function withLocalCloud<T>(io: Io, values: Values, command: string, work: (cloud: LocalCloud) => Promise<T>): Promise<T> {
  localOnly(command, values);
  const cloud = await startCloud(io);
  try {
    return await work(cloud);
  } finally {
    await cloud.stop();
  }
}

async function commandRun(io: Io, values: Record<string, string | boolean | undefined>): Promise<number> {
  const model = requireModel(values.model as string | undefined);
  const data = values.data as string | undefined;
  if (!data) throw new CliError('--data FILE is required.');
  const trainer = trainerOption(values);
  const report = await withStack(io, values, (stack) =>
    runPipeline(stack, model, data, values.target as string | undefined, { retrain: values.retrain === true, trainer }),
  );
  return printRun(io, report);
}

/** --trainer mlp|xgboost|auto: this run's trainer, over hyperparameters.json and the stack's `trainers`. */
function trainerOption(values: Record<string, string | boolean | undefined>): TrainerChoice | undefined {
  const raw = values.trainer;
  if (raw === undefined) return undefined;
  const violation = trainerViolation(raw, '--trainer');
  if (violation) throw new CliError(violation);
  return raw as TrainerChoice;
}

function printRun(io: Io, report: RunReport): number {
  if (io.json) io.out(JSON.stringify(report));
  else io.out(describeRun(report));
  if (report.status === 'FAILED') {
    if (io.json) io.err(`mloop: ${report.error}`);
    return 1;
  }
  return 0;
}

async function commandTrain(io: Io, values: Record<string, string | boolean | undefined>): Promise<number> {
  const model = requireModel(values.model as string | undefined);
  const raw = values['dataset-version'];
  const datasetVersion = raw === undefined ? undefined : Number(raw);
  if (datasetVersion !== undefined && !(Number.isInteger(datasetVersion) && datasetVersion > 0)) {
    throw new CliError(`--dataset-version must be a positive integer, got '${String(raw)}'.`);
  }
  const trainer = trainerOption(values);
  const request: TrainRequest = {
    model,
    ...(datasetVersion !== undefined ? { datasetVersion } : {}),
    requestedBy: `user:${os.userInfo().username}`,
    ...(typeof values.reason === 'string' ? { reason: values.reason } : {}),
    ...(trainer ? { trainer } : {}),
  };
  return printRun(io, await withStack(io, values, (stack) => trainAgain(stack, request)));
}

/** The API's default limit on instances per request (the predict function's MAX_BATCH): a larger input goes in batches of it. */
export const PREDICT_BATCH = 1000;

type PredictAnswer = PredictResponse & { requestIds?: string[]; message?: string; problems?: { message: string }[] };

/**
 * Predictions for any number of instances: the request as it is when it fits one call, else in
 * batches of PREDICT_BATCH, all answered by the model version the first batch was (the champion
 * may move while they run). The answers are merged in input order; `requestIds` lists each
 * batch's requestId (feedback refers to predictions by it). A batch's refusal is the answer, its
 * message saying which instances the batch held.
 */
export async function predictInBatches(
  stack: LoopTarget,
  model: string,
  body: unknown,
  query: Record<string, string>,
  batch = PREDICT_BATCH,
): Promise<ApiAnswer> {
  const instances = (body as { instances?: unknown }).instances;
  if (!Array.isArray(instances) || instances.length <= batch) return stack.predict(model, body, query);
  let merged: PredictAnswer | undefined;
  for (let from = 0; from < instances.length; from += batch) {
    // The first batch resolves the alias (or the champion); the rest ask for the version it answered with.
    const { alias: _resolved, ...rest } = query;
    const asked = merged ? { ...rest, version: query.version ?? String(merged.model.version) } : query;
    const answer = await stack.predict(model, { ...(body as object), instances: instances.slice(from, from + batch) }, asked);
    if (answer.statusCode !== 200) {
      const to = Math.min(from + batch, instances.length) - 1;
      const refusal = JSON.parse(answer.body) as { message?: string };
      const message = `instances ${from}-${to} (a batch of at most ${batch}): ${refusal.message ?? `HTTP ${answer.statusCode}`}`;
      return { statusCode: answer.statusCode, body: JSON.stringify({ ...refusal, message }) };
    }
    const part = JSON.parse(answer.body) as PredictAnswer;
    if (!merged) merged = { ...part, predictions: [...part.predictions], requestIds: [part.requestId] };
    else {
      merged.predictions.push(...part.predictions);
      merged.requestIds!.push(part.requestId);
    }
  }
  return { statusCode: 200, body: JSON.stringify(merged) };
}

async function commandPredict(io: Io, values: Values): Promise<number> {
  const model = requireModel(values.model as string | undefined);
  const input = values.input as string | undefined;
  if (!input) throw new CliError('--input FILE|JSON is required.');
  const query: Record<string, string> = {};
  if (values.version) query.version = String(values.version);
  if (values.alias) query.alias = String(values.alias);
  if (values['top-k'] !== undefined) {
    const k = String(values['top-k']);
    if (!/^[1-9]\d*$/.test(k)) throw new CliError(`--top-k must be a positive integer, got '${k}'.`);
    query.top_k = k; // the API's ?top_k: the k most probable classes of each prediction
  }
  return withStack(io, values, async (stack) => {
    const body = await readInstances(input, await servingCard(stack, model));
    const response = await predictInBatches(stack, model, body, query);
    const parsed = JSON.parse(response.body) as PredictAnswer;
    if (response.statusCode !== 200) {
      if (io.json) io.out(response.body);
      const problems = parsed.problems?.length ? ` ${parsed.problems.map((p) => p.message).join(' ')}` : '';
      throw new CliError(`${parsed.message ?? `HTTP ${response.statusCode}`}${problems}`, null);
    }
    if (io.json) io.out(response.body);
    else {
      io.out(`${model} v${parsed.model.version}:`);
      parsed.predictions.forEach((p, i) => io.out(`  [${i}] ${'label' in p ? `${p.label}  ${JSON.stringify(p.probabilities)}` : p.value}`));
    }
    return 0;
  });
}

async function commandScore(io: Io, values: Values): Promise<number> {
  const model = requireModel(values.model as string | undefined);
  const input = values.input as string | undefined;
  if (!input) throw new CliError('--input FILE is required: the file to score (CSV, JSON Lines, Parquet, gzip).');
  return withStack(io, values, async (stack) => {
    await scoreCommand(io, stack, {
      model,
      input,
      ...(values.output !== undefined ? { output: String(values.output) } : {}),
      ...(values.version !== undefined ? { version: String(values.version) } : {}),
      ...(values.alias !== undefined ? { alias: String(values.alias) } : {}),
      ...(values['id-column'] !== undefined ? { idColumn: String(values['id-column']) } : {}),
      ...(values.force ? { force: true } : {}),
    });
    return 0;
  });
}

async function commandDrift(io: Io, values: Values): Promise<number> {
  const model = requireModel(values.model as string | undefined);
  return withStack(io, values, (stack) => driftCommand(io, stack, model, values.window as string | undefined));
}

/** `models list` rows (its --json `versions`); `trainer` is null for a version registered before it was recorded. Pure. */
export function modelVersionRows(versions: ModelVersionRecord[], aliases: Pick<AliasRecord, 'alias' | 'version'>[]) {
  return versions.map((v) => ({
    version: v.version,
    aliases: aliases.filter((a) => a.version === v.version).map((a) => a.alias),
    status: v.status,
    datasetVersion: v.lineage.datasetVersion,
    trainer: v.lineage.trainer ?? null,
    metrics: v.metrics,
    tags: v.tags ?? {},
    promoted: v.promoted,
    createdAt: v.createdAt,
  }));
}

/** One `models list` line: version and aliases, dataset, trainer (`-` when unrecorded), test metrics, date. Pure. */
export function formatModelVersionRow(r: ReturnType<typeof modelVersionRows>[number]): string {
  const aliases = r.aliases.length ? ` [${r.aliases.join(',')}]` : '';
  return `v${r.version}${aliases}  dataset v${r.datasetVersion}  trainer ${r.trainer ?? '-'}  ${formatMetrics(r.metrics)}  ${r.createdAt}`;
}

async function commandList(io: Io, what: string | undefined, values: Values): Promise<number> {
  const model = requireModel(values.model as string | undefined);
  return withStack(io, values, async (stack) => {
    const registry = new Registry(stack.registryTable);
    if (what === 'models') {
      const [versions, aliases] = await Promise.all([registry.versions.list(model), registry.aliases.list(model)]);
      const champion = aliases.find((a) => a.alias === 'champion');
      const rows = modelVersionRows(versions, aliases);
      if (io.json) io.out(JSON.stringify({ model, champion: champion?.version ?? null, versions: rows }));
      else if (rows.length === 0) io.out(`${model} has no model versions yet.`);
      else for (const r of rows) io.out(formatModelVersionRow(r));
      return 0;
    }
    const datasets = await registry.datasets.list(model);
    if (io.json) io.out(JSON.stringify({ model, datasets }));
    else if (datasets.length === 0) io.out(`${model} has no datasets yet.`);
    else
      for (const d of datasets)
        io.out(
          `v${d.version}  ${d.status.padEnd(8)}  ${d.rows} rows  sha256 ${d.sha256.slice(0, 12)}  ${d.s3Uri}${d.reason ? `\n    ${d.reason}` : ''}`,
        );
    return 0;
  });
}

/** The edge endpoint's port for `serve`, LocalStack's (other commands take one the OS picks). */
const DEFAULT_AWS_PORT = 4566;

async function commandServe(io: Io, values: Record<string, string | boolean | undefined>): Promise<number> {
  const port = values.port === undefined ? 8080 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port must be a port number, got ${String(values.port)}.`);
  const awsPort = values['aws-port'] === undefined ? DEFAULT_AWS_PORT : Number(values['aws-port']);
  if (!Number.isInteger(awsPort) || awsPort < 0 || awsPort > 65535)
    throw new CliError(`--aws-port must be a port number (0: any free port), got ${String(values['aws-port'])}.`);
  localOnly('serve', values);
  const cloud = await startCloud(io, { awsPort });
  // Each route invokes the function of its integration, as the template's API Gateway methods say.
  // The UI (mloop ui) at / beside the API's routes; read-only unless --allow-writes.
  const ui = {
    target: await localTarget(cloud),
    allowWrites: values['allow-writes'] === true,
    script: appScript(cloud.home),
  };
  const server = await startApiServer(
    cloud.apiRoutes,
    (event, route) => cloud.invokeArn(route.functionArn, event) as Promise<APIGatewayProxyResult>,
    port,
    {},
    (req, res, url) => handleUiRequest(ui, req, res, url),
  );
  // The template's scheduled rules (the drift monitor's), on timers: rate(...) and cron(...).
  const stopSchedules = cloud.startSchedules((line) => io.err(`schedule: ${line}`));
  if (io.json)
    io.out(
      JSON.stringify({
        url: server.url,
        awsEndpoint: cloud.awsEndpoint,
        awsAccessKeyId: cloud.credentials.accessKeyId,
        awsSecretAccessKey: cloud.credentials.secretAccessKey,
      }),
    );
  else {
    io.out(
      `mloop API on ${server.url} (POST /v1/models/{name}/predict, GET /v1/models/{name}, POST /v1/models/{name}/feedback, GET /v1/health), the UI at ${server.url}/; Ctrl-C to stop.`,
    );
    const owner = cloud.attachedTo ? ` (served by process ${cloud.attachedTo.pid}, which owns ${cloud.home})` : '';
    io.out(
      `AWS APIs (S3, DynamoDB, Lambda, Step Functions, EventBridge, SNS, CloudFormation, the REST API) for stack ${cloud.localStack.name}, on 127.0.0.1 only${owner}, with this home's credentials (also in ${path.join(cloud.home, 'runtime.json')}); to use them:`,
    );
    io.out(
      `AWS_ENDPOINT_URL=${cloud.awsEndpoint} AWS_ACCESS_KEY_ID=${cloud.credentials.accessKeyId} AWS_SECRET_ACCESS_KEY=${cloud.credentials.secretAccessKey}`,
    );
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  stopSchedules();
  await server.close();
  await cloud.stop();
  return 0;
}

async function commandDemo(io: Io, values: Values): Promise<number> {
  const dir = path.join(path.resolve(process.env.MLOOP_HOME ?? '.mloop'), 'demo');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'churn.csv');
  fs.writeFileSync(file, toCsv(churnRows({ rows: 3000, seed: 7 })));
  const say = (line: string) => (io.json ? io.err(line) : io.out(line));
  return withLocalCloud(io, values, 'demo', async (cloud) => {
    say(`1. Dropping ${file} as a dataset of model 'churn' (3,000 rows)...`);
    const run = await runPipeline(cloud, 'churn', file, 'churned');
    say(describeRun(run));
    if (run.status === 'FAILED') throw new CliError(run.error ?? 'the pipeline failed', run);

    const live = churnRows({ rows: 1000, seed: 99 }).map((r) => Object.fromEntries(DEMO_FEATURES.map((f) => [f, r[f]])));
    say(`2. Predicting 1,000 new customers through the API handler...`);
    const response = await predictThroughApi(cloud, 'churn', { instances: live });
    if (response.statusCode !== 200) throw new CliError(`prediction failed: ${response.body}`);
    const predictions = JSON.parse(response.body) as PredictResponse;
    const first = predictions.predictions[0];
    say(
      `   model v${predictions.model.version} answered ${predictions.predictions.length} predictions; the first: ${JSON.stringify(first)}`,
    );

    say(`3. Running the drift monitor over the captured requests...`);
    await cloud.flush(); // the capture buffer is written in batches: write it before reading it back
    const drift = ((await cloud.invoke('drift', { model: 'churn', settleSeconds: 0 })) as DriftRun[])[0];
    say(describeDriftRun(drift));
    if (io.json)
      io.out(
        JSON.stringify({
          run,
          prediction: { model: predictions.model, first },
          drift: { datasetDrift: drift.datasetDrift, driftShare: drift.driftShare, rows: drift.rows },
        }),
      );
    else say(`Done. State is in ${cloud.home}; try: mloop predict --model churn --input '{"instances":[${JSON.stringify(live[0])}]}'`);
    return 0;
  });
}

export async function run(argv: string[], outer: Io): Promise<number> {
  let io = outer;
  // `mloop --version` alone (with or without --json); `--version N` of other commands names a model version.
  const rest = argv.filter((arg) => arg !== '--json');
  if (rest.length === 1 && (rest[0] === '--version' || rest[0] === '-V')) {
    outer.out(argv.includes('--json') ? JSON.stringify({ version: packageVersion() }) : `mloop ${packageVersion()}`);
    return 0;
  }
  const { values: parsed, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      model: { type: 'string' },
      data: { type: 'string' },
      target: { type: 'string' },
      input: { type: 'string' },
      version: { type: 'string' },
      alias: { type: 'string' },
      reason: { type: 'string' },
      port: { type: 'string' },
      'aws-port': { type: 'string' },
      window: { type: 'string' },
      retrain: { type: 'boolean', default: false },
      trainer: { type: 'string' },
      'dataset-version': { type: 'string' },
      'top-k': { type: 'string' },
      output: { type: 'string' },
      'id-column': { type: 'string' },
      force: { type: 'boolean', default: false },
      'allow-writes': { type: 'boolean', default: false },
      stack: { type: 'string' },
      region: { type: 'string' },
      profile: { type: 'string' },
      tag: { type: 'string', multiple: true },
      untag: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  // --tag and --untag repeat (lists): only `models tag` reads them.
  const { tag, untag, ...values } = parsed;
  io.json = Boolean(values.json);
  io = { json: io.json, out: (text) => outer.out(escapeControls(text)), err: (text) => outer.err(escapeControls(text)) };
  const [command, sub] = positionals;
  if (values.help || !command) {
    io.out(USAGE);
    return command || values.help ? 0 : 2;
  }
  switch (command) {
    case 'run':
      return commandRun(io, values);
    case 'train':
      return commandTrain(io, values);
    case 'doctor':
      return commandDoctor(io);
    case 'predict':
      return commandPredict(io, values);
    case 'score':
      return commandScore(io, values);
    case 'serve':
      return commandServe(io, values);
    case 'ui':
      return commandUi(io, values);
    case 'drift':
      return commandDrift(io, values);
    case 'models':
    case 'datasets':
      if (command === 'models' && sub !== 'list') return commandModels(io, sub, { ...values, tag, untag });
      if (command === 'datasets' && (sub === 'show' || sub === 'diff')) return commandDatasets(io, sub, positionals.slice(2), values);
      if (sub !== 'list') throw new CliError(`Unknown command '${command} ${sub ?? ''}': expected '${command} list'.`);
      return commandList(io, command, values);
    case 'demo':
      return commandDemo(io, values);
    default:
      throw new CliError(`Unknown command '${command}'. Run 'mloop --help' for the commands.`);
  }
}

export function main(argv: string[]): void {
  // Only the command's own output goes to stdout; handler logs and progress go to stderr.
  const stderr = (...args: unknown[]) =>
    process.stderr.write(escapeControls(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')) + '\n');
  console.log = stderr;
  console.info = stderr;
  console.debug = stderr;
  const io: Io = {
    json: argv.includes('--json'),
    out: (text) => process.stdout.write(escapeControls(text) + '\n'),
    err: (text) => process.stderr.write(escapeControls(text) + '\n'),
  };
  // Exit only once stdout has drained: a pipe is written asynchronously, and a large --json
  // document would otherwise be cut off by process.exit.
  const exit = (code: number) => process.stdout.write('', () => process.exit(code));
  run(argv, io).then(exit, (error: Error) => {
    const message = (error.message || String(error)).split('\n')[0];
    if (io.json && !(error instanceof CliError && error.result === null)) io.out(JSON.stringify({ status: 'FAILED', error: message }));
    io.err(`mloop: ${message}`);
    exit(1);
  });
}
