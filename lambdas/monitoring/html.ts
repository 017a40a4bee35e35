/**
 * The drift report as one self-contained HTML page a person can read: the verdict, then per
 * feature its test, statistic, threshold and a histogram of the reference against the window
 * (inline SVG, no script, no external resource), then prediction drift, quality and retraining.
 */
import type { ColumnSummary, FeatureDrift } from './drift-report';
import type { DriftRun } from './drift-run';

const REFERENCE_COLOR = '#9aa5b1';
const CURRENT_COLOR = '#2f6fde';
const DRIFT_COLOR = '#c4302b';
/** Buckets drawn per histogram, at most (the largest ones, by either side's share). */
const MAX_BARS = 30;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

function fmt(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  if (value === Number.MAX_VALUE || !Number.isFinite(value)) return '∞';
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e6)) return value.toExponential(2);
  return String(Number(value.toFixed(digits)));
}

function pct(value: number): string {
  return `${(value * 100).toFixed(1)}%`;
}

/** Grouped bars: reference and window share per bucket. */
export function histogramSvg(reference: Record<string, number>, current: Record<string, number>, drifted: boolean): string {
  let keys = [...new Set([...Object.keys(reference), ...Object.keys(current)])];
  let hidden = 0;
  if (keys.length > MAX_BARS) {
    const kept = new Set(
      [...keys]
        .sort((a, b) => Math.max(reference[b] ?? 0, current[b] ?? 0) - Math.max(reference[a] ?? 0, current[a] ?? 0))
        .slice(0, MAX_BARS),
    );
    hidden = keys.length - MAX_BARS;
    keys = keys.filter((k) => kept.has(k));
  }
  const width = 640;
  const height = 200;
  const left = 40;
  const bottom = 56;
  const top = 10;
  const plotH = height - bottom - top;
  const max = Math.max(1e-9, ...keys.map((k) => Math.max(reference[k] ?? 0, current[k] ?? 0)));
  const slot = (width - left - 10) / Math.max(1, keys.length);
  const bar = Math.max(1, Math.min(18, slot / 2 - 2));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img">`);
  parts.push(`<line x1="${left}" y1="${top + plotH}" x2="${width - 5}" y2="${top + plotH}" stroke="#555"/>`);
  for (const t of [0, 0.5, 1]) {
    const y = top + plotH - t * plotH;
    parts.push(`<text x="${left - 4}" y="${y + 4}" font-size="10" text-anchor="end" fill="#555">${pct(t * max)}</text>`);
    if (t > 0) parts.push(`<line x1="${left}" y1="${y}" x2="${width - 5}" y2="${y}" stroke="#eee"/>`);
  }
  keys.forEach((key, i) => {
    const x = left + i * slot + slot / 2;
    const r = reference[key] ?? 0;
    const c = current[key] ?? 0;
    const rh = (r / max) * plotH;
    const ch = (c / max) * plotH;
    parts.push(
      `<rect x="${(x - bar - 1).toFixed(1)}" y="${(top + plotH - rh).toFixed(1)}" width="${bar.toFixed(1)}" height="${rh.toFixed(1)}" fill="${REFERENCE_COLOR}"><title>${escapeHtml(key)} reference ${pct(r)}</title></rect>`,
    );
    parts.push(
      `<rect x="${(x + 1).toFixed(1)}" y="${(top + plotH - ch).toFixed(1)}" width="${bar.toFixed(1)}" height="${ch.toFixed(1)}" fill="${drifted ? DRIFT_COLOR : CURRENT_COLOR}"><title>${escapeHtml(key)} window ${pct(c)}</title></rect>`,
    );
    const label = key.length > 14 ? `${key.slice(0, 13)}…` : key;
    parts.push(
      `<text x="${x.toFixed(1)}" y="${top + plotH + 12}" font-size="9" text-anchor="end" fill="#333" transform="rotate(-35 ${x.toFixed(1)} ${top + plotH + 12})">${escapeHtml(label)}</text>`,
    );
  });
  if (hidden > 0)
    parts.push(
      `<text x="${width - 5}" y="${height - 4}" font-size="10" text-anchor="end" fill="#555">${hidden} smaller buckets not drawn</text>`,
    );
  parts.push('</svg>');
  return parts.join('');
}

