/**
 * Headless Chromium for the UI's tests and screenshots: the system's browser (Debian's
 * `chromium`, installed by .ci/run when missing; nothing is downloaded), driven by
 * puppeteer-core. MLOOP_CHROMIUM names another binary.
 */
import * as fs from 'node:fs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const CHROMIUM = process.env.MLOOP_CHROMIUM ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`No Chromium at ${CHROMIUM}: install Debian's chromium package (.ci/run does), or set MLOOP_CHROMIUM.`);
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // --no-sandbox: CI runs as root in a container, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

/** Open `#route` and wait until the app has drawn it (main's data-route). */
export async function openRoute(page: Page, base: string, route: string): Promise<void> {
  const current = page.url();
  if (current.startsWith(base)) await page.evaluate((r) => (location.hash = r), route);
  else await page.goto(`${base}/#${route}`);
  await page.waitForFunction((r) => document.getElementById('main')?.dataset.route === r, { timeout: 20_000 }, route);
}
