/**
 * Which process serves a home's emulators: MLOOP_HOME/runtime.json. One process owns a home's
 * emulators (their state files allow one writer); another mloop command on the same home while it
 * runs (`mloop predict` beside `mloop serve`, `models approve` beside a waiting `mloop run`)
 * attaches to the owner's endpoints instead. The claim is a claim file (local/process-claim.ts):
 * pid only while the emulators start, then the endpoints.
 */
import * as path from 'node:path';
import { acquireClaim, readClaim, releaseClaim, rewriteClaim } from './process-claim';

/** Which process serves a home's emulators, and where (MLOOP_HOME/runtime.json). */
export interface RuntimeOwner {
  readonly pid: number;
  /** Absent while the owner is still starting its emulators. */
  readonly s3Endpoint?: string;
  readonly dynamoEndpoint?: string;
  /** The local AWS edge endpoint (local/aws-api.ts), as older records name it; the same as awsEndpoint. */
  readonly sfnEndpoint?: string;
  /** The local AWS edge endpoint: every AWS API mloop uses, on one loopback port. */
  readonly awsEndpoint?: string;
  readonly startedAt?: string;
  /** The home's credentials for the edge endpoint (local/edge-credentials.ts); the file is 0600. */
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
}

const RUNTIME_FILE = 'runtime.json';

/** How many times a claimant looks at an owner that is still starting (100 ms apart: a minute). */
const STARTING_LOOKS = 600;

export function defaultHome(): string {
  return path.resolve(process.env.MLOOP_HOME ?? '.mloop');
}

/** The process that claimed `home` (runtime.json), alive or not, or undefined when none did. */
export function readRuntimeOwner(home: string): RuntimeOwner | undefined {
  return readClaim<RuntimeOwner>(path.join(home, RUNTIME_FILE));
}

/**
 * Claim `home` for this process (resolves undefined), or find the live process that owns it and
 * resolve with its endpoints. The claim is an exclusive create of runtime.json (pid only, while the
 * emulators start), so two commands started together cannot both become owners; the other one
 * waits for the owner's endpoints and attaches. A record left by a process that is gone, or by a
 * reused pid whose emulators do not answer, is removed and the claim retried.
 */
export async function claimOrAttach(home: string): Promise<RuntimeOwner | undefined> {
  const file = path.join(home, RUNTIME_FILE);
  const outcome = await acquireClaim<RuntimeOwner, RuntimeOwner | 'mine'>(
    file,
    { pid: process.pid },
    {
      pollMs: 100,
      maxAttempts: STARTING_LOOKS,
      onUnreadable: () =>
        process.stderr.write(`mloop: ${file} names no process (it is empty or not mloop's JSON); taking the home over.\n`),
      decide: async (owner) => {
        if (owner.pid === process.pid) return { answer: 'mine' }; // this process already owns it (tests run several clouds)
        if (!(owner.s3Endpoint && owner.dynamoEndpoint && owner.sfnEndpoint)) return { wait: true }; // the owner is still starting
        try {
          await fetch(owner.s3Endpoint, { signal: AbortSignal.timeout(2000) });
          return { answer: owner };
        } catch {
          return { stale: true }; // a reused pid whose emulators do not answer
        }
      },
      onTimeout: (owner) => new Error(`${home} is claimed by process ${owner?.pid ?? '?'}, whose emulators did not start within a minute.`),
    },
  );
  return outcome.claimed || outcome.answer === 'mine' ? undefined : outcome.answer;
}

/** Say where this process serves the home (the claim it made in claimOrAttach). */
export function publishRuntimeOwner(home: string, owner: RuntimeOwner): void {
  rewriteClaim(path.join(home, RUNTIME_FILE), owner);
}

/** Give the home up, if this process owns it. */
export function releaseRuntimeClaim(home: string): void {
  releaseClaim(path.join(home, RUNTIME_FILE));
}
