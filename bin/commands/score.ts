/**
 * `mloop score --model NAME --input FILE [--output FILE] [--version N | --alias A] [--id-column C]`:
 * drops FILE under batch/<model>/ (the version or alias, and the id column, as the file's S3
 * metadata), waits for the batch execution it starts (locally in-process, or on the deployed
 * stack with --stack), and writes the predictions of every part, in order, to one local file (and
 * the rejected rows, with their lines and reasons, beside it).
 *
 * --json prints {status, model, version, rowsIn, rowsScored, rowsRejected, output, errors, execution}.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BATCH_METADATA, type BatchSummary } from '../../lambdas/batch/runs';
import { formatFromName } from '../../lambdas/data/formats';
import { parseS3Uri, s3Keys } from '../../lambdas/shared/layout';
import { getBytes, listKeys } from '../../lambdas/shared/storage';
import { CliError } from '../cli-error';
import type { LoopTarget } from '../target';

export const SCORE_USAGE = `  mloop score --model NAME --input FILE [--output FILE] [--version N | --alias A] [--id-column C] [--force]
                                                         score every row of FILE (CSV, JSON Lines, Parquet, gzip)`;

export interface ScoreIo {
  json: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
}

export interface ScoreOptions {
  readonly model: string;
  readonly input: string;
  readonly output?: string;
  readonly version?: string;
  readonly alias?: string;
  readonly idColumn?: string;
  /** Score again even when the same bytes were scored by the same version before. */
  readonly force?: boolean;
}

/** What `mloop score --json` prints. */
export interface ScoreResult {
  /** DUPLICATE: the same bytes were scored by the same version before; the output is that run's predictions. */
  readonly status: 'SUCCEEDED' | 'DUPLICATE' | 'FAILED';
  readonly model: string;
  readonly version: number | null;
  readonly rowsIn: number | null;
  readonly rowsScored: number | null;
  readonly rowsRejected: number | null;
  /** The local predictions file. */
  readonly output: string | null;
  /** The local file of rejected rows (JSON Lines: line, reason), or null when none was rejected. */
  readonly errors: string | null;
  readonly execution: string;
}

/** The default output: `<input name>.predictions.csv` (or .jsonl) beside the input. */
export function defaultOutput(input: string): string {
  const { format } = formatFromName(input);
  const base = path
    .basename(input)
    .replace(/(\.gz)?$/i, '')
    .replace(/\.[^.]*$/, '');
  return path.join(path.dirname(input), `${base}.predictions.${format === 'jsonl' ? 'jsonl' : 'csv'}`);
}

/** The parts' objects under a prefix, in part order, joined: a CSV part's header is kept once. */
async function joinParts(bucket: string, prefix: string, suffix: string, csv: boolean): Promise<Buffer> {
  const keys = (await listKeys(bucket, prefix)).filter((k) => /\/part-\d+\.[a-z]+$/.test(k) && k.endsWith(suffix)).sort();
  const chunks: Buffer[] = [];
  for (const [i, key] of keys.entries()) {
    let bytes = await getBytes(bucket, key);
    if (csv && i > 0) {
      const lf = bytes.indexOf(10);
      bytes = lf === -1 ? Buffer.alloc(0) : bytes.subarray(lf + 1);
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}

export async function scoreCommand(io: ScoreIo, target: LoopTarget, options: ScoreOptions): Promise<ScoreResult> {
  if (options.version !== undefined && options.alias !== undefined) throw new CliError('Give either --version or --alias, not both.');
  if (options.version !== undefined && !/^[1-9]\d*$/.test(options.version))
    throw new CliError(`--version must be a positive integer, got '${options.version}'.`);
  let body: Buffer;
  try {
    body = fs.readFileSync(options.input);
  } catch (error) {
    throw new CliError(`Cannot read --input ${options.input}: ${(error as Error).message}`);
  }
  const metadata: Record<string, string> = {
    ...(options.version !== undefined ? { [BATCH_METADATA.version]: options.version } : {}),
    ...(options.alias !== undefined ? { [BATCH_METADATA.alias]: options.alias } : {}),
    ...(options.idColumn !== undefined ? { [BATCH_METADATA.idColumn]: options.idColumn } : {}),
    ...(options.force ? { [BATCH_METADATA.force]: 'true' } : {}),
  };
  const key = s3Keys.batchInput(options.model, path.basename(options.input));
  const execution = await target.dropBatchFile(key, body, metadata);
  io.err(`scoring ${options.input} with ${options.model} (execution ${execution})...`);
  const end = await target.waitForBatch(execution);
  if (end.status !== 'SUCCEEDED' || !end.output) {
    const result: ScoreResult = {
      status: 'FAILED',
      model: options.model,
      version: null,
      rowsIn: null,
      rowsScored: null,
      rowsRejected: null,
      output: null,
      errors: null,
      execution,
    };
    if (io.json) io.out(JSON.stringify(result));
    throw new CliError(
      `Batch scoring of ${options.input} failed: ${[end.error, end.cause].filter(Boolean).join(': ') || 'no reason given'}`,
      null,
    );
  }
  const summary = end.output as unknown as BatchSummary;
  const output = path.resolve(options.output ?? defaultOutput(options.input));
  const predictions = parseS3Uri(summary.predictions);
  // JSON Lines in, JSON Lines out; CSV and Parquet in, CSV out.
  const ext = formatFromName(options.input).format === 'jsonl' ? '.jsonl' : '.csv';
  fs.mkdirSync(path.dirname(output), { recursive: true });
  fs.writeFileSync(output, await joinParts(predictions.bucket, predictions.key, ext, ext === '.csv'));
  let errors: string | null = null;
  if (summary.rowsRejected > 0) {
    const e = parseS3Uri(summary.errors);
    errors = `${output.replace(/\.(csv|jsonl)$/, '')}.errors.jsonl`;
    fs.writeFileSync(errors, await joinParts(e.bucket, e.key, '.jsonl', false));
  }
  const result: ScoreResult = {
    status: summary.status,
    model: summary.model,
    version: summary.version,
    rowsIn: summary.rowsIn,
    rowsScored: summary.rowsScored,
    rowsRejected: summary.rowsRejected,
    output,
    errors,
    execution,
  };
  if (io.json) io.out(JSON.stringify(result));
  else {
    if (summary.status === 'DUPLICATE')
      io.out(
        `These bytes were scored by v${summary.version} already (run ${summary.run}): its predictions, not scored again (--force scores again).`,
      );
    io.out(`${summary.model} v${summary.version}: ${summary.rowsScored} of ${summary.rowsIn} rows scored -> ${output}`);
    if (errors) io.out(`${summary.rowsRejected} rows rejected (line and reason each) -> ${errors}`);
  }
  return result;
}
