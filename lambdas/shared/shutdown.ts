/**
 * Work to finish when Lambda retires an execution environment (the capture buffer's lines).
 *
 * Lambda sends the runtime process SIGTERM at shutdown, with up to 500 ms to exit, only when an
 * extension is registered. A function can be that extension itself: an internal extension,
 * registered through the Extensions API from inside the runtime process during Init, subscribed to
 * no events (Lambda allows internal extensions no SHUTDOWN event; the SIGTERM is what it gets).
 * Registration is refused after Init, and the runtime asks for its first invocation as soon as the
 * handler module has loaded, so the registration is made synchronously while the module loads: a
 * worker thread sends it and the module waits for the answer (a few milliseconds on loopback).
 * The extension then asks for its next event, which never comes before shutdown, so that Lambda
 * knows it is ready.
 *
 * Outside Lambda (no AWS_LAMBDA_RUNTIME_API) nothing is registered: the local runtime flushes on
 * its own stop (`mloop serve` on SIGTERM and SIGINT).
 */
import { Worker } from 'node:worker_threads';

/** How long the module waits for the registration's answer before it goes on without it. */
const REGISTER_TIMEOUT_MS = 2000;
/** What is left of Lambda's 500 ms for the runtime once the flush is running. */
const FLUSH_BUDGET_MS = 450;

export type ShutdownHook =
  | { readonly status: 'registered'; readonly extensionId: string }
  | { readonly status: 'not-lambda' }
  | { readonly status: 'failed'; readonly reason: string };

// The worker's script: register, then hand the answer (HTTP status and the extension id) back
// through shared memory and wake the waiting module.
const REGISTER_SCRIPT = `
const { workerData } = require('node:worker_threads');
const state = new Int32Array(workerData.shared, 0, 2);
const text = new Uint8Array(workerData.shared, 8);
(async () => {
  let status = -1, answer = '';
  try {
    const res = await fetch('http://' + workerData.api + '/2020-01-01/extension/register', {
      method: 'POST',
      headers: { 'Lambda-Extension-Name': workerData.name, 'Content-Type': 'application/json' },
      body: JSON.stringify({ events: [] }),
    });
    status = res.status;
    answer = res.headers.get('lambda-extension-identifier') || (await res.text());
  } catch (error) {
    answer = String(error && error.message || error);
  }
  const bytes = new TextEncoder().encode(answer).slice(0, text.length);
  text.set(bytes);
  state[1] = bytes.length;
  Atomics.store(state, 0, status === -1 ? -1 : status);
  Atomics.notify(state, 0);
})();
`;

/** Register the internal extension and wait for Lambda's answer (see the file comment). */
function registerSync(api: string, name: string): { status: number; answer: string } {
  const shared = new SharedArrayBuffer(8 + 1024);
  const state = new Int32Array(shared, 0, 2);
  const worker = new Worker(REGISTER_SCRIPT, { eval: true, workerData: { shared, api, name } });
  worker.unref();
  const waited = Atomics.wait(state, 0, 0, REGISTER_TIMEOUT_MS);
  const answer = new TextDecoder().decode(new Uint8Array(shared, 8, state[1]));
  void worker.terminate();
  if (waited === 'timed-out') return { status: 0, answer: `no answer within ${REGISTER_TIMEOUT_MS} ms` };
  return { status: Atomics.load(state, 0), answer };
}

/**
 * On Lambda, run `flush` when the environment shuts down (SIGTERM), within Lambda's time for it.
 * Call once, at module scope (during Init). Never throws: a failed registration is answered (and
 * the work is then best effort, as without this).
 */
export function flushOnShutdown(flush: () => Promise<void>, name = 'mloop-flush', env: NodeJS.ProcessEnv = process.env): ShutdownHook {
  const api = env.AWS_LAMBDA_RUNTIME_API;
  if (!api) return { status: 'not-lambda' };
  const registered = registerSync(api, name);
  if (registered.status !== 200 || !registered.answer) {
    return { status: 'failed', reason: `the Extensions API answered ${registered.status || 'nothing'}: ${registered.answer}` };
  }
  const extensionId = registered.answer;
  // Ready: ask for the next event. No event is subscribed, so it stays open until shutdown.
  void fetch(`http://${api}/2020-01-01/extension/event/next`, { headers: { 'Lambda-Extension-Identifier': extensionId } }).catch(
    () => undefined,
  );
  process.once('SIGTERM', () => {
    const budget = new Promise<void>((resolve) => setTimeout(resolve, FLUSH_BUDGET_MS).unref());
    void Promise.race([flush().catch(() => undefined), budget]).finally(() => process.exit(0));
  });
  return { status: 'registered', extensionId };
}
