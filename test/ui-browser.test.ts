/**
 * `mloop ui` in a real browser (headless Chromium, test/helpers/browser.ts) against a home built
 * through the pipeline (test/helpers/ui-home.ts: two models, several versions, a rejected dataset,
 * drift runs with feedback). Every page loads without a console error and shows the registry's
 * numbers; links navigate; a promote from the page moves the alias only with --allow-writes;
 * links and buttons are reachable by keyboard and text is readable (contrast); a screenshot of
 * each page goes to test-artifacts/ui/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { startUi } from '../bin/commands/ui';
import { localTarget } from '../bin/local-target';
import type { UiServer } from '../bin/ui/server';
import { num } from '../bin/ui/app/dom';
import { s3Keys } from '../lambdas/shared/layout';
import type { ModelCard } from '../lambdas/shared/types';
import { getObjectJson, startCloud, stopCloud, type TestCloud } from './helpers/cloud';
import { launchBrowser, openRoute } from './helpers/browser';
import { buildUiHome } from './helpers/ui-home';

jest.setTimeout(120_000);

const ARTIFACTS = path.join(__dirname, '..', 'test-artifacts', 'ui');

let t: TestCloud | undefined;
let readOnly: UiServer;
let writable: UiServer;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

beforeAll(async () => {
  t = await startCloud();
  await buildUiHome(t);
  const target = await localTarget(t.cloud);
  readOnly = await startUi(target, 0, false);
  writable = await startUi(target, 0, true);
  browser = await launchBrowser();
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: ${(e as Error).message}`));
  fs.mkdirSync(ARTIFACTS, { recursive: true });
}, 400_000);

afterAll(async () => {
  await browser?.close();
  await readOnly?.close();
  await writable?.close();
  await stopCloud(t);
}, 60_000);

const text = (selector: string) => page.$eval(selector, (el) => (el as HTMLElement).innerText.trim());
const texts = (selector: string) => page.$$eval(selector, (els) => els.map((el) => (el as HTMLElement).innerText.trim()));
const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) as `${string}.png`, fullPage: true });

describe('every page, read-only', () => {
  test('Models: each model with its champion, headline metric, sparkline, last run and last drift', async () => {
    await openRoute(page, readOnly.url, '/');
    const registry = t!.registry;
    for (const model of ['loop', 'houses']) {
      const champion = (await registry.aliases.get(model, 'champion'))!.version;
      const record = (await registry.versions.get(model, champion))!;
      const metric = model === 'loop' ? 'accuracy' : 'rmse';
      expect(await text(`[data-model="${model}"] [data-field="champion"]`)).toBe(`v${champion}`);
      expect(await text(`[data-model="${model}"] [data-field="headline"]`)).toBe(num(record.metrics[metric]));
    }
    // loop: two versions (a sparkline), a rejected last drop, and a drifted last monitor run.
    expect(await page.$('[data-model="loop"] [role="img"] svg')).not.toBeNull();
    expect(await text('[data-model="loop"] [data-field="last-run"]')).toBe('FAILED');
    expect(await text('[data-model="loop"] [data-field="last-drift"]')).toBe('DRIFT');
    expect(await text('[data-model="houses"] [data-field="last-drift"]').catch(() => null)).toBeNull();
    await shot('models');
  });

  test('Model: links lead from the models page to the versions table and the alias history', async () => {
    await openRoute(page, readOnly.url, '/');
    await Promise.all([
      page.waitForFunction(() => document.getElementById('main')?.dataset.route === '/models/loop'),
      page.click('[data-model="loop"] h2 a'),
    ]);
    const rows = await texts('#versions tbody tr');
    expect(rows).toHaveLength(2);
    const v1 = (await t!.registry.versions.get('loop', 1))!;
    expect(rows[0]).toContain(num(v1.metrics.accuracy));
    expect(rows[1]).toContain('champion');
    // Read-only: the command to run instead of a button.
    expect(await page.$('[data-action="promote"]')).toBeNull();
    expect(rows[0]).toContain('mloop models promote --model loop --version 1');
    const history = await texts('#alias-history li');
    expect(history[0]).toMatch(/^champion: v1 → v2 promote by pipeline:/);
    await shot('model');
  });

  test('Version: metrics, lineage and the confusion matrix as a heat map', async () => {
    await openRoute(page, readOnly.url, '/models/loop/versions/2');
    const v2 = (await t!.registry.versions.get('loop', 2))!;
    expect(await text('[data-metric="accuracy"]')).toBe(num(v2.metrics.accuracy));
    expect(await page.$('[aria-label^="Confusion matrix"] svg')).not.toBeNull();
    // The heat map's cells hold the test split's counts: they sum to its rows.
    const counts = await page.$$eval('[aria-label^="Confusion matrix"] g[aria-label="text"] text', (els) =>
      els.map((e) => Number(e.textContent)),
    );
    const dataset = (await t!.registry.datasets.get('loop', 2))!;
    expect(counts).toHaveLength(4);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(dataset.splitRows!.test);
    expect(await page.$$eval('table[aria-label="Per-class scores"] tbody tr', (r) => r.length)).toBe(2);
    expect(await text('main dl')).toContain(dataset.sha256);
    // The ROC curve (two classes: the second's) and the training curves from the card's lossCurve.
    expect(await page.$('[aria-label="ROC curve of class 1"] svg')).not.toBeNull();
    const card = await getObjectJson<ModelCard>(t!.cloud.dataBucket, s3Keys.modelCard('loop', 2));
    expect(card.lossCurve!.length).toBeGreaterThan(0);
    expect(await page.$('[aria-label^="Train and validation loss by"] svg')).not.toBeNull();
    expect(await text('[data-field="curves-note"]')).toContain(
      `${card.epochs} epochs run; the model keeps the weights of the epoch with the lowest validation loss`,
    );
    await shot('version');
  });

  test('Version of a regression: predicted against true values, a point per test row', async () => {
    await openRoute(page, readOnly.url, '/models/houses/versions/1');
    const dataset = (await t!.registry.datasets.get('houses', 1))!;
    const dots = await page.$$eval('[aria-label="Predicted against true values on the test split"] circle', (els) => els.length);
    expect(dots).toBe(Math.min(500, dataset.splitRows!.test));
    expect(await page.$('[aria-label^="Train and validation loss by"] svg')).not.toBeNull();
  });

  test('Datasets: versions with status, a rejected version with its violation, a profile, a diff', async () => {
    await openRoute(page, readOnly.url, '/models/loop/datasets');
    expect(await texts('#datasets [data-field="status"]')).toEqual(['rejected', 'accepted', 'accepted']);
    await shot('datasets');
    await Promise.all([
      page.waitForFunction(() => document.getElementById('main')?.dataset.route === '/models/loop/datasets/3'),
      page.click('#datasets tbody tr:first-child a'),
    ]);
    expect(await text('#violations')).toContain("Column 'x3'");
    // The report's example lines (1 is the header): x3 is empty from the first data line on.
    expect(await texts('#violations [data-field="example-lines"]')).toContain('2, 3, 4, 5, 6');
    await shot('dataset-rejected');
    await openRoute(page, readOnly.url, '/models/loop/datasets/2');
    expect(await page.$$eval('#profile tbody tr', (r) => r.length)).toBe(5);
    expect(await page.$('[aria-label="Histogram of x1"] svg')).not.toBeNull();
    expect(await page.$('[aria-label="Top categories of color"] svg')).not.toBeNull();
    await openRoute(page, readOnly.url, '/models/loop/diff/1/2');
    expect(await text('main')).toContain('rows 400 → 500 (+100)');
    expect(await page.$$eval('#diff tbody tr', (r) => r.length)).toBe(5);
    await shot('dataset-diff');
  });

  test('Drift: share over time, per-feature statistics, and each run’s HTML report', async () => {
    await openRoute(page, readOnly.url, '/models/loop/drift');
    const runs = await t!.registry.drift.list('loop');
    expect(await page.$$eval('#drift-runs tbody tr', (r) => r.length)).toBe(runs.length);
    expect(runs.length).toBe(2);
    expect(await page.$('[aria-label^="Drift share of loop over 2 runs"] svg')).not.toBeNull();
    expect(await page.$('[aria-label^="Quality over labelled predictions"] svg')).not.toBeNull();
    const href = await page.$eval('#drift-runs tbody tr:first-child a', (a) => (a as HTMLAnchorElement).href);
    const report = await page.evaluate(async (u) => {
      const r = await fetch(u);
      return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
    }, href);
    expect(report.status).toBe(200);
    expect(report.type).toContain('text/html');
    expect(report.body).toContain('loop');
    await shot('drift');
  });

  test('Runs: executions with status and failure reason; a run’s stage timeline', async () => {
    await openRoute(page, readOnly.url, '/models/loop/runs');
    const statuses = await texts('#runs [data-field="status"]');
    expect(statuses).toEqual(['FAILED', 'SUCCEEDED', 'SUCCEEDED']);
    expect(await text('#runs tbody tr:first-child')).toContain('DatasetRejected');
    await shot('runs');
    const succeeded = (await t!.registry.runs.list('loop')).find((r) => r.status === 'SUCCEEDED')!;
    await openRoute(page, readOnly.url, `/models/loop/runs/${succeeded.execution}`);
    const stages = await texts('#stages tbody tr');
    expect(stages.some((s) => s.startsWith('Ingest'))).toBe(true);
    expect(stages.some((s) => s.startsWith('Register'))).toBe(true);
    expect(await page.$('[aria-label="Stage timeline of the run"] svg')).not.toBeNull();
    await shot('run');
  });
});

describe('writes', () => {
  test('refused without --allow-writes, with a message that says how', async () => {
    await openRoute(page, readOnly.url, '/models/loop');
    const before = consoleErrors.length;
    const answer = await page.evaluate(async () => {
      const r = await fetch('/ui/api/models/loop/actions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ action: 'promote', version: 1, reason: 'try' }),
      });
      return { status: r.status, body: (await r.json()) as { message: string } };
    });
    expect(answer.status).toBe(403);
    expect(answer.body.message).toContain('--allow-writes');
    // The browser logs the refused request: that one error is expected, and only it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(consoleErrors.slice(before)).toEqual([expect.stringContaining('403 (Forbidden)')]);
    consoleErrors.splice(before);
    expect((await t!.registry.aliases.get('loop', 'champion'))!.version).toBe(2);
  });

  test('a cross-site request is refused like the API’s', async () => {
    const response = await fetch(`${writable.url}/ui/api/models`, { headers: { origin: 'https://evil.example' } });
    expect(response.status).toBe(403);
  });

  test('with --allow-writes, a promote from the page needs a reason, then moves the alias', async () => {
    await openRoute(page, writable.url, '/models/loop');
    await page.click('[data-action="promote"]');
    await page.waitForSelector('dialog[open]');
    await page.click('#action-confirm');
    expect(await text('dialog[open] [role="alert"]')).toBe('A reason is required.');
    await page.type('#action-reason', 'v1 generalizes better on the new data');
    await page.click('#action-confirm');
    await page.waitForFunction(
      () => !document.querySelector('dialog[open]') && document.querySelectorAll('#alias-history li').length === 3,
    );
    const champion = (await t!.registry.aliases.get('loop', 'champion'))!;
    expect(champion).toMatchObject({ version: 1, reason: 'v1 generalizes better on the new data', action: 'promote' });
    expect((await texts('#alias-history li'))[0]).toMatch(/^champion: v2 → v1 promote by user:.+v1 generalizes better on the new data$/);
    await shot('model-promoted');
  });
});

describe('accessibility', () => {
  test('links and buttons are reached with Tab, and Enter follows a link', async () => {
    await openRoute(page, readOnly.url, '/');
    const reached: string[] = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      reached.push(await page.evaluate(() => `${document.activeElement?.tagName} ${document.activeElement?.textContent?.trim()}`));
    }
    expect(reached).toContain('A houses');
    expect(reached).toContain('A loop');
    while ((await page.evaluate(() => document.activeElement?.textContent?.trim())) !== 'loop') await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('main')?.dataset.route === '/models/loop');
  });

  test.each(['/', '/models/loop', '/models/loop/versions/2', '/models/loop/datasets', '/models/loop/drift', '/models/loop/runs'])(
    'text on %s has a contrast of at least 4.5:1 (WCAG AA)',
    async (route) => {
      await openRoute(page, readOnly.url, route);
      const low = await page.evaluate(() => {
        const rgb = (c: string) => (c.match(/[\d.]+/g) ?? []).map(Number);
        const lum = ([r, g, b]: number[]) => {
          const f = (x: number) => ((x /= 255) <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4);
          return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
        };
        const background = (el: Element | null): number[] => {
          for (; el; el = el.parentElement) {
            const c = rgb(getComputedStyle(el).backgroundColor);
            if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
          }
          return [255, 255, 255];
        };
        const out: string[] = [];
        for (const el of document.querySelectorAll('body *')) {
          if (el.closest('svg') || !(el instanceof HTMLElement) || el.offsetParent === null) continue;
          const own = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent!.trim() !== '');
          if (!own) continue;
          const a = lum(rgb(getComputedStyle(el).color).slice(0, 3));
          const b = lum(background(el));
          const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
          if (ratio < 4.5) out.push(`${el.tagName} "${el.textContent!.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
        }
        return out;
      });
      expect(low).toEqual([]);
    },
  );
});

// Last: every page the tests above opened, read-only and writable, counted.
test('no page logged a console error', () => {
  expect(consoleErrors).toEqual([]);
});
