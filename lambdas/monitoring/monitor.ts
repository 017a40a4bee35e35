/**
 * The drift monitor's run: for each model with a champion, read the inputs captured since the
 * last run (a watermark on the time-ordered capture keys) or in a given window, and compare them
 * with the champion's training profile feature by feature (drift.ts); compare its outputs with its
 * outputs on the test split (the prediction profile, lambdas/registry/prediction-profile.ts); join
 * them with feedback labels and score them (quality.ts); apply the retraining policy (retrain.ts);
 * and write the report (S3, JSON and HTML: drift-run.ts, html.ts), a record (DynamoDB) and metrics
 * (CloudWatch, through Embedded Metric Format).
 *
 * Captures stream through once; the memory of a run is the per-bin counts of each feature plus the
 * labels of the window's feedback, independent of the number of captured rows.
 */
import { createInterface } from 'node:readline';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DriftEnv } from '../shared/env';
import { ModelNotFound } from '../shared/errors';
import { parseS3Uri, s3Keys, s3Uri } from '../shared/layout';
import { metricsFor } from '../shared/observability';
import { Registry } from '../shared/registry/registry';
import { getJson, getStream, listKeys, putBytes, putJson } from '../shared/storage';
import { derivedFeatureFiller } from '../shared/model-inputs';
import type { DatasetProfile, ModelCard } from '../shared/types';
import type { CaptureRecord } from '../shared/capture-record';
import { predictionColumns, predictionProfileKey, predictionRow } from '../registry/prediction-profile';
import { parseDriftConfig, parseWindow, resolveDriftConfig, type ResolvedDriftConfig } from './config';
import { DriftAccumulator } from './drift';
import type { DriftRun, PredictionDrift } from './drift-run';
import { renderDriftHtml } from './html';
import { CaptureIndexer, QualityAccumulator, readLabels } from './quality';
import { applyRetrainPolicy } from './retrain';

export interface DriftInput {
  /** One model; all models with a champion when absent (the schedule's case). */
  readonly model?: string;
  /**
   * Captures newer than this many seconds are left for the next run, so that a request captured
   * by a slower container is not skipped by the watermark. Default: CAPTURE_SETTLE_SECONDS.
   */
  readonly settleSeconds?: number;
  /**
   * Monitor the captures of this last period ("30m", "24h", "7d", or seconds) instead of those since
   * the watermark: an inspection, which neither moves the watermark nor starts a retraining.
   */
  readonly window?: string | number;
}

export interface MonitorOptions {
  readonly settleSeconds: number;
  readonly windowSeconds?: number;
  readonly windowLabel?: string;
  readonly now?: Date;
}

/** The epoch milliseconds in a capture key (…/<15-digit ms>-<id>.jsonl). */
function captureTime(key: string): Date | undefined {
  const m = /\/(\d{15})-[^/]*$/.exec(key);
  return m ? new Date(Number(m[1])) : undefined;
}

function configOf(env: DriftEnv, model: string): ResolvedDriftConfig {
  return resolveDriftConfig(parseDriftConfig(env.DRIFT_CONFIG), model, {
    psiThreshold: env.DRIFT_THRESHOLD,
    driftShare: env.DRIFT_SHARE_THRESHOLD,
  });
}

