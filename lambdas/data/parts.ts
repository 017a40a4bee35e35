/**
 * Ingestion in parts: a CSV, JSON Lines or Parquet file too big for one function's time limit is
 * cut into byte ranges (Parquet: runs of whole row groups, as ranges of rows) that the state machine scans, and later splits, in parallel (Map states; Distributed
 * Map on AWS). The same code runs locally, where the interpreter runs the Map states in-process.
 *
 *   Ingest dataset     planParts: the header and line end from the file's first bytes, the
 *                      parts' nominal ranges, and plan.json under ingest-parts/<model>/<execution>/
 *   Scan in parts      a Parallel state: 'Hash dataset' (hashPlan: SHA-256 of all the bytes, in
 *                      order, one pass) beside a Map of 'Scan part' (scanPlanPart: one part's
 *                      share of the scan, written as JSON beside the plan)
 *   Merge parts        mergePlan: adds the parts up in order (PartMerger), scanning a part again
 *                      where its range began inside a quoted field; the checks; the content claim.
 *                      Answers DUPLICATE, fails as rejected, or SPLITS with the version's number
 *   Split parts        a Map of 'Split part' (splitPlanPart): one part's rows into
 *                      splits/<model>/v<N>/<split>/part-<index>.csv
 *   Finish ingest      finishPlan: the record, the schema, the content link, the training slot
 *
 * The result equals a single pass's (see PartMerger), and the version is the SHA-256 of the
 * file's bytes as in a single pass: hashing is a sequential pass, so it runs beside the scans.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { s3Client } from '../shared/clients';
import type { IngestEnv } from '../shared/env';
import { parseS3Uri, s3Keys, s3Uri } from '../shared/layout';
import type { IngestOutput, PartRange } from '../shared/pipeline';
import { Registry } from '../shared/registry/registry';
import type { DatasetSchema } from '../shared/types';
import { getJson, putJson, upload } from '../shared/storage';
import { formatFromName, isGzip, isParquet, type DataFormat } from './formats';
import { parquetLayout } from './parquet-file';
import { PartMerger, partLayout, scanParquetPart, scanPart, type PartLayout, type PartScan } from './part-scan';
import { s3RangeSource } from './s3-source';
import type { ScanOptions, TimeSplit } from './scan-types';
import { SPLITS, writeSplits, type SplitName } from './splits';
import { SplitFeatures, type VocabularyState } from './split-features';
import {
  acceptVersion,
  runSplitHash,
  versionScan,
  writeScanOutputs,
  writeTrainingSchema,
  type IngestRun,
  type NewVersion,
} from './versioning';

/** Bytes read from the start of a file to find its header and line end. */
export const LAYOUT_HEAD_BYTES = 1024 * 1024;
/** Ranged reads of the hash pass: their size, and how many are in flight ahead of the hash. */
const HASH_READ_BYTES = 8 * 1024 * 1024;
const HASH_READS_AHEAD = 4;

/** plan.json: everything the parts' functions need, written once by Ingest. */
export interface PartsPlan {
  readonly run: IngestRun;
  readonly options: ScanOptions;
  readonly size: number;
  readonly layout: PartLayout;
  readonly partBytes: number;
  readonly parts: readonly PartRange[];
}

/** accepted.json: what Merge parts decided, for Split part and Finish ingest. */
interface AcceptedParts {
  readonly created: NewVersion;
  readonly schema: DatasetSchema;
  readonly header: string[];
  readonly format: DataFormat;
  readonly timeSplit?: TimeSplit;
}

const planKey = (run: IngestRun): string => `${s3Keys.partsPrefix(run.model, run.execution)}plan.json`;
const scanKey = (plan: PartsPlan, index: number): string =>
  `${s3Keys.partsPrefix(plan.run.model, plan.run.execution)}scan-${String(index).padStart(6, '0')}.json`;
const acceptedKey = (plan: PartsPlan): string => `${s3Keys.partsPrefix(plan.run.model, plan.run.execution)}accepted.json`;
/** A part's share of the train split's category counts (SplitFeatures), for the vocabularies. */
const vocabularyKey = (plan: PartsPlan, index: number): string =>
  `${s3Keys.partsPrefix(plan.run.model, plan.run.execution)}vocabulary-${String(index).padStart(5, '0')}.json`;

