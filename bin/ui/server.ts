/**
 * `mloop ui`'s HTTP side: the page (`/`), its script (`/ui/app.js`, bundled by bundle.ts) and
 * the JSON it reads (`/ui/api/...`, answered from data.ts). `mloop ui` serves it alone;
 * `mloop serve` mounts it beside the prediction API (local/api-server.ts hands it what the API's
 * routes do not match).
 *
 * Every request passes the local API's guard first (local/api-guard.ts: loopback Host, loopback
 * Origin, JSON bodies only): the registry behind it has no IAM on this machine, and a web page
 * the user has open must not read it (DNS rebinding) or write it (a cross-site POST).
 * Writes (promote, rollback, approve) go through the admin function as `mloop models` sends them
 * (modelsRequest), only when the server was started with --allow-writes, and need a reason.
 */
import * as http from 'node:http';
import { guardProblem } from '../../local/api-guard';
import { listenOnLoopback, type LoopbackServer, readBodyUpTo } from '../../local/loopback-http';
import { InvalidInput } from '../../lambdas/shared/errors';
import { cliUser, modelsRequest } from '../commands/models';
import type { LoopTarget } from '../target';
import { PAGE_HTML } from './page';
import {
  datasetDiffPage,
  datasetPage,
  datasetsPage,
  driftHtml,
  driftPage,
  modelPage,
  modelsOverview,
  NotFound,
  runPage,
  runsPage,
  versionPage,
} from './data';

export interface UiOptions {
  readonly target: LoopTarget;
  /** Promote, rollback and approve from the page; else they answer 403. */
  readonly allowWrites: boolean;
  /** The bundled front-end (bundle.ts). */
  readonly script: () => Promise<string>;
  /** Who the registry records as acting. @default the operating-system user (`user:<name>`) */
  readonly by?: string;
}

/** The actions the page may ask for: the `mloop models` subcommands it has buttons for. */
export const UI_ACTIONS = ['promote', 'rollback', 'approve'] as const;

/** The largest JSON body the page sends (an action: a few hundred bytes). */
const MAX_ACTION_BYTES = 16 * 1024;

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** An error as the page shows it: a status and a one-line message (never a stack). */
export function errorAnswer(error: unknown): { status: number; body: { error: string; message: string } } {
  const e = error as Error;
  const name = e?.name ?? 'Error';
  const message = (e?.message || String(error)).split('\n')[0];
  if (error instanceof NotFound || /NotFound$/.test(name)) return { status: 404, body: { error: 'NotFound', message } };
  if (error instanceof InvalidInput || name === 'InvalidInput' || /Conflict|Invalid|Rejected/.test(name))
    return { status: 400, body: { error: name, message } };
  return { status: 500, body: { error: 'Failed', message } };
}

const positive = (raw: string, what: string): number => {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1) throw new InvalidInput(`${what} must be a positive integer, got '${raw}'.`);
  return n;
};

type Reader = (target: LoopTarget, params: string[], url: URL) => Promise<unknown>;

/** The JSON routes: a path pattern under /ui/api and what answers it. */
const READS: [RegExp, Reader][] = [
  [/^\/models$/, (t) => modelsOverview(t)],
  [/^\/models\/([^/]+)$/, (t, [m]) => modelPage(t, m)],
  [/^\/models\/([^/]+)\/versions\/([^/]+)$/, (t, [m, v]) => versionPage(t, m, positive(v, 'The version'))],
  [/^\/models\/([^/]+)\/datasets$/, (t, [m]) => datasetsPage(t, m)],
  [/^\/models\/([^/]+)\/datasets\/([^/]+)$/, (t, [m, v]) => datasetPage(t, m, positive(v, 'The dataset version'))],
  [
    /^\/models\/([^/]+)\/diff\/([^/]+)\/([^/]+)$/,
    (t, [m, a, b]) => datasetDiffPage(t, m, positive(a, 'Dataset version A'), positive(b, 'Dataset version B')),
  ],
  [/^\/models\/([^/]+)\/drift$/, (t, [m]) => driftPage(t, m)],
  [/^\/models\/([^/]+)\/runs$/, (t, [m]) => runsPage(t, m)],
  [/^\/models\/([^/]+)\/runs\/([^/]+)$/, (t, [m, e]) => runPage(t, m, e)],
];

/** An action's body as text; InvalidInput past MAX_ACTION_BYTES. */
async function readBody(req: http.IncomingMessage): Promise<string> {
  const body = await readBodyUpTo(req, MAX_ACTION_BYTES);
  if (body === null) throw new InvalidInput(`The request body exceeds ${MAX_ACTION_BYTES} bytes.`);
  return body.toString('utf8');
}

