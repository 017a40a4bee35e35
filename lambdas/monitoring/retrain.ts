/**
 * Closing the loop: when a monitor run finds data drift or a quality drop, start retraining the
 * model on its newest accepted dataset plus the labelled feedback collected since.
 *
 * The retraining is started the way every training starts: a dataset dropped under
 * datasets/<model>/ (here `retrain-<timestamp>.csv`: the newest accepted dataset's rows, read from
 * its splits, then one row per captured prediction with a feedback label since that dataset was
 * created), whose "Object Created" event the pipeline's rule matches, on AWS and locally alike. The
 * new rows make new bytes, so the pipeline trains (the same bytes would be a duplicate, and no
 * training); with fewer than RETRAIN_MIN_FEEDBACK_ROWS new labelled rows (default 1) no retraining
 * starts, since it would learn nothing new (0 allows it: the rows are then the same, in another
 * order, so the bytes still differ).
 *
 * The storm guard, on the model's registry META item:
 * - a lease: one conditional write takes it only when no unexpired lease exists and the cooldown
 *   has passed, so of two monitor runs at once only one starts a retraining; the lease is released
 *   when the retraining's pipeline run has finished (checked at the next monitor run), or expires
 *   after RETRAIN_LEASE_SECONDS (default 6 h) if its run never reports (a duplicate, a lost event);
 * - a cooldown: RETRAIN_COOLDOWN_SECONDS (default 24 h) from one retraining to the next.
 * Each retraining is recorded as a RETRAIN#<timestamp> item with its cause.
 */
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { Upload } from '@aws-sdk/lib-storage';
import { csvLine } from '../data/splits';
import { TARGET_METADATA_KEY } from '../data/ingest';
import type { CaptureRecord } from '../shared/capture-record';
import { s3Client } from '../shared/clients';
import type { DriftEnv } from '../shared/env';
import { parseS3Uri, s3Keys, s3Uri } from '../shared/layout';
import { newestAccepted, type DatasetRecord } from '../shared/registry/datasets';
import type { RetrainState } from '../shared/registry/leases';
import type { Registry } from '../shared/registry/registry';
import { getStream, listKeys, splitObjects } from '../shared/storage';
import { CaptureIndexer, predictionKey, readLabels } from './quality';

/** S3 metadata of a retraining dataset: why it was dropped, and the drift report that said so. */
export const RETRAIN_CAUSE_METADATA_KEY = 'mloop-retrain-cause';
export const RETRAIN_REPORT_METADATA_KEY = 'mloop-retrain-report';

export interface RetrainPolicy {
  readonly enabled: boolean;
  readonly cooldownSeconds: number;
  readonly leaseSeconds: number;
  readonly minFeedbackRows: number;
}

export function retrainPolicy(
  env: Pick<DriftEnv, 'RETRAIN_ON_DRIFT' | 'RETRAIN_COOLDOWN_SECONDS' | 'RETRAIN_LEASE_SECONDS' | 'RETRAIN_MIN_FEEDBACK_ROWS'>,
): RetrainPolicy {
  return {
    enabled: env.RETRAIN_ON_DRIFT === 'true',
    cooldownSeconds: env.RETRAIN_COOLDOWN_SECONDS,
    leaseSeconds: env.RETRAIN_LEASE_SECONDS,
    minFeedbackRows: env.RETRAIN_MIN_FEEDBACK_ROWS,
  };
}

export interface RetrainSignals {
  readonly dataDrift: boolean;
  readonly qualityDrop: boolean;
  readonly driftShare: number;
  readonly quality?: { readonly metric: string; readonly value: number | null; readonly reference: number | null } | null;
}

export type RetrainDecision =
  | { readonly action: 'retrain'; readonly cause: string }
  | { readonly action: 'skip'; readonly reason: string; readonly blockedBy: 'no-signal' | 'off' | 'window' | 'in-flight' | 'cooldown' };

function causeOf(signals: RetrainSignals): string {
  const parts: string[] = [];
  if (signals.dataDrift) parts.push(`data drift (share ${signals.driftShare.toFixed(2)} of features)`);
  if (signals.qualityDrop && signals.quality) {
    const q = signals.quality;
    parts.push(
      `quality drop (${q.metric} ${q.value === null ? '?' : q.value.toFixed(4)} against ${q.reference === null ? '?' : q.reference.toFixed(4)} at evaluation)`,
    );
  } else if (signals.qualityDrop) parts.push('quality drop');
  return parts.join(' and ');
}

/**
 * The policy's decision, a pure function of the signals, the state and the time. Order: no signal,
 * the policy off, an inspection window (`--window` runs never retrain), a retraining in flight
 * (an unexpired lease), the cooldown; else retrain.
 */
