/**
 * Drift over captured rows in one process: 1,000,000 capture lines of 20 features (15 numeric, 5
 * categorical) and a classification output, through the drift monitor's own code (readline, JSON
 * parse, DriftAccumulator for the features and for the outputs, the report), against reading and
 * parsing the same lines alone. Each phase runs in its own process, so each peak RSS is its own.
 *
 * Reports rows per second, the ratio of the drift pass's time to the read-and-parse pass's
 * (target <= 2), and peak RSS at 100,000 and 1,000,000 rows (memory independent of the row count).
 *
 *   npm run bench -- drift            (MLOOP_BENCH_ROWS=200000 for a shorter run)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { CategoryCounter, NumericStats } from '../lambdas/data/profile';
import { DriftAccumulator } from '../lambdas/monitoring/drift';
import { predictionColumns, predictionProfile, predictionRow } from '../lambdas/registry/prediction-profile';
import type { Prediction } from '../lambdas/shared/model-runtime';
import type { ColumnProfile, DatasetProfile, FeatureType, NumericSketch } from '../lambdas/shared/types';
import { prng } from '../local/demo-data';

const NUMERIC = 15;
const CATEGORICAL = 5;
const FEATURES: { name: string; type: FeatureType }[] = [
  ...Array.from({ length: NUMERIC }, (_, i) => ({ name: `n${i}`, type: 'numeric' as const })),
  ...Array.from({ length: CATEGORICAL }, (_, i) => ({ name: `c${i}`, type: 'categorical' as const })),
];
const CARD = { task: 'classification' as const, classes: ['0', '1'] };

/** One row of features: numeric columns of various shapes (some integer, some skewed), categories of 4 to 40 values, 2% missing. */
function row(random: () => number, shift: number): Record<string, number | string | null> {
  const out: Record<string, number | string | null> = {};
  for (let i = 0; i < NUMERIC; i++) {
    if (random() < 0.02) {
      out[`n${i}`] = null;
      continue;
    }
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()) + (i < 3 ? shift : 0);
    out[`n${i}`] =
      i % 5 === 0
        ? Math.max(0, Math.round(3 + 2 * z))
        : i % 5 === 1
          ? Number(Math.exp(z / 2).toFixed(4))
          : Number((50 + 10 * i * z).toFixed(3));
  }
  for (let i = 0; i < CATEGORICAL; i++) {
    const k = 4 + i * 9;
    out[`c${i}`] = random() < 0.02 ? null : `v${Math.floor(random() * random() * k)}`;
  }
  return out;
}

function prediction(random: () => number): Prediction {
  const p = Number(random().toFixed(6));
  return { label: p >= 0.5 ? '1' : '0', probabilities: { '0': Number((1 - p).toFixed(6)), '1': p } };
}

/** The training profile of the reference rows, built by the ingest's statistics. */
function referenceProfile(rows: number): DatasetProfile {
  const random = prng(1);
  const numeric = new Map(FEATURES.filter((f) => f.type === 'numeric').map((f) => [f.name, new NumericStats()]));
  const categorical = new Map(FEATURES.filter((f) => f.type === 'categorical').map((f) => [f.name, new CategoryCounter()]));
  const missing = new Map(FEATURES.map((f) => [f.name, 0]));
  for (let r = 0; r < rows; r++) {
    const values = row(random, 0);
    for (const f of FEATURES) {
      const v = values[f.name];
      if (v === null) missing.set(f.name, missing.get(f.name)! + 1);
      else if (f.type === 'numeric') numeric.get(f.name)!.add(v as number);
      else categorical.get(f.name)!.add(v as string);
    }
  }
  const columns: Record<string, ColumnProfile> = {};
  const sketches: Record<string, NumericSketch> = {};
  for (const f of FEATURES) {
    if (f.type === 'numeric') {
      const stats = numeric.get(f.name)!;
      columns[f.name] = stats.profile(missing.get(f.name)!, 10);
      sketches[f.name] = stats.driftSketch()!;
    } else columns[f.name] = categorical.get(f.name)!.profile(missing.get(f.name)!, 50);
  }
  return { rows, columns, sketches };
}

function writeCaptures(file: string, rows: number): void {
  const random = prng(2);
  const fd = fs.openSync(file, 'w');
  let buffer = '';
  const at = new Date('2025-01-01T00:00:00.000Z').toISOString();
  for (let r = 0; r < rows; r++) {
    // Half the rows shifted on three features, so that the tests have something to find.
    const instance = row(random, r % 2 === 0 ? 0 : 0.5);
    buffer += `${JSON.stringify({ requestId: `req-${Math.floor(r / 100)}`, at, model: 'bench', version: 1, instance, prediction: prediction(random), latencyMs: 1.5 })}\n`;
    if (buffer.length > 1 << 20) {
      fs.writeSync(fd, buffer);
      buffer = '';
    }
  }
  fs.writeSync(fd, buffer);
  fs.closeSync(fd);
}

