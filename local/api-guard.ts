/**
 * What the local API refuses before a request reaches a function, because on this machine the
 * API has no IAM in front of it: a web page the user has open could otherwise write to the local
 * registry (a cross-site POST) or read it after pointing its own domain at 127.0.0.1 (DNS
 * rebinding). Tools (curl, the SDKs, the CLI) send neither a foreign Host nor an Origin, so they
 * pass unchanged.
 *
 * - `Host` must be a loopback name (127.0.0.1, localhost, [::1], any port): a rebound domain is not.
 * - `Origin`, when a browser sends one (it does on every cross-origin request and on POSTs), must
 *   be a loopback origin; `null` (sandboxed frames, files) is foreign.
 * - A request with a body must say `application/json` (or say nothing): the content types a
 *   page can send without a CORS preflight (text/plain, forms, multipart) are refused, so a
 *   cross-site write needs a preflight, which this API never grants.
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface GuardRefusal {
  readonly status: 403 | 415;
  readonly error: 'Forbidden' | 'UnsupportedMediaType';
  readonly message: string;
}

const LOOPBACK_HOST = /^(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$/i;
const LOOPBACK_ORIGIN = /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$/i;

/** Printable, bounded text of a header value, for a message. */
const shown = (value: string): string => JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}...` : value);

/** Why the local API refuses a request with these headers, or undefined when it takes it. */
export function guardProblem(method: string, headers: IncomingHttpHeaders): GuardRefusal | undefined {
  const host = headers.host ?? '';
  if (!LOOPBACK_HOST.test(host))
    return {
      status: 403,
      error: 'Forbidden',
      message: `Host ${shown(host)} is not a loopback name: the local API answers requests to 127.0.0.1, localhost or [::1] only.`,
    };
  const origin = headers.origin;
  if (origin !== undefined && !LOOPBACK_ORIGIN.test(origin))
    return {
      status: 403,
      error: 'Forbidden',
      message: `Cross-site requests are refused: Origin ${shown(origin)} is not this machine's loopback.`,
    };
  const hasBody = method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
  const type = (headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (hasBody && type !== '' && type !== 'application/json')
    return {
      status: 415,
      error: 'UnsupportedMediaType',
      message: `The request body must be application/json, got ${shown(type)}.`,
    };
  return undefined;
}
