/**
 * Ingestion benchmark (`npm run bench -- ingest`): throughput and peak memory of the dataset scan
 * against the raw parse of the same file, in the same run.
 *
 * For a generated CSV of 100 MB (and 1 GB with MLOOP_BENCH_LARGE=1), each measured in a fresh
 * child process so that its peak resident memory is its own:
 * - parse: csv-parse alone over a file stream (the records counted, nothing else);
 * - scan: scanDataset over the same stream: SHA-256, UTF-8 and line tracking, parsing, schema
 *   inference, every check and the profile (lambdas/data/scan.ts);
 * - scan-gz: scanDataset over the gzip-compressed file (gunzip as a stream);
 * - parts: the file cut into PARTS byte ranges, each scanned by scanPart (one after another in one
 *   process, each part's state through JSON as the Map's Scan part writes it to S3), then merged by
 *   PartMerger: the cost of ingestion in parts (lambdas/data/parts.ts) against one pass, and the
 *   wall time the Map state would take with the parts side by side (the slowest part + the merge);
 * - idle: a child that only loads the scan's modules, the floor of every peak.
 * The ratio scan/parse is the cost of validation, profiling and hashing on top of the parse
 * (target: at most 1.5), on wall and on CPU seconds, each the median of MLOOP_BENCH_REPEATS runs
 * (default 3) taken in turns; peak memory should not grow with the file size.
 *
 * Data: 8 numeric columns (1% missing), 2 categorical ones, a 0/1 target; about 90 bytes a row.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { prng } from '../local/demo-data';

const MB = 1024 * 1024;
const CHUNK = 64 * 1024; // an S3 body arrives in chunks of about this size

type Mode = 'idle' | 'parse' | 'scan' | 'scan-gz' | 'parts';

/** Parts of the `parts` measurement. */
const PARTS = 8;

interface Measure {
  seconds: number;
  /** User + system CPU seconds of the child: less sensitive than wall time to other load on the machine. */
  cpuSeconds: number;
  mbPerSecond: number;
  peakRssMB: number;
  rows?: number;
  /** `parts`: the slowest part's scan and the merge, in seconds. */
  slowestPartSeconds?: number;
  mergeSeconds?: number;
}

/** Write a CSV of at least `bytes` bytes; returns its row count. */
async function generate(file: string, bytes: number): Promise<number> {
  const random = prng(7);
  const colors = ['red', 'green', 'blue', 'black', 'white'];
  const plans = ['basic', 'plus', 'premium'];
  const out = fs.createWriteStream(file);
  out.write('n0,n1,n2,n3,n4,n5,n6,n7,color,plan,target\n');
  let written = 0;
  let rows = 0;
  while (written < bytes) {
    const lines: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const cells: string[] = [];
      for (let j = 0; j < 8; j++) cells.push(random() < 0.01 ? '' : (random() * 200 - 100).toFixed(3));
      cells.push(colors[Math.floor(random() * colors.length)], plans[Math.floor(random() * plans.length)], random() < 0.4 ? '1' : '0');
      lines.push(cells.join(','));
    }
    const text = lines.join('\n') + '\n';
    written += Buffer.byteLength(text);
    rows += lines.length;
    if (!out.write(text)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return rows;
}

/** One measurement, in this (child) process: prints its JSON on stdout. */
async function worker(mode: Mode, file: string): Promise<void> {
  // Loaded first, so that `idle` is the floor of the others.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { Parser } = require('csv-parse') as typeof import('csv-parse');
  const { scanDataset } = require('../lambdas/data/scan') as typeof import('../lambdas/data/scan');
  const { scanPart, partLayout, PartMerger } = require('../lambdas/data/part-scan') as typeof import('../lambdas/data/part-scan');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  let rows = 0;
  const extra: Record<string, number> = {};
  if (mode === 'parts') {
    const size = fs.statSync(file).size;
    const head = Buffer.alloc(Math.min(size, MB));
    const fd = fs.openSync(file, 'r');
    fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
    const layout = await partLayout(head, 'csv');
    if (!layout) throw new Error('the generated file cannot be cut into parts');
    const partBytes = Math.ceil(size / PARTS);
    const options = { fileName: file };
    const merger = new PartMerger(options);
    let slowest = 0;
    const nominal = (index: number) => ({ index, start: index * partBytes, end: Math.min(size, (index + 1) * partBytes), size });
    const open = (from: number) => fs.createReadStream(file, { start: from, highWaterMark: CHUNK });
    const scans: string[] = [];
    for (let index = 0; index < PARTS; index++) {
      const t = performance.now();
      const part = nominal(index);
      const from = part.start > 0 ? part.start - 1 : 0;
      scans.push(JSON.stringify(await scanPart(open(from), options, { ...part, from, layout })));
      slowest = Math.max(slowest, (performance.now() - t) / 1000);
    }
    const t = performance.now();
    for (let index = 0; index < PARTS; index++) {
      await merger.addOrRescan(JSON.parse(scans[index]), (from) =>
        scanPart(open(from), options, { ...nominal(index), from, aligned: true, layout }),
      );
    }
    const result = merger.result('0'.repeat(64), size);
    if (!result.accepted) throw new Error(`the generated file was rejected in parts: ${result.violations.map((v) => v.message).join(' ')}`);
    rows = result.rows;
    extra.slowestPartSeconds = slowest;
    extra.mergeSeconds = (performance.now() - t) / 1000;
  } else if (mode === 'parse') {
    const parser = new Parser({ bom: true, relax_column_count: true, skip_empty_lines: true });
    parser.on('data', () => rows++);
    await pipeline(fs.createReadStream(file, { highWaterMark: CHUNK }), parser);
    rows -= 1; // the header
  } else if (mode === 'scan' || mode === 'scan-gz') {
    const result = await scanDataset(fs.createReadStream(file, { highWaterMark: CHUNK }), { fileName: file });
    if (!result.accepted) throw new Error(`the generated file was rejected: ${result.violations.map((v) => v.message).join(' ')}`);
    rows = result.rows;
  }
  const seconds = (performance.now() - started) / 1000;
  const usage = process.cpuUsage(cpuStart);
  const cpuSeconds = (usage.user + usage.system) / 1e6;
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ seconds, cpuSeconds, peakRssMB, rows, ...extra }) + '\n');
}

