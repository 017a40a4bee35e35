/**
 * `npm run screenshots`: the pictures of `mloop ui` in README.md and docs/ui.md (docs/ui/*.png), regenerated from
 * a fresh home built as the browser test builds it (test/helpers/ui-home.ts) and photographed by
 * the system's Chromium. Not a test: it writes committed files.
 */
import '../local/polyfills';
import '../test/setup-env';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startUi } from '../bin/commands/ui';
import { localTarget } from '../bin/local-target';
import { launchBrowser, openRoute } from './helpers/browser';
import { startCloud, stopCloud } from './helpers/cloud';
import { buildUiHome } from './helpers/ui-home';

const OUT = path.join(__dirname, '..', 'docs', 'ui');

async function main(): Promise<void> {
  const t = await startCloud();
  try {
    await buildUiHome(t);
    const ui = await startUi(await localTarget(t.cloud), 0, false);
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1200, height: 800 });
      const trained = (await t.registry.runs.list('loop')).find((r) => r.status === 'SUCCEEDED')!;
      const pages: [string, string][] = [
        ['models', '/'],
        ['model', '/models/loop'],
        ['version', '/models/loop/versions/2'],
        ['datasets', '/models/loop/datasets/2'],
        ['dataset-diff', '/models/loop/diff/1/2'],
        ['drift', '/models/loop/drift'],
        ['runs', `/models/loop/runs/${trained.execution}`],
      ];
      fs.mkdirSync(OUT, { recursive: true });
      for (const [name, route] of pages) {
        await openRoute(page, ui.url, route);
        const file = path.join(OUT, `${name}.png`) as `${string}.png`;
        await page.screenshot({ path: file, fullPage: true });
        process.stdout.write(`${path.relative(process.cwd(), file)}\n`);
      }
    } finally {
      await browser.close();
      await ui.close();
    }
  } finally {
    await stopCloud(t);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`screenshots: ${(error as Error).message}\n`);
  process.exit(1);
});