export function decideRetrain(input: {
  policy: RetrainPolicy;
  signals: RetrainSignals;
  state: RetrainState;
  now: Date;
  windowed?: boolean;
}): RetrainDecision {
  const { policy, signals, state, now } = input;
  if (!signals.dataDrift && !signals.qualityDrop)
    return { action: 'skip', reason: 'No data drift and no quality drop.', blockedBy: 'no-signal' };
  const cause = causeOf(signals);
  if (!policy.enabled)
    return { action: 'skip', reason: `${capitalize(cause)}, but retraining on drift is off (retrainOnDrift).`, blockedBy: 'off' };
  if (input.windowed)
    return { action: 'skip', reason: `${capitalize(cause)}; runs over a --window inspect and never retrain.`, blockedBy: 'window' };
  if (state.lease && Date.parse(state.lease.expiresAt) > now.getTime()) {
    return {
      action: 'skip',
      reason: `${capitalize(cause)}; a retraining started at ${state.lease.startedAt} is still in flight${state.lease.key ? ` (${state.lease.key})` : ''}.`,
      blockedBy: 'in-flight',
    };
  }
  if (state.lastRetrainAt) {
    const next = Date.parse(state.lastRetrainAt) + policy.cooldownSeconds * 1000;
    if (next > now.getTime()) {
      return {
        action: 'skip',
        reason: `${capitalize(cause)}; cooling down: the last retraining started at ${state.lastRetrainAt}, the next may start at ${new Date(next).toISOString()}.`,
        blockedBy: 'cooldown',
      };
    }
  }
  return { action: 'retrain', cause };
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// ---------------------------------------------------------------------------------------------
// The lease and the record, on the registry table (through `registry.leases`)
// ---------------------------------------------------------------------------------------------

export interface RetrainRecord {
  readonly model: string;
  readonly at: string;
  readonly cause: string;
  readonly signals: RetrainSignals;
  readonly datasetKey: string;
  readonly baseDatasetVersion: number;
  readonly feedbackRows: number;
  readonly baseRows: number;
  readonly driftReportUri: string;
  readonly modelVersion: number;
}

/**
 * Whether the retraining that holds the lease has finished: a run its dropped file started has
 * ended (SUCCEEDED, FAILED, or DUPLICATE: its bytes held no new data, so no dataset version names
 * the file and the run's `source` is what finds it), or the run of the dataset version it made.
 */
async function leaseFinished(registry: Registry, bucket: string, model: string, key: string): Promise<boolean> {
  const uri = s3Uri(bucket, key);
  if ((await registry.runs.ofSource(model, uri)).some((run) => run.status !== 'RUNNING')) return true;
  const dataset = (await registry.datasets.list(model)).find((d) => d.s3Uri === uri);
  if (!dataset) return false;
  const run = await registry.runs.get(model, dataset.sourceEvent.execution);
  return run !== undefined && run.status !== 'RUNNING';
}

// ---------------------------------------------------------------------------------------------
// The retraining dataset
// ---------------------------------------------------------------------------------------------

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'string' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}

async function splitHeader(uri: string): Promise<string[]> {
  const { bucket, key } = parseS3Uri(uri);
  const lines = createInterface({ input: await getStream(bucket, key), crlfDelay: Infinity });
  for await (const line of lines) {
    lines.close();
    return line.split(',').map((c) => c.replace(/^"(.*)"$/, '$1').replace(/""/g, '"'));
  }
  throw new Error(`${uri} is empty: a split has at least its header.`);
}

