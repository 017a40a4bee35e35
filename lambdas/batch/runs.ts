/**
 * A batch scoring run in S3: the states of the batch state machine (lib/batch.ts).
 *
 *   Plan batch     planBatch: the model version that scores (fixed for the whole run), the
 *                  file's format and parts, the SHA-256 of its bytes; plan.json under
 *                  batch-parts/<model>/<run>/
 *   Score parts    a Distributed Map of scorePlanPart: one part's rows into
 *                  predictions/<model>/<run>/part-<index>.csv (or .jsonl), its rejected rows into
 *                  the working folder
 *                  and a seeded sample of its scored rows for the drift monitor (capture-sample.ts)
 *   Merge batch    mergeBatch: the rejected rows with their lines in the file, into
 *                  errors/<model>/<run>/part-<index>.jsonl; rows in = scored + rejected, checked;
 *                  the parts' samples as one capture object (source: batch) under capture/<model>/;
 *                  manifest.json beside the predictions
 *
 * The run is the execution's name (one per object version, lambdas/batch/start.ts). A part run
 * again (a Map retry) writes the same bytes to the same keys: the version is fixed in the plan
 * and the output depends on nothing else.
 */
import { createHash } from 'node:crypto';
import { CsvRecordCuts, partsAtCuts } from './record-cuts';
import { PassThrough, type Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { formatFromName, isGzip, isParquet } from '../data/formats';
import { parquetLayout } from '../data/parquet-file';
import { partLayout } from '../data/part-scan';
import { parquetPartRanges, partRanges } from '../data/parts';
import { s3RangeSource } from '../data/s3-source';
import type { ModelServer } from '../inference/serving';
import { s3Client } from '../shared/clients';
import type { BatchEnv } from '../shared/env';
import { BatchInputInvalid } from '../shared/errors';
import { BATCH_PARTS_PREFIX, BATCH_PREFIX, MODEL_NAME_PATTERN, ALIAS_NAME_PATTERN, parseS3Uri, s3Keys, s3Uri } from '../shared/layout';
import { inputFields } from '../shared/model-inputs';
import { publishOrLog, type EventTargets } from '../shared/events';
import { getBytes, getJson, head, isMissingObject, putBytes, putJson, upload } from '../shared/storage';
import { batchCaptureRecords, partSampleSize, Reservoir, sampleLines, type SampledRow } from './capture-sample';
import { batchCompletedEvent } from './events';
import { textPartFrom, type FileLayout, type PartRange } from './part-rows';
import { scorePart, type PartCounts, type RejectedRow } from './score-part';

/** S3 user metadata of a dropped file: which version scores it (else the champion), and an id column to write instead of all. */
export const BATCH_METADATA = {
  version: 'mloop-version',
  alias: 'mloop-alias',
  idColumn: 'mloop-id-column',
  force: 'mloop-force',
} as const;

/** Bytes read from a text file's start for its header and line end. */
const LAYOUT_HEAD_BYTES = 1024 * 1024;

export interface BatchObject {
  readonly bucket: string;
  readonly key: string;
  readonly versionId?: string;
}

/** plan.json: what every part and the merge need. */
export interface BatchPlan {
  readonly run: string;
  readonly input: BatchObject & { readonly fileName: string; readonly etag?: string; readonly sha256: string; readonly bytes: number };
  readonly model: { readonly name: string; readonly version: number; readonly alias: string | null };
  readonly layout: FileLayout;
  readonly parts: readonly PartRange[];
  readonly idColumn?: string;
  readonly plannedAt: string;
}

/** What Plan batch answers: the parts travel in the execution state for the Map. */
export interface PlanOutput {
  readonly plan: string;
  readonly model: string;
  readonly version: number;
  readonly parts: readonly PartRange[];
  /** The same bytes were scored by the same version already: that run's answer, and nothing is scored again. */
  readonly duplicate?: BatchSummary;
}

/** What Merge batch answers, and the manifest's counts. */
export interface BatchSummary {
  /** DUPLICATE: the same bytes were scored by the same version before; the outputs are that run's. */
  readonly status: 'SUCCEEDED' | 'DUPLICATE';
  /** The run whose outputs these are (this execution's, or the earlier run's for a DUPLICATE). */
  readonly run: string;
  readonly model: string;
  readonly version: number;
  readonly rowsIn: number;
  readonly rowsScored: number;
  readonly rowsRejected: number;
  readonly predictions: string;
  readonly errors: string;
  readonly manifest: string;
  /** Scored rows written for the drift monitor (a sample: capture-sample.ts). */
  readonly captured: number;
}

/** What Score part answers: the part's counts and how many of its rows it sampled for the drift monitor. */
export interface PartResult extends PartCounts {
  readonly captured: number;
}

/** The model and file of `batch/<model>/<file>`. */
export function parseBatchKey(key: string): { model: string; fileName: string } {
  const parts = key.split('/');
  if (parts.length < 3 || `${parts[0]}/` !== BATCH_PREFIX || parts[parts.length - 1] === '' || !MODEL_NAME_PATTERN.test(parts[1]))
    throw new BatchInputInvalid(
      `Object key '${key}' is not a file to score: expected ${BATCH_PREFIX}<model-name>/<file>, the model name in lower-case letters, digits and dashes.`,
    );
  return { model: parts[1], fileName: parts.slice(2).join('/') };
}

/** Which version the metadata asks for: `mloop-version` (a positive integer) or `mloop-alias`, champion by default. */
export function targetOf(metadata: Record<string, string | undefined>): { version?: number; alias?: string } {
  const version = metadata[BATCH_METADATA.version];
  const alias = metadata[BATCH_METADATA.alias];
  if (version !== undefined && alias !== undefined)
    throw new BatchInputInvalid(`The file names both ${BATCH_METADATA.version} and ${BATCH_METADATA.alias} in its metadata; give one.`);
  if (version !== undefined) {
    if (!/^[1-9][0-9]*$/.test(version))
      throw new BatchInputInvalid(`Metadata ${BATCH_METADATA.version} must be a positive integer, got '${version}'.`);
    return { version: Number(version) };
  }
  if (alias !== undefined) {
    if (!ALIAS_NAME_PATTERN.test(alias))
      throw new BatchInputInvalid(`Metadata ${BATCH_METADATA.alias} '${alias}' is not a valid alias name.`);
    return { alias };
  }
  return {};
}

async function sha256Of(object: BatchObject, cuts?: CsvRecordCuts): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const out = await s3Client().send(new GetObjectCommand({ Bucket: object.bucket, Key: object.key, VersionId: object.versionId }));
  for await (const chunk of out.Body as Readable) {
    hash.update(chunk as Buffer);
    cuts?.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** The file's layout and parts: gzip is one part; Parquet runs of row groups; CSV and JSON Lines byte ranges cut at line feeds. */
async function layoutAndParts(
  object: BatchObject,
  fileName: string,
  size: number,
  env: BatchEnv,
): Promise<{ layout: FileLayout; parts: PartRange[] }> {
  const named = formatFromName(fileName);
  const whole = (layout: FileLayout) => ({ layout, parts: [{ index: 0, start: 0, end: size }] });
  if (size === 0) return whole({ format: named.format === 'parquet' ? 'csv' : named.format, gzip: false, size });
  const head = await s3RangeSource(object.bucket, object.key, object.versionId, size).read(0, Math.min(size, LAYOUT_HEAD_BYTES));
  const headBuf = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (isGzip(headBuf)) return whole({ format: named.format === 'parquet' ? 'csv' : named.format, gzip: true, size });
  if (named.format === 'parquet' || isParquet(headBuf)) {
    let groups: { rows: number; bytes: number }[];
    try {
      const { metadata } = await parquetLayout(s3RangeSource(object.bucket, object.key, object.versionId, size));
      groups = metadata.row_groups.map((g) => ({ rows: Number(g.num_rows), bytes: Number(g.total_compressed_size ?? g.total_byte_size) }));
    } catch (error) {
      throw new BatchInputInvalid(`${fileName} is not a readable Parquet file (${(error as Error).message}).`);
    }
    const layout: FileLayout = { format: 'parquet', gzip: false, size };
    if (groups.length === 0) return { layout, parts: [{ index: 0, start: 0, end: 0 }] };
    return { layout, parts: parquetPartRanges(groups, env.PART_BYTES, env.MAX_PARTS).parts };
  }
  const format = named.format === 'jsonl' ? 'jsonl' : 'csv';
  const found = await partLayout(headBuf, format);
  // No line end within the first MiB (or CR-only line ends): one part, read whole.
  if (found === undefined) return whole({ format, gzip: false, size });
  const layout: FileLayout = {
    format,
    gzip: false,
    size,
    ...(found.header ? { header: found.header } : {}),
    ...(found.delimiter ? { delimiter: found.delimiter } : {}),
    ...(found.recordDelimiter ? { recordDelimiter: found.recordDelimiter } : {}),
  };
  return { layout, parts: partRanges(size, env.PART_BYTES, env.MAX_PARTS).parts };
}

/**
 * 'Plan batch': the version that scores the whole run (resolved once, so that a promotion during
 * the run changes nothing), the parts, the hash; plan.json.
 */
export async function planBatch(object: BatchObject, execution: string, server: ModelServer, env: BatchEnv): Promise<PlanOutput> {
  const { model, fileName } = parseBatchKey(object.key);
  const meta = await head(object.bucket, object.key, object.versionId);
  const metadata = meta.Metadata ?? {};
  const target = targetOf(metadata);
  const served = await server.get(model, target);
  const size = meta.ContentLength ?? 0;
  const laidOut = await layoutAndParts(object, fileName, size, env);
  const { layout } = laidOut;
  // A CSV in parts: each part starts after a line feed outside quoted fields (record-cuts.ts),
  // found in the same pass as the hash.
  const cuts =
    layout.format === 'csv' && !layout.gzip && laidOut.parts.length > 1
      ? new CsvRecordCuts(laidOut.parts.slice(1).map((p) => p.start))
      : undefined;
  const { sha256, bytes } = await sha256Of(object, cuts);
  const parts = cuts ? partsAtCuts(size, cuts.cuts) : laidOut.parts;
  if (bytes !== size)
    throw new Error(`${object.key} read as ${bytes} bytes, not the ${size} its HEAD reported: was it overwritten without versioning?`);
  // The same bytes and the same version give the same predictions: answer the run that made them, unless forced.
  // (An id column asked for by a re-drop does not change this: the earlier run's outputs are the answer.)
  if (metadata[BATCH_METADATA.force] !== 'true') {
    const earlier = await earlierRun(object.bucket, model, sha256, served.version);
    if (earlier !== undefined)
      return { plan: '', model, version: served.version, parts: [], duplicate: { ...earlier, status: 'DUPLICATE' } };
  }
  const idColumn = metadata[BATCH_METADATA.idColumn] || undefined;
  const plan: BatchPlan = {
    run: execution,
    input: { ...object, fileName, ...(meta.ETag ? { etag: meta.ETag } : {}), sha256, bytes },
    model: { name: model, version: served.version, alias: target.version !== undefined ? null : (target.alias ?? 'champion') },
    layout,
    parts,
    ...(idColumn !== undefined ? { idColumn } : {}),
    plannedAt: new Date().toISOString(),
  };
  const key = `${s3Keys.batchPartsPrefix(model, execution)}plan.json`;
  await putJson(object.bucket, key, plan);
  return { plan: s3Uri(object.bucket, key), model, version: served.version, parts };
}

/**
 * Which run scored these bytes with this version: written by the merge of a run that succeeded,
 * read by the plan of a later drop (batch-parts/<model>/content/<sha256>-v<version>.json).
 */
const contentKey = (model: string, sha256: string, version: number): string =>
  `${BATCH_PARTS_PREFIX}${model}/content/${sha256}-v${String(version).padStart(6, '0')}.json`;

/** The summary of the run that scored these bytes with this version, if one succeeded. */
async function earlierRun(bucket: string, model: string, sha256: string, version: number): Promise<BatchSummary | undefined> {
  try {
    return await getJson<BatchSummary>(bucket, contentKey(model, sha256, version));
  } catch (error) {
    if (isMissingObject(error)) return undefined;
    throw error;
  }
}

async function readPlan(uri: string): Promise<BatchPlan> {
  const { bucket, key } = parseS3Uri(uri);
  return getJson<BatchPlan>(bucket, key);
}

const workErrorsKey = (plan: BatchPlan, index: number): string =>
  `${s3Keys.batchPartsPrefix(plan.model.name, plan.run)}errors-${String(index).padStart(5, '0')}.jsonl`;
const workSampleKey = (plan: BatchPlan, index: number): string =>
  `${s3Keys.batchPartsPrefix(plan.model.name, plan.run)}capture-${String(index).padStart(5, '0')}.jsonl`;
/** Where the merge records the capture key it chose, so that a retried merge rewrites that object instead of adding one. */
const captureKeyRecord = (plan: BatchPlan): string => `${s3Keys.batchPartsPrefix(plan.model.name, plan.run)}capture-key.json`;

async function objectStream(object: BatchObject, start: number): Promise<Readable> {
  const out = await s3Client().send(
    new GetObjectCommand({
      Bucket: object.bucket,
      Key: object.key,
      VersionId: object.versionId,
      ...(start > 0 ? { Range: `bytes=${start}-` } : {}),
    }),
  );
  return out.Body as Readable;
}

/** 'Score part': one part's predictions, and its rejected rows into the working folder. */
export async function scorePlanPart(planUri: string, part: PartRange, server: ModelServer, env: BatchEnv): Promise<PartResult> {
  const plan = await readPlan(planUri);
  const { input, layout } = plan;
  const served = await server.get(plan.model.name, { version: plan.model.version });
  const ext = layout.format === 'jsonl' ? 'jsonl' : 'csv';
  const predictions = new PassThrough();
  const errors = new PassThrough();
  const uploads = [
    upload(
      input.bucket,
      s3Keys.predictionsPart(plan.model.name, plan.run, part.index, ext),
      predictions,
      ext === 'csv' ? 'text/csv' : 'application/x-ndjson',
    ),
    upload(input.bucket, workErrorsKey(plan, part.index), errors, 'application/x-ndjson'),
  ];
  const from = layout.gzip ? 0 : textPartFrom(part);
  const source =
    layout.format === 'parquet'
      ? { parquet: s3RangeSource(input.bucket, input.key, input.versionId, input.bytes) }
      : { text: { stream: await objectStream(input, from), from } };
  // Seeded by the run and the part: a retried part samples the same rows.
  const reservoir = new Reservoir(partSampleSize(env.BATCH_CAPTURE_ROWS, plan.parts.length), `${plan.run}/${part.index}`);
  const [counts] = await Promise.all([
    scorePart(
      source,
      layout,
      part,
      served.runtime,
      { predictions, errors },
      {
        batchRows: env.SCORE_BATCH_ROWS,
        ...(plan.idColumn ? { idColumn: plan.idColumn } : {}),
        sampler: reservoir,
      },
    ),
    ...uploads,
  ]);
  // The drift monitor reads the model's inputs only: a row's other columns (ids, the target) are left out.
  const features = inputFields(served.runtime.card).map((f) => f.name);
  const sample = reservoir.sample().map((r) => ({
    ...r,
    instance: Object.fromEntries(features.filter((f) => Object.hasOwn(r.instance, f)).map((f) => [f, r.instance[f]])),
  }));
  if (sample.length > 0) await putBytes(input.bucket, workSampleKey(plan, part.index), sampleLines(sample), 'application/x-ndjson');
  return { ...counts, captured: sample.length };
}

/** The capture key of a run: the one a previous attempt of the merge chose, else one named by now (keys sort by write time). */
async function captureKeyOf(plan: BatchPlan, now: Date): Promise<string> {
  const record = captureKeyRecord(plan);
  try {
    return (await getJson<{ key: string }>(plan.input.bucket, record)).key;
  } catch (error) {
    if (!isMissingObject(error)) throw error;
  }
  const key = s3Keys.capture(plan.model.name, now, `batch-${plan.run}`);
  await putJson(plan.input.bucket, record, { key });
  return key;
}

/** The manifest beside a run's predictions. */
export interface BatchManifest {
  readonly run: string;
  readonly model: BatchPlan['model'];
  readonly input: BatchPlan['input'] & { readonly format: string; readonly gzip: boolean };
  readonly rowsIn: number;
  readonly rowsScored: number;
  readonly rowsRejected: number;
  readonly parts: (PartResult & { readonly predictions: string; readonly errors: string | null })[];
  /** The sample of scored rows the drift monitor reads, or null when none was taken. */
  readonly capture: { readonly rows: number; readonly key: string } | null;
  readonly timings: {
    readonly plannedAt: string;
    readonly mergedAt: string;
    readonly wallMs: number;
    readonly partsTotalMs: number;
    readonly inferenceMs: number;
  };
}

/**
 * 'Merge batch': each part's rejected rows with their lines in the whole file, the counts added
 * up and checked (rows in = scored + rejected, and one answer per planned part), the manifest.
 */
export async function mergeBatch(planUri: string, results: readonly PartResult[], targets: EventTargets = {}): Promise<BatchSummary> {
  const plan = await readPlan(planUri);
  const { bucket } = plan.input;
  const byIndex = new Map(results.map((r) => [r.index, r]));
  const missing = plan.parts.filter((p) => !byIndex.has(p.index)).map((p) => p.index);
  if (missing.length > 0 || results.length !== plan.parts.length)
    throw new Error(
      `Merge batch got ${results.length} part results for ${plan.parts.length} planned parts (missing: ${missing.join(', ') || 'none'}).`,
    );
  const ext = plan.layout.format === 'jsonl' ? 'jsonl' : 'csv';
  let lineOffset = 0;
  let rowsIn = 0;
  let rowsScored = 0;
  let rowsRejected = 0;
  const parts: BatchManifest['parts'][number][] = [];
  const sample: SampledRow[] = [];
  for (const part of plan.parts) {
    const counts = byIndex.get(part.index)!;
    if (counts.rowsIn !== counts.rowsScored + counts.rowsRejected)
      throw new Error(`Part ${part.index} read ${counts.rowsIn} rows but scored ${counts.rowsScored} and rejected ${counts.rowsRejected}.`);
    rowsIn += counts.rowsIn;
    rowsScored += counts.rowsScored;
    rowsRejected += counts.rowsRejected;
    let errorsKey: string | null = null;
    if (counts.rowsRejected > 0) {
      // Lines in the part become lines in the file (Parquet rows are numbered in the file already).
      const text = (await getBytes(bucket, workErrorsKey(plan, part.index))).toString('utf8');
      const lines = text.split('\n').filter((l) => l !== '');
      if (lines.length !== counts.rowsRejected)
        throw new Error(`Part ${part.index} rejected ${counts.rowsRejected} rows but wrote ${lines.length} error lines.`);
      const shifted = lines.map((l) => {
        const row = JSON.parse(l) as RejectedRow;
        return JSON.stringify({ ...row, line: row.line + lineOffset }) + '\n';
      });
      errorsKey = s3Keys.errorsPart(plan.model.name, plan.run, part.index);
      await putBytes(bucket, errorsKey, shifted.join(''), 'application/x-ndjson');
    }
    if (counts.captured > 0) {
      const text = (await getBytes(bucket, workSampleKey(plan, part.index))).toString('utf8');
      for (const l of text.split('\n')) {
        if (l === '') continue;
        const row = JSON.parse(l) as SampledRow;
        sample.push({ ...row, line: row.line + lineOffset });
      }
    }
    lineOffset += counts.lines;
    parts.push({
      ...counts,
      predictions: s3Uri(bucket, s3Keys.predictionsPart(plan.model.name, plan.run, part.index, ext)),
      errors: errorsKey === null ? null : s3Uri(bucket, errorsKey),
    });
  }
  if (rowsIn !== rowsScored + rowsRejected)
    throw new Error(`The run read ${rowsIn} rows but scored ${rowsScored} and rejected ${rowsRejected}.`);
  const mergedAt = new Date();
  let capture: BatchManifest['capture'] = null;
  if (sample.length > 0) {
    const key = await captureKeyOf(plan, mergedAt);
    const inferenceMs = parts.reduce((s, p) => s + p.inferenceMs, 0);
    const records = batchCaptureRecords(sample, {
      run: plan.run,
      model: plan.model.name,
      version: plan.model.version,
      at: mergedAt.toISOString(),
      latencyMs: rowsScored > 0 ? Math.round((inferenceMs / rowsScored) * 1000) / 1000 : 0,
    });
    await putBytes(bucket, key, records.map((r) => JSON.stringify(r) + '\n').join(''), 'application/x-ndjson');
    capture = { rows: records.length, key };
  }
  const manifest: BatchManifest = {
    run: plan.run,
    model: plan.model,
    input: { ...plan.input, format: plan.layout.format, gzip: plan.layout.gzip },
    rowsIn,
    rowsScored,
    rowsRejected,
    parts,
    capture,
    timings: {
      plannedAt: plan.plannedAt,
      mergedAt: mergedAt.toISOString(),
      wallMs: mergedAt.getTime() - Date.parse(plan.plannedAt),
      partsTotalMs: parts.reduce((s, p) => s + p.totalMs, 0),
      inferenceMs: parts.reduce((s, p) => s + p.inferenceMs, 0),
    },
  };
  const manifestKey = s3Keys.batchManifest(plan.model.name, plan.run);
  await putJson(bucket, manifestKey, manifest);
  const summary: BatchSummary = {
    status: 'SUCCEEDED',
    run: plan.run,
    model: plan.model.name,
    version: plan.model.version,
    rowsIn,
    rowsScored,
    rowsRejected,
    predictions: s3Uri(bucket, s3Keys.predictionsPrefix(plan.model.name, plan.run)),
    errors: s3Uri(bucket, s3Keys.errorsPrefix(plan.model.name, plan.run)),
    manifest: s3Uri(bucket, manifestKey),
    captured: capture?.rows ?? 0,
  };
  // Later drops of the same bytes for the same version answer this run (planBatch).
  await putJson(bucket, contentKey(plan.model.name, plan.input.sha256, plan.model.version), summary);
  // After the manifest, at most once per merge: a notification, never a failed run (events.ts).
  await publishOrLog(
    [
      batchCompletedEvent({
        model: summary.model,
        version: summary.version,
        alias: plan.model.alias,
        run: plan.run,
        input: { bucket, key: plan.input.key, versionId: plan.input.versionId ?? null, sha256: plan.input.sha256 },
        rowsIn,
        rowsScored,
        rowsRejected,
        captured: summary.captured,
        parts: plan.parts.length,
        predictions: summary.predictions,
        errors: summary.errors,
        manifest: summary.manifest,
        wallMs: manifest.timings.wallMs,
        completedAt: manifest.timings.mergedAt,
      }),
    ],
    targets,
  );
  return summary;
}
