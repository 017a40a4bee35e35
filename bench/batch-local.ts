/**
 * Part of `npm run bench -- batch` (bench/batch.ts): a file scored end to end on the local stack
 * (`mloop score`: the drop under batch/, the batch state machine's plan, Distributed Map of
 * score-part and merge, the predictions file written), once in one part and once in parts side by
 * side, in wall seconds. Each run is a process of its own (PART_BYTES is read when the batch
 * function's module loads), on the home where bench/batch.ts trained the model; the process's
 * peak RSS is its memory for the whole run.
 *
 * The local runtime runs the Map's parts in one Node.js process, on one JavaScript thread: side
 * by side there means interleaved, not in parallel (on AWS each part is a Lambda of its own).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scoreCommand } from '../bin/commands/score';
import { localTarget } from '../bin/local-target';
import { s3Keys } from '../lambdas/shared/layout';
import { logger } from '../lambdas/shared/observability';
import { getJson } from '../lambdas/shared/storage';
import { LocalCloud } from '../local/cloud';

export interface LocalBatchRun {
  readonly parts: number;
  readonly partBytes: number;
  readonly rowsScored: number;
  /** `mloop score` from the drop to the predictions file written. */
  readonly seconds: number;
  /** Plan to merge, as the manifest has it. */
  readonly runSeconds: number;
  /** The parts' own times added up, and the slowest part's (interleaved locally: each includes waiting for the others). */
  readonly partsTotalSeconds: number;
  readonly slowestPartSeconds: number;
  readonly peakRssMiB: number;
}

/** Score `file` on the local stack in `home` with parts of `partBytes`, in a process of its own. */
export function scoreLocally(home: string, model: string, file: string, partBytes: number): LocalBatchRun {
  const child = spawnSync(process.execPath, ['--require', 'tsx/cjs', __filename, 'worker', home, model, file], {
    encoding: 'utf8',
    maxBuffer: 16 * 2 ** 20,
    cwd: path.resolve(__dirname, '..'),
    env: { ...process.env, PART_BYTES: String(partBytes), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  if (child.status !== 0) throw new Error(`bench batch: scoring ${file} locally failed: ${child.stderr.slice(-2000)}`);
  return { partBytes, ...(JSON.parse(child.stdout.trim().split('\n').pop()!) as Omit<LocalBatchRun, 'partBytes'>) };
}

async function worker(home: string, model: string, file: string): Promise<void> {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  logger.setLogLevel('SILENT');
  const cloud = await LocalCloud.start({ home, log: () => {} });
  try {
    const output = `${file}.predictions.csv`;
    const io = { json: true, out: () => undefined, err: () => undefined };
    const started = performance.now();
    // --force: the same bytes were scored by the same version in the other run.
    const result = await scoreCommand(io, await localTarget(cloud), { model, input: file, output, force: true });
    const seconds = (performance.now() - started) / 1000;
    if (result.status !== 'SUCCEEDED') throw new Error(`the run ended ${result.status}`);
    const manifest = await getJson<{ parts: { totalMs: number }[]; timings: { wallMs: number; partsTotalMs: number } }>(
      cloud.dataBucket,
      s3Keys.batchManifest(model, result.execution),
    );
    fs.rmSync(output, { force: true });
    const run: Omit<LocalBatchRun, 'partBytes'> = {
      parts: manifest.parts.length,
      rowsScored: result.rowsScored ?? 0,
      seconds: Number(seconds.toFixed(2)),
      runSeconds: Number((manifest.timings.wallMs / 1000).toFixed(2)),
      partsTotalSeconds: Number((manifest.timings.partsTotalMs / 1000).toFixed(2)),
      slowestPartSeconds: Number((Math.max(...manifest.parts.map((p) => p.totalMs)) / 1000).toFixed(2)),
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    };
    process.stdout.write(JSON.stringify(run) + '\n');
  } finally {
    await cloud.stop();
  }
}

if (require.main === module && process.argv[2] === 'worker') {
  worker(process.argv[3], process.argv[4], process.argv[5]).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
