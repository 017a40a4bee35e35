/**
 * The Models page (every model: champion, other aliases, last run, last drift, a sparkline of
 * the headline metric) and the Model page (versions, the alias history as a timeline, and the
 * guarded promote, rollback and approve).
 */
import type { ModelPage, ModelSummary } from '../data';
import { metricByVersion, sparkline } from './charts';
import { age, enc, getJson, h, link, num, postJson, table, when, type Child } from './dom';
import { modelTabs } from './tabs';

export async function modelsView(): Promise<HTMLElement> {
  const models = await getJson<ModelSummary[]>('/models');
  if (models.length === 0) return h('div', {}, h('h1', {}, 'Models'), h('p', {}, 'No model yet: run mloop run --model NAME --data FILE.'));
  return h(
    'div',
    {},
    h('h1', {}, 'Models'),
    h(
      'div',
      { class: 'cards' },
      models.map((m) =>
        h(
          'section',
          { class: 'card', 'data-model': m.model, 'aria-label': `Model ${m.model}` },
          h('h2', {}, link(`/models/${enc(m.model)}`, m.model), ' ', h('span', { class: 'badge' }, m.task ?? 'no task yet')),
          m.champion
            ? h(
                'p',
                {},
                'champion ',
                link(
                  `/models/${enc(m.model)}/versions/${m.champion.version}`,
                  h('strong', { 'data-field': 'champion' }, `v${m.champion.version}`),
                ),
                ` (trained ${age(m.champion.createdAt)})`,
                m.headline ? [' ', m.headline.name, ' ', h('strong', { 'data-field': 'headline' }, num(m.champion.metric))] : null,
              )
            : h('p', { class: 'muted' }, 'no champion'),
          m.others.length
            ? h(
                'p',
                {},
                m.others.map((o) => h('span', { class: 'badge' }, `${o.alias} v${o.version}`)),
              )
            : null,
          h('p', { class: 'muted' }, `${m.versions} version${m.versions === 1 ? '' : 's'}`),
          m.trend.length > 1 && m.headline
            ? sparkline(m.trend, `${m.headline.name} across ${m.trend.length} versions of ${m.model}`)
            : null,
          h(
            'p',
            {},
            'last run: ',
            m.lastRun
              ? [
                  link(
                    `/models/${enc(m.model)}/runs/${enc(m.lastRun.execution)}`,
                    h('span', { 'data-field': 'last-run', class: m.lastRun.status === 'FAILED' ? 'bad' : undefined }, m.lastRun.status),
                  ),
                  ` ${age(m.lastRun.at)}`,
                ]
              : 'none',
          ),
          h(
            'p',
            {},
            'last drift: ',
            m.lastDrift
              ? [
                  link(
                    `/models/${enc(m.model)}/drift`,
                    h(
                      'span',
                      { 'data-field': 'last-drift', class: m.lastDrift.datasetDrift ? 'bad' : 'good' },
                      m.lastDrift.datasetDrift ? 'DRIFT' : 'no drift',
                    ),
                  ),
                  ` (share ${num(m.lastDrift.driftShare)}, ${age(m.lastDrift.at)})`,
                ]
              : 'never run',
          ),
        ),
      ),
    ),
  );
}

interface Config {
  allowWrites: boolean;
  where: string;
}

/** The dialog that asks for the reason and a confirmation before an action is sent. */
function actionDialog(
  model: string,
  action: string,
  version: number | undefined,
  alias: string | undefined,
  done: () => void,
): HTMLDialogElement {
  const reason = h('textarea', {
    id: 'action-reason',
    'aria-required': 'true',
    'aria-label': 'Reason (kept in the history)',
  }) as HTMLTextAreaElement;
  const problem = h('p', { class: 'error', role: 'alert', hidden: true });
  const what =
    version === undefined
      ? `${action} ${model}'s champion to its previous version`
      : `${action} ${model} v${version}${alias ? ` to ${alias}` : ''}`;
  const dialog = h(
    'dialog',
    { 'aria-label': `Confirm ${what}` },
    h(
      'form',
      { method: 'dialog' },
      h('h2', {}, `Confirm: ${what}`),
      h('p', {}, 'The admin function records who did it and why. Reason (required):'),
      reason,
      problem,
      h(
        'p',
        { class: 'row' },
        h('button', { type: 'submit', value: 'confirm', id: 'action-confirm' }, `Confirm ${action}`),
        h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, 'Cancel'),
      ),
    ),
  ) as HTMLDialogElement;
  dialog.querySelector('form')!.addEventListener('submit', (event) => {
    event.preventDefault();
    if (reason.value.trim() === '') {
      problem.hidden = false;
      problem.textContent = 'A reason is required.';
      return;
    }
    postJson(`/models/${enc(model)}/actions`, {
      action,
      ...(version !== undefined ? { version } : {}),
      ...(alias ? { alias } : {}),
      reason: reason.value,
    })
      .then(() => {
        dialog.close();
        done();
      })
      .catch((error: Error) => {
        problem.hidden = false;
        problem.textContent = error.message;
      });
  });
  return dialog;
}

