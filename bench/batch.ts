/**
 * `npm run bench -- batch`: batch scoring's score-part core (lambdas/batch/score-part.ts: read the
 * part, check every row as the API does, score in batches, write the predictions CSV, keep the
 * drift monitor's sample as a part does in production: lambdas/batch/runs.ts) against bare
 * onnxruntime-node `session.run` on the same rows in the same batches (tensors built beforehand),
 * in the same run, on a model trained for the run. Both sessions are created with the same
 * options (lambdas/shared/model-runtime.ts sessionOptions, one intra-op thread, as batch scoring
 * loads models), and both are measured in rows per second of the process's CPU time (user +
 * system, every thread), which is rows per second per core: with onnxruntime's default threads a
 * second thread spins after each run, and wall time on a shared machine would count neither that
 * nor the other processes' load. Wall-clock rates are reported beside them, and the core's rate
 * on the same rows as JSON Lines (`jsonLines`: each object parsed, and written back as JSON). Also
 * the process's peak resident memory after scoring N rows and 10 N rows in one part, to show it stays
 * flat as rows grow (the core streams: nothing grows with the part), and what a part of each size
 * still holds when it ends, its drift sample alive (heap and ArrayBuffers after a full garbage
 * collection; the chunks copied as a socket's are, so that one held would show).
 *
 * Then the 10 N-row file end to end on the local stack (bench/batch-local.ts: `mloop score`, plan,
 * Map, merge), in one part and in MLOOP_BENCH_BATCH_PARTS parts side by side (default 4), medians
 * of 3 alternating runs, each a process of its own with its peak RSS (MLOOP_BENCH_BATCH_PARTS=0
 * skips them).
 *
 * MLOOP_BENCH_BATCH_ROWS sets N (default 100,000; 1,000,000 for the issue's figure, slower);
 * MLOOP_BENCH_BATCH_ROUNDS the rounds of core and bare (default 7).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as ort from 'onnxruntime-node';
import { runPipeline } from '../bin/cli';
import { DEFAULT_BATCH_CAPTURE_ROWS, partSampleSize, Reservoir } from '../lambdas/batch/capture-sample';
import { DEFAULT_SCORE_BATCH_ROWS, scorePart } from '../lambdas/batch/score-part';
import type { FileLayout } from '../lambdas/batch/part-rows';
import { parseS3Uri } from '../lambdas/shared/layout';
import { ModelRuntime, sessionOptions, type RuntimeOptions } from '../lambdas/shared/model-runtime';
import { logger } from '../lambdas/shared/observability';
import { Registry } from '../lambdas/shared/registry/registry';
import { getBytes } from '../lambdas/shared/storage';
import type { ModelCard } from '../lambdas/shared/types';
import { LocalCloud } from '../local/cloud';
import { scoreLocally, type LocalBatchRun } from './batch-local';
import { churnRows, DEMO_FEATURES, DEMO_TARGET, toCsv } from '../local/demo-data';
import { median } from './median';

const MODEL = 'batchbench';
/** Rounds of core and bare, alternating (MLOOP_BENCH_BATCH_ROUNDS). */
const ROUNDS = Number(process.env.MLOOP_BENCH_BATCH_ROUNDS ?? 7);
/** As batch scoring loads models (lambdas/batch/batch-handler.ts), for the core and bare session.run alike. */
const RUNTIME: RuntimeOptions = { intraOpThreads: 1 };
const log = (line: string) => process.stderr.write(`  ${line}\n`);
// A full garbage collection on demand, for what a part still holds when it ends (heldBytes).
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
const round = (n: number, digits = 3) => Number(n.toFixed(digits));

/** N rows of the demo table's features as CSV bytes, generated in blocks (the generator holds one block). */
function csvOf(rows: number): Buffer {
  const chunks: string[] = [DEMO_FEATURES.join(',') + '\n'];
  const block = 50_000;
  for (let done = 0; done < rows; done += block) {
    const part = churnRows({ rows: Math.min(block, rows - done), seed: 100 + done });
    chunks.push(part.map((r) => DEMO_FEATURES.map((f) => r[f]).join(',')).join('\n') + '\n');
  }
  return Buffer.from(chunks.join(''));
}

/** The same rows as csvOf, as JSON Lines: one object per line, the columns as keys. */
function jsonLinesOf(rows: number): Buffer {
  const chunks: string[] = [];
  const block = 50_000;
  for (let done = 0; done < rows; done += block) {
    const part = churnRows({ rows: Math.min(block, rows - done), seed: 100 + done });
    chunks.push(part.map((r) => JSON.stringify(Object.fromEntries(DEMO_FEATURES.map((f) => [f, r[f]])))).join('\n') + '\n');
  }
  return Buffer.from(chunks.join(''));
}

