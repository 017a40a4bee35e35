/// <reference lib="dom" />
/**
 * The UI's router: the hash is the page's address (#/models/churn/versions/3), so every page
 * can be linked, bookmarked and reloaded. Each route draws its page into <main> and moves the
 * focus there, so that a keyboard user starts at the new page.
 */
import { ApiError, getJson, h } from './dom';
import { datasetView, datasetsView, diffView } from './datasets-page';
import { driftView } from './drift-page';
import { modelsView, modelView } from './models-page';
import { runsView, runView } from './runs-page';
import { versionView } from './version-page';

type View = (params: string[]) => Promise<HTMLElement>;

const dec = decodeURIComponent;

const ROUTES: [RegExp, View][] = [
  [/^\/?$/, () => modelsView()],
  [/^\/models\/([^/]+)$/, ([m]) => modelView(dec(m), render)],
  [/^\/models\/([^/]+)\/versions\/(\d+)$/, ([m, v]) => versionView(dec(m), Number(v))],
  [/^\/models\/([^/]+)\/datasets$/, ([m]) => datasetsView(dec(m))],
  [/^\/models\/([^/]+)\/datasets\/(\d+)$/, ([m, v]) => datasetView(dec(m), Number(v))],
  [/^\/models\/([^/]+)\/diff\/(\d+)\/(\d+)$/, ([m, a, b]) => diffView(dec(m), Number(a), Number(b))],
  [/^\/models\/([^/]+)\/drift$/, ([m]) => driftView(dec(m))],
  [/^\/models\/([^/]+)\/runs$/, ([m]) => runsView(dec(m))],
  [/^\/models\/([^/]+)\/runs\/([^/]+)$/, ([m, e]) => runView(dec(m), dec(e))],
];

let drawing = 0;

async function render(): Promise<void> {
  const main = document.getElementById('main')!;
  const route = location.hash.replace(/^#/, '') || '/';
  const turn = ++drawing;
  let page: HTMLElement;
  try {
    const found = ROUTES.map(([pattern, view]) => ({ match: pattern.exec(route), view })).find((r) => r.match);
    page = found ? await found.view(found.match!.slice(1)) : h('div', {}, h('h1', {}, 'Not found'), h('p', {}, `No page at #${route}.`));
  } catch (error) {
    const message = error instanceof ApiError ? error.message : `The page failed: ${(error as Error).message}`;
    page = h('div', {}, h('h1', {}, 'Error'), h('p', { class: 'error', role: 'alert' }, message));
  }
  if (turn !== drawing) return; // a later navigation won
  main.replaceChildren(page);
  const title = page.querySelector('h1')?.textContent;
  document.title = title ? `${title} - mloop` : 'mloop';
  main.dataset.route = route;
  main.focus();
}

window.addEventListener('hashchange', () => void render());
void getJson<{ where: string; allowWrites: boolean }>('/config').then(
  (c) => (document.getElementById('where')!.textContent = `${c.where}${c.allowWrites ? ' (writes allowed)' : ' (read-only)'}`),
  () => undefined,
);
void render();