function summaryRow(label: string, side: ColumnSummary): string {
  const numeric = side.kind === 'numeric';
  const cells = [
    String(side.count),
    String(side.missing),
    pct(side.nullShare),
    numeric ? fmt(side.mean) : '',
    numeric ? fmt(side.std) : '',
    numeric ? fmt(side.min) : '',
    numeric ? fmt(side.max) : '',
    side.distinct === undefined ? '' : side.distinct === null ? '>20' : String(side.distinct),
  ];
  return `<tr><th>${label}</th>${cells.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`;
}

function featureSection(f: FeatureDrift): string {
  const verdict =
    f.statistic === null
      ? '<span class="badge muted">not tested</span>'
      : f.drifted
        ? '<span class="badge bad">drifted</span>'
        : '<span class="badge ok">no drift</span>';
  const pValue = f.pValue === null ? '' : ` · p-value <b>${fmt(f.pValue, 6)}</b> (drift below ${f.threshold})`;
  const distance = f.pValue === null && f.statistic !== null ? ` (drift at ${f.threshold} or more)` : '';
  const bounds = f.bounds ? ` · bounds [${fmt(f.bounds.lower)}, ${fmt(f.bounds.upper)}]` : '';
  const nulls = f.nullShare.drifted
    ? ` <span class="badge bad">null share rose ${pct(f.nullShare.reference)} → ${pct(f.nullShare.current)}</span>`
    : '';
  const unseen = f.current.unseen?.length
    ? `<p class="note">Values the reference does not list: ${f.current.unseen.map((u) => `<code>${escapeHtml(u)}</code>`).join(', ')}</p>`
    : '';
  return `<section class="feature${f.drifted ? ' drifted' : ''}">
<h3>${escapeHtml(f.name)} <small>${f.type}</small> ${verdict}${nulls}${f.enabled ? '' : ' <span class="badge muted">not counted</span>'}</h3>
<p><b>${escapeHtml(f.test)}</b> (${escapeHtml(f.selection === 'auto' ? 'default' : 'configured')}: ${escapeHtml(f.reason)}) · statistic <b>${fmt(f.statistic)}</b>${distance}${pValue}${bounds}</p>
${f.warning ? `<p class="warn">${escapeHtml(f.warning)}</p>` : ''}
${histogramSvg(f.reference.distribution, f.current.distribution, f.drifted)}
<table><tr><th></th><th>values</th><th>missing</th><th>null share</th><th>mean</th><th>std</th><th>min</th><th>max</th><th>distinct</th></tr>
${summaryRow('reference', f.reference)}${summaryRow('window', f.current)}</table>
${unseen}
</section>`;
}

