/**
 * Shared setup for the tests that run against the local cloud: a LocalCloud on a fresh
 * temporary home (emulators on loopback), and small helpers to drop datasets, train models and
 * read what the handlers wrote. Start one cloud per test file (beforeAll) and stop it in
 * afterAll: starting one takes seconds, and a training run several more.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetObjectCommand, GetObjectTaggingCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../../lambdas/shared/clients';
import { s3Keys } from '../../lambdas/shared/layout';
import { Registry } from '../../lambdas/shared/registry/registry';
import { listKeys } from '../../lambdas/shared/storage';
import { TARGET_METADATA_KEY } from '../../lambdas/data/ingest';
import { runPipeline, type RunReport } from '../../bin/cli';
import { LocalCloud, type ExecutionResult, type LocalCloudOptions } from '../../local/cloud';

export interface TestCloud {
  readonly cloud: LocalCloud;
  readonly home: string;
  /** Every progress line the cloud logged (stage transitions, training output). */
  readonly logs: string[];
  readonly registry: Registry;
}

/** A fresh temporary folder (a cloud home, a training-code folder). */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `mloop-${prefix}-`));
}

/** Start a LocalCloud on `home` (a fresh temporary one by default). */
export async function startCloud(options: Omit<LocalCloudOptions, 'log'> = {}): Promise<TestCloud> {
  const home = options.home ?? tempDir('home');
  const logs: string[] = [];
  // Handlers log failures as structured JSON on the console; tests assert on results instead.
  // MLOOP_LOG_LEVEL (e.g. INFO) shows them when debugging.
  process.env.POWERTOOLS_LOG_LEVEL ??= process.env.MLOOP_LOG_LEVEL ?? 'SILENT';
  const cloud = await LocalCloud.start({ ...options, home, log: (line) => logs.push(line) });
  return { cloud, home, logs, registry: new Registry(cloud.registryTable) };
}

/** Stop the cloud (waiting for its executions) and, unless `keepHome`, delete its home. */
export async function stopCloud(test: TestCloud | undefined, keepHome = false): Promise<void> {
  if (!test) return;
  await test.cloud.stop();
  if (!keepHome) fs.rmSync(test.home, { recursive: true, force: true });
}

/**
 * Put `body` at datasets/<model>/<fileName> and wait for the execution it starts, as S3 and
 * EventBridge would start it on AWS.
 */
export async function dropDataset(
  cloud: LocalCloud,
  model: string,
  fileName: string,
  body: string | Buffer,
  target?: string,
): Promise<ExecutionResult> {
  const key = s3Keys.dataset(model, fileName);
  const started = cloud.nextExecutionFor(key);
  await s3Client().send(
    new PutObjectCommand({
      Bucket: cloud.dataBucket,
      Key: key,
      Body: body,
      Metadata: target ? { [TARGET_METADATA_KEY]: target } : undefined,
    }),
  );
  return cloud.execution(await started);
}

/** Put an object without waiting for anything (a dataset the test ingests by hand, a corrupt artifact). */
export async function putObject(bucket: string, key: string, body: string | Buffer, metadata?: Record<string, string>): Promise<void> {
  await s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, Metadata: metadata }));
}

/** Train a model through the whole pipeline (the CLI's `run`) from CSV text; fails the test unless it succeeded. */
export async function trainModel(
  test: TestCloud,
  model: string,
  csv: string,
  target: string,
  fileName = `${model}.csv`,
): Promise<RunReport> {
  const dir = path.join(test.home, 'inputs');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, fileName);
  fs.writeFileSync(file, csv);
  const report = await runPipeline(test.cloud, model, file, target);
  if (report.status !== 'SUCCEEDED') {
    throw new Error(`Training ${model} did not succeed: ${JSON.stringify(report)}\n${test.logs.slice(-20).join('\n')}`);
  }
  return report;
}

export async function getText(bucket: string, key: string): Promise<string> {
  const out = await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return out.Body!.transformToString('utf8');
}

export async function getObjectJson<T = unknown>(bucket: string, key: string): Promise<T> {
  return JSON.parse(await getText(bucket, key)) as T;
}

export async function getTags(bucket: string, key: string): Promise<Record<string, string>> {
  const out = await s3Client().send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
  return Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key!, t.Value!]));
}

export { listKeys };

/** Bucket and key of an s3:// URI. */
export function splitUri(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(uri);
  if (!m) throw new Error(`Not an s3:// URI: ${uri}`);
  return { bucket: m[1], key: m[2] };
}

/** Data rows of a CSV text with a header (non-empty lines after the first). */
export function csvRowCount(text: string): number {
  return text.split(/\r?\n/).filter((line) => line.trim() !== '').length - 1;
}