/** The graph's inputs for rows of the demo table (numeric matrix, one string tensor per category), as the card says. */
function feeds(card: ModelCard, rows: Record<string, unknown>[]): Record<string, ort.Tensor> {
  const numeric = card.features.filter((f) => f.type === 'numeric');
  const categorical = card.features.filter((f) => f.type === 'categorical');
  const out: Record<string, ort.Tensor> = {};
  const data = new Float32Array(rows.length * numeric.length);
  rows.forEach((row, r) => numeric.forEach((f, c) => (data[r * numeric.length + c] = Number(row[f.name]))));
  out.numeric = new ort.Tensor('float32', data, [rows.length, numeric.length]);
  for (const f of categorical)
    out[f.name] = new ort.Tensor(
      'string',
      rows.map((row) => String(row[f.name])),
      [rows.length, 1],
    );
  return out;
}

/** A sink that counts and drops what is written. */
function nullSink(): Writable & { bytes: number } {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      sink.bytes += chunk.length;
      done();
    },
  }) as Writable & { bytes: number };
  sink.bytes = 0;
  return sink;
}

/**
 * The process's heap and ArrayBuffers in use after full garbage collections, in bytes (three,
 * with a turn of the event loop between: what one frees may let the next free more).
 */
async function heldBytes(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    collectGarbage();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/**
 * What scoring `bytes` as one part (with the drift sample) still holds once the part has ended,
 * the sample alive: heldBytes after it, less before. The chunks are copies, each its own
 * allocation as a socket's are (the timed runs hand over views of the input, which a part could
 * hold without it showing here).
 */
async function heldAfterPart(runtime: ModelRuntime, bytes: Buffer): Promise<number> {
  const before = await heldBytes();
  const { sampler } = await scoreCore(runtime, bytes, { copyChunks: true });
  const held = (await heldBytes()) - before;
  // The sample is alive until here: what it holds is in the measure.
  if (sampler!.sample().length === 0) throw new Error('The part kept no drift sample.');
  return held;
}

/**
 * Score all of `bytes` as one part through the core; rows per second and what it wrote. With
 * `sample`, the part keeps the drift monitor's sample as production does (a reservoir of the
 * run's default cap, one part); without, the core alone (this bench's figure before 2026-12-05).
 * With `copyChunks`, each 1 MiB chunk is a copy (see heldAfterPart), made as the part reads it;
 * `format` says what `bytes` are (CSV by default, or JSON Lines).
 */
async function scoreCore(
  runtime: ModelRuntime,
  bytes: Buffer,
  { sample = true, copyChunks = false, format = 'csv' }: { sample?: boolean; copyChunks?: boolean; format?: 'csv' | 'jsonl' } = {},
) {
  const layout: FileLayout =
    format === 'csv'
      ? { format: 'csv', gzip: false, size: bytes.length, header: [...DEMO_FEATURES], recordDelimiter: '\n' }
      : { format: 'jsonl', gzip: false, size: bytes.length };
  const predictions = nullSink();
  const errors = new PassThrough();
  errors.resume();
  // The bytes arrive in 1 MiB chunks, as an S3 GetObject stream delivers them.
  const chunks = Array.from({ length: Math.ceil(bytes.length / 2 ** 20) }, (_, i) => bytes.subarray(i * 2 ** 20, (i + 1) * 2 ** 20));
  const copies = function* () {
    for (const chunk of chunks) yield Buffer.from(chunk);
  };
  const sampler = sample ? new Reservoir(partSampleSize(DEFAULT_BATCH_CAPTURE_ROWS, 1), 'bench') : undefined;
  const started = performance.now();
  const cpu = process.cpuUsage();
  const counts = await scorePart(
    { text: { stream: Readable.from(copyChunks ? copies() : chunks), from: 0 } },
    layout,
    { index: 0, start: 0, end: bytes.length },
    runtime,
    { predictions, errors },
    sampler !== undefined ? { sampler } : {},
  );
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = cpuSecondsSince(cpu);
  if (counts.rowsRejected !== 0) throw new Error(`The core rejected ${counts.rowsRejected} generated rows.`);
  return {
    sampler,
    rows: counts.rowsScored,
    seconds,
    rowsPerSecond: counts.rowsScored / seconds,
    rowsPerCpuSecond: counts.rowsScored / cpuSeconds,
    outputBytes: predictions.bytes,
    inferenceShare: counts.inferenceMs / counts.totalMs,
    inferenceRowsPerSecond: counts.rowsScored / (counts.inferenceMs / 1000),
  };
}

/** The same rows through bare session.run in the core's batch size, tensors built beforehand (not timed). */
async function bareSessionRun(session: ort.InferenceSession, card: ModelCard, rows: number) {
  const generated = churnRows({ rows: Math.min(rows, 200_000), seed: 100 });
  const batches: Record<string, ort.Tensor>[] = [];
  for (let i = 0; i < generated.length; i += DEFAULT_SCORE_BATCH_ROWS)
    batches.push(feeds(card, generated.slice(i, i + DEFAULT_SCORE_BATCH_ROWS) as unknown as Record<string, unknown>[]));
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (const feed of batches) await session.run(feed);
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = cpuSecondsSince(cpu);
  return { rows: generated.length, seconds, rowsPerSecond: generated.length / seconds, rowsPerCpuSecond: generated.length / cpuSeconds };
}

/** The process's CPU seconds (user + system, all threads) since `from`. */
function cpuSecondsSince(from: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(from);
  return (used.user + used.system) / 1e6;
}

export async function run(): Promise<unknown> {
  process.env.POWERTOOLS_LOG_LEVEL ??= process.env.MLOOP_LOG_LEVEL ?? 'SILENT';
  logger.setLogLevel(process.env.POWERTOOLS_LOG_LEVEL as Parameters<typeof logger.setLogLevel>[0]);
  const rows = Number(process.env.MLOOP_BENCH_BATCH_ROWS ?? 100_000);
  if (!Number.isInteger(ROUNDS) || ROUNDS < 1)
    throw new Error(`MLOOP_BENCH_BATCH_ROUNDS must be a positive integer, got ${process.env.MLOOP_BENCH_BATCH_ROUNDS}`);
  const loadAtStart = os.loadavg().map((l) => round(l));
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-bench-batch-'));
  try {
    const cloud = await LocalCloud.start({ home, log: () => {} });
    let runtime: ModelRuntime;
    let session: ort.InferenceSession;
    let card: ModelCard;
    try {
      const file = path.join(home, `${MODEL}.csv`);
      fs.writeFileSync(file, toCsv(churnRows({ rows: 2000, seed: 7 })));
      log('training the benchmark model...');
      const report = await runPipeline(cloud, MODEL, file, DEMO_TARGET);
      if (report.status !== 'SUCCEEDED') throw new Error(`Training the benchmark model failed: ${report.error}`);
      const registry = new Registry(cloud.registryTable);
      const version = (await registry.versions.get(MODEL, report.modelVersion!))!;
      const onnxAt = parseS3Uri(version.artifact.onnxUri);
      const cardAt = parseS3Uri(version.artifact.cardUri);
      const onnx = await getBytes(onnxAt.bucket, onnxAt.key);
      card = JSON.parse((await getBytes(cardAt.bucket, cardAt.key)).toString('utf8')) as ModelCard;
      runtime = await ModelRuntime.load(onnx, card, 'model.onnx', RUNTIME);
      session = await ort.InferenceSession.create(onnx, sessionOptions(RUNTIME));
    } finally {
      await cloud.stop();
    }

    log(`generating ${rows.toLocaleString()} and ${(rows * 10).toLocaleString()} rows...`);
    const small = csvOf(rows);
    const smallJsonLines = jsonLinesOf(rows);
    const large = csvOf(rows * 10);
    // Both inputs exist before anything is scored: the peaks below differ only by what scoring holds.
    const peakBeforeScoring = process.resourceUsage().maxRSS * 1024;
    await scoreCore(runtime, csvOf(20_000)); // warm-up: sessions, JIT
    await bareSessionRun(session, card, 20_000);

    // Alternate core and bare, ROUNDS rounds each, and keep the medians: the machine is shared
    // (one round of 100,000 rows is a fifth of a second, and single rounds varied by up to 1.8x).
    const core: number[] = [];
    const coreAlone: number[] = [];
    const bare: number[] = [];
    const coreWall: number[] = [];
    const bareWall: number[] = [];
    const inferenceShares: number[] = [];
    const inferenceRates: number[] = [];
    const jsonLines: number[] = [];
    for (let round_ = 0; round_ < ROUNDS; round_++) {
      log(
        `round ${round_ + 1}: core on ${rows.toLocaleString()} rows, with the drift sample and without, then bare session.run, then the core on them as JSON Lines`,
      );
      // In turns, which of the two goes first, so that neither always follows bare session.run's
      // run (two runs with the order swapped measured a smaller gap between them than five before).
      if (round_ % 2 === 1) coreAlone.push((await scoreCore(runtime, small, { sample: false })).rowsPerCpuSecond);
      const scored = await scoreCore(runtime, small);
      core.push(scored.rowsPerCpuSecond);
      if (round_ % 2 === 0) coreAlone.push((await scoreCore(runtime, small, { sample: false })).rowsPerCpuSecond);
      coreWall.push(scored.rowsPerSecond);
      inferenceShares.push(scored.inferenceShare);
      inferenceRates.push(scored.inferenceRowsPerSecond);
      const bared = await bareSessionRun(session, card, rows);
      bare.push(bared.rowsPerCpuSecond);
      bareWall.push(bared.rowsPerSecond);
      jsonLines.push((await scoreCore(runtime, smallJsonLines, { format: 'jsonl' })).rowsPerCpuSecond);
    }
    const peakSmall = process.resourceUsage().maxRSS * 1024;

    log(`memory: one part of ${(rows * 10).toLocaleString()} rows`);
    // (Its rate only: the run's sampler would be held into the measures below.)
    const largeRowsPerSecond = (await scoreCore(runtime, large)).rowsPerSecond;
    const peakLarge = process.resourceUsage().maxRSS * 1024;
    log('memory: what a part of each size still holds when it ends');
    const heldSmall = await heldAfterPart(runtime, small);
    const heldLarge = await heldAfterPart(runtime, large);

    // The large file end to end on the local stack, in one part and in parts, alternating.
    const partsWanted = Number(process.env.MLOOP_BENCH_BATCH_PARTS ?? 4);
    const file = path.join(home, 'large.csv');
    fs.writeFileSync(file, large);
    const onePart: LocalBatchRun[] = [];
    const inParts: LocalBatchRun[] = [];
    for (let round_ = 0; round_ < (partsWanted > 0 ? 3 : 0); round_++) {
      log(`round ${round_ + 1}: ${(rows * 10).toLocaleString()} rows through mloop score locally, in one part, then in ${partsWanted}`);
      onePart.push(scoreLocally(home, MODEL, file, large.length + 1));
      inParts.push(scoreLocally(home, MODEL, file, Math.max(1024, Math.ceil(large.length / partsWanted))));
    }
    const medianRun = (runs: LocalBatchRun[]) => [...runs].sort((a, b) => a.seconds - b.seconds)[1];
    return {
      model: { name: MODEL, features: DEMO_FEATURES.length, classes: card.classes?.length ?? null },
      node: process.version,
      loadAverageAtStart: loadAtStart,
      loadAverage: os.loadavg().map((l) => round(l)),
      batchRows: DEFAULT_SCORE_BATCH_ROWS,
      intraOpThreads: RUNTIME.intraOpThreads,
      rows,
      rounds: ROUNDS,
      // Rows per CPU second (per core), medians of ROUNDS; the core keeps the drift sample, as in production.
      coreRowsPerSecond: Math.round(median(core)),
      bareSessionRunRowsPerSecond: Math.round(median(bare)),
      coreOverBare: round(median(core) / median(bare)),
      // The core without the drift sample (what coreRowsPerSecond measured before 2026-12-05).
      withoutDriftSample: { coreRowsPerSecond: Math.round(median(coreAlone)), coreOverBare: round(median(coreAlone) / median(bare)) },
      // The same rows as JSON Lines (objects parsed and written as JSON), with the drift sample.
      jsonLines: { coreRowsPerSecond: Math.round(median(jsonLines)), coreOverBare: round(median(jsonLines) / median(bare)) },
      wallClock: {
        coreRowsPerSecond: Math.round(median(coreWall)),
        bareSessionRunRowsPerSecond: Math.round(median(bareWall)),
        coreOverBare: round(median(coreWall) / median(bareWall)),
      },
      // The share of the core's time spent in session.run (the rest: reading, checking, encoding, writing).
      coreInferenceShare: round(median(inferenceShares), 2),
      // The core's rows per second of its time in session.run (wall), beside bare session.run's wall rate above.
      coreInferenceRowsPerSecond: Math.round(median(inferenceRates)),
      memory: {
        note: 'peak RSS of the whole process; both inputs are generated and held before scoring starts (in Lambda they are a stream from S3)',
        inputMiB: { small: round(small.length / 2 ** 20, 1), large: round(large.length / 2 ** 20, 1) },
        peakMiBBeforeScoring: round(peakBeforeScoring / 2 ** 20, 1),
        peakMiBAfterSmall: round(peakSmall / 2 ** 20, 1),
        peakMiBAfterLarge: round(peakLarge / 2 ** 20, 1),
        // Heap and ArrayBuffers a part of N and of 10 N rows still holds once it ends, its drift sample alive.
        heldMiBAfterPart: { small: round(heldSmall / 2 ** 20, 1), large: round(heldLarge / 2 ** 20, 1) },
        largeRowsPerSecond: Math.round(largeRowsPerSecond),
      },
      // Wall seconds of `mloop score` on the local stack, the median run of 3 (its figures are that run's).
      local:
        partsWanted > 0
          ? {
              rows: rows * 10,
              onePart: medianRun(onePart),
              inParts: medianRun(inParts),
              partsOverOnePart: round(medianRun(inParts).seconds / medianRun(onePart).seconds, 2),
            }
          : null,
    };
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}
