/**
 * The page's charts, drawn by Observable Plot (a real charting library, bundled: see
 * ../bundle.ts). Each function takes plain rows and returns an element with an aria-label that
 * says what it shows, for screen readers and for the browser test.
 */
import * as Plot from '@observablehq/plot';
import { h } from './dom';

const FONT = { fontSize: '12px' };

function figure(label: string, chart: Element): HTMLElement {
  return h('div', { class: 'chart', role: 'img', 'aria-label': label }, chart);
}

/** A small line of a metric across versions (the Models page). */
export function sparkline(points: { version: number; value: number }[], label: string): HTMLElement {
  return figure(
    label,
    Plot.plot({
      width: 220,
      height: 48,
      margin: 4,
      axis: null,
      style: FONT,
      marks: [
        Plot.lineY(points, { x: 'version', y: 'value', stroke: '#0b5cad' }),
        Plot.dot(points, { x: 'version', y: 'value', r: 2, fill: '#0b5cad' }),
      ],
    }),
  );
}

/** A metric by version, with axes (the Model page). */
export function metricByVersion(points: { version: number; value: number }[], metric: string): HTMLElement {
  return figure(
    `${metric} by model version`,
    Plot.plot({
      width: 520,
      height: 200,
      style: FONT,
      x: { label: 'version', tickFormat: 'd', ticks: points.length },
      y: { label: metric, grid: true },
      marks: [
        Plot.lineY(points, { x: 'version', y: 'value', stroke: '#0b5cad' }),
        Plot.dot(points, { x: 'version', y: 'value', fill: '#0b5cad' }),
      ],
    }),
  );
}

/** A confusion matrix as a heat map: truth by row, prediction by column, counts written in the cells. */
export function confusionHeatmap(labels: string[], matrix: number[][]): HTMLElement {
  const cells = matrix.flatMap((row, i) => row.map((count, j) => ({ truth: labels[i], predicted: labels[j], count })));
  const max = Math.max(1, ...cells.map((c) => c.count));
  return figure(
    'Confusion matrix: rows are the true class, columns the predicted class',
    Plot.plot({
      width: 120 + 70 * labels.length,
      height: 80 + 50 * labels.length,
      marginLeft: 90,
      style: FONT,
      x: { label: 'predicted', domain: labels },
      y: { label: 'truth', domain: labels },
      color: { type: 'linear', range: ['#eef4fb', '#0b3d91'], domain: [0, max] },
      marks: [
        Plot.cell(cells, { x: 'predicted', y: 'truth', fill: 'count', inset: 1 }),
        Plot.text(cells, {
          x: 'predicted',
          y: 'truth',
          text: 'count',
          fill: (d: { count: number }) => (d.count > max / 2 ? '#ffffff' : '#1b1f24'),
        }),
      ],
    }),
  );
}

/** Grouped bars: per-class precision, recall and F1. */
export function perClassBars(rows: { label: string; metric: string; value: number }[]): HTMLElement {
  return figure(
    'Precision, recall and F1 per class',
    Plot.plot({
      width: 520,
      height: 60 + 24 * rows.length,
      marginLeft: 90,
      style: FONT,
      x: { domain: [0, 1], label: 'score', grid: true },
      y: { label: null },
      fy: { label: null },
      color: { legend: true, domain: ['precision', 'recall', 'f1'], range: ['#0b5cad', '#c05600', '#1a6b2f'] },
      marks: [Plot.barX(rows, { x: 'value', y: 'metric', fy: 'label', fill: 'metric' }), Plot.ruleX([0])],
    }),
  );
}

/** A numeric column's histogram from its bin edges and counts. */
export function histogram(name: string, edges: number[], counts: number[]): HTMLElement {
  const bins = counts.map((count, i) => ({ x1: edges[i], x2: edges[i + 1], count }));
  return figure(
    `Histogram of ${name}`,
    Plot.plot({
      width: 300,
      height: 140,
      style: FONT,
      x: { label: name },
      y: { label: 'rows', grid: true },
      marks: [Plot.rectY(bins, { x1: 'x1', x2: 'x2', y: 'count', fill: '#0b5cad', inset: 0.5 }), Plot.ruleY([0])],
    }),
  );
}

/** A categorical column's most frequent values. */
export function topCategories(name: string, entries: [string, number][]): HTMLElement {
  const rows = entries.map(([value, count]) => ({ value, count }));
  return figure(
    `Top categories of ${name}`,
    Plot.plot({
      width: 300,
      height: 40 + 22 * rows.length,
      marginLeft: 90,
      style: FONT,
      x: { label: 'rows', grid: true },
      y: { label: null, domain: rows.map((r) => r.value) },
      marks: [Plot.barX(rows, { x: 'count', y: 'value', fill: '#0b5cad' }), Plot.ruleX([0])],
    }),
  );
}

