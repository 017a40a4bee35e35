/**
 * `mloop models promote|rollback|history|lineage|approve|reject|tag|archive`: the registry's admin function
 * (lambdas/registry/models-handler.ts), invoked as the local runtime invokes every handler. With
 * --json, exactly one JSON document on stdout (the function's answer); errors are one line.
 *
 * Who acts: `user:<operating-system user>` (os.userInfo()), recorded in the alias history and the
 * approval.
 */
import * as os from 'node:os';
import { InvalidInput } from '../../lambdas/shared/errors';
import type { AliasChange, AliasHistory } from '../../lambdas/registry/aliases';
import type { Lineage } from '../../lambdas/registry/lineage';
import type { ApprovalDecision } from '../../lambdas/registry/approval';
import type { VersionArchive, VersionTags } from '../../lambdas/registry/versions';
import type { ModelsRequest } from '../../lambdas/registry/models-handler';
import { assertModelName } from '../../lambdas/shared/layout';
import type { LocalCloud } from '../../local/cloud';
import { targetOf } from '../local-target';
import { withTarget } from '../open-target';
import type { LoopTarget } from '../target';

export interface ModelsIo {
  json: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
}

type Values = Record<string, string | string[] | boolean | undefined>;

export const MODELS_SUBCOMMANDS = ['list', 'promote', 'rollback', 'history', 'lineage', 'approve', 'reject', 'tag', 'archive'] as const;

export const MODELS_USAGE = `  mloop models promote --model NAME --version N [--alias A] [--reason TEXT]
  mloop models rollback --model NAME [--version N] [--alias A] [--reason TEXT]
  mloop models history --model NAME [--alias A]
  mloop models lineage --model NAME --version N
  mloop models approve|reject --model NAME --version N --reason TEXT
  mloop models tag --model NAME --version N [--tag KEY=VALUE ...] [--untag KEY ...]
  mloop models archive --model NAME --version N [--reason TEXT]`;

/** The CLI user, as recorded in the registry. */
export function cliUser(): string {
  let name: string | undefined;
  try {
    name = os.userInfo().username;
  } catch {
    name = process.env.USER ?? process.env.USERNAME;
  }
  return `user:${name || 'unknown'}`;
}

function model(values: Values): string {
  if (typeof values.model !== 'string' || values.model === '') throw new InvalidInput('--model NAME is required.');
  return assertModelName(values.model);
}

function version(values: Values, required: true): number;
function version(values: Values, required: false): number | undefined;
function version(values: Values, required: boolean): number | undefined {
  const raw = values.version;
  if (raw === undefined) {
    if (required) throw new InvalidInput('--version N is required.');
    return undefined;
  }
  const n = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidInput(`--version must be a positive integer, got '${String(raw)}'.`);
  }
  return n;
}

function text(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

function list(values: Values, name: string): string[] {
  const v = values[name];
  if (v === undefined || typeof v === 'boolean') return [];
  return Array.isArray(v) ? v : [v];
}

/** `--tag KEY=VALUE` (split at the first '='), repeatable. */
function tags(values: Values): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of list(values, 'tag')) {
    const at = raw.indexOf('=');
    if (at <= 0) throw new InvalidInput(`--tag '${raw}' is not valid: expected KEY=VALUE.`);
    const key = raw.slice(0, at);
    if (key in out) throw new InvalidInput(`Tag '${key}' is given twice.`);
    out[key] = raw.slice(at + 1);
  }
  return out;
}

/** The request a `models` subcommand sends to the admin function. */
export function modelsRequest(sub: string, values: Values, by: string = cliUser()): ModelsRequest {
  switch (sub) {
    case 'promote':
      return {
        action: 'promote',
        model: model(values),
        version: version(values, true),
        alias: text(values, 'alias'),
        reason: text(values, 'reason'),
        by,
      };
    case 'rollback':
      return {
        action: 'rollback',
        model: model(values),
        version: version(values, false),
        alias: text(values, 'alias'),
        reason: text(values, 'reason'),
        by,
      };
    case 'history':
      return { action: 'history', model: model(values), alias: text(values, 'alias') };
    case 'lineage':
      return { action: 'lineage', model: model(values), version: version(values, true) };
    case 'approve':
    case 'reject': {
      const reason = text(values, 'reason');
      const request = { model: model(values), version: version(values, true) };
      if (!reason || reason.trim() === '') throw new InvalidInput(`--reason TEXT is required to ${sub} a version.`);
      return { action: sub, ...request, reason, by };
    }
    case 'tag': {
      const request = { model: model(values), version: version(values, true), tags: tags(values), untag: list(values, 'untag') };
      if (Object.keys(request.tags).length === 0 && request.untag.length === 0)
        throw new InvalidInput('Nothing to do: give at least one --tag KEY=VALUE or --untag KEY.');
      return { action: 'tag', ...request, by };
    }
    case 'archive':
      return { action: 'archive', model: model(values), version: version(values, true), reason: text(values, 'reason'), by };
    default:
      throw new InvalidInput(
        `Unknown command 'models ${sub}': expected one of ${MODELS_SUBCOMMANDS.map((s) => `'models ${s}'`).join(', ')}.`,
      );
  }
}

const v = (n: number | null) => (n === null ? 'none' : `v${n}`);

function describeChange(c: AliasChange): string {
  if (!c.changed) return `${c.model}: ${c.reason}`;
  const lines = [
    `${c.model}: ${c.alias} ${v(c.fromVersion)} -> v${c.toVersion} (${c.action} by ${c.by}, revision ${c.revision})`,
    `  reason: ${c.reason}`,
  ];
  if (!c.eventsPublished) lines.push('  warning: the change is recorded, but its events were not all published (see the logs).');
  return lines.join('\n');
}

