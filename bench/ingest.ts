/**
 * Ingestion benchmark (`npm run bench -- ingest`): throughput and peak memory of the dataset scan
 * against the raw parse of the same file by each candidate parser, in the same run.
 *
 * For a generated CSV of 100 MB (and 1 GB with MLOOP_BENCH_LARGE=1), each measured in a fresh
 * child process so that its peak resident memory is its own, every one reading the same source
 * (see `source`):
 * - read: the source alone, nothing done with the bytes (the floor of every pass);
 * - csv-parse, papaparse, udsv, udsv-typed: each parser alone, its records counted and nothing
 *   else (papaparse and uDSV to arrays of strings; uDSV typed: numbers typed by its inferred
 *   schema), the candidates the scan's parser was chosen from;
 * - scan: scanDataset over the same stream: SHA-256, UTF-8 and line tracking, parsing, schema
 *   inference, every check and the profile (lambdas/data/scan.ts);
 * - splits: writeSplits alone, as ingestion runs it (re-reading the file, hashing each row, counting
 *   the train split's categories, writing the three CSVs to
 *   sinks that drop the bytes);
 * - full: scan then splits in one process, what ingesting a file costs (target: at least 50 MB/s
 *   per core, and at most twice the time of the fastest raw parse);
 * - scan-gz: scanDataset over the gzip-compressed file (gunzip as a stream);
 * - parts: the file cut into PARTS byte ranges, each scanned by scanPart (one after another in one
 *   process, each part's state through JSON as the Map's Scan part writes it to S3), then merged by
 *   PartMerger: the cost of ingestion in parts (lambdas/data/parts.ts) against one pass, and the
 *   wall time the Map state would take with the parts side by side (the slowest part + the merge);
 * - idle: a child that only loads the scan's modules, the floor of every peak.
 * Each figure is the median of MLOOP_BENCH_REPEATS runs (default 3) taken in turns, on wall and on
 * CPU seconds (MB/s per core: the CPU figure, less sensitive to other load on the machine); the
 * ratios are against the fastest raw parse of the run. Peak memory should not grow with the file.
 *
 * Data: 8 numeric columns (1% missing), 2 categorical ones, a 0/1 target; about 72 bytes a row.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { prng } from '../local/demo-data';
import type { DatasetSchema } from '../lambdas/shared/types';

const MB = 1024 * 1024;
/** An S3 body arrives in chunks of about this size: every pass gets its bytes in chunks of this size. */
const CHUNK = 64 * 1024;
/** The file is read this much at a time and cut into CHUNKs (see `source`). */
const READ = MB;

/** Raw parses: each candidate parser alone. */
const PARSERS = ['csv-parse', 'papaparse', 'udsv', 'udsv-typed'] as const;
type Parser = (typeof PARSERS)[number];
type Mode = 'idle' | 'read' | Parser | 'scan' | 'splits' | 'full' | 'scan-gz' | 'parts';

/** Parts of the `parts` measurement. */
const PARTS = 8;