function measure(mode: Mode, file: string, sizeMB: number): Measure {
  const child = spawnSync(process.execPath, ['--require', 'tsx/cjs', __filename, 'worker', mode, file], {
    encoding: 'utf8',
    maxBuffer: 16 * MB,
    cwd: path.resolve(__dirname, '..'),
  });
  if (child.status !== 0) throw new Error(`bench ingest ${mode} failed: ${child.stderr.slice(-2000)}`);
  const out = JSON.parse(child.stdout.trim().split('\n').pop() as string) as {
    seconds: number;
    cpuSeconds: number;
    peakRssMB: number;
    rows: number;
    slowestPartSeconds?: number;
    mergeSeconds?: number;
  };
  return {
    seconds: Number(out.seconds.toFixed(2)),
    cpuSeconds: Number(out.cpuSeconds.toFixed(2)),
    mbPerSecond: Number((sizeMB / out.seconds).toFixed(1)),
    peakRssMB: Math.round(out.peakRssMB),
    ...(mode === 'idle' ? {} : { rows: out.rows }),
    ...(out.slowestPartSeconds !== undefined
      ? { slowestPartSeconds: Number(out.slowestPartSeconds.toFixed(2)), mergeSeconds: Number((out.mergeSeconds ?? 0).toFixed(2)) }
      : {}),
  };
}

/** Runs of each measurement (MLOOP_BENCH_REPEATS, default 3); the median is reported. */
const REPEATS = Math.max(1, Number(process.env.MLOOP_BENCH_REPEATS ?? 3) || 3);

/** The run with the median wall time. */
function median(runs: Measure[]): Measure {
  return [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)];
}

export async function run(): Promise<unknown> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-bench-ingest-'));
  const sizes = [100, ...(process.env.MLOOP_BENCH_LARGE === '1' ? [1024] : [])];
  const results: unknown[] = [];
  try {
    for (const sizeMB of sizes) {
      const file = path.join(dir, `data-${sizeMB}mb.csv`);
      process.stderr.write(`  generating ${sizeMB} MB of CSV...\n`);
      const rows = await generate(file, sizeMB * MB);
      const actualMB = fs.statSync(file).size / MB;
      await pipeline(fs.createReadStream(file), createGzip({ level: 1 }), fs.createWriteStream(`${file}.gz`));
      const idle = measure('idle', file, actualMB);
      // Interleaved repeats, the median of each: the machine may be busy with other work.
      const runs: Record<'parse' | 'scan' | 'scanGz' | 'parts', Measure[]> = { parse: [], scan: [], scanGz: [], parts: [] };
      for (let i = 0; i < REPEATS; i++) {
        process.stderr.write(`  ${sizeMB} MB, run ${i + 1} of ${REPEATS}: raw parse, scan, scan of the gzip file...\n`);
        runs.parse.push(measure('parse', file, actualMB));
        runs.scan.push(measure('scan', file, actualMB));
        runs.scanGz.push(measure('scan-gz', `${file}.gz`, actualMB));
        runs.parts.push(measure('parts', file, actualMB));
      }
      const parts = median(runs.parts);
      const parse = median(runs.parse);
      const scan = median(runs.scan);
      const scanGz = median(runs.scanGz);
      if (parse.rows !== rows || scan.rows !== rows || scanGz.rows !== rows || parts.rows !== rows) {
        throw new Error(
          `row counts differ: generated ${rows}, parse ${parse.rows}, scan ${scan.rows}, scan-gz ${scanGz.rows}, parts ${parts.rows}`,
        );
      }
      const result = {
        sizeMB: Number(actualMB.toFixed(1)),
        rows,
        parse,
        scan,
        scanGzip: scanGz,
        /** scan seconds / raw parse seconds (target <= 1.5). */
        ratio: Number((scan.seconds / parse.seconds).toFixed(2)),
        /** The same on CPU seconds. */
        ratioCpu: Number((scan.cpuSeconds / parse.cpuSeconds).toFixed(2)),
        ratioGzip: Number((scanGz.seconds / parse.seconds).toFixed(2)),
        parts: { ...parts, count: PARTS },
        /** All the parts' work (scans one after another, JSON, merge) / one pass: the cost of cutting. */
        ratioParts: Number((parts.seconds / scan.seconds).toFixed(2)),
        /** One pass / (slowest part + merge): the speed-up with the parts side by side, as in the Map state. */
        partsSpeedup: Number((scan.seconds / ((parts.slowestPartSeconds ?? 0) + (parts.mergeSeconds ?? 0))).toFixed(2)),
        repeats: REPEATS,
        idleRssMB: idle.peakRssMB,
      };
      process.stderr.write(`  ${JSON.stringify(result)}\n`);
      results.push(result);
      fs.rmSync(file, { force: true });
      fs.rmSync(`${file}.gz`, { force: true });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, sizes: results };
}

if (require.main === module && process.argv[2] === 'worker') {
  worker(process.argv[3] as Mode, process.argv[4]).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
