/**
 * The prediction API on 127.0.0.1: HTTP requests become API Gateway (REST, proxy integration)
 * events for the same predict handler that runs behind API Gateway on AWS, with the routes the
 * synthesized template gives the API (its AWS::ApiGateway::Resource and Method resources).
 * Authentication is API Gateway's job on AWS (IAM); locally the server listens on loopback only,
 * refuses foreign Host and Origin headers and non-JSON bodies (local/api-guard.ts), refuses a body
 * over the limit as soon as it is announced or read past, and gives a client
 * REQUEST_TIMEOUT_MS to send its request.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { guardProblem } from './api-guard';
import { listenOnLoopback, type LoopbackServer } from './loopback-http';
import type { LocalApiRoute } from './template-types';

/**
 * The largest request body that reaches the function on AWS: API Gateway accepts 10 MB, but a
 * synchronous Lambda invocation carries at most 6 MB (the body and the rest of the proxy event),
 * so the local server refuses what AWS could not deliver. 1,000 instances of a few dozen features
 * are well under 1 MB.
 */
export const MAX_BODY_BYTES = 6 * 1024 * 1024;

/** How long a client has to send a request's headers, and the whole request (API Gateway's own limit is 29 s per integration). */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;

/** A route of the API: a method of the template (local/template-types.ts) and how its path matches. */
export interface Route extends LocalApiRoute {
  readonly pattern: RegExp;
  readonly params: string[];
}

/**
 * The API's routes, from the template's methods: `{name}` matches one path segment, `{name+}`
 * (a greedy proxy resource) the rest of the path, as API Gateway matches them.
 */
export function apiRoutes(methods: readonly LocalApiRoute[]): Route[] {
  return methods.map((method) => {
    const params: string[] = [];
    const source = method.resource
      .split('/')
      .map((part) => {
        const param = /^\{([^}+]+)(\+?)\}$/.exec(part);
        if (!param) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        params.push(param[1]);
        return param[2] ? '(.+)' : '([^/]+)';
      })
      .join('/');
    return { ...method, pattern: new RegExp(`^${source === '' ? '/' : source}$`), params };
  });
}

/** The route of a request path and method, as API Gateway matches its resources. */
export function routeFor(routes: readonly Route[], method: string, pathname: string): { route: Route; match: RegExpExecArray } | undefined {
  for (const route of routes) {
    const match = route.pattern.exec(pathname);
    if (match && route.method === method) return { route, match };
  }
  return undefined;
}

/** The API Gateway proxy event for a request to one of the API's routes (the CLI and tests call handlers with it). */
export function apiEvent(
  routes: readonly Route[],
  method: string,
  url: URL,
  body: string | null,
  headers: http.IncomingHttpHeaders = { 'content-type': 'application/json' },
): APIGatewayProxyEvent {
  const found = routeFor(routes, method, url.pathname);
  if (!found) throw new Error(`The API has no route for ${method} ${url.pathname}.`);
  return toProxyEvent(method, url, headers, body, found.route, found.match);
}

export function toProxyEvent(
  method: string,
  url: URL,
  headers: http.IncomingHttpHeaders,
  body: string | null,
  route: Route,
  match: RegExpExecArray,
): APIGatewayProxyEvent {
  const requestId = randomUUID();
  const query = url.searchParams.size > 0 ? Object.fromEntries(url.searchParams.entries()) : null;
  const multiQuery =
    url.searchParams.size > 0
      ? Object.fromEntries([...new Set(url.searchParams.keys())].map((k) => [k, url.searchParams.getAll(k)]))
      : null;
  return {
    resource: route.resource,
    path: url.pathname,
    httpMethod: method,
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')])),
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v : [v ?? '']])),
    queryStringParameters: query,
    multiValueQueryStringParameters: multiQuery,
    pathParameters: route.params.length ? Object.fromEntries(route.params.map((p, i) => [p, decodeURIComponent(match[i + 1])])) : null,
    stageVariables: null,
    body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: null,
      protocol: 'HTTP/1.1',
      httpMethod: method,
      identity: { sourceIp: '127.0.0.1' } as APIGatewayProxyEvent['requestContext']['identity'],
      path: `/v1${url.pathname}`,
      stage: 'v1',
      requestId,
      requestTimeEpoch: Date.now(),
      resourceId: 'local',
      resourcePath: route.resource,
    },
  };
}

