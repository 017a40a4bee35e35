/**
 * `mloop ui [--port N] [--allow-writes]`: the loop in a browser (bin/ui/): models, versions,
 * datasets, drift and runs, read from the local stack or, with --stack NAME, from a deployed one
 * with the caller's credentials (like `mlflow ui` pointed at a remote store). Listens on
 * 127.0.0.1 only. Read-only unless --allow-writes; on AWS, writes also need IAM to invoke the
 * admin function.
 */
import { CliError } from '../cli-error';
import { openTarget } from '../open-target';
import type { LoopTarget } from '../target';
import { appScript } from '../ui/bundle';
import { startUiServer, type UiServer } from '../ui/server';

export const UI_USAGE = `  mloop ui [--port N] [--allow-writes]                   the loop in a browser on 127.0.0.1 (default port 8090; 0: any);
                                                         read-only unless --allow-writes`;

export interface UiIo {
  json: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
}

type Values = Record<string, string | boolean | undefined>;

export const DEFAULT_UI_PORT = 8090;

export function uiPort(raw: string | boolean | undefined): number {
  if (raw === undefined) return DEFAULT_UI_PORT;
  const port = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || port > 65535)
    throw new CliError(`--port must be a port number (0: any free port), got ${String(raw)}.`);
  return port;
}

/** Start the UI on a target (tests call this with their own cloud's target). */
export function startUi(target: LoopTarget, port: number, allowWrites: boolean): Promise<UiServer> {
  return startUiServer({ target, allowWrites, script: appScript(target.home) }, port);
}

export async function commandUi(io: UiIo, values: Values): Promise<number> {
  const port = uiPort(values.port);
  const allowWrites = values['allow-writes'] === true;
  const target = await openTarget(io, values);
  let server: UiServer;
  try {
    server = await startUi(target, port, allowWrites);
  } catch (error) {
    await target.stop();
    throw error;
  }
  const url = `${server.url}/`;
  if (io.json) io.out(JSON.stringify({ url, where: target.where, allowWrites }));
  else
    io.out(
      `mloop ui for ${target.where} on ${url} (${allowWrites ? 'writes allowed' : 'read-only; --allow-writes to promote from the page'}); Ctrl-C to stop.`,
    );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  await target.stop();
  return 0;
}
