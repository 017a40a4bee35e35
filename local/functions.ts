/**
 * The template's Lambda functions, run locally: each function's handler module is loaded on its
 * first invocation and invoked with an event as Lambda would invoke it, both with the function's
 * own environment (the template's variables for it: local/function-env.ts), so that no function
 * sees another's variables and each logs with its own service name. A thrown error reaches the caller with its name, so that Step Functions'
 * Retry and Catch match it as on AWS.
 */
import { entryPath, type FunctionId } from '../lib/function-catalog';
import { functionEnvironment, withFunctionEnvironment } from './function-env';
import type { LocalFunction, LocalTemplate } from './template-types';

type Handler = (event: unknown) => Promise<unknown>;

export class LocalFunctions {
  private readonly handlers = new Map<string, Promise<Handler>>();
  /** Handler modules that buffer work (data capture) export `flush`; see flush(). */
  private readonly flushers = new Map<string, () => Promise<void>>();
  /** Each function's own variables, by logical id. */
  private readonly environments = new Map<string, Record<string, string | undefined>>();

  constructor(private readonly template: LocalTemplate) {}

  /** The function of a catalog id; an error when the template has none. */
  byId(id: FunctionId): LocalFunction {
    const fn = this.template.functions.find((f) => f.functionId === id);
    if (!fn) throw new Error(`The template has no function '${id}'.`);
    return fn;
  }

  /** The function of an ARN, when the template has one. */
  byArn(arn: string | undefined): LocalFunction | undefined {
    return this.template.functions.find((f) => f.arn === arn);
  }

  /** Load a function's handler module as Lambda would: its environment first, then the module. */
  private handler(fn: LocalFunction): Promise<Handler> {
    let pending = this.handlers.get(fn.logicalId);
    if (!pending) {
      pending = withFunctionEnvironment(this.environment(fn), async () => {
        // require, not import(): the module is TypeScript, loaded through the same hook as the CLI.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const mod = require(entryPath(fn.functionId)) as { handler?: Handler };
        if (typeof mod.handler !== 'function') throw new Error(`${entryPath(fn.functionId)} exports no handler.`);
        if (typeof (mod as { flush?: unknown }).flush === 'function')
          this.flushers.set(fn.logicalId, (mod as { flush: () => Promise<void> }).flush);
        return mod.handler;
      });
      this.handlers.set(fn.logicalId, pending);
    }
    return pending;
  }

  private environment(fn: LocalFunction): Record<string, string | undefined> {
    let env = this.environments.get(fn.logicalId);
    if (!env) this.environments.set(fn.logicalId, (env = functionEnvironment(fn.environment)));
    return env;
  }

  /** Invoke a function with `event`, as Lambda would. */
  async invoke(fn: LocalFunction, event: unknown): Promise<unknown> {
    const handler = await this.handler(fn);
    return withFunctionEnvironment(this.environment(fn), () => handler(event));
  }

  /**
   * Write what loaded handlers buffer (the predict function's captured lines), as a container
   * does on a flush: before the drift monitor reads captures in the same process, and on stop.
   */
  async flush(): Promise<void> {
    await Promise.all(
      [...this.flushers].map(([logicalId, flush]) => withFunctionEnvironment(this.environments.get(logicalId) ?? {}, flush)),
    );
  }

  async stop(): Promise<void> {
    await this.flush();
  }
}
