/** The wording shared by the scan's messages (counts, row lists, quoted values and names), and a summary of its violations. */
import type { Violation } from './scan-types';

export function plural(n: number, word: string, words = `${word}s`): string {
  return `${n} ${n === 1 ? word : words}`;
}

export function rowList(e: { count: number; rows: number[] }): string {
  const list = e.rows.join(', ');
  const label = e.rows.length === 1 ? 'row' : 'rows';
  return e.count > e.rows.length ? `${label} ${list} and ${e.count - e.rows.length} more` : `${label} ${list}`;
}

export function quote(value: string, max = 40): string {
  const shown = value.length > max ? `${value.slice(0, max)}...` : value;
  return `'${shown.replace(/\r?\n|\r/g, '\\n')}'`;
}

export function nameList(names: readonly string[], max = 20): string {
  const shown = names.slice(0, max).map((n) => quote(n, 60));
  return names.length > max ? `${shown.join(', ')} and ${names.length - max} more` : shown.join(', ');
}

/**
 * One message for all violations, for an error: the first few sentences, then how many more (and
 * where they are listed, when `moreIn` names it: "(and 2 more in the report)").
 */
export function describeViolations(violations: readonly Violation[], max = 3, moreIn?: string): string {
  const head = violations.slice(0, max).map((v) => v.message);
  const more = violations.length > max ? ` (and ${violations.length - max} more${moreIn !== undefined ? ` in ${moreIn}` : ''})` : '';
  return head.join(' ') + more;
}

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
