/**
 * Checking a handler's event at run time. TypeScript types only say what the caller promised;
 * a Lambda entry parses its event against a zod schema of what its callers (the state machine,
 * the CLI) send, and a bad event fails with InvalidInput naming each field and what was expected,
 * instead of failing later on an undefined deep inside the core.
 */
import type { z } from 'zod';
import { InvalidInput } from './errors';

/** At most this many problems are listed: the first ones say what is wrong with the event. */
const MAX_PROBLEMS = 5;

/**
 * Parse `event` against `schema`, or throw InvalidInput: "<problem>: <field>: <expected>; ...",
 * where `problem` says what the event should have been (e.g. "Register input is invalid").
 */
export function parseEvent<S extends z.ZodType>(schema: S, event: unknown, problem: string): z.output<S> {
  const parsed = schema.safeParse(event);
  if (parsed.success) return parsed.data;
  throw new InvalidInput(`${problem}: ${describeIssues(parsed.error.issues)}.`);
}

type Issue = z.core.$ZodIssue;

/** `field.path: expected ..., received ...`, one per issue, the whole event named `(event)`. */
export function describeIssues(issues: readonly Issue[]): string {
  const flat = issues.flatMap((issue) => flatten(issue, []));
  const shown = flat.slice(0, MAX_PROBLEMS).map(({ path, message }) => `${path.map(String).join('.') || '(event)'}: ${message}`);
  const more = flat.length - shown.length;
  return shown.join('; ') + (more > 0 ? `; and ${more} more` : '');
}

/**
 * A union that matched no option reports the option that came closest (whose first problem lies
 * deepest: it matched the most), so the message names a field rather than "Invalid input".
 */
function flatten(issue: Issue, prefix: PropertyKey[]): { path: PropertyKey[]; message: string }[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const depth = (option: Issue[]) => Math.max(...option.map((i) => i.path.length));
    const closest = issue.errors.reduce((best, option) =>
      depth(option) > depth(best) || (depth(option) === depth(best) && option.length < best.length) ? option : best,
    );
    return closest.flatMap((inner) => flatten(inner, path));
  }
  // zod's "Invalid input: expected string, received undefined" reads better without its first words.
  return [{ path, message: issue.message.replace(/^Invalid (input|option|string|number): /, '') }];
}
