/**
 * The Datasets pages: a model's dataset versions (status, rows), one version's profile
 * (histograms, top categories, missing shares) with a rejected version's violations, and the
 * diff of two versions as charts.
 */
import type { datasetDiffPage, datasetPage, datasetsPage } from '../data';
import { compareBars, histogram, topCategories } from './charts';
import { enc, getJson, h, link, num, pct, table, when } from './dom';
import { modelTabs } from './tabs';

type DatasetsPage = Awaited<ReturnType<typeof datasetsPage>>;
type DatasetPage = Awaited<ReturnType<typeof datasetPage>>;
type DiffPage = Awaited<ReturnType<typeof datasetDiffPage>>;

export async function datasetsView(model: string): Promise<HTMLElement> {
  const page = await getJson<DatasetsPage>(`/models/${enc(model)}/datasets`);
  const profiled = page.datasets.filter((d) => d.status === 'accepted');
  const diffLink =
    profiled.length >= 2
      ? link(
          `/models/${enc(model)}/diff/${profiled[1].version}/${profiled[0].version}`,
          `Compare v${profiled[1].version} with v${profiled[0].version}`,
        )
      : null;
  return h(
    'div',
    {},
    h('h1', {}, `Datasets of ${model}`),
    modelTabs(model, 'datasets'),
    diffLink ? h('p', {}, diffLink) : null,
    table(
      ['Version', 'Status', 'num:Rows', 'num:Bytes', 'sha256', 'Created', 'Reason'],
      page.datasets.map((d) => [
        link(`/models/${enc(model)}/datasets/${d.version}`, `v${d.version}`),
        h('span', { class: d.status === 'rejected' ? 'bad' : undefined, 'data-field': 'status' }, d.status),
        num(d.rows),
        num(d.bytes),
        h('code', {}, d.sha256.slice(0, 12)),
        when(d.createdAt),
        d.reason ?? '',
      ]),
      { 'aria-label': 'Dataset versions', id: 'datasets' },
    ),
  );
}

export async function datasetView(model: string, version: number): Promise<HTMLElement> {
  const page = await getJson<DatasetPage>(`/models/${enc(model)}/datasets/${version}`);
  const d = page.dataset;
  const columns = page.profile ? Object.entries(page.profile.columns) : [];
  return h(
    'div',
    {},
    h('h1', {}, `${model} dataset v${version}`),
    modelTabs(model, 'datasets'),
    h(
      'p',
      {},
      h('span', { class: d.status === 'rejected' ? 'badge bad' : 'badge', 'data-field': 'status' }, d.status),
      ` ${num(d.rows)} rows, created ${when(d.createdAt)}`,
    ),
    d.reason ? h('p', { class: 'error', id: 'reason' }, d.reason) : null,
    page.schema
      ? h(
          'p',
          {},
          `target '${page.schema.target}', ${page.schema.task}${page.schema.classes ? ` (classes ${page.schema.classes.join(', ')})` : ''}`,
        )
      : null,
    page.violations.length
      ? [
          h('h2', {}, 'Violations'),
          table(
            ['Check', 'Column', 'num:Count', 'Example lines', 'Message'],
            page.violations.map((v) => [
              v.check,
              v.column ?? '-',
              num(v.count),
              h('span', { 'data-field': 'example-lines' }, v.exampleRows.length ? v.exampleRows.join(', ') : '-'),
              v.message,
            ]),
            { 'aria-label': 'Violations', id: 'violations' },
          ),
        ]
      : null,
    columns.length
      ? [
          h('h2', {}, 'Profile'),
          table(
            ['Column', 'Kind', 'num:Count', 'num:Missing', 'Summary'],
            columns.map(([name, c]) => [
              name,
              c.kind,
              num(c.count),
              pct(c.count + c.missing === 0 ? 0 : c.missing / (c.count + c.missing)),
              c.kind === 'numeric'
                ? `min ${num(c.min)}, max ${num(c.max)}, mean ${num(c.mean)}, std ${num(c.std)}`
                : `${c.distinct} distinct`,
            ]),
            { 'aria-label': 'Column profile', id: 'profile' },
          ),
          h(
            'div',
            { class: 'row' },
            columns.map(([name, c]) =>
              c.kind === 'numeric'
                ? histogram(name, c.histogram.edges, c.histogram.counts)
                : topCategories(
                    name,
                    Object.entries(c.frequencies)
                      .sort((a, b) => b[1] - a[1])
                      .slice(0, 8),
                  ),
            ),
          ),
        ]
      : h('p', { class: 'muted' }, 'No profile: the version was not profiled (a rejected file is refused before it is).'),
  );
}

export async function diffView(model: string, a: number, b: number): Promise<HTMLElement> {
  const diff = await getJson<DiffPage>(`/models/${enc(model)}/diff/${a}/${b}`);
  const psi = diff.columns.filter((c) => c.psi !== null);
  const means = diff.columns
    .filter((c) => c.mean)
    .flatMap((c) => [
      { column: c.column, side: `v${a}`, value: c.mean!.a },
      { column: c.column, side: `v${b}`, value: c.mean!.b },
    ]);
  return h(
    'div',
    {},
    h('h1', {}, `${model} dataset v${a} → v${b}`),
    modelTabs(model, 'datasets'),
    h('p', {}, `rows ${num(diff.rows.a)} → ${num(diff.rows.b)} (${diff.rows.delta >= 0 ? '+' : ''}${num(diff.rows.delta)})`),
    h('h2', {}, 'Schema'),
    diff.schemaChanges.length === 0
      ? h('p', {}, 'unchanged')
      : h(
          'ul',
          {},
          diff.schemaChanges.map((c) => h('li', {}, JSON.stringify(c))),
        ),
    h('h2', {}, 'Population stability (PSI) by column'),
    psi.length
      ? compareBars(
          psi.flatMap((c) => [{ column: c.column, side: 'PSI', value: c.psi! }]),
          'PSI by column (0.2 or more: shifted)',
          'PSI',
        )
      : null,
    means.length ? [h('h2', {}, 'Means'), compareBars(means, `Mean of each numeric column in v${a} and v${b}`, 'mean')] : null,
    table(
      ['Column', 'Kind', 'num:PSI', 'Shifted', 'Missing'],
      diff.columns.map((c) => [
        c.column,
        c.kind,
        num(c.psi),
        c.shifted ? h('span', { class: 'bad' }, 'shifted') : 'no',
        `${pct(c.missingShare.a)} → ${pct(c.missingShare.b)}`,
      ]),
      { 'aria-label': 'Column changes', id: 'diff' },
    ),
  );
}
