/**
 * The Version page: lineage (dataset, code, hyperparameters, training job), the evaluation
 * report (confusion matrix heat map, per-class scores, the gate's decision), the model card.
 */
import type { VersionPage } from '../data';
import { confusionHeatmap, lossCurves, perClassBars, residualPlot, rocCurves } from './charts';
import { enc, facts, getJson, h, link, num, table, when } from './dom';
import { modelTabs } from './tabs';

export async function versionView(model: string, version: number): Promise<HTMLElement> {
  const page = await getJson<VersionPage>(`/models/${enc(model)}/versions/${version}`);
  const l = page.lineage;
  const details = page.evaluation?.details.candidate ?? null;
  const residuals = page.evaluation?.details.candidateResiduals;
  const metricNames = Object.keys(l.metrics).sort();
  return h(
    'div',
    {},
    h('h1', {}, `${model} v${version}`),
    modelTabs(model, 'versions'),
    h(
      'p',
      {},
      h('span', { class: 'badge', 'data-field': 'status' }, l.status),
      l.aliases.map((a) => h('span', { class: 'badge' }, a)),
      ` ${l.task}, registered ${when(l.createdAt)}`,
    ),
    h('h2', {}, 'Metrics on the test split'),
    table(
      ['Metric', 'num:Test', 'num:Validation'],
      metricNames.map((m) => [m, h('span', { 'data-metric': m }, num(l.metrics[m])), num(l.validationMetrics?.[m])]),
      { 'aria-label': 'Metrics' },
    ),
    h('p', {}, 'Gate: ', l.evaluation.decision),
    h('h2', {}, 'Lineage'),
    facts([
      ['dataset', link(`/models/${enc(model)}/datasets/${l.dataset.version}`, `v${l.dataset.version}`)],
      ['content sha256', h('code', {}, l.dataset.sha256)],
      ['source', `${l.dataset.s3Uri ?? '-'}${l.dataset.s3VersionId ? ` (S3 version ${l.dataset.s3VersionId})` : ''}`],
      ['rows', num(l.dataset.rows)],
      ['code version', h('code', {}, l.training.codeVersion)],
      ['trainer', l.training.trainer ?? 'unrecorded'],
      ['training job', l.training.job],
      ['execution', link(`/models/${enc(model)}/runs/${enc(l.training.execution)}`, l.training.execution)],
      ['hyperparameters', h('code', {}, JSON.stringify(l.training.hyperparameters))],
      ['model', `${l.artifact.onnxUri} (sha256 ${l.artifact.sha256.slice(0, 16)}...)`],
      [
        'approval',
        l.approval ? `${l.approval.decision ?? 'pending'}${l.approval.decidedBy ? ` by ${l.approval.decidedBy}` : ''}` : 'not required',
      ],
    ]),
    h('h2', {}, 'Evaluation'),
    details
      ? h(
          'div',
          { class: 'row' },
          confusionHeatmap(details.labels, details.confusionMatrix),
          details.rocCurves?.length ? rocCurves(details.rocCurves) : null,
          perClassBars(
            details.perClass.flatMap((c) =>
              (['precision', 'recall', 'f1'] as const).map((metric) => ({ label: c.label, metric, value: c[metric] })),
            ),
          ),
        )
      : residuals?.sample.length
        ? h(
            'div',
            {},
            residualPlot(residuals.sample),
            h(
              'p',
              { class: 'muted' },
              `${residuals.sample.length} of ${residuals.rows} test rows${residuals.sample.length < residuals.rows ? ', evenly spaced' : ''}.`,
            ),
          )
        : h(
            'p',
            { class: 'muted' },
            page.evaluation
              ? 'A regression evaluated before residuals were kept: see rmse, mae and r2 above.'
              : 'The evaluation report could not be read.',
          ),
    details
      ? table(
          ['Class', 'num:Precision', 'num:Recall', 'num:F1', 'num:Support'],
          details.perClass.map((c) => [c.label, num(c.precision), num(c.recall), num(c.f1), c.support]),
          { 'aria-label': 'Per-class scores' },
        )
      : null,
    h('h2', {}, 'Training curves'),
    page.curves ? lossCurves(page.curves, page.card?.framework === 'xgboost' ? 'boosting round' : 'epoch') : null,
    h('p', { class: 'muted', 'data-field': 'curves-note' }, page.curvesNote),
    h('h2', {}, 'Model card'),
    page.card
      ? [
          h(
            'p',
            {},
            `${page.card.framework}, target '${page.card.target}', ${page.card.epochs} epochs, ${num(page.card.trainingSeconds)} s on ${page.card.device}`,
          ),
          table(
            ['Feature', 'Type', 'Categories'],
            page.card.features.map((f) => [f.name, f.type, f.categories ? f.categories.join(', ') : '-']),
            { 'aria-label': 'Model card features' },
          ),
          page.card.classes ? h('p', {}, `Classes: ${page.card.classes.join(', ')}`) : null,
          page.card.classWeights
            ? h(
                'p',
                {},
                `Class weights in the loss: ${Object.entries(page.card.classWeights)
                  .map(([label, weight]) => `${label} ${num(weight)}`)
                  .join(', ')}`,
              )
            : null,
          page.card.numericTransforms?.length
            ? h(
                'p',
                {},
                `Heavy-tailed features fed as signed log1p: ${page.card.numericTransforms.map((t) => `${t.feature} (skew ${num(t.skew)})`).join(', ')}`,
              )
            : null,
        ]
      : h('p', { class: 'muted' }, 'The model card could not be read.'),
  );
}