/** The `mloop models` request of a page's action: its JSON body checked, the reason required. */
export function actionRequest(model: string, body: string, by: string) {
  let parsed: { action?: unknown; version?: unknown; alias?: unknown; reason?: unknown };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    throw new InvalidInput('The action must be a JSON object: {"action", "version", "reason", "alias"?}.');
  }
  const action = String(parsed.action ?? '');
  if (!(UI_ACTIONS as readonly string[]).includes(action))
    throw new InvalidInput(`Unknown action '${action}': expected one of ${UI_ACTIONS.join(', ')}.`);
  const reason = typeof parsed.reason === 'string' ? parsed.reason.trim() : '';
  if (reason === '') throw new InvalidInput(`A reason is required to ${action} a version (it is kept in the model's history).`);
  const values = {
    model,
    ...(parsed.version !== undefined && parsed.version !== null ? { version: String(parsed.version) } : {}),
    ...(typeof parsed.alias === 'string' && parsed.alias !== '' ? { alias: parsed.alias } : {}),
    reason,
  };
  return modelsRequest(action, values, by);
}

/**
 * Answer a request if it is the UI's (`/`, `/ui/...`); false when it is not, for the caller to
 * answer (the prediction API in `mloop serve`, a 404 in `mloop ui`).
 */
export function handleUiRequest(options: UiOptions, req: http.IncomingMessage, res: http.ServerResponse, url: URL): boolean {
  const path = url.pathname;
  if (path !== '/' && path !== '/index.html' && !path.startsWith('/ui/')) return false;
  const method = req.method ?? 'GET';
  const refusal = guardProblem(method, req.headers);
  if (refusal) {
    req.resume();
    sendJson(res, refusal.status, { error: refusal.error, message: refusal.message });
    return true;
  }
  void answer(options, req, res, url, method).catch((error: unknown) => {
    const { status, body } = errorAnswer(error);
    if (!res.headersSent) sendJson(res, status, body);
    else res.destroy();
  });
  return true;
}

async function answer(options: UiOptions, req: http.IncomingMessage, res: http.ServerResponse, url: URL, method: string): Promise<void> {
  const path = url.pathname;
  if (path === '/' || path === '/index.html') {
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      // The page runs only its own script and talks only to this server.
      'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    });
    res.end(PAGE_HTML);
    return;
  }
  if (path === '/ui/app.js') {
    const script = await options.script();
    res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' });
    res.end(script);
    return;
  }
  if (!path.startsWith('/ui/api/')) return sendJson(res, 404, { error: 'NotFound', message: `No page at ${path}.` });
  const route = path.slice('/ui/api'.length);
  if (route === '/config' && method === 'GET') return sendJson(res, 200, { allowWrites: options.allowWrites, where: options.target.where });
  const drift = /^\/models\/([^/]+)\/drift-report$/.exec(route);
  if (drift && method === 'GET') {
    const html = await driftHtml(options.target, decodeURIComponent(drift[1]), url.searchParams.get('at') ?? '');
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      // The monitor's report is self-contained: no script of its own needs to run.
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    });
    res.end(html);
    return;
  }
  const action = /^\/models\/([^/]+)\/actions$/.exec(route);
  if (action) {
    if (method !== 'POST') return sendJson(res, 405, { error: 'MethodNotAllowed', message: `${method} is not allowed on ${path}.` });
    if (!options.allowWrites) {
      req.resume();
      return sendJson(res, 403, {
        error: 'Forbidden',
        message: 'This mloop ui is read-only: start it with --allow-writes to promote, roll back or approve from the page.',
      });
    }
    const request = actionRequest(decodeURIComponent(action[1]), await readBody(req), options.by ?? cliUser());
    return sendJson(res, 200, await options.target.invoke('models', request));
  }
  if (method !== 'GET') return sendJson(res, 405, { error: 'MethodNotAllowed', message: `${method} is not allowed on ${path}.` });
  for (const [pattern, read] of READS) {
    const match = pattern.exec(route);
    if (match) return sendJson(res, 200, await read(options.target, match.slice(1).map(decodeURIComponent), url));
  }
  sendJson(res, 404, { error: 'NotFound', message: `No data at ${path}.` });
}

/** `mloop ui`'s server: its URL and its close. */
export type UiServer = LoopbackServer;

/** `mloop ui`'s own server on 127.0.0.1 (`port` 0: one the OS picks). */
export async function startUiServer(options: UiOptions, port: number): Promise<UiServer> {
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://127.0.0.1');
    } catch {
      return sendJson(res, 400, { error: 'RequestInvalid', message: 'The request target is not a valid URL.' });
    }
    if (!handleUiRequest(options, req, res, url)) {
      req.resume();
      sendJson(res, 404, { error: 'NotFound', message: `No page at ${url.pathname}: the UI is at /.` });
    }
  });
  return listenOnLoopback(server, port);
}
