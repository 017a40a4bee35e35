/** The Runs pages: a model's pipeline runs (status, failure reason), and one run's stage timeline. */
import type { ExecutionStep } from '../../target';
import type { runsPage } from '../data';
import type { RunRecord } from '../../../lambdas/shared/registry/runs';
import { stageTimeline } from './charts';
import { enc, getJson, h, link, table, when } from './dom';
import { modelTabs } from './tabs';

type RunsPage = Awaited<ReturnType<typeof runsPage>>;

export async function runsView(model: string): Promise<HTMLElement> {
  const page = await getJson<RunsPage>(`/models/${enc(model)}/runs`);
  return h(
    'div',
    {},
    h('h1', {}, `Runs of ${model}`),
    modelTabs(model, 'runs'),
    table(
      ['Execution', 'Status', 'Dataset', 'Model version', 'Updated', 'Failure'],
      page.runs.map((r) => [
        link(`/models/${enc(model)}/runs/${enc(r.execution)}`, r.execution),
        h(
          'span',
          { class: r.status === 'FAILED' ? 'bad' : r.status === 'SUCCEEDED' ? 'good' : undefined, 'data-field': 'status' },
          r.status,
        ),
        r.datasetVersion ? link(`/models/${enc(model)}/datasets/${r.datasetVersion}`, `v${r.datasetVersion}`) : '-',
        r.modelVersion
          ? link(`/models/${enc(model)}/versions/${r.modelVersion}`, `v${r.modelVersion}${r.promoted ? ' (promoted)' : ''}`)
          : '-',
        when(r.updatedAt),
        r.status === 'FAILED' ? `${r.stage ? `${r.stage}: ` : ''}${r.error ?? ''}${r.reason ? ` (${r.reason})` : ''}` : (r.reason ?? ''),
      ]),
      { 'aria-label': 'Pipeline runs', id: 'runs' },
    ),
  );
}

/** Each state's first entry and last exit (a map's states are entered once per item). */
export function stagesOf(steps: ExecutionStep[]): { state: string; start: Date; end: Date; failed: boolean }[] {
  const spans = new Map<string, { state: string; start: Date; end: Date; failed: boolean }>();
  const last = steps.length ? new Date(steps[steps.length - 1].at) : new Date();
  for (const s of steps) {
    if (!s.state) continue;
    const at = new Date(s.at);
    const span = spans.get(s.state) ?? { state: s.state, start: at, end: last, failed: false };
    if (s.type.endsWith('StateEntered') && !spans.has(s.state)) spans.set(s.state, { ...span, end: last });
    if (s.type.endsWith('StateExited')) spans.set(s.state, { ...span, end: at });
  }
  const failure = steps.find((s) => s.type === 'ExecutionFailed');
  const list = [...spans.values()];
  if (failure && list.length) {
    // The state the execution failed in is the last entered that never exited.
    const open = list.filter((s) => s.end.getTime() === last.getTime());
    if (open.length) open[open.length - 1].failed = true;
  }
  return list;
}

export async function runView(model: string, execution: string): Promise<HTMLElement> {
  const { run, steps } = await getJson<{ run: RunRecord; steps: ExecutionStep[] }>(`/models/${enc(model)}/runs/${enc(execution)}`);
  const stages = stagesOf(steps);
  const failure = steps.find((s) => s.type === 'ExecutionFailed');
  return h(
    'div',
    {},
    h('h1', {}, `Run ${execution}`),
    modelTabs(model, 'runs'),
    h(
      'p',
      {},
      h('span', { class: run.status === 'FAILED' ? 'badge bad' : 'badge', 'data-field': 'status' }, run.status),
      ` updated ${when(run.updatedAt)}`,
    ),
    run.status === 'FAILED'
      ? h(
          'p',
          { class: 'error', id: 'failure' },
          `${run.stage ? `${run.stage}: ` : ''}${run.error ?? failure?.error ?? ''} ${run.reason ?? failure?.cause ?? ''}`,
        )
      : null,
    run.modelVersion ? h('p', {}, 'registered ', link(`/models/${enc(model)}/versions/${run.modelVersion}`, `v${run.modelVersion}`)) : null,
    h('h2', {}, 'Stages'),
    stages.length
      ? stageTimeline(stages)
      : h(
          'p',
          { class: 'muted' },
          'The states of this run are not known here: the local runtime keeps them in the memory of the process that ran it.',
        ),
    stages.length
      ? table(
          ['Stage', 'Started', 'Ended', 'num:Seconds'],
          stages.map((s) => [
            s.state,
            when(s.start.toISOString()),
            when(s.end.toISOString()),
            ((s.end.getTime() - s.start.getTime()) / 1000).toFixed(1),
          ]),
          { 'aria-label': 'Stages', id: 'stages' },
        )
      : null,
  );
}
