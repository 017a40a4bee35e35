/**
 * Objects keyed by names that come from data (column names, category values): a column may be
 * called `__proto__`, `constructor` or `hasOwnProperty`. An assignment `obj[name] = value` on a
 * plain object sets the prototype for `__proto__` (the key is lost), and a read `obj[name]` of a
 * missing `constructor` finds Object.prototype's function. These helpers only ever define and
 * read own properties.
 */

/** A plain object with `entries` as own enumerable properties, whatever their names. */
export function ownRecord<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [key, value] of entries) setOwn(out, key, value);
  return out;
}

/** Define `key` on `target` as an own enumerable property, even `__proto__`. */
export function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** `record[key]` when `record` has it as its own property; undefined otherwise (never an inherited member). */
export function getOwn<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