/** Two versions side by side: a value per column for A and B (the dataset diff). */
export function compareBars(rows: { column: string; side: string; value: number }[], label: string, x: string): HTMLElement {
  return figure(
    label,
    Plot.plot({
      width: 520,
      height: 50 + 30 * (rows.length / 2),
      marginLeft: 130,
      style: FONT,
      x: { label: x, grid: true },
      y: { label: null },
      fy: { label: null },
      color: { legend: true, range: ['#0b5cad', '#c05600'] },
      marks: [Plot.barX(rows, { x: 'value', y: 'side', fy: 'column', fill: 'side' }), Plot.ruleX([0])],
    }),
  );
}

/** A value over time with a threshold line (drift share, a feature's statistic, quality). */
export function overTime(
  points: { at: Date; value: number; series?: string }[],
  label: string,
  y: string,
  threshold?: number,
): HTMLElement {
  const series = points.some((p) => p.series !== undefined);
  return figure(
    label,
    Plot.plot({
      width: 560,
      height: 200,
      style: FONT,
      x: { type: 'utc', label: 'run time' },
      y: { label: y, grid: true },
      color: series ? { legend: true } : undefined,
      marks: [
        ...(threshold !== undefined ? [Plot.ruleY([threshold], { stroke: '#a4161a', strokeDasharray: '4,3' })] : []),
        Plot.lineY(points, { x: 'at', y: 'value', stroke: series ? 'series' : '#0b5cad' }),
        Plot.dot(points, { x: 'at', y: 'value', fill: series ? 'series' : '#0b5cad' }),
      ],
    }),
  );
}

/** A run's stages as bars on a time axis. */
export function stageTimeline(stages: { state: string; start: Date; end: Date; failed: boolean }[]): HTMLElement {
  return figure(
    'Stage timeline of the run',
    Plot.plot({
      width: 640,
      height: 50 + 24 * stages.length,
      marginLeft: 170,
      style: FONT,
      x: { type: 'utc', label: 'time', grid: true },
      y: { label: null, domain: stages.map((s) => s.state) },
      marks: [
        Plot.barX(stages, { x1: 'start', x2: 'end', y: 'state', fill: (d: { failed: boolean }) => (d.failed ? '#a4161a' : '#0b5cad') }),
      ],
    }),
  );
}

/** Train and validation loss by epoch (the Version page's training curves). */
export function lossCurves(rows: { epoch: number; loss: number; split: string }[], unit: string): HTMLElement {
  return figure(
    `Train and validation loss by ${unit}`,
    Plot.plot({
      width: 560,
      height: 220,
      style: FONT,
      x: { label: unit, grid: true },
      y: { label: 'loss', grid: true },
      color: { legend: true, domain: ['train', 'validation'], range: ['#0b5cad', '#c05600'] },
      marks: [Plot.lineY(rows, { x: 'epoch', y: 'loss', stroke: 'split' })],
    }),
  );
}

/** ROC curves, one per class (one-vs-rest), with the chance diagonal. */
export function rocCurves(curves: { label: string; points: [number, number][] }[]): HTMLElement {
  const rows = curves.flatMap((c) => c.points.map(([fpr, tpr]) => ({ class: c.label, fpr, tpr })));
  return figure(
    `ROC curve${curves.length > 1 ? 's, one per class against the rest' : ` of class ${curves[0]?.label ?? ''}`}`,
    Plot.plot({
      width: 320,
      height: 300,
      style: FONT,
      x: { label: 'false positive rate', domain: [0, 1], grid: true },
      y: { label: 'true positive rate', domain: [0, 1], grid: true },
      color: { legend: curves.length > 1 },
      marks: [
        Plot.line(
          [
            [0, 0],
            [1, 1],
          ],
          { stroke: '#8a8f98', strokeDasharray: '4,3' },
        ),
        Plot.line(rows, { x: 'fpr', y: 'tpr', stroke: curves.length > 1 ? 'class' : '#0b5cad', z: 'class' }),
      ],
    }),
  );
}

/** A regression's predictions against the truth, with the identity line (residuals are the distance to it). */
export function residualPlot(sample: [number, number][]): HTMLElement {
  const rows = sample.map(([truth, predicted]) => ({ truth, predicted }));
  const values = sample.flat();
  const [low, high] = [Math.min(...values), Math.max(...values)];
  return figure(
    'Predicted against true values on the test split',
    Plot.plot({
      width: 340,
      height: 300,
      style: FONT,
      x: { label: 'true value', grid: true },
      y: { label: 'predicted', grid: true },
      marks: [
        Plot.line(
          [
            [low, low],
            [high, high],
          ],
          { stroke: '#8a8f98', strokeDasharray: '4,3' },
        ),
        Plot.dot(rows, { x: 'truth', y: 'predicted', r: 2, fill: '#0b5cad', fillOpacity: 0.6 }),
      ],
    }),
  );
}
