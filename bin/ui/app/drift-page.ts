/**
 * The Drift page: a model's monitor runs over time (drift share against its threshold, each
 * feature's statistic against its threshold, prediction drift, quality where feedback exists),
 * and each run's HTML report one click away.
 */
import type { driftPage } from '../data';
import { overTime } from './charts';
import { enc, getJson, h, num, table, when } from './dom';
import { modelTabs } from './tabs';

type DriftPage = Awaited<ReturnType<typeof driftPage>>;

export async function driftView(model: string): Promise<HTMLElement> {
  const page = await getJson<DriftPage>(`/models/${enc(model)}/drift`);
  if (page.runs.length === 0)
    return h(
      'div',
      {},
      h('h1', {}, `Drift of ${model}`),
      modelTabs(model, 'drift'),
      h('p', {}, `No drift run yet: mloop drift --model ${model}.`),
    );
  const threshold = page.runs.find((r) => r.report)?.report?.driftShareThreshold;
  const featurePoints = page.runs.flatMap((r) =>
    (r.report?.features ?? [])
      .filter((f) => f.statistic !== null)
      .map((f) => ({ at: new Date(r.at), value: f.statistic!, series: f.name })),
  );
  const quality = page.runs
    .filter((r) => r.report?.quality?.value != null)
    .map((r) => ({ at: new Date(r.at), value: r.report!.quality!.value! }));
  const prediction = page.runs
    .filter((r) => r.report?.predictionDrift)
    .map((r) => ({ at: new Date(r.at), value: r.report!.predictionDrift!.driftShare }));
  const latest = page.runs[page.runs.length - 1];
  return h(
    'div',
    {},
    h('h1', {}, `Drift of ${model}`),
    modelTabs(model, 'drift'),
    h('h2', {}, 'Drift share over time'),
    overTime(
      page.runs.map((r) => ({ at: new Date(r.at), value: r.driftShare })),
      `Drift share of ${model} over ${page.runs.length} runs`,
      'drift share',
      threshold,
    ),
    featurePoints.length
      ? [h('h2', {}, 'Feature statistics over time'), overTime(featurePoints, 'Each feature’s drift statistic over time', 'statistic')]
      : null,
    prediction.length ? [h('h2', {}, 'Prediction drift'), overTime(prediction, 'Prediction drift share over time', 'share')] : null,
    quality.length
      ? [
          h('h2', {}, `Quality (${latest.report?.quality?.metric ?? 'metric'}) from feedback`),
          overTime(
            quality,
            'Quality over labelled predictions over time',
            latest.report?.quality?.metric ?? 'value',
            latest.report?.quality?.reference ?? undefined,
          ),
        ]
      : null,
    h('h2', {}, 'Runs'),
    table(
      ['Run', 'Model version', 'num:Rows', 'Verdict', 'num:Share', 'Quality', 'Report'],
      [...page.runs]
        .reverse()
        .map((r) => [
          when(r.at),
          `v${r.modelVersion}`,
          num(r.rows),
          h('span', { class: r.datasetDrift ? 'bad' : 'good' }, r.datasetDrift ? 'DRIFT' : 'no drift'),
          num(r.driftShare),
          r.report?.quality?.value != null ? `${r.report.quality.metric} ${num(r.report.quality.value)}` : '-',
          h('a', { href: `/ui/api/models/${enc(model)}/drift-report?at=${enc(r.at)}`, target: '_blank', rel: 'noopener' }, 'HTML report'),
        ]),
      { 'aria-label': 'Drift runs', id: 'drift-runs' },
    ),
    latest.report
      ? [
          h('h2', {}, `Features in the latest run (${when(latest.at)})`),
          table(
            ['Feature', 'Test', 'num:Statistic', 'num:p-value', 'num:Threshold', 'Drifted'],
            latest.report.features.map((f) => [
              f.name,
              f.test,
              num(f.statistic),
              num(f.pValue),
              num(f.threshold),
              f.drifted ? h('span', { class: 'bad' }, 'yes') : 'no',
            ]),
            { 'aria-label': 'Features of the latest run', id: 'drift-features' },
          ),
        ]
      : null,
  );
}
