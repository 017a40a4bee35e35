/**
 * Run-once fixtures: the state several tests stand on (a trained champion, a first drop) made by
 * whichever test asks first, so that every test can run alone and in any order.
 */

/** Runs a function once, on first use, and answers its first result to every caller. */
export function once<T>(run: () => T): () => T {
  let result: { value: T } | undefined;
  return () => (result ??= { value: run() }).value;
}
