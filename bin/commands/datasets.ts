/**
 * `mloop datasets show|diff`: a dataset version's record with a summary of its profile, and what
 * changed between two versions (lambdas/data/diff.ts). Read from the registry and the data bucket
 * of the local runtime. With --json, exactly one JSON document on stdout; errors are one line.
 */
import { InvalidInput } from '../../lambdas/shared/errors';
import { assertModelName, parseS3Uri, s3Keys } from '../../lambdas/shared/layout';
import type { DatasetRecord } from '../../lambdas/shared/registry/datasets';
import { Registry } from '../../lambdas/shared/registry/registry';
import { getJson } from '../../lambdas/shared/storage';
import type { ColumnProfile, DatasetProfile, DatasetSchema } from '../../lambdas/shared/types';
import type { Violation } from '../../lambdas/data/scan-types';
import { diffDatasets, type ColumnDiff, type DatasetDiff } from '../../lambdas/data/diff';
import { withTarget } from '../open-target';

export interface DatasetsIo {
  json: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
}

type Values = Record<string, string | boolean | undefined>;

export const DATASETS_SUBCOMMANDS = ['list', 'show', 'diff'] as const;

export const DATASETS_USAGE = `  mloop datasets show --model NAME [--version N]          a dataset version (latest by default) and its profile
  mloop datasets diff --model NAME A B                    schema and distribution changes from version A to B`;

/** Categories shown per column in `show`. */
const TOP_CATEGORIES = 5;

function modelOf(values: Values): string {
  if (typeof values.model !== 'string' || values.model === '') throw new InvalidInput('--model NAME is required.');
  return assertModelName(values.model);
}