export function renderDriftHtml(run: DriftRun): string {
  const verdict = run.datasetDrift ? '<span class="badge bad">DATASET DRIFT</span>' : '<span class="badge ok">no dataset drift</span>';
  const window =
    run.window.mode === 'window'
      ? `the last ${escapeHtml(run.window.label ?? `${run.window.seconds}s`)} (${escapeHtml(run.window.from ?? '')} to ${escapeHtml(run.window.to)})`
      : `captures since the last run (up to ${escapeHtml(run.window.to)})`;
  const prediction = run.predictionDrift
    ? `<h2>Prediction drift ${run.predictionDrift.detected ? '<span class="badge bad">drifted</span>' : '<span class="badge ok">no drift</span>'}</h2>
<p>The model's outputs in the window against its outputs on the test split (share ${fmt(run.predictionDrift.driftShare, 2)}).</p>
${run.predictionDrift.features.map(featureSection).join('\n')}`
    : `<h2>Prediction drift</h2><p class="note">${escapeHtml(run.predictionDriftWarning ?? 'No prediction profile for this version.')}</p>`;
  const q = run.quality;
  const quality = q
    ? `<h2>Model quality ${q.dropped ? '<span class="badge bad">quality drop</span>' : q.value === null ? '<span class="badge muted">no labels</span>' : '<span class="badge ok">ok</span>'}</h2>
<p>${q.rows} labelled predictions · ${escapeHtml(q.metric)} ${fmt(q.value)} against ${fmt(q.reference)} at evaluation · drop ${q.drop === null ? '–' : pct(q.drop)} (alarm above ${pct(q.margin)}, from ${q.minRows} rows)</p>
${
  Object.keys(q.metrics).length
    ? `<table><tr>${Object.keys(q.metrics)
        .map((m) => `<th>${escapeHtml(m)}</th>`)
        .join('')}</tr><tr>${Object.values(q.metrics)
        .map((v) => `<td>${fmt(v)}</td>`)
        .join('')}</tr></table>`
    : ''
}
${q.warning ? `<p class="note">${escapeHtml(q.warning)}</p>` : ''}`
    : '';
  const retrain = run.retrain
    ? `<h2>Retraining</h2><p>${run.retrain.action === 'retrain' ? `<span class="badge bad">started</span> ${escapeHtml(run.retrain.reason)}: <code>${escapeHtml(run.retrain.datasetUri ?? '')}</code> (dataset v${run.retrain.baseDatasetVersion} + ${run.retrain.feedbackRows} labelled rows)` : escapeHtml(run.retrain.reason)}</p>`
    : '';
  const sorted = [...run.features].sort((a, b) => Number(b.drifted) - Number(a.drifted));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drift: ${escapeHtml(run.model)} v${run.modelVersion} ${escapeHtml(run.generatedAt)}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:980px;color:#1f2933;padding:0 1rem}
h1{font-size:1.5rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}h3{margin:.2rem 0}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.8rem;font-size:.8rem;font-weight:600;vertical-align:middle}
.ok{background:#e3f6e8;color:#1b6b35}.bad{background:#fde2e1;color:#9b1c17}.muted{background:#eceff1;color:#52606d}
.feature{border:1px solid #e4e7eb;border-radius:6px;padding:.8rem 1rem;margin:1rem 0}.feature.drifted{border-color:#f0a19d}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}td,th{border:1px solid #e4e7eb;padding:.2rem .5rem;text-align:right}
th{background:#f5f7fa}.warn{color:#8a5a00}.note{color:#52606d;font-size:.9rem}code{font-size:.85rem}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem;vertical-align:middle}
</style></head><body>
<h1>Drift report: ${escapeHtml(run.model)} v${run.modelVersion} ${verdict}</h1>
<p>${run.rows} captured rows${run.rowsBySource.batch ? ` (${run.rowsBySource.batch} sampled from batch scoring)` : ''} over ${window}, against the training profile of dataset v${run.datasetVersion}. ${run.drifted} of ${run.tested} tested features drifted: share <b>${fmt(run.driftShare, 2)}</b> (dataset drift at ${run.driftShareThreshold} or more).${run.nullShareDrift ? ' <span class="badge bad">null share drift</span>' : ''}</p>
<p class="legend"><span style="background:${REFERENCE_COLOR}"></span>reference (training profile)<span style="background:${CURRENT_COLOR}"></span>window<span style="background:${DRIFT_COLOR}"></span>window, drifted</p>
<p class="note">Generated ${escapeHtml(run.generatedAt)} · JSON report <code>${escapeHtml(run.report.json)}</code></p>
<h2>Features</h2>
${sorted.map(featureSection).join('\n')}
${prediction}
${quality}
${retrain}
</body></html>
`;
}