/** The bytes of one object version from `start` to `end` (exclusive; default: its end), as a stream. */
async function rangeStream(run: IngestRun, start: number, end?: number): Promise<Readable> {
  if (end !== undefined && end <= start) return PassThrough.from([]) as unknown as Readable;
  const range = `bytes=${start}-${end === undefined ? '' : end - 1}`;
  const out = await s3Client().send(new GetObjectCommand({ Bucket: run.bucket, Key: run.key, VersionId: run.versionId, Range: range }));
  return out.Body as Readable;
}

async function rangeBytes(run: IngestRun, start: number, end: number): Promise<Buffer> {
  const bytes = await s3RangeSource(run.bucket, run.key, run.versionId, end).read(start, end);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The results of `count` reads in order, up to `ahead` of them in flight: S3 latency overlaps the
 * work on the ones before. A read started ahead of its turn is marked as handled, so that its
 * failure is not an unhandled rejection (which ends a Lambda process) while an earlier one is
 * awaited; its turn still throws it.
 */
async function* inOrder<T>(count: number, ahead: number, read: (index: number) => Promise<T>): AsyncGenerator<T> {
  const reads: Promise<T>[] = [];
  let next = 0;
  for (let i = 0; i < count; i++) {
    while (next < count && next < i + ahead) {
      const promise = read(next++);
      promise.catch(() => undefined);
      reads.push(promise);
    }
    yield await (reads.shift() as Promise<T>);
  }
}

/** Parts' scans read ahead of the merge: S3 latency overlaps the merging of the ones before. */
const SCANS_READ_AHEAD = 8;

/** Parts of `partBytes`, or of size / maxParts when that is more. */
export function partRanges(size: number, partBytes: number, maxParts: number): { partBytes: number; parts: PartRange[] } {
  const bytes = Math.max(partBytes, Math.ceil(size / maxParts));
  const parts: PartRange[] = [];
  for (let start = 0, index = 0; start < size; start += bytes, index++) parts.push({ index, start, end: Math.min(size, start + bytes) });
  return { partBytes: bytes, parts };
}

/**
 * Parts of a Parquet file: runs of whole row groups of about `partBytes` (compressed) each, at most
 * `maxParts`, as ranges of rows. A file of one row group is one part.
 */
export function parquetPartRanges(
  groups: readonly { rows: number; bytes: number }[],
  partBytes: number,
  maxParts: number,
): { partBytes: number; parts: PartRange[] } {
  const total = groups.reduce((sum, g) => sum + g.bytes, 0);
  const bytes = Math.max(partBytes, Math.ceil(total / maxParts));
  const parts: PartRange[] = [];
  let start = 0;
  let row = 0;
  let inPart = 0;
  groups.forEach((group, i) => {
    row += group.rows;
    inPart += group.bytes;
    if (inPart >= bytes || i === groups.length - 1) {
      parts.push({ index: parts.length, start, end: row });
      start = row;
      inPart = 0;
    }
  });
  return { partBytes: bytes, parts };
}

/**
 * Plan an ingestion in parts, or answer undefined when the file is read in one pass after all:
 * gzip (a stream cannot be entered in the middle), CR-only line ends, a header longer than
 * LAYOUT_HEAD_BYTES, or a Parquet file of one row group (or one that is not readable: the one
 * pass reports it). Parquet parts are runs of row groups; the text formats' are byte ranges.
 */
export async function planParts(run: IngestRun, options: ScanOptions, size: number, env: IngestEnv): Promise<IngestOutput | undefined> {
  const named = formatFromName(run.key);
  if (named.gzip) return undefined;
  // A text file's header and line end come from its first MiB; a Parquet file's magic bytes are 4.
  const head = await rangeBytes(run, 0, Math.min(size, named.format === 'parquet' ? 4 : LAYOUT_HEAD_BYTES));
  if (isGzip(head)) return undefined;
  let layout: PartLayout | undefined;
  let ranges: { partBytes: number; parts: PartRange[] };
  if (named.format === 'parquet' || isParquet(head)) {
    let groups: { rows: number; bytes: number }[];
    try {
      const { metadata } = await parquetLayout(s3RangeSource(run.bucket, run.key, run.versionId, size));
      groups = metadata.row_groups.map((g) => ({ rows: Number(g.num_rows), bytes: Number(g.total_compressed_size ?? g.total_byte_size) }));
    } catch {
      return undefined;
    }
    ranges = parquetPartRanges(groups, env.PART_BYTES, env.MAX_PARTS);
    if (ranges.parts.length < 2) return undefined;
    layout = { format: 'parquet' };
  } else {
    layout = await partLayout(head, named.format, options.delimiter);
    if (!layout) return undefined;
    ranges = partRanges(size, env.PART_BYTES, env.MAX_PARTS);
  }
  const { partBytes, parts } = ranges;
  const plan: PartsPlan = { run, options, size, layout, partBytes, parts };
  const key = planKey(run);
  await putJson(run.bucket, key, plan);
  return { status: 'PARTS', model: run.model, datasetVersion: null, plan: s3Uri(run.bucket, key), parts };
}

async function readPlan(uri: string): Promise<PartsPlan> {
  const { bucket, key } = parseS3Uri(uri);
  return getJson<PartsPlan>(bucket, key);
}

/** 'Hash dataset': the SHA-256 of the file's bytes, read by ranges a few reads ahead of the hash. */
export async function hashPlan(planUri: string): Promise<{ sha256: string; bytes: number }> {
  const plan = await readPlan(planUri);
  const hash = createHash('sha256');
  let bytes = 0;
  const count = Math.ceil(plan.size / HASH_READ_BYTES);
  const range = (i: number) => rangeBytes(plan.run, i * HASH_READ_BYTES, Math.min(plan.size, (i + 1) * HASH_READ_BYTES));
  for await (const buf of inOrder(count, HASH_READS_AHEAD, range)) {
    hash.update(buf);
    bytes += buf.length;
  }
  if (bytes !== plan.size)
    throw new Error(
      `${plan.run.source} read as ${bytes} bytes, not the ${plan.size} it had when planned: was it overwritten without versioning?`,
    );
  return { sha256: hash.digest('hex'), bytes };
}

async function scanRange(plan: PartsPlan, part: PartRange, aligned: number | undefined): Promise<PartScan> {
  const { run } = plan;
  if (plan.layout.format === 'parquet')
    return scanParquetPart(s3RangeSource(run.bucket, run.key, run.versionId, plan.size), plan.options, part);
  const from = aligned ?? (part.start > 0 ? part.start - 1 : 0);
  return scanPart(await rangeStream(plan.run, from), plan.options, {
    index: part.index,
    start: part.start,
    end: part.end,
    size: plan.size,
    from,
    ...(aligned !== undefined ? { aligned: true } : {}),
    layout: plan.layout,
  });
}

/** 'Scan part': one part's share of the scan, written beside the plan. Answers where it starts and ends. */
export async function scanPlanPart(planUri: string, part: PartRange): Promise<PartRange> {
  const plan = await readPlan(planUri);
  const scan = await scanRange(plan, part, undefined);
  await putJson(plan.run.bucket, scanKey(plan, part.index), scan);
  return { index: part.index, start: scan.start, end: scan.end };
}

/**
 * 'Merge parts': the parts' scans added up in order, with the checks of a single pass; then, as
 * in a single pass, the content claim (DUPLICATE, or a retry's earlier answer), and for a new
 * version the rejection (thrown) or the profile, report and schema, and SPLITS with the parts'
 * exact ranges for the Map that writes the splits.
 */
export async function mergePlan(planUri: string, hash: { sha256: string; bytes: number }, env: IngestEnv): Promise<IngestOutput> {
  const plan = await readPlan(planUri);
  const merger = new PartMerger(plan.options);
  const ranges: PartRange[] = [];
  let rescanned = 0;
  const scans = inOrder(plan.parts.length, SCANS_READ_AHEAD, (i) => getJson<PartScan>(plan.run.bucket, scanKey(plan, plan.parts[i].index)));
  for (const part of plan.parts) {
    const scan = (await scans.next()).value as PartScan;
    let used = scan;
    if (await merger.addOrRescan(scan, async (start) => (used = await scanRange(plan, part, start)))) rescanned++;
    ranges.push({ index: part.index, start: used.start, end: used.end });
  }
  const scan = merger.result(hash.sha256, hash.bytes);
  const registry = new Registry(env.REGISTRY_TABLE);
  const settled = await versionScan(plan.run, scan, registry, env, { parts: plan.parts.length });
  if ('answer' in settled) return settled.answer;
  const created: NewVersion = { ...settled, report: { ...settled.report, rescannedParts: rescanned } };
  await writeScanOutputs(plan.run, scan, created);
  const accepted: AcceptedParts = {
    created,
    schema: scan.schema,
    header: scan.header,
    format: scan.format,
    ...(scan.timeSplit ? { timeSplit: scan.timeSplit } : {}),
  };
  await putJson(plan.run.bucket, acceptedKey(plan), accepted);
  return { status: 'SPLITS', model: plan.run.model, datasetVersion: settled.version, plan: planUri, parts: ranges };
}

/** 'Split part': one part's rows into its CSV object of each split. */
export async function splitPlanPart(planUri: string, datasetVersion: number, part: PartRange): Promise<Record<SplitName, number>> {
  const plan = await readPlan(planUri);
  const accepted = await getJson<AcceptedParts>(plan.run.bucket, acceptedKey(plan));
  const { bucket, model } = plan.run;
  const sinks = { train: new PassThrough(), validation: new PassThrough(), test: new PassThrough() };
  const uploads = SPLITS.map((s) => upload(bucket, s3Keys.splitPart(model, datasetVersion, s, part.index), sinks[s], 'text/csv'));
  const layout = plan.layout;
  const parquet = layout.format === 'parquet';
  const features = new SplitFeatures(accepted.schema, plan.run.schema.strict);
  const [counts] = await Promise.all([
    writeSplits(
      parquet ? s3RangeSource(bucket, plan.run.key, plan.run.versionId, plan.size) : await rangeStream(plan.run, part.start, part.end),
      {
        format: accepted.format,
        header: accepted.header,
        delimiter: layout.delimiter,
        recordDelimiter: layout.recordDelimiter,
        timeSplit: accepted.timeSplit,
        splitHash: runSplitHash(plan.run),
        features,
        ...(parquet ? { rowRange: { rowStart: part.start, rowEnd: part.end } } : {}),
        // Within the limits the scan read the parts with.
        ...(plan.options.rowGroupLimits !== undefined ? { rowGroupLimits: plan.options.rowGroupLimits } : {}),
        // The parts after the first hold no header line: each split file gets one.
        ...(layout.format === 'csv' && part.index > 0 ? { partHeader: layout.header } : {}),
      },
      sinks,
    ),
    ...uploads,
  ]);
  await putJson(bucket, vocabularyKey(plan, part.index), features.vocabularyState());
  return counts;
}

/** 'Finish ingest': record the accepted version with its splits (prefixes of parts) and take the training slot. */
export async function finishPlan(
  planUri: string,
  datasetVersion: number,
  splitCounts: readonly Record<SplitName, number>[],
  env: IngestEnv,
): Promise<IngestOutput> {
  const plan = await readPlan(planUri);
  const accepted = await getJson<AcceptedParts>(plan.run.bucket, acceptedKey(plan));
  if (accepted.created.version !== datasetVersion)
    throw new Error(`Merge parts accepted dataset version ${accepted.created.version}, not ${datasetVersion}.`);
  const { bucket, model } = plan.run;
  const splitRows: Record<SplitName, number> = { train: 0, validation: 0, test: 0 };
  for (const counts of splitCounts) for (const s of SPLITS) splitRows[s] += counts[s];
  const features = new SplitFeatures(accepted.schema, plan.run.schema.strict);
  for (const part of plan.parts) features.mergeVocabulary(await getJson<VocabularyState>(bucket, vocabularyKey(plan, part.index)));
  await writeTrainingSchema(plan.run, datasetVersion, features);
  const prefix = (s: SplitName) => s3Uri(bucket, s3Keys.splitPrefix(model, datasetVersion, s));
  const splits = { train: prefix('train'), validation: prefix('validation'), test: prefix('test') };
  return acceptVersion(
    plan.run,
    accepted.created,
    accepted.schema,
    splits,
    { train: splits.train, validation: splits.validation },
    splitRows,
    new Registry(env.REGISTRY_TABLE),
    env,
  );
}
