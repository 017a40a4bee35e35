/**
 * Each local function's own environment, as Lambda gives each function its own process: while a
 * function's module loads and while it handles an event (and in every callback that work
 * schedules), `process.env` reads that function's variables over the runtime's own; outside any
 * function, it is the process's environment as before. Writes inside a function stay in that
 * function's environment, so one function cannot change another's.
 *
 * Why not a Worker per function: the tests observe handlers in-process (spies on the logger and
 * on metrics, fault points), and a Worker per function would load the AWS SDK and every module
 * again for each of the ten functions (seconds per pipeline run, on every test that runs one).
 */
import { AsyncLocalStorage } from 'node:async_hooks';

type Env = Record<string, string | undefined>;

const current = new AsyncLocalStorage<Env>();
const INSTALLED = Symbol.for('mloop.functionEnv');

/**
 * Replace `process.env` (once per process) by a view that reads the running function's own
 * variables first, then the process's. The process's own object stays underneath: code outside a
 * function reads and writes it as before, and child processes started with the default
 * environment get it. Inside a function, a write (or a delete, kept as `undefined`) lands in the
 * function's own variables.
 */
function install(): void {
  if ((process.env as Record<symbol, unknown>)[INSTALLED]) return;
  const base: Env = process.env;
  const own = (key: string): { found: boolean; value: string | undefined } => {
    const fn = current.getStore();
    if (fn && key in fn) return { found: fn[key] !== undefined, value: fn[key] };
    return { found: key in base, value: base[key] };
  };
  const keys = (): string[] => {
    const fn = current.getStore();
    if (!fn) return Object.keys(base);
    const all = new Set([...Object.keys(base), ...Object.keys(fn)]);
    return [...all].filter((key) => own(key).found);
  };
  process.env = new Proxy(base, {
    get: (_target, key) => (key === INSTALLED ? true : typeof key === 'string' ? own(key).value : undefined),
    set: (_target, key, value) => {
      if (typeof key === 'string') (current.getStore() ?? base)[key] = String(value);
      return true;
    },
    deleteProperty: (_target, key) => {
      if (typeof key !== 'string') return true;
      const fn = current.getStore();
      if (fn) fn[key] = undefined;
      else delete base[key];
      return true;
    },
    has: (_target, key) => typeof key === 'string' && own(key).found,
    ownKeys: () => keys(),
    getOwnPropertyDescriptor: (_target, key) => {
      if (typeof key !== 'string' || !own(key).found) return undefined;
      return { value: own(key).value, writable: true, enumerable: true, configurable: true };
    },
  }) as NodeJS.ProcessEnv;
}

/**
 * A function's own variables: the template's environment for it, read over the process's (the
 * runtime's endpoints, region and log settings). `NODE_OPTIONS` is left out: it configures a
 * Node.js process, and this one is already running.
 */
export function functionEnvironment(template: Record<string, string>): Env {
  return Object.fromEntries(Object.entries(template).filter(([key]) => key !== 'NODE_OPTIONS'));
}

/** Run `work` (and everything it schedules) with `env` read over the process's as `process.env`. */
export function withFunctionEnvironment<T>(env: Env, work: () => T): T {
  install();
  return current.run(env, work);
}