function describeHistory(h: AliasHistory): string {
  const lines: string[] = [];
  if (h.aliases.length === 0) lines.push(`${h.model} has no aliases yet.`);
  for (const a of h.aliases) lines.push(`${h.model} ${a.alias} -> v${a.version} (since ${a.updatedAt}, by ${a.updatedBy})`);
  if (h.history.length > 0) lines.push('history (oldest first):');
  for (const e of h.history) {
    lines.push(`  ${e.alias} #${e.revision} ${e.at}  ${v(e.fromVersion)} -> v${e.toVersion}  ${e.action} by ${e.by}: ${e.reason}`);
  }
  return lines.join('\n');
}

function describeLineage(l: Lineage): string {
  const metrics = Object.entries(l.metrics)
    .map(([k, x]) => `${k}=${Number.isInteger(x) ? x : x.toFixed(4)}`)
    .join(' ');
  const d = l.dataset;
  return [
    `${l.model} v${l.version} (${l.status}${l.aliases.length ? `, ${l.aliases.join(', ')}` : ''}), ${l.task}, registered ${l.createdAt}`,
    `  dataset:     v${d.version} sha256 ${d.sha256}`,
    `               ${d.s3Uri ?? '?'}${d.s3VersionId ? ` (S3 version ${d.s3VersionId})` : ''}${d.rows !== null ? `, ${d.rows} rows` : ''}`,
    `  training:    job ${l.training.job}, execution ${l.training.execution}`,
    `  trainer:     ${describeTrainer(l.training)}`,
    `  code:        ${l.training.codeVersion}`,
    `  hyperparams: ${JSON.stringify(l.training.hyperparameters)}`,
    `  metrics:     ${metrics}`,
    `  evaluation:  ${l.evaluation.reportUri}`,
    `  decision:    ${l.evaluation.decision}`,
    `  model:       ${l.artifact.onnxUri} (sha256 ${l.artifact.sha256})`,
    ...(l.approval
      ? [
          `  approval:    ${l.approval.decision ?? 'pending'}${l.approval.decidedBy ? ` by ${l.approval.decidedBy}` : ''}${l.approval.reason ? `: ${l.approval.reason}` : ''}`,
        ]
      : []),
  ].join('\n');
}

/** `xgboost`, or with auto `xgboost (auto; mlp log_loss=0.4123, xgboost log_loss=0.3810)`; `unrecorded` for an older version. */
export function describeTrainer(training: Pick<Lineage['training'], 'trainer' | 'candidates'>): string {
  if (training.trainer === null) return 'unrecorded';
  if (training.candidates === null) return training.trainer;
  const candidates = Object.entries(training.candidates).map(([name, c]) => {
    if (c.error !== undefined || c.validationMetrics === undefined) return `${name} failed: ${c.error ?? 'no metrics'}`;
    const headline = 'log_loss' in c.validationMetrics ? 'log_loss' : 'rmse';
    const value = c.validationMetrics[headline];
    return `${name} ${headline}=${value === undefined ? '?' : value.toFixed(4)}`;
  });
  return `${training.trainer} (auto; ${candidates.join(', ')})`;
}

function describeTags(t: VersionTags): string {
  const entries = Object.entries(t.tags);
  return [`${t.model} v${t.version} tags:${entries.length === 0 ? ' none' : ''}`, ...entries.map(([k, x]) => `  ${k}=${x}`)].join('\n');
}

function describeArchive(a: VersionArchive): string {
  if (!a.changed) return `${a.model}: ${a.reason}`;
  const lines = [`${a.model}: v${a.version} ${a.fromStatus} -> archived (by ${a.by} at ${a.at})`, `  reason: ${a.reason}`];
  if (!a.eventsPublished) lines.push('  warning: the archive is recorded, but its event was not published (see the logs).');
  return lines.join('\n');
}

function describeDecision(d: ApprovalDecision): string {
  return `${d.message}\n  ${d.decision} by ${d.by} at ${d.decidedAt}: ${d.reason}`;
}

/** Run a `models` subcommand (other than `list`) against a started stack. */
export async function runModelsCommand(on: LoopTarget | LocalCloud, io: ModelsIo, sub: string, values: Values): Promise<number> {
  const request = modelsRequest(sub, values);
  const result = await (await targetOf(on)).invoke('models', request);
  if (io.json) {
    io.out(JSON.stringify(result));
    return 0;
  }
  switch (request.action) {
    case 'promote':
    case 'rollback':
      io.out(describeChange(result as AliasChange));
      break;
    case 'history':
      io.out(describeHistory(result as AliasHistory));
      break;
    case 'lineage':
      io.out(describeLineage(result as Lineage));
      break;
    case 'tag':
      io.out(describeTags(result as VersionTags));
      break;
    case 'archive':
      io.out(describeArchive(result as VersionArchive));
      break;
    default:
      io.out(describeDecision(result as ApprovalDecision));
  }
  return 0;
}

/** `mloop models <sub>`: validate the arguments first, then open the stack (local, or --stack) and run it. */
export async function commandModels(io: ModelsIo, sub: string | undefined, values: Values): Promise<number> {
  modelsRequest(sub ?? '', values); // fail on bad arguments before starting anything
  return withTarget(io, values, (stack) => runModelsCommand(stack, io, sub!, values));
}