export async function monitorModel(model: string, env: DriftEnv, options: MonitorOptions): Promise<DriftRun> {
  const now = options.now ?? new Date();
  const registry = new Registry(env.REGISTRY_TABLE);
  const [meta, alias] = await Promise.all([registry.models.get(model), registry.aliases.get(model, 'champion')]);
  if (!meta) throw new ModelNotFound(`Model '${model}' is not in the registry.`);
  if (!alias) throw new ModelNotFound(`Model '${model}' has no champion yet: there is nothing serving to monitor.`);
  const version = await registry.versions.get(model, alias.version);
  if (!version) throw new ModelNotFound(`Model '${model}' has no version ${alias.version}.`);
  const dataset = await registry.datasets.get(model, version.lineage.datasetVersion);
  if (!dataset?.profileUri) throw new ModelNotFound(`Dataset version ${version.lineage.datasetVersion} of '${model}' has no profile.`);
  const config = configOf(env, model);

  const profileAt = parseS3Uri(dataset.profileUri);
  const cardAt = parseS3Uri(version.artifact.cardUri);
  const [profile, card] = await Promise.all([
    getJson<DatasetProfile>(profileAt.bucket, profileAt.key),
    getJson<ModelCard>(cardAt.bucket, cardAt.key),
  ]);
  const accumulator = new DriftAccumulator(
    card.features.map((f) => ({ name: f.name, type: f.type })),
    profile,
  );

  // The prediction-drift baseline Evaluate stored beside the candidate (absent for older versions).
  const outputs = predictionColumns(card);
  let predictions: DriftAccumulator | null = null;
  let predictionDriftWarning: string | undefined;
  try {
    const outputProfile = await getJson<DatasetProfile>(env.DATA_BUCKET, predictionProfileKey(model, version.lineage.execution));
    predictions = new DriftAccumulator(outputs, outputProfile);
  } catch (error) {
    predictionDriftWarning = `No prediction profile for version ${alias.version} (${(error as Error).name === 'NoSuchKey' ? 'evaluated before prediction profiles were kept' : (error as Error).message}): prediction drift was not tested.`;
  }

  // Keys sort by capture time; stop at the settle horizon so the watermark never skips a late write.
  const horizon = s3Keys.capture(model, new Date(now.getTime() - options.settleSeconds * 1000), '');
  const windowed = options.windowSeconds !== undefined;
  const from = windowed ? new Date(now.getTime() - options.windowSeconds! * 1000) : undefined;
  const startAfter = from ? s3Keys.capture(model, from, '') : meta.driftWatermark;
  const keys = (await listKeys(env.DATA_BUCKET, s3Keys.captureModelPrefix(model), startAfter)).filter((key) => key < horizon);

  // Feedback for the window's predictions is newer than their requests; capture objects are named
  // by their flush time, which may follow a request (and its feedback) by a little: one hour back.
  const first = from ?? (keys.length > 0 ? captureTime(keys[0]) : undefined);
  const since = first ? new Date(first.getTime() - 3600_000) : undefined;
  const labels = keys.length > 0 ? await readLabels(env.DATA_BUCKET, model, since) : { labels: new Map(), objects: 0 };
  const quality = new QualityAccumulator(card, labels);

  // The features the model saw: a date-time's derived ones computed as serving computed them.
  const withDerived = derivedFeatureFiller(card);
  const rowsBySource = { api: 0, batch: 0 };
  for (const key of keys) {
    const indexer = new CaptureIndexer();
    const lines = createInterface({ input: await getStream(env.DATA_BUCKET, key), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      const record = JSON.parse(line) as CaptureRecord;
      // Lines written before `source` existed came from the API.
      if (record.source === 'batch') rowsBySource.batch++;
      else rowsBySource.api++;
      accumulator.add(withDerived(record.instance ?? {}));
      if (predictions) predictions.add(predictionRow(outputs, record.prediction));
      quality.add(record.requestId, indexer.next(record), record.prediction);
    }
  }

  const report = accumulator.report({
    test: config.test,
    thresholds: config.thresholds,
    features: config.features,
    driftShareThreshold: config.driftShare,
    nullShareThreshold: config.nullShareThreshold,
    now,
  });
  let predictionDrift: PredictionDrift | null = null;
  if (predictions) {
    const outputReport = predictions.report({
      thresholds: config.thresholds,
      driftShareThreshold: config.driftShare,
      nullShareThreshold: config.nullShareThreshold,
      now,
    });
    predictionDrift = {
      detected: outputReport.datasetDrift,
      driftShare: outputReport.driftShare,
      driftShareThreshold: outputReport.driftShareThreshold,
      rows: outputReport.rows,
      features: outputReport.features,
    };
  }
  const qualityReport = labels.objects > 0 ? quality.report(version.metrics, config.quality) : null;

  const reportKey = s3Keys.driftReport(model, now);
  const htmlKey = reportKey.replace(/\.json$/, '.html');
  const reportUri = s3Uri(env.DATA_BUCKET, reportKey);

  const retrain = await applyRetrainPolicy({
    env,
    registry,
    model,
    modelVersion: alias.version,
    target: (await registry.models.schemaOf(meta))?.target ?? card.target,
    signals: {
      dataDrift: report.datasetDrift,
      qualityDrop: qualityReport?.dropped ?? false,
      driftShare: report.driftShare,
      quality: qualityReport ? { metric: qualityReport.metric, value: qualityReport.value, reference: qualityReport.reference } : null,
    },
    driftReportUri: reportUri,
    now,
    windowed,
  });

  const run: DriftRun = {
    model,
    modelVersion: alias.version,
    datasetVersion: version.lineage.datasetVersion,
    captureObjects: keys.length,
    rowsBySource,
    ...report,
    window: {
      mode: windowed ? 'window' : 'watermark',
      ...(windowed ? { seconds: options.windowSeconds, label: options.windowLabel } : {}),
      from: from ? from.toISOString() : meta.driftWatermark ? (captureTime(meta.driftWatermark)?.toISOString() ?? null) : null,
      to: new Date(now.getTime() - options.settleSeconds * 1000).toISOString(),
    },
    config: { test: config.test, nullShareThreshold: config.nullShareThreshold },
    predictionDrift,
    ...(predictionDriftWarning ? { predictionDriftWarning } : {}),
    quality: qualityReport,
    retrain,
    report: { json: reportUri, html: s3Uri(env.DATA_BUCKET, htmlKey) },
  };
  await putJson(env.DATA_BUCKET, reportKey, run);
  await putBytes(env.DATA_BUCKET, htmlKey, renderDriftHtml(run), 'text/html; charset=utf-8');
  const record = {
    model,
    at: now.toISOString(),
    modelVersion: alias.version,
    datasetVersion: run.datasetVersion,
    rows: report.rows,
    datasetDrift: report.datasetDrift,
    driftShare: report.driftShare,
    reportUri,
    htmlUri: run.report.html,
    window: run.window.mode,
    nullShareDrift: report.nullShareDrift,
    predictionDrift: predictionDrift?.detected ?? null,
    qualityDrop: qualityReport?.dropped ?? null,
    quality: qualityReport?.value ?? null,
    retrain: retrain.action,
  };
  // A window is an inspection: it leaves the watermark where the scheduled runs put it.
  await registry.drift.put(record, !windowed && keys.length > 0 ? keys[keys.length - 1] : undefined);

  publishMetrics(env.METRICS_NAMESPACE, run);
  return run;
}

/**
 * CloudWatch metrics, as Embedded Metric Format log lines:
 * - per model (dimensions service, model): DriftShare, DatasetDrift, DriftedFeatures, NullShareDrift,
 *   CapturedRows, PredictionDrift, QualityDrop, LabelledRows, Quality_<metric>, RetrainStarted;
 * - per feature (service, model, feature): FeatureDriftStatistic, FeatureDriftPValue (p-value
 *   tests), FeatureDrifted;
 * - across models (service only), for the alarms: DatasetDrift, DriftShare, QualityDrop,
 *   PredictionDrift (their Maximum over a period is the worst model's).
 */
function publishMetrics(namespace: string, run: DriftRun): void {
  const perModel = metricsFor(namespace);
  perModel.addDimension('model', run.model);
  perModel.addMetric('DriftShare', MetricUnit.Count, run.driftShare);
  perModel.addMetric('DatasetDrift', MetricUnit.Count, run.datasetDrift ? 1 : 0);
  perModel.addMetric('DriftedFeatures', MetricUnit.Count, run.drifted);
  perModel.addMetric('NullShareDrift', MetricUnit.Count, run.features.filter((f) => f.nullShare.drifted).length);
  perModel.addMetric('CapturedRows', MetricUnit.Count, run.rows);
  if (run.predictionDrift) perModel.addMetric('PredictionDrift', MetricUnit.Count, run.predictionDrift.detected ? 1 : 0);
  if (run.quality) {
    perModel.addMetric('LabelledRows', MetricUnit.Count, run.quality.rows);
    if (run.quality.value !== null) {
      perModel.addMetric('QualityDrop', MetricUnit.Count, run.quality.dropped ? 1 : 0);
      for (const [name, value] of Object.entries(run.quality.metrics))
        if (Number.isFinite(value)) perModel.addMetric(`Quality_${name}`, MetricUnit.NoUnit, value);
    }
  }
  perModel.addMetric('RetrainStarted', MetricUnit.Count, run.retrain?.action === 'retrain' ? 1 : 0);
  perModel.publishStoredMetrics();

  for (const feature of run.features) {
    if (feature.statistic === null) continue;
    const single = metricsFor(namespace);
    single.addDimensions({ model: run.model, feature: feature.name });
    single.addMetric('FeatureDriftStatistic', MetricUnit.NoUnit, Math.min(feature.statistic, 1e300));
    if (feature.pValue !== null) single.addMetric('FeatureDriftPValue', MetricUnit.NoUnit, feature.pValue);
    single.addMetric('FeatureDrifted', MetricUnit.Count, feature.drifted ? 1 : 0);
    single.publishStoredMetrics();
  }

  const aggregate = metricsFor(namespace);
  aggregate.addMetric('DatasetDrift', MetricUnit.Count, run.datasetDrift ? 1 : 0);
  aggregate.addMetric('DriftShare', MetricUnit.Count, run.driftShare);
  if (run.quality?.value !== null && run.quality !== null)
    aggregate.addMetric('QualityDrop', MetricUnit.Count, run.quality.dropped ? 1 : 0);
  if (run.predictionDrift) aggregate.addMetric('PredictionDrift', MetricUnit.Count, run.predictionDrift.detected ? 1 : 0);
  aggregate.publishStoredMetrics();
}

export async function runDriftMonitor(input: DriftInput, env: DriftEnv, now?: Date): Promise<DriftRun[]> {
  const settleSeconds = input.settleSeconds ?? env.CAPTURE_SETTLE_SECONDS;
  const options: MonitorOptions = {
    settleSeconds,
    now,
    ...(input.window !== undefined ? { windowSeconds: parseWindow(input.window), windowLabel: String(input.window) } : {}),
  };
  if (input.model) return [await monitorModel(input.model, env, options)];
  const registry = new Registry(env.REGISTRY_TABLE);
  const runs: DriftRun[] = [];
  for (const model of await registry.models.list()) {
    if (!(await registry.aliases.get(model, 'champion'))) continue;
    runs.push(await monitorModel(model, env, options));
  }
  return runs;
}