/** The local API's server: its URL and its close. */
export type ApiServer = LoopbackServer;

/** Invokes a route's function (`route.functionArn`) with the proxy event. */
export type ApiHandler = (event: APIGatewayProxyEvent, route: Route) => Promise<APIGatewayProxyResult>;

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * Answer one HTTP request to the API as API Gateway would: the route of its method and path
 * (`url`, the path within the stage), its body read (refused over MAX_BODY_BYTES), the proxy
 * event handed to `handler`, and the function's result written back. The prediction server and
 * the edge endpoint's execute-api path (local/aws-api.ts) both answer through it.
 */
export function serveApiRequest(
  routes: readonly Route[],
  handler: ApiHandler,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
): void {
  const method = req.method ?? 'GET';
  const refusal = guardProblem(method, req.headers);
  if (refusal) {
    req.resume();
    return send(res, refusal.status, { error: refusal.error, message: refusal.message });
  }
  const candidates = routes.map((route) => ({ route, match: route.pattern.exec(url.pathname) })).filter((c) => c.match);
  const found = candidates.find((c) => c.route.method === method);
  if (!found) {
    req.resume();
    if (candidates.length > 0)
      return send(res, 405, { error: 'MethodNotAllowed', message: `${method} is not allowed on ${url.pathname}.` });
    return send(res, 404, { error: 'NotFound', message: `No route for ${method} ${url.pathname}.` });
  }
  const tooLarge = () => {
    // Answer now and stop reading: the rest of an oversized body is never held.
    res.setHeader('connection', 'close');
    send(res, 413, { error: 'PayloadTooLarge', message: `The request body exceeds ${MAX_BODY_BYTES} bytes.` });
    req.destroy();
  };
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) return tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      if (!res.headersSent) tooLarge();
    } else chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > MAX_BODY_BYTES) return;
    const body = chunks.length ? Buffer.concat(chunks).toString('utf8') : null;
    let event: APIGatewayProxyEvent;
    try {
      event = toProxyEvent(method, url, req.headers, body, found.route, found.match!);
    } catch {
      // A path parameter that is not valid percent-encoding (decodeURIComponent throws).
      return send(res, 400, {
        error: 'RequestInvalid',
        message: `The path ${url.pathname} is not valid percent-encoding.`,
        problems: [],
      });
    }
    handler(event, found.route)
      .then((result) => {
        res.writeHead(result.statusCode, result.headers as http.OutgoingHttpHeaders);
        res.end(result.body);
      })
      .catch(() => send(res, 502, { error: 'BadGateway', message: 'The function failed.' }));
  });
}

/**
 * Requests a server answers besides the API's routes (`mloop serve` mounts the UI at /): true
 * when it answered the request, false to leave it to the API's routes.
 */
export type OtherRequests = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => boolean;

export async function startApiServer(
  routes: readonly Route[],
  handler: ApiHandler,
  port = 0,
  timeouts: { headersMs?: number; requestMs?: number } = {},
  others?: OtherRequests,
): Promise<ApiServer> {
  const options = {
    headersTimeout: timeouts.headersMs ?? HEADERS_TIMEOUT_MS,
    requestTimeout: timeouts.requestMs ?? REQUEST_TIMEOUT_MS,
    // Node checks both every 30 s by default, so a slow client would hold on up to 30 s past them.
    connectionsCheckingInterval: 500,
  };
  const server = http.createServer(options, (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://127.0.0.1');
    } catch {
      return send(res, 400, { error: 'RequestInvalid', message: 'The request target is not a valid URL.', problems: [] });
    }
    if (others?.(req, res, url)) return;
    serveApiRequest(routes, handler, req, res, url);
  });
  return listenOnLoopback(server, port);
}
