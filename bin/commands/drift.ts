/**
 * `mloop drift --model NAME [--window 24h] [--json]`: runs the drift monitor's handler now, as the
 * local runtime invokes every handler, or, with --stack, through Lambda Invoke (captures since the
 * last run, or those of the last window), prints the verdict per feature, and fetches the HTML
 * report the monitor put in S3 beside the JSON report to <MLOOP_HOME>/reports/<model>/drift-<timestamp>.html.
 *
 * --json prints the run: {"datasetDrift", "driftShare", "rows", "rowsBySource": {"api", "batch"}, "features": [{"name", "test",
 * "statistic", "pValue", "threshold", "drifted", ...}], "predictionDrift", "quality", "retrain",
 * "report": {"json": <s3 uri>, "html": <s3 uri>, "file": <local path>}, ...}.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidInput } from '../../lambdas/shared/errors';
import { DRIFT_TESTS, parseWindow } from '../../lambdas/monitoring/config';
import type { FeatureDrift } from '../../lambdas/monitoring/drift-report';
import type { DriftRun } from '../../lambdas/monitoring/drift-run';
import { getBytes } from '../../lambdas/shared/storage';
import type { LocalCloud } from '../../local/cloud';
import { targetOf } from '../local-target';
import type { LoopTarget } from '../target';

export const DRIFT_USAGE = `  mloop drift --model NAME [--window 24h]                run the drift monitor now (since its last run, or the last window)`;

export interface DriftIo {
  json: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
}

export interface DriftCommandResult extends Omit<DriftRun, 'report'> {
  readonly report: { readonly json: string; readonly html: string; readonly file: string };
}

/** The local HTML report's path. */
export function localReportPath(home: string, model: string, generatedAt: string): string {
  return path.join(home, 'reports', model, `drift-${generatedAt.replace(/[:.]/g, '-')}.html`);
}

function fmt(value: number | null): string {
  if (value === null) return 'n/a';
  if (value === Number.MAX_VALUE) return 'inf';
  return value !== 0 && Math.abs(value) < 1e-4 ? value.toExponential(2) : value.toFixed(4);
}

function featureLine(f: FeatureDrift): string {
  const score =
    DRIFT_TESTS[f.test].kind === 'p_value'
      ? `${fmt(f.statistic)} p=${fmt(f.pValue)} (< ${f.threshold} drifts)`
      : `${fmt(f.statistic)} (>= ${f.threshold} drifts)`;
  const nulls = f.nullShare.drifted
    ? `  NULLS ${(f.nullShare.reference * 100).toFixed(1)}% -> ${(f.nullShare.current * 100).toFixed(1)}%`
    : '';
  return `  ${f.name.padEnd(22)} ${f.test.padEnd(13)} ${score.padEnd(34)} ${f.statistic === null ? 'untested' : f.drifted ? 'DRIFTED' : 'ok'}${nulls}${f.warning ? `  (${f.warning})` : ''}`;
}

/**
 * A run in words: the verdict per feature, prediction drift, quality and retraining, and where the
 * report is (the local HTML file when the command wrote one, else the S3 one). `mloop drift` and
 * `mloop demo` print it.
 */
export function describeDriftRun(run: DriftRun | DriftCommandResult): string {
  const over = run.window.mode === 'window' ? `the last ${run.window.label ?? `${run.window.seconds}s`}` : 'captures since the last run';
  const lines = [
    `Drift for ${run.model} v${run.modelVersion} over ${run.rows} rows${run.rowsBySource.batch ? ` (${run.rowsBySource.batch} from batch scoring)` : ''} (${over}): ${run.datasetDrift ? 'DATASET DRIFT' : 'no dataset drift'} (${run.drifted} of ${run.tested} features, share ${run.driftShare.toFixed(2)}, threshold ${run.driftShareThreshold})`,
    ...run.features.map(featureLine),
  ];
  if (run.predictionDrift) {
    lines.push(
      `Prediction drift: ${run.predictionDrift.detected ? 'DRIFTED' : 'no drift'} (share ${run.predictionDrift.driftShare.toFixed(2)})`,
    );
    lines.push(...run.predictionDrift.features.map(featureLine));
  } else if (run.predictionDriftWarning) lines.push(`Prediction drift: ${run.predictionDriftWarning}`);
  if (run.quality) {
    const q = run.quality;
    lines.push(
      q.value === null
        ? `Quality: ${q.warning ?? 'no labelled predictions'}`
        : `Quality: ${q.metric} ${q.value.toFixed(4)} over ${q.rows} labelled predictions, ${q.reference === null ? 'no reference' : `${q.reference.toFixed(4)} at evaluation`}: ${q.dropped ? 'QUALITY DROP' : 'ok'}${q.drop === null ? '' : ` (${(q.drop * 100).toFixed(1)}% worse, alarm above ${(q.margin * 100).toFixed(1)}%)`}`,
    );
  }
  if (run.retrain)
    lines.push(
      `Retraining: ${run.retrain.action === 'retrain' ? `started (${run.retrain.reason}): ${run.retrain.datasetUri}` : run.retrain.reason}`,
    );
  lines.push(`  report: ${run.report.json}`, `  html:   ${'file' in run.report ? run.report.file : run.report.html}`);
  return lines.join('\n');
}

/** Run the monitor for one model through its function and fetch the HTML report it wrote to S3. */
export async function runDriftCommand(on: LoopTarget | LocalCloud, model: string, window?: string): Promise<DriftCommandResult> {
  if (window !== undefined) parseWindow(window); // a bad --window fails before the stack does any work
  const stack = await targetOf(on);
  await stack.flush(); // captures buffered in this process are written before the monitor reads them
  const runs = (await stack.invoke('drift', { model, settleSeconds: 0, ...(window !== undefined ? { window } : {}) })) as DriftRun[];
  const run = runs[0];
  if (!run) throw new InvalidInput(`The drift monitor returned no run for '${model}'.`);
  const html = new URL(run.report.html);
  const file = localReportPath(stack.home, model, run.generatedAt);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, await getBytes(html.host, decodeURIComponent(html.pathname.slice(1))));
  return { ...run, report: { ...run.report, file } };
}

export async function commandDrift(io: DriftIo, on: LoopTarget | LocalCloud, model: string, window: string | undefined): Promise<number> {
  const result = await runDriftCommand(on, model, window);
  if (io.json) io.out(JSON.stringify(result));
  else io.out(describeDriftRun(result));
  return 0;
}
