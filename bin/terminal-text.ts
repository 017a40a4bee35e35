/**
 * Text the CLI prints holds names that come from data (column names, category values, model
 * tags, error messages quoting them). A name holding ESC (`\x1b[31m`...), another C0 or C1
 * control, DEL, or a bidirectional override would be obeyed by the terminal: it could recolour,
 * move the cursor, rewrite earlier lines or reorder what is shown. Every line the CLI writes goes
 * through `escapeControls` (run() and main() wrap their output), which writes such a character
 * as its `\uXXXX` escape. Tab and newline are kept: the CLI's own layout uses them.
 *
 * The same escape is JSON's, so `--json` documents stay valid and mean the same once escaped:
 * JSON.stringify already escapes C0 controls in strings, and a C1 control or bidi override can
 * only sit inside a string, where `\uXXXX` is the same character.
 */

/** C0 controls but tab (09) and newline (0A), DEL and C1 (7F-9F), bidi embeddings, overrides and isolates. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every terminal control character written as its `\uXXXX` escape; idempotent. */
export function escapeControls(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