/** A version number as given: 3 or v3. */
export function parseVersion(raw: string, what: string): number {
  const m = /^v?(\d+)$/.exec(raw.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidInput(`${what} must be a dataset version number (3 or v3), got '${raw}'.`);
  return n;
}

export interface ColumnSummary {
  readonly name: string;
  readonly kind: ColumnProfile['kind'];
  readonly count: number;
  readonly missing: number;
  readonly min?: number;
  readonly max?: number;
  readonly mean?: number;
  readonly std?: number;
  readonly distinct?: number;
  /** The most frequent categories with their counts. */
  readonly top?: [string, number][];
}

export function summarizeProfile(profile: DatasetProfile): { rows: number; columns: ColumnSummary[] } {
  const columns = Object.entries(profile.columns).map(([name, p]): ColumnSummary => {
    if (p.kind === 'numeric')
      return { name, kind: p.kind, count: p.count, missing: p.missing, min: p.min, max: p.max, mean: p.mean, std: p.std };
    const top = Object.entries(p.frequencies)
      .sort((a, b) => b[1] - a[1])
      .slice(0, TOP_CATEGORIES);
    return { name, kind: p.kind, count: p.count, missing: p.missing, distinct: p.distinct, top };
  });
  return { rows: profile.rows, columns };
}

async function readJson<T>(uri: string | undefined): Promise<T | null> {
  if (!uri) return null;
  const { bucket, key } = parseS3Uri(uri);
  return getJson<T>(bucket, key);
}

export interface Loaded {
  record: DatasetRecord;
  schema: DatasetSchema | null;
  profile: DatasetProfile | null;
  violations: Violation[];
}

/** A dataset version (the latest without `version`) with its schema, profile and violations, as `datasets show` reads it. */
export async function loadDataset(registry: Registry, model: string, version: number | undefined): Promise<Loaded> {
  let record: DatasetRecord | undefined;
  if (version === undefined) {
    const all = await registry.datasets.list(model);
    record = all.reduce<DatasetRecord | undefined>(
      (latest, d) => (latest === undefined || d.version > latest.version ? d : latest),
      undefined,
    );
    if (!record) throw new InvalidInput(`${model} has no dataset versions yet.`);
  } else {
    record = await registry.datasets.get(model, version);
    if (!record) throw new InvalidInput(`${model} has no dataset version ${version}.`);
  }
  const [profile, report, schema] = await Promise.all([
    readJson<DatasetProfile>(record.profileUri),
    readJson<{ violations?: Violation[] }>(record.reportUri),
    // The schema the version was trained with, beside its train split (in the bucket of its splits).
    record.splits
      ? getJson<DatasetSchema>(parseS3Uri(record.splits.train).bucket, s3Keys.splitSchema(model, record.version)).catch(() => null)
      : Promise.resolve(null),
  ]);
  return { record, schema, profile, violations: report?.violations ?? [] };
}

const num = (x: number | undefined): string => (x === undefined ? '-' : Number.isInteger(x) ? String(x) : x.toPrecision(4));
const signed = (x: number): string => (x > 0 ? `+${num(x)}` : num(x));
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

function describeShow(model: string, d: Loaded): string {
  const r = d.record;
  const lines = [
    `${model} dataset v${r.version}: ${r.status}, ${r.rows} rows, ${r.bytes} bytes, sha256 ${r.sha256}`,
    `  source: ${r.s3Uri}${r.s3VersionId ? ` (version ${r.s3VersionId})` : ''}; created ${r.createdAt}${r.parentVersion ? `; parent v${r.parentVersion}` : ''}`,
  ];
  if (r.reason) lines.push(`  reason: ${r.reason}`);
  if (r.splitRows)
    lines.push(
      `  splits: train ${r.splitRows.train}, validation ${r.splitRows.validation}, test ${r.splitRows.test} (row hash ${r.splitHash ?? 'sha1-json'})`,
    );
  if (d.schema)
    lines.push(
      `  schema: target '${d.schema.target}', ${d.schema.task}${d.schema.classes ? ` (classes ${d.schema.classes.join(', ')})` : ''}`,
    );
  if (d.profile) {
    lines.push('  columns:');
    for (const c of summarizeProfile(d.profile).columns) {
      const stats =
        c.kind === 'numeric'
          ? `min ${num(c.min)} max ${num(c.max)} mean ${num(c.mean)} std ${num(c.std)}`
          : `${c.distinct} distinct; top ${(c.top ?? []).map(([v, n]) => `${v}=${n}`).join(' ')}`;
      lines.push(`    ${c.name.padEnd(20)} ${c.kind.padEnd(11)} count ${c.count} missing ${c.missing}  ${stats}`);
    }
  }
  if (d.violations.length > 0) {
    lines.push('  violations:');
    for (const v of d.violations) lines.push(`    ${v.check}: ${v.message}`);
  }
  return lines.join('\n');
}

function describeColumn(c: ColumnDiff): string {
  const head = `    ${c.column.padEnd(20)} ${c.kind.padEnd(11)} PSI ${c.psi === null ? 'n/a' : c.psi.toFixed(4)}${c.psiMethod === 'rebinned' ? ' (re-binned)' : ''}${c.shifted ? ' SHIFTED' : ''}`;
  const parts = [`count ${signed(c.count.delta)}`, `missing ${pct(c.missingShare.a)} -> ${pct(c.missingShare.b)}`];
  if (c.mean) parts.push(`mean ${num(c.mean.a)} -> ${num(c.mean.b)}`);
  if (c.std) parts.push(`std ${num(c.std.a)} -> ${num(c.std.b)}`);
  const lines = [head, `      ${parts.join(', ')}`];
  const moved = (c.categories ?? []).filter((x) => Math.abs(x.delta) >= 0.005).slice(0, 5);
  if (moved.length > 0) lines.push(`      shares: ${moved.map((x) => `${x.value} ${pct(x.a)} -> ${pct(x.b)}`).join(', ')}`);
  return lines.join('\n');
}

function describeDiff(model: string, diff: DatasetDiff): string {
  const lines = [`${model} dataset v${diff.a} -> v${diff.b}: rows ${diff.rows.a} -> ${diff.rows.b} (${signed(diff.rows.delta)})`];
  if (diff.schemaChanges.length === 0) lines.push('  schema: unchanged');
  else {
    lines.push('  schema changes:');
    for (const c of diff.schemaChanges) {
      if (c.change === 'added' || c.change === 'removed') lines.push(`    ${c.change} ${c.column}${c.type ? ` (${c.type})` : ''}`);
      else lines.push(`    ${c.column}: ${c.change} ${String(c.from)} -> ${String(c.to)}`);
    }
  }
  lines.push('  columns:');
  for (const c of diff.columns) lines.push(describeColumn(c));
  lines.push(diff.shifted.length > 0 ? `  shifted (PSI >= 0.2): ${diff.shifted.join(', ')}` : '  no column shifted (PSI < 0.2)');
  return lines.join('\n');
}

/** What changed from dataset version `a` to `b` (`datasets diff`); refused when either has no profile (a rejected file). */
export async function datasetDiff(registry: Registry, model: string, a: number, b: number): Promise<DatasetDiff> {
  const [da, db] = await Promise.all([loadDataset(registry, model, a), loadDataset(registry, model, b)]);
  for (const d of [da, db]) {
    if (!d.profile)
      throw new InvalidInput(
        `${model} dataset v${d.record.version} was ${d.record.status} and has no profile to compare: ${d.record.reason ?? ''}`.trim(),
      );
  }
  return diffDatasets(
    { version: da.record.version, schema: da.schema ?? undefined, profile: da.profile ?? undefined },
    { version: db.record.version, schema: db.schema ?? undefined, profile: db.profile ?? undefined },
  );
}

/** `mloop datasets show|diff` (`list` stays in cli.ts). */
export async function commandDatasets(io: DatasetsIo, sub: string, args: string[], values: Values): Promise<number> {
  const model = modelOf(values);
  let a: number | undefined;
  let b: number | undefined;
  if (sub === 'diff') {
    if (args.length !== 2) throw new InvalidInput(`datasets diff needs two dataset versions: mloop datasets diff --model ${model} A B.`);
    a = parseVersion(args[0], 'A');
    b = parseVersion(args[1], 'B');
  } else if (sub !== 'show') {
    throw new InvalidInput(`Unknown command 'datasets ${sub}': expected one of ${DATASETS_SUBCOMMANDS.join(', ')}.`);
  }
  const version = sub === 'show' && values.version !== undefined ? parseVersion(String(values.version), '--version') : undefined;

  return withTarget(io, values, async (stack) => {
    const registry = new Registry(stack.registryTable);
    if (sub === 'show') {
      const d = await loadDataset(registry, model, version);
      if (io.json)
        io.out(
          JSON.stringify({
            model,
            dataset: d.record,
            schema: d.schema,
            profile: d.profile ? summarizeProfile(d.profile) : null,
            violations: d.violations,
          }),
        );
      else io.out(describeShow(model, d));
      return 0;
    }
    const diff = await datasetDiff(registry, model, a!, b!);
    if (io.json) io.out(JSON.stringify({ model, ...diff }));
    else io.out(describeDiff(model, diff));
    return 0;
  });
}