interface Measure {
  seconds: number;
  /** User + system CPU seconds of the child: less sensitive than wall time to other load on the machine. */
  cpuSeconds: number;
  mbPerSecond: number;
  /** MB per CPU second: the throughput of one core. */
  mbPerCpuSecond: number;
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

/**
 * The file's bytes in CHUNK-sized pieces, as an S3 body hands them over. Read READ bytes at a
 * time and cut without copying: a file stream of 64 KiB reads costs about 0.3 s of CPU per 100 MB
 * in fs calls alone on the development container, which is not what a Lambda pays for a socket,
 * and would be a floor under every figure here.
 */
async function* source(file: string): AsyncGenerator<Buffer> {
  for await (const buf of fs.createReadStream(file, { highWaterMark: READ }) as AsyncIterable<Buffer>) {
    for (let at = 0; at < buf.length; at += CHUNK) yield buf.subarray(at, Math.min(buf.length, at + CHUNK));
  }
}

/** Sinks that drop what they are given. */
function nullSinks(): Record<'train' | 'validation' | 'test', Writable> {
  const sink = () => new Writable({ write: (_chunk, _encoding, callback) => callback() });
  return { train: sink(), validation: sink(), test: sink() };
}

/** One parser alone over the source: its records counted (the header included). */
async function rawParse(parser: Parser, file: string): Promise<number> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  let rows = 0;
  if (parser === 'csv-parse') {
    const { Parser } = require('csv-parse') as typeof import('csv-parse');
    const csv = new Parser({ bom: true, relax_column_count: true, skip_empty_lines: true });
    csv.on('data', () => rows++);
    await pipeline(source(file), csv);
  } else if (parser === 'papaparse') {
    // Its own streaming reader (strings, decoded as a stream), a block of rows at a time.
    const Papa = require('papaparse') as typeof import('papaparse');
    await new Promise<void>((resolve, reject) => {
      Papa.parse<string[]>(Readable.from(source(file)) as unknown as File, {
        skipEmptyLines: true,
        chunk: (results) => {
          rows += results.data.length;
        },
        complete: () => resolve(),
        error: reject,
      });
    });
  } else {
    const { inferSchema, initParser } = require('udsv') as typeof import('udsv');
    const decoder = new StringDecoder('utf8');
    let udsv: ReturnType<typeof initParser> | null = null;
    const count = (): void => {
      rows++;
    };
    for await (const buf of source(file)) {
      const text = decoder.write(buf);
      if (udsv === null) {
        udsv = initParser(inferSchema(text));
        rows++; // the header, which uDSV does not hand over
      }
      if (parser === 'udsv') udsv.chunk<string[]>(text, udsv.stringArrs, count);
      else udsv.chunk<unknown[]>(text, udsv.typedArrs, count);
    }
    udsv?.end();
  }
  /* eslint-enable @typescript-eslint/no-require-imports */
  return rows;
}

