/**
 * The stack a command runs against: a deployed one named by --stack (or MLOOP_STACK), found
 * through CloudFormation with the caller's credentials, or else the local stack of this machine
 * (a LocalCloud on MLOOP_HOME), reached by the same code through its AWS edge endpoint
 * (bin/local-target.ts). The local runtime is loaded only for the local stack, so a command
 * against a deployed stack starts without synthesizing or loading CDK.
 */
import { localTarget } from './local-target';
import { AwsTarget } from './stack/aws-target';
import { connectStack, stackOptionsOf } from './stack/deployed-stack';
import type { LoopTarget } from './target';

/**
 * The local runtime's module, required when first needed. A require, not import(): the CLI runs
 * through tsx's CommonJS hook, where import() of a .ts path without extension does not resolve.
 */
export function loadLocalCloud(): typeof import('../local/cloud') {
  return require('../local/cloud') as typeof import('../local/cloud'); // eslint-disable-line @typescript-eslint/no-require-imports
}

export interface TargetIo {
  err: (text: string) => void;
}

/** Open the command's stack (see the module's comment). `progress` draws local training progress on a TTY. */
export async function openTarget(
  io: TargetIo,
  values: { stack?: unknown; region?: unknown; profile?: unknown },
  progress?: NodeJS.WriteStream,
): Promise<LoopTarget> {
  const options = stackOptionsOf(values);
  if (options) return new AwsTarget(await connectStack(options), { log: (line) => io.err(line) });
  const { LocalCloud } = loadLocalCloud();
  const cloud = await LocalCloud.start({ log: (line) => io.err(line), ...(progress ? { progress } : {}) });
  try {
    return await localTarget(cloud);
  } catch (error) {
    await cloud.stop();
    throw error;
  }
}

/** Run `work` against the command's stack, and stop it after. */
export async function withTarget<T>(
  io: TargetIo,
  values: { stack?: unknown; region?: unknown; profile?: unknown },
  work: (target: LoopTarget) => Promise<T>,
  progress?: NodeJS.WriteStream,
): Promise<T> {
  const target = await openTarget(io, values, progress);
  try {
    return await work(target);
  } finally {
    await target.stop();
  }
}