/** Rows (CSV lines, in `header` order) of captured predictions since `since` that have a feedback label. */
export async function labelledRows(bucket: string, model: string, header: string[], target: string, since: Date): Promise<string[]> {
  const labels = await readLabels(bucket, model, since);
  if (labels.labels.size === 0) return [];
  const startAfter = s3Keys.capture(model, since, '').replace(/[^/]*$/, '');
  const keys = await listKeys(bucket, s3Keys.captureModelPrefix(model), startAfter);
  const rows: string[] = [];
  const seen = new Set<string>();
  for (const key of keys) {
    const indexer = new CaptureIndexer();
    const lines = createInterface({ input: await getStream(bucket, key), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      let record: CaptureRecord;
      try {
        record = JSON.parse(line) as CaptureRecord;
      } catch {
        continue;
      }
      const join = predictionKey(record.requestId, indexer.next(record));
      const label = labels.labels.get(join);
      if (label === undefined || seen.has(join)) continue;
      seen.add(join);
      rows.push(csvLine(header.map((column) => (column === target ? String(label) : cell(record.instance?.[column])))));
    }
  }
  return rows;
}

/** The lines of the dataset's splits (one header), then the extra rows. */
async function* datasetLines(dataset: DatasetRecord, extra: string[], counter: { base: number }): AsyncGenerator<string> {
  const splits = dataset.splits!;
  let first = true;
  const objects = (await Promise.all([splits.train, splits.validation, splits.test].map(splitObjects))).flat();
  for (const { bucket, key } of objects) {
    const lines = createInterface({ input: await getStream(bucket, key), crlfDelay: Infinity });
    let header = true;
    for await (const line of lines) {
      if (header) {
        header = false;
        if (!first) continue;
        first = false;
      } else {
        if (line === '') continue;
        counter.base++;
      }
      yield `${line}\n`;
    }
  }
  for (const row of extra) yield row;
}

export interface RetrainOutcome {
  readonly action: 'retrain' | 'skip';
  /** Why it retrained (the signals) or why not. */
  readonly reason: string;
  readonly blockedBy?: string;
  readonly datasetKey?: string;
  readonly datasetUri?: string;
  readonly baseDatasetVersion?: number;
  readonly feedbackRows?: number;
  /** A finished retraining whose lease this run released. */
  readonly released?: string;
}

export interface RetrainContext {
  readonly env: DriftEnv;
  readonly registry: Registry;
  readonly model: string;
  readonly modelVersion: number;
  readonly target: string;
  readonly signals: RetrainSignals;
  readonly driftReportUri: string;
  readonly now: Date;
  readonly windowed: boolean;
}

/** Apply the policy after a monitor run: release a finished lease, decide, and maybe retrain. */
export async function applyRetrainPolicy(ctx: RetrainContext): Promise<RetrainOutcome> {
  const { env, registry, model, now } = ctx;
  const policy = retrainPolicy(env);
  let state = await registry.leases.retrainingState(model);
  let released: string | undefined;
  if (
    state.lease?.key &&
    Date.parse(state.lease.expiresAt) > now.getTime() &&
    (await leaseFinished(registry, env.DATA_BUCKET, model, state.lease.key))
  ) {
    if (await registry.leases.releaseRetraining(model, state.lease.id)) released = state.lease.key;
    state = { lastRetrainAt: state.lastRetrainAt };
  }
  const decision = decideRetrain({ policy, signals: ctx.signals, state, now, windowed: ctx.windowed });
  if (decision.action === 'skip') return { action: 'skip', reason: decision.reason, blockedBy: decision.blockedBy, released };

  const dataset = newestAccepted(await registry.datasets.list(model));
  if (!dataset)
    return {
      action: 'skip',
      reason: `${decision.cause}, but the model has no accepted dataset with splits to retrain on.`,
      blockedBy: 'no-dataset',
      released,
    };
  const id = randomUUID();
  if (!(await registry.leases.acquireRetraining(model, id, now, policy))) {
    return {
      action: 'skip',
      reason: 'Another monitor run took the retraining lease first (or the cooldown has not passed).',
      blockedBy: 'in-flight',
      released,
    };
  }
  try {
    const header = await splitHeader(dataset.splits!.train);
    const extra = await labelledRows(env.DATA_BUCKET, model, header, ctx.target, new Date(dataset.createdAt));
    if (extra.length < policy.minFeedbackRows) {
      await registry.leases.releaseRetraining(model, id);
      return {
        action: 'skip',
        reason: `${capitalize(decision.cause)}, but only ${extra.length} new labelled row${extra.length === 1 ? '' : 's'} since dataset version ${dataset.version} (a retraining needs ${policy.minFeedbackRows}: send feedback to POST /v1/models/${model}/feedback).`,
        blockedBy: 'no-feedback',
        released,
      };
    }
    const key = s3Keys.dataset(model, `retrain-${now.toISOString().replace(/[:.]/g, '-')}.csv`);
    const counter = { base: 0 };
    await new Upload({
      client: s3Client(),
      params: {
        Bucket: env.DATA_BUCKET,
        Key: key,
        Body: Readable.from(datasetLines(dataset, extra, counter)),
        ContentType: 'text/csv',
        Metadata: {
          [TARGET_METADATA_KEY]: ctx.target,
          [RETRAIN_CAUSE_METADATA_KEY]: [ctx.signals.dataDrift ? 'data-drift' : '', ctx.signals.qualityDrop ? 'quality-drop' : '']
            .filter(Boolean)
            .join(','),
          [RETRAIN_REPORT_METADATA_KEY]: parseS3Uri(ctx.driftReportUri).key,
        },
      },
    }).done();
    await registry.leases.recordRetraining(id, {
      model,
      at: now.toISOString(),
      cause: decision.cause,
      signals: ctx.signals,
      datasetKey: key,
      baseDatasetVersion: dataset.version,
      feedbackRows: extra.length,
      baseRows: counter.base,
      driftReportUri: ctx.driftReportUri,
      modelVersion: ctx.modelVersion,
    });
    return {
      action: 'retrain',
      reason: capitalize(decision.cause),
      datasetKey: key,
      datasetUri: s3Uri(env.DATA_BUCKET, key),
      baseDatasetVersion: dataset.version,
      feedbackRows: extra.length,
      released,
    };
  } catch (error) {
    await registry.leases.releaseRetraining(model, id).catch(() => false);
    throw error;
  }
}