/** One measurement, in this (child) process: prints its JSON on stdout. */
async function worker(mode: Mode, file: string): Promise<void> {
  // Loaded first, so that `idle` is the floor of the others.
  /* eslint-disable @typescript-eslint/no-require-imports */
  require('csv-parse');
  require('papaparse');
  require('udsv');
  const { scanDataset } = require('../lambdas/data/scan') as typeof import('../lambdas/data/scan');
  const { writeSplits } = require('../lambdas/data/splits') as typeof import('../lambdas/data/splits');
  const { SplitFeatures } = require('../lambdas/data/split-features') as typeof import('../lambdas/data/split-features');
  const { scanPart, partLayout, PartMerger } = require('../lambdas/data/part-scan') as typeof import('../lambdas/data/part-scan');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  let rows = 0;
  const extra: Record<string, number> = {};
  // The generated file's schema, as the scan infers it: what the splits count the train split's categories of.
  let schema: DatasetSchema = {
    target: 'target',
    task: 'classification',
    classes: ['0', '1'],
    columns: [
      ...Array.from({ length: 8 }, (_, i) => ({ name: `n${i}`, type: 'numeric' as const, nullable: true })),
      { name: 'color', type: 'categorical', nullable: false },
      { name: 'plan', type: 'categorical', nullable: false },
      { name: 'target', type: 'numeric', nullable: false },
    ],
  };
  const scan = async (input: AsyncIterable<Buffer>): Promise<number> => {
    const result = await scanDataset(input, { fileName: file });
    if (!result.accepted) throw new Error(`the generated file was rejected: ${result.violations.map((v) => v.message).join(' ')}`);
    schema = result.schema;
    return result.rows;
  };
  // As ingestion writes them: with the train split's vocabularies counted (SplitFeatures).
  const splits = async (): Promise<number> => {
    const counts = await writeSplits(source(file), { fileName: file, features: new SplitFeatures(schema) }, nullSinks());
    return counts.train + counts.validation + counts.test;
  };
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
  } else if (mode === 'read') {
    for await (const buf of source(file)) rows += buf.length > 0 ? 0 : 1;
  } else if ((PARSERS as readonly string[]).includes(mode)) {
    rows = (await rawParse(mode as Parser, file)) - 1; // the header
  } else if (mode === 'scan') {
    rows = await scan(source(file));
  } else if (mode === 'scan-gz') {
    rows = await scan(fs.createReadStream(file, { highWaterMark: CHUNK }));
  } else if (mode === 'splits') {
    rows = await splits();
  } else if (mode === 'full') {
    rows = await scan(source(file));
    if ((await splits()) !== rows) throw new Error('the splits hold another number of rows than the scan counted');
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
    mbPerCpuSecond: Number((sizeMB / out.cpuSeconds).toFixed(1)),
    peakRssMB: Math.round(out.peakRssMB),
    ...(mode === 'idle' || mode === 'read' ? {} : { rows: out.rows }),
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

const ratio = (a: number, b: number): number => Number((a / b).toFixed(2));

export async function run(): Promise<unknown> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-bench-ingest-'));
  const sizes = [100, ...(process.env.MLOOP_BENCH_LARGE === '1' ? [1024] : [])];
  const results: unknown[] = [];
  const modes = ['read', ...PARSERS, 'scan', 'splits', 'full', 'scan-gz', 'parts'] as const;
  try {
    for (const sizeMB of sizes) {
      const file = path.join(dir, `data-${sizeMB}mb.csv`);
      process.stderr.write(`  generating ${sizeMB} MB of CSV...\n`);
      const rows = await generate(file, sizeMB * MB);
      const actualMB = fs.statSync(file).size / MB;
      await pipeline(fs.createReadStream(file), createGzip({ level: 1 }), fs.createWriteStream(`${file}.gz`));
      const idle = measure('idle', file, actualMB);
      // Interleaved repeats, the median of each: the machine may be busy with other work.
      const runs = Object.fromEntries(modes.map((mode) => [mode, [] as Measure[]])) as Record<(typeof modes)[number], Measure[]>;
      for (let i = 0; i < REPEATS; i++) {
        process.stderr.write(`  ${sizeMB} MB, run ${i + 1} of ${REPEATS}: ${modes.join(', ')}...\n`);
        for (const mode of modes) runs[mode].push(measure(mode, mode === 'scan-gz' ? `${file}.gz` : file, actualMB));
      }
      const m = Object.fromEntries(modes.map((mode) => [mode, median(runs[mode])])) as Record<(typeof modes)[number], Measure>;
      for (const mode of modes) {
        const counted = m[mode].rows;
        if (counted !== undefined && counted !== rows) throw new Error(`row counts differ: generated ${rows}, ${mode} ${counted}`);
      }
      // The fastest raw parse of the run, by CPU seconds (the per-core figure).
      const fastest = PARSERS.reduce((best, parser) => (m[parser].cpuSeconds < m[best].cpuSeconds ? parser : best), PARSERS[0]);
      const parse = m[fastest];
      const result = {
        sizeMB: Number(actualMB.toFixed(1)),
        rows,
        /** MB per CPU second of each pass (one core), the headline figures. */
        mbPerCpuSecond: Object.fromEntries(modes.filter((mode) => mode !== 'parts').map((mode) => [mode, m[mode].mbPerCpuSecond])),
        fastestParse: fastest,
        /** The full scan (scan + splits) over the fastest raw parse, on CPU seconds (target <= 2) and on wall. */
        ratioFullCpu: ratio(m.full.cpuSeconds, parse.cpuSeconds),
        ratioFull: ratio(m.full.seconds, parse.seconds),
        /** The scan alone over the fastest raw parse, on CPU seconds and on wall. */
        ratioScanCpu: ratio(m.scan.cpuSeconds, parse.cpuSeconds),
        ratioScan: ratio(m.scan.seconds, parse.seconds),
        ratioGzip: ratio(m['scan-gz'].seconds, m.scan.seconds),
        /** All the parts' work (scans one after another, JSON, merge) / one pass: the cost of cutting. */
        ratioParts: ratio(m.parts.cpuSeconds, m.scan.cpuSeconds),
        /** One pass / (slowest part + merge): the speed-up with the parts side by side, as in the Map state. */
        partsSpeedup: ratio(m.scan.seconds, (m.parts.slowestPartSeconds ?? 0) + (m.parts.mergeSeconds ?? 0)),
        measures: m,
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
