/**
 * CSV cells a person may open in a spreadsheet (batch predictions): a cell starting with `=`, `+`,
 * `-`, `@`, a tab or a carriage return is read by Excel, LibreOffice and Google Sheets as a formula
 * (CSV injection: `=HYPERLINK(...)`, `=cmd|...`), so it is written with a leading `'`, which the
 * spreadsheet shows as text. A number (`-1.5`, `+3`, `-2e-5`) is left as it is: it is data, and a
 * spreadsheet reads it as the number it is.
 */
const FORMULA_START = /^[=+\-@\t\r]/;
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** The cell as written to a CSV a person may open: formula prefixes neutralized with a leading `'`. */
export function spreadsheetSafe(cell: string): string {
  return FORMULA_START.test(cell) && !NUMBER.test(cell) ? `'${cell}` : cell;
}
