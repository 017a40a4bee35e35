/**
 * Claim files: a JSON file that names the process holding something (its pid, and where known the
 * process's start time, so that a reused pid is not taken for it), made by an exclusive create so
 * that two processes cannot both hold it. One implementation for the two claims the local runtime
 * makes: a home's runtime.json (which process serves its emulators, local/runtime-claim.ts) and the
 * cache directory's provisioning lock (local/provision.ts).
 *
 * A claim left by a process that is gone (kill -9, a crash) is removed and the claim tried again,
 * so recovery needs nobody. A claim file that names no process (empty, cut short, not JSON) may be
 * mid-write: it is given a moment, then taken over.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { processStartTime, sameProcessAlive } from './executions';

/** What every claim file holds: the process that holds it. */
export interface ClaimHolder {
  readonly pid: number;
  /** /proc/<pid>/stat's start time, where the claim records it (see processStartTime). */
  readonly startTime?: string;
}

/** How long a claim file that names no process may be mid-write before it counts as left over. */
export const UNREADABLE_CLAIM_GRACE_MS = 2_000;
/** How often a claim file that names no process yet is read again. */
const UNREADABLE_POLL_MS = 100;

/** This process, as a claim names it. */
export function thisProcess(): ClaimHolder {
  const startTime = processStartTime(process.pid);
  return { pid: process.pid, ...(startTime ? { startTime } : {}) };
}

/** The holder a claim file names, or undefined when there is no file or it names no process. */
export function readClaim<T extends ClaimHolder>(file: string): T | undefined {
  try {
    const claim = JSON.parse(fs.readFileSync(file, 'utf8')) as T;
    return claim && typeof claim === 'object' && Number.isInteger(claim.pid) && claim.pid > 0 ? claim : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Write a claim file over its current content, whole or not at all (write, then rename). Claim
 * files are the user's alone (0600): a home's runtime.json holds its credentials.
 */
export function rewriteClaim(file: string, claim: ClaimHolder): void {
  const pending = `${file}.${process.pid}.tmp`;
  // A fresh file, so that the mode is the one it is created with (a leftover could be wider).
  fs.rmSync(pending, { force: true });
  fs.writeFileSync(pending, JSON.stringify(claim), { flag: 'wx', mode: 0o600 });
  fs.renameSync(pending, file);
}

/** Remove a claim file if this process holds it. */
export function releaseClaim(file: string): void {
  if (readClaim(file)?.pid === process.pid) fs.rmSync(file, { force: true });
}

/** What to do about a live holder: wait for it, take the claim over (it is stale), or stop with an answer. */
export type HolderDecision<R> = { readonly wait: true } | { readonly stale: true } | { readonly answer: R };

export interface ClaimOptions<T extends ClaimHolder, R> {
  /** What to do about a holder that is alive (called on every look). */
  readonly decide: (holder: T) => Promise<HolderDecision<R>> | HolderDecision<R>;
  /** How long to wait before looking again at a live holder. */
  readonly pollMs: number;
  /** Called before a claim file that names no process is taken over. */
  readonly onUnreadable?: (file: string) => void;
  /** Give up after this many looks (then `onTimeout` says why). @default no limit */
  readonly maxAttempts?: number;
  readonly onTimeout?: (holder: T | undefined) => Error;
}

/**
 * Take the claim `file` for this process with `claim` (exclusive create), or settle with what
 * `decide` answers about the live process that holds it. Resolves `{ claimed: true }` when this
 * process now holds it.
 */
export async function acquireClaim<T extends ClaimHolder, R>(
  file: string,
  claim: T,
  options: ClaimOptions<T, R>,
): Promise<{ readonly claimed: true } | { readonly claimed: false; readonly answer: R }> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; options.maxAttempts === undefined || attempt < options.maxAttempts; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(claim), { flag: 'wx', mode: 0o600 });
      return { claimed: true };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readClaim<T>(file);
    if (!holder) {
      let age: number;
      try {
        age = Date.now() - fs.statSync(file).mtimeMs;
      } catch {
        continue; // gone meanwhile: try to take it
      }
      if (age > UNREADABLE_CLAIM_GRACE_MS) {
        options.onUnreadable?.(file);
        fs.rmSync(file, { force: true });
      } else await sleep(UNREADABLE_POLL_MS); // its writer may be writing it this instant
      continue;
    }
    if (!sameProcessAlive(holder.pid, holder.startTime)) {
      fs.rmSync(file, { force: true }); // left by a process that is gone (or a pid reused since)
      continue;
    }
    const decision = await options.decide(holder);
    if ('answer' in decision) return { claimed: false, answer: decision.answer };
    if ('stale' in decision) {
      fs.rmSync(file, { force: true });
      continue;
    }
    await sleep(options.pollMs);
  }
  throw options.onTimeout?.(readClaim<T>(file)) ?? new Error(`${file} is still held by process ${readClaim<T>(file)?.pid ?? '?'}.`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