interface PhaseResult {
  phase: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  peakRssMb: number;
  heapUsedMb: number;
  /** Heap still used after a full GC at the end, the accumulators alive: what the pass keeps. */
  retainedHeapMb: number;
  datasetDrift?: boolean;
  driftShare?: number;
}

/** One phase, in this (child) process. */
async function phase(name: 'parse' | 'drift', file: string, profileFile: string): Promise<PhaseResult> {
  const profile = JSON.parse(fs.readFileSync(profileFile, 'utf8')) as { features: DatasetProfile; outputs: DatasetProfile };
  const columns = predictionColumns(CARD);
  const features = name === 'drift' ? new DriftAccumulator(FEATURES, profile.features) : null;
  const outputs = name === 'drift' ? new DriftAccumulator(columns, profile.outputs) : null;
  const started = performance.now();
  let rows = 0;
  let checksum = 0;
  const lines = createInterface({ input: fs.createReadStream(file, { highWaterMark: 1 << 20 }), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line === '') continue;
    const record = JSON.parse(line) as { instance: Record<string, unknown>; prediction: Prediction };
    rows++;
    if (features && outputs) {
      features.add(record.instance);
      outputs.add(predictionRow(columns, record.prediction));
    } else checksum += record.instance === undefined ? 0 : 1;
  }
  const report = features?.report();
  outputs?.report();
  const seconds = (performance.now() - started) / 1000;
  if (checksum < 0) throw new Error('unreachable');
  const heapUsedMb = Math.round(process.memoryUsage().heapUsed / 2 ** 20);
  (globalThis as { gc?: () => void }).gc?.();
  const retainedHeapMb = Number((process.memoryUsage().heapUsed / 2 ** 20).toFixed(1));
  if (features && features.rows !== rows) throw new Error('the accumulator lost rows');
  return {
    phase: name,
    rows,
    seconds: Number(seconds.toFixed(2)),
    rowsPerSecond: Math.round(rows / seconds),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    heapUsedMb,
    retainedHeapMb,
    ...(report ? { datasetDrift: report.datasetDrift, driftShare: Number(report.driftShare.toFixed(2)) } : {}),
  };
}

function runChild(name: 'parse' | 'drift', file: string, profileFile: string): PhaseResult {
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, '--expose-gc', __filename, '--drift-bench-phase', name, file, profileFile],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (child.status !== 0) throw new Error(`bench phase ${name} failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop()!) as PhaseResult;
}

export async function run(): Promise<unknown> {
  const large = Number(process.env.MLOOP_BENCH_ROWS ?? 1_000_000);
  const small = Math.round(large / 10);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-bench-drift-'));
  try {
    const profileFile = path.join(dir, 'profile.json');
    const random = prng(3);
    const testPredictions = Array.from({ length: 500 }, () => prediction(random));
    fs.writeFileSync(profileFile, JSON.stringify({ features: referenceProfile(20000), outputs: predictionProfile(CARD, testPredictions) }));
    const result: Record<string, unknown> = {
      features: FEATURES.length,
      numeric: NUMERIC,
      categorical: CATEGORICAL,
      cpus: os.cpus().length,
      node: process.version,
    };
    for (const rows of [small, large]) {
      const file = path.join(dir, `captures-${rows}.jsonl`);
      process.stderr.write(`  writing ${rows} capture lines...\n`);
      writeCaptures(file, rows);
      const bytes = fs.statSync(file).size;
      process.stderr.write(`  ${rows} rows (${(bytes / 2 ** 20).toFixed(0)} MiB): read and parse...\n`);
      const parse = runChild('parse', file, profileFile);
      process.stderr.write(`  ${rows} rows: drift...\n`);
      const drift = runChild('drift', file, profileFile);
      fs.rmSync(file);
      result[`rows_${rows}`] = {
        megabytes: Math.round(bytes / 2 ** 20),
        parse,
        drift,
        timeRatio: Number((drift.seconds / parse.seconds).toFixed(2)),
        rssRatio: Number((drift.peakRssMb / parse.peakRssMb).toFixed(2)),
      };
    }
    const a = result[`rows_${small}`] as { drift: PhaseResult };
    const b = result[`rows_${large}`] as { drift: PhaseResult; timeRatio: number };
    result.summary = {
      driftRowsPerSecond: b.drift.rowsPerSecond,
      timeRatioToParse: b.timeRatio,
      targetRatio: 2,
      peakRssMb: { [small]: a.drift.peakRssMb, [large]: b.drift.peakRssMb },
      retainedHeapMb: { [small]: a.drift.retainedHeapMb, [large]: b.drift.retainedHeapMb },
      peakRssGrowthFromTenTimesTheRows: Number((b.drift.peakRssMb / a.drift.peakRssMb).toFixed(2)),
    };
    return result;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--drift-bench-phase') {
  const [, , , name, file, profileFile] = process.argv;
  phase(name as 'parse' | 'drift', file, profileFile).then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (error: Error) => {
      process.stderr.write(`${error.stack ?? error.message}\n`);
      process.exit(1);
    },
  );
}
