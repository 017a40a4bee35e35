/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The page's small DOM toolkit: build elements (text is always set as text, never parsed as
 * HTML), format numbers and times, and fetch the server's JSON with its error as a message.
 */

export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | undefined | ((event: Event) => void)>;

export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** A link to a route of the page (hash routing: every page has an address). */
export function link(route: string, ...children: Child[]): HTMLElement {
  return h('a', { href: `#${route}` }, ...children);
}

export const enc = encodeURIComponent;

/** A metric as the tables show it: 4 significant digits, integers as they are. */
export function num(x: number | null | undefined): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '-';
  if (Number.isInteger(x)) return String(x);
  return Math.abs(x) >= 1000 ? x.toFixed(0) : x.toPrecision(4);
}

export function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? '-' : `${(100 * x).toFixed(1)}%`;
}

/** How long ago an ISO time was, in words ("3 h ago"). */
export function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** An ISO time, shorter: 2026-01-05 14:03:12 UTC. */
export function when(iso: string | undefined | null): string {
  return iso ? `${iso.slice(0, 19).replace('T', ' ')} UTC` : '-';
}

/** A server error, with the server's one-line message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function answer<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(res.status, `The server answered ${res.status} with something that is not JSON.`);
  }
  if (!res.ok) throw new ApiError(res.status, (body as { message?: string }).message ?? `The server answered ${res.status}.`);
  return body as T;
}

export async function getJson<T>(path: string): Promise<T> {
  return answer<T>(await fetch(`/ui/api${path}`, { headers: { accept: 'application/json' } }));
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  return answer<T>(
    await fetch(`/ui/api${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  );
}

/** A table: header cells (a `num:` prefix right-aligns a numeric column) and rows of cells. */
export function table(headers: string[], rows: Child[][], attrs: Attrs = {}): HTMLElement {
  const numeric = headers.map((x) => x.startsWith('num:'));
  return h(
    'table',
    attrs,
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((x, i) => h('th', { class: numeric[i] ? 'num' : undefined, scope: 'col' }, x.replace(/^num:/, ''))),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {},
          r.map((c, i) => h('td', { class: numeric[i] ? 'num' : undefined }, c)),
        ),
      ),
    ),
  );
}

/** A definition list of label and value pairs. */
export function facts(pairs: [string, Child][]): HTMLElement {
  return h(
    'dl',
    {},
    pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
  );
}
