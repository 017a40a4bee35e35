/**
 * Issue 18, finding 9: what the CLI prints escapes the characters a terminal would obey (ESC and
 * the other C0 controls, DEL, C1, bidi overrides), keeps its own tabs and newlines, and leaves a
 * JSON document valid and equal once escaped.
 */
import { escapeControls } from '../bin/terminal-text';

test('writes ESC, a C1 CSI, DEL, a carriage return, NUL and a bidi override as \\u escapes', () => {
  expect(escapeControls('x\u001b[31mred\u009b2J\u007f\r\u0000\u202eevil')).toBe('x\\u001b[31mred\\u009b2J\\u007f\\u000d\\u0000\\u202eevil');
});

test('keeps tabs, newlines and printable unicode, and is idempotent', () => {
  const text = 'a\tb\nçé ✓ 数据';
  expect(escapeControls(text)).toBe(text);
  const once = escapeControls('\u001b[2J\u0085');
  expect(escapeControls(once)).toBe(once);
});

test('a JSON document holding C1 controls and bidi overrides stays valid and means the same once escaped', () => {
  const value = { name: 'col\u009b31m\u2066', n: [1, '\u0080'] };
  const escaped = escapeControls(JSON.stringify(value));
  expect(escaped).not.toMatch(/[\u0080-\u009f\u2066]/);
  expect(JSON.parse(escaped)).toEqual(value);
});