function actionButtons(config: Config, model: string, v: ModelPage['versions'][number], rerender: () => void): Child {
  const open = (action: string, alias?: string) => () => {
    const dialog = actionDialog(model, action, v.version, alias, rerender);
    document.body.appendChild(dialog);
    dialog.addEventListener('close', () => dialog.remove());
    dialog.showModal();
  };
  const command = `mloop models promote --model ${model} --version ${v.version} --reason "..."`;
  if (!config.allowWrites) return h('code', { title: 'Read-only UI: start it with --allow-writes, or run this' }, command);
  return h(
    'span',
    { class: 'row' },
    v.aliases.includes('champion') ? null : h('button', { type: 'button', 'data-action': 'promote', onclick: open('promote') }, 'Promote'),
    v.status === 'pending-approval' ? h('button', { type: 'button', 'data-action': 'approve', onclick: open('approve') }, 'Approve') : null,
  );
}

export async function modelView(model: string, rerender: () => void): Promise<HTMLElement> {
  const [page, config] = await Promise.all([getJson<ModelPage>(`/models/${enc(model)}`), getJson<Config>('/config')]);
  const metricNames = [...new Set(page.versions.flatMap((v) => Object.keys(v.metrics)))].sort();
  const hl = page.headline;
  const trend = hl
    ? page.versions.filter((v) => typeof v.metrics[hl.name] === 'number').map((v) => ({ version: v.version, value: v.metrics[hl.name] }))
    : [];
  const champion = page.history.aliases.find((a) => a.alias === 'champion');
  return h(
    'div',
    {},
    h('h1', {}, `Model ${model}`),
    modelTabs(model, 'versions'),
    h('h2', {}, 'Versions'),
    table(
      [
        'Version',
        'Aliases',
        'Status',
        ...metricNames.map((m) => `num:${m}`),
        'Dataset',
        'Trainer',
        'Tags',
        'Created',
        'Archived',
        'Actions',
      ],
      page.versions.map((v) => [
        link(`/models/${enc(model)}/versions/${v.version}`, `v${v.version}`),
        v.aliases.map((a) => h('span', { class: 'badge' }, a)),
        v.status,
        ...metricNames.map((m) => num(v.metrics[m])),
        link(`/models/${enc(model)}/datasets/${v.lineage.datasetVersion}`, `v${v.lineage.datasetVersion}`),
        v.lineage.trainer ?? '-',
        Object.entries(v.tags ?? {}).map(([k, x]) => h('span', { class: 'badge' }, `${k}=${x}`)),
        when(v.createdAt),
        v.archived ? `${when(v.archived.at)} by ${v.archived.by}` : '-',
        actionButtons(config, model, v, rerender),
      ]),
      { 'aria-label': 'Model versions', id: 'versions' },
    ),
    champion && config.allowWrites && champion.version > 1
      ? h(
          'p',
          {},
          h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              'data-action': 'rollback',
              onclick: () => {
                const dialog = actionDialog(model, 'rollback', undefined, undefined, rerender);
                document.body.appendChild(dialog);
                dialog.addEventListener('close', () => dialog.remove());
                dialog.showModal();
              },
            },
            `Roll champion back from v${champion.version} to the version before it`,
          ),
        )
      : null,
    hl && trend.length > 0 ? [h('h2', {}, `${hl.name} by version`), metricByVersion(trend, hl.name)] : null,
    h('h2', {}, 'Alias history'),
    page.history.history.length === 0
      ? h('p', { class: 'muted' }, 'No alias has moved yet.')
      : h(
          'ol',
          { id: 'alias-history', 'aria-label': 'Alias history, newest first' },
          [...page.history.history]
            .reverse()
            .map((e) =>
              h(
                'li',
                {},
                h('strong', {}, `${e.alias}: ${e.fromVersion === null ? 'none' : `v${e.fromVersion}`} → v${e.toVersion}`),
                ` ${e.action} by ${e.by}, ${when(e.at)}: `,
                h('span', { class: 'muted' }, e.reason),
              ),
            ),
        ),
  );
}
