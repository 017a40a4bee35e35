/**
 * The drift monitor's run: for each model with a champion, read the inputs captured since the
 * last run (a watermark on the time-ordered capture keys), compare them with the champion's
 * training profile feature by feature, and write the report (S3), a record (DynamoDB) and
 * metrics (CloudWatch, through Embedded Metric Format).
 */
import { createInterface } from 'node:readline';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DriftEnv } from '../shared/env';
import { ModelNotFound } from '../shared/errors';
import { parseS3Uri, s3Keys, s3Uri } from '../shared/layout';
import { metricsFor } from '../shared/observability';
import { Registry } from '../shared/registry';
import { getJson, getStream, listKeys, putJson } from '../shared/storage';
import type { DatasetProfile, ModelCard } from '../shared/types';
import { DriftAccumulator, type DriftReport } from './drift';
import type { CaptureRecord } from '../inference/predict';

export interface DriftInput {
  /** One model; all models with a champion when absent (the schedule's case). */
  readonly model?: string;
  /**
   * Captures newer than this many seconds are left for the next run, so that a request captured
   * by a slower container is not skipped by the watermark. Default: CAPTURE_SETTLE_SECONDS.
   */
  readonly settleSeconds?: number;
}

export interface DriftRun extends DriftReport {
  readonly model: string;
  readonly modelVersion: number;
  readonly datasetVersion: number;
  readonly captureObjects: number;
  readonly report: { readonly json: string };
}

export async function monitorModel(model: string, env: DriftEnv, settleSeconds: number, now = new Date()): Promise<DriftRun> {
  const registry = new Registry(env.REGISTRY_TABLE);
  const [meta, alias] = await Promise.all([registry.getModel(model), registry.getAlias(model, 'champion')]);
  if (!meta) throw new ModelNotFound(`Model '${model}' is not in the registry.`);
  if (!alias) throw new ModelNotFound(`Model '${model}' has no champion yet: there is nothing serving to monitor.`);
  const version = await registry.getVersion(model, alias.version);
  if (!version) throw new ModelNotFound(`Model '${model}' has no version ${alias.version}.`);
  const dataset = await registry.getDataset(model, version.lineage.datasetVersion);
  if (!dataset?.profileUri) throw new ModelNotFound(`Dataset version ${version.lineage.datasetVersion} of '${model}' has no profile.`);

  const profileAt = parseS3Uri(dataset.profileUri);
  const cardAt = parseS3Uri(version.artifact.cardUri);
  const [profile, card] = await Promise.all([
    getJson<DatasetProfile>(profileAt.bucket, profileAt.key),
    getJson<ModelCard>(cardAt.bucket, cardAt.key),
  ]);
  const accumulator = new DriftAccumulator(card.features.map((f) => ({ name: f.name, type: f.type })), profile);

  // Keys sort by capture time; stop at the settle horizon so the watermark never skips a late write.
  const horizon = s3Keys.capture(model, new Date(now.getTime() - settleSeconds * 1000), '');
  const keys = (await listKeys(env.DATA_BUCKET, s3Keys.captureModelPrefix(model), meta.driftWatermark)).filter((key) => key < horizon);
  for (const key of keys) {
    const lines = createInterface({ input: await getStream(env.DATA_BUCKET, key), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      accumulator.add((JSON.parse(line) as CaptureRecord).instance);
    }
  }

  const report = accumulator.report({ threshold: env.DRIFT_THRESHOLD, driftShareThreshold: env.DRIFT_SHARE_THRESHOLD, now });
  const reportKey = s3Keys.driftReport(model, now);
  const run: DriftRun = {
    model,
    modelVersion: alias.version,
    datasetVersion: version.lineage.datasetVersion,
    captureObjects: keys.length,
    ...report,
    report: { json: s3Uri(env.DATA_BUCKET, reportKey) },
  };
  await putJson(env.DATA_BUCKET, reportKey, run);
  await registry.putDrift(
    {
      model,
      at: now.toISOString(),
      modelVersion: alias.version,
      datasetVersion: run.datasetVersion,
      rows: report.rows,
      datasetDrift: report.datasetDrift,
      driftShare: report.driftShare,
      reportUri: run.report.json,
    },
    keys.length > 0 ? keys[keys.length - 1] : undefined,
  );

  const metrics = metricsFor(env.METRICS_NAMESPACE);
  metrics.addDimension('model', model);
  metrics.addMetric('DriftShare', MetricUnit.Count, report.driftShare);
  metrics.addMetric('DatasetDrift', MetricUnit.Count, report.datasetDrift ? 1 : 0);
  metrics.addMetric('CapturedRows', MetricUnit.Count, report.rows);
  metrics.publishStoredMetrics();
  return run;
}

export async function runDriftMonitor(input: DriftInput, env: DriftEnv): Promise<DriftRun[]> {
  const settle = input.settleSeconds ?? env.CAPTURE_SETTLE_SECONDS;
  if (input.model) return [await monitorModel(input.model, env, settle)];
  const registry = new Registry(env.REGISTRY_TABLE);
  const runs: DriftRun[] = [];
  for (const model of await registry.listModels()) {
    if (!(await registry.getAlias(model, 'champion'))) continue;
    runs.push(await monitorModel(model, env, settle));
  }
  return runs;
}
