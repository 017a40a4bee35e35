/**
 * A corpus of malformed dataset files, one per way a file people produce goes wrong, each with the
 * violation it must end as: the check, the column and the lines or rows it names. Generated (not
 * stored), so that every byte is visible here. Used by test/malformed-corpus.test.ts through the
 * pure scan, and in part through the real Ingest handler on the local emulators.
 */
import type { SchemaInput } from '../../lambdas/shared/schema-file';
import type { ViolationCheck } from '../../lambdas/data/scan-types';
import { gzip, sampleTable, tableCsv, tableJsonl, tableParquet, type Cell, type Table } from './dataset-files';

export interface MalformedCase {
  /** The file name (its extension says the format). */
  readonly fileName: string;
  /** What is wrong, as a person would say it. */
  readonly what: string;
  readonly bytes: () => Buffer;
  /** The violation it must end as. */
  readonly check: ViolationCheck;
  readonly column?: string;
  /** The example lines (CSV: 1 = the header; JSON Lines: 1 = the first line) or rows (Parquet: 1 = the first row). */
  readonly rows?: number[];
  /** Whether the message says the first row or line ("row 5", "lines 3, 7"); not for header problems. */
  readonly rowsInMessage?: boolean;
  /** Text the message must hold besides the file name (a line number, a reason). */
  readonly mentions?: string[];
  /** The model's schema to check against, when the case is about a later dataset. */
  readonly schema?: SchemaInput;
  /** The schema was declared in schema.json. */
  readonly strict?: boolean;
}

const buf = (text: string): Buffer => Buffer.from(text, 'utf8');

/** A valid 20-row table as CSV lines (index 0 = the header = line 1). */
function csvLines(n = 20): string[] {
  return tableCsv(sampleTable(n)).trimEnd().split('\n');
}

/** Set a cell of the sample table's CSV: line is 1-based (line 1 = the header). */
function withCell(line: number, column: number, value: string, n = 20): string {
  const lines = csvLines(n);
  const cells = lines[line - 1].split(',');
  cells[column] = value;
  lines[line - 1] = cells.join(',');
  return lines.join('\n') + '\n';
}

function mapTable(table: Table, f: (row: Cell[], i: number) => Cell[]): Table {
  return { header: table.header, rows: table.rows.map(f) };
}

export const MODEL_SCHEMA: SchemaInput = {
  columns: [
    { name: 'x', type: 'numeric', nullable: false },
    { name: 'color', type: 'categorical', nullable: false, categories: ['blue', 'green', 'red'] },
    { name: 'target', type: 'numeric', nullable: false },
  ],
  target: 'target',
  task: 'classification',
  classes: ['0', '1'],
};

export const MALFORMED: readonly MalformedCase[] = [
  { fileName: 'empty.csv', what: 'an empty file', bytes: () => buf(''), check: 'empty_file' },
  { fileName: 'bom-only.csv', what: 'a byte-order mark and nothing else', bytes: () => buf('\ufeff'), check: 'empty_file' },
  { fileName: 'blank-lines.csv', what: 'blank lines only', bytes: () => buf('\n  \n\r\n'), check: 'empty_file' },
  {
    fileName: 'header-only.csv',
    what: 'a header and no rows',
    bytes: () => buf('x,color,target\n'),
    check: 'too_few_rows',
    mentions: ['0 data rows'],
  },
  {
    fileName: 'ragged.csv',
    what: 'rows with too few and too many fields',
    bytes: () => {
      const lines = csvLines();
      lines[4] = '1,red';
      lines[9] += ',extra';
      return buf(lines.join('\n') + '\n');
    },
    check: 'malformed_row',
    rows: [5, 10],
    mentions: ['rows 5, 10'],
  },
  {
    fileName: 'bad-quoting.csv',
    what: 'a quote that is never closed',
    bytes: () => buf(withCell(4, 1, '"red')),
    check: 'malformed_row',
    rows: [4],
    mentions: ['line 4', 'Quote Not Closed'],
  },
  {
    fileName: 'stray-quote.csv',
    what: 'a quote inside an unquoted field',
    bytes: () => buf(withCell(6, 1, 're"d')),
    check: 'malformed_row',
    rows: [6],
    mentions: ['line 6'],
  },
  {
    fileName: 'wrong-types.csv',
    what: 'text in a numeric column',
    bytes: () => buf(withCell(7, 0, 'twelve')),
    check: 'type_mismatch',
    column: 'x',
    rows: [7],
    mentions: ["'twelve'"],
  },
  {
    fileName: 'nan.csv',
    what: 'NaN in a numeric column',
    bytes: () => buf(withCell(3, 0, 'NaN')),
    check: 'non_finite',
    column: 'x',
    rows: [3],
    mentions: ["'NaN'"],
  },
  {
    fileName: 'infinity.csv',
    what: 'infinities in a numeric column',
    bytes: () => {
      const lines = csvLines();
      lines[2] = lines[2].replace(/^[^,]*/, 'inf');
      lines[11] = lines[11].replace(/^[^,]*/, '-Infinity');
      return buf(lines.join('\n') + '\n');
    },
    check: 'non_finite',
    column: 'x',
    rows: [3, 12],
    mentions: ["'inf'"],
  },
  {
    fileName: 'duplicate-headers.csv',
    what: 'the same column name twice',
    bytes: () => buf(tableCsv(sampleTable(20)).replace('x,color,target', 'x,x,target')),
    check: 'duplicate_column',
    column: 'x',
    rows: [1],
    rowsInMessage: false,
    mentions: ['columns 1, 2'],
  },
  {
    fileName: 'blank-column-name.csv',
    what: 'a column without a name',
    bytes: () => buf(tableCsv(sampleTable(20)).replace('x,color,target', 'x,,target')),
    check: 'malformed_row',
    rows: [1],
    mentions: ['column 2'],
  },
  {
    fileName: 'all-null-column.csv',
    what: 'a column that is empty in every row',
    bytes: () => buf(tableCsv(mapTable(sampleTable(20), (r) => [null, r[1], r[2]]))),
    check: 'completeness',
    column: 'x',
    rows: [2, 3, 4, 5, 6],
    mentions: ['20 of 20 rows', '100%'],
  },
  {
    fileName: 'empty-target.csv',
    what: 'rows without a target',
    bytes: () => buf(withCell(8, 2, '')),
    check: 'completeness',
    column: 'target',
    rows: [8],
  },
  {
    fileName: 'single-class.csv',
    what: 'a target with one class',
    bytes: () => buf(tableCsv(mapTable(sampleTable(20), (r) => [r[0], r[1], 1]))),
    check: 'constant_target',
    column: 'target',
    mentions: ["single value '1'"],
  },
  {
    fileName: 'no-target.csv',
    what: 'no target column',
    bytes: () => buf(tableCsv(sampleTable(20)).replace('x,color,target', 'x,color,label')),
    check: 'missing_target',
    column: 'target',
    rows: [1],
    rowsInMessage: false,
    mentions: ["'x', 'color', 'label'"],
  },
  {
    fileName: 'non-utf8.csv',
    what: 'Latin-1 text (not UTF-8)',
    bytes: () => {
      const text = withCell(9, 1, 'caf\u00e9');
      return Buffer.from(text, 'latin1');
    },
    check: 'encoding',
    rows: [9],
    mentions: ['line 9', 'not valid UTF-8'],
  },
  {
    fileName: 'crlf-mixed.csv',
    what: 'CRLF lines in a file whose first line ends with LF',
    bytes: () => {
      const lines = csvLines();
      return buf(lines.map((l, i) => l + (i >= 5 && i % 2 === 0 ? '\r\n' : '\n')).join(''));
    },
    check: 'malformed_row',
    rows: [7, 9, 11, 13, 15],
    mentions: ['mixes line endings', 'CR LF'],
  },
  {
    fileName: 'lf-in-crlf.csv',
    what: 'LF lines in a file whose first line ends with CRLF',
    bytes: () => {
      const lines = csvLines();
      return buf(lines.map((l, i) => l + (i === 6 ? '\n' : '\r\n')).join(''));
    },
    check: 'malformed_row',
    rows: [7],
    mentions: ['line endings mixed'],
  },
  {
    fileName: 'too-few-rows.jsonl',
    what: 'three JSON lines',
    bytes: () => buf(tableJsonl(sampleTable(3))),
    check: 'too_few_rows',
    mentions: ['3 rows'],
  },
  {
    fileName: 'invalid-json.jsonl',
    what: 'a line that is not JSON',
    bytes: () => {
      const lines = tableJsonl(sampleTable(20)).trimEnd().split('\n');
      lines[5] = "{'x': 1, 'color': 'red', 'target': 0}";
      return buf(lines.join('\n') + '\n');
    },
    check: 'malformed_row',
    rows: [6],
    mentions: ['line 6', 'not valid JSON'],
  },
  {
    fileName: 'array-lines.jsonl',
    what: 'lines that are JSON arrays, not objects',
    bytes: () => buf(tableJsonl(sampleTable(20)).replace(/^.*\n/, '[1, "red", 0]\n')),
    check: 'malformed_row',
    rows: [1],
    mentions: ['line 1', 'not an object'],
  },
  {
    fileName: 'nested.jsonl',
    what: 'a nested object in a column',
    bytes: () => {
      const lines = tableJsonl(sampleTable(20)).trimEnd().split('\n');
      lines[10] = JSON.stringify({ x: 1, color: { name: 'red' }, target: 0 });
      return buf(lines.join('\n') + '\n');
    },
    check: 'type_mismatch',
    column: 'color',
    rows: [11],
  },
  {
    fileName: 'truncated.csv.gz',
    what: 'a gzip file cut short',
    bytes: () => {
      const whole = gzip(tableCsv(sampleTable(500)));
      return whole.subarray(0, Math.floor(whole.length * 0.6));
    },
    check: 'corrupt_file',
    mentions: ['unexpected end of file'],
  },
  {
    fileName: 'truncated.jsonl.gz',
    what: 'a gzipped JSON Lines file without its trailer',
    bytes: () => {
      const whole = gzip(tableJsonl(sampleTable(50)));
      return whole.subarray(0, whole.length - 8);
    },
    check: 'corrupt_file',
    mentions: ['not a complete gzip stream'],
  },
  {
    fileName: 'different-schema.parquet',
    what: "a Parquet file whose columns are not the model's",
    bytes: () => {
      const t = sampleTable(20);
      return tableParquet({ header: ['x', 'colour', 'target'], rows: t.rows });
    },
    check: 'missing_column',
    column: 'color',
    schema: MODEL_SCHEMA,
    mentions: ["'x', 'color', 'target'"],
  },
  {
    fileName: 'string-numbers.parquet',
    what: 'a Parquet string column where the model has numbers',
    bytes: () => tableParquet(mapTable(sampleTable(20), (r, i) => [i === 13 ? 'unknown' : String(r[0]), r[1], r[2]])),
    check: 'type_mismatch',
    column: 'x',
    rows: [14],
    schema: MODEL_SCHEMA,
  },
  {
    fileName: 'nan.parquet',
    what: 'NaN in a Parquet DOUBLE column',
    bytes: () => tableParquet(mapTable(sampleTable(20), (r, i) => [i === 4 ? NaN : r[0], r[1], r[2]])),
    check: 'non_finite',
    column: 'x',
    rows: [5],
  },
  {
    fileName: 'not-parquet.parquet',
    what: 'CSV bytes named .parquet',
    bytes: () => buf(tableCsv(sampleTable(20))),
    check: 'corrupt_file',
    mentions: ['PAR1'],
  },
  {
    fileName: 'truncated.parquet',
    what: 'a Parquet file without its footer',
    bytes: () => {
      const whole = tableParquet(sampleTable(200));
      return whole.subarray(0, whole.length - 40);
    },
    check: 'corrupt_file',
    mentions: ['not a readable Parquet file'],
  },
  {
    fileName: 'unknown-class.csv',
    what: "a target value that is not one of the model's classes",
    bytes: () => buf(withCell(12, 2, '2')),
    check: 'unknown_class',
    column: 'target',
    rows: [12],
    schema: MODEL_SCHEMA,
  },
  {
    fileName: 'outside-domain.csv',
    what: 'a category schema.json does not list',
    bytes: () => buf(withCell(15, 1, 'purple')),
    check: 'category_domain',
    column: 'color',
    rows: [15],
    schema: MODEL_SCHEMA,
    strict: true,
    mentions: ["'purple'", "'blue', 'green', 'red'"],
  },
  {
    fileName: 'not-nullable.csv',
    what: 'an empty cell in a column schema.json declares not nullable',
    bytes: () => buf(withCell(3, 0, '')),
    check: 'completeness',
    column: 'x',
    rows: [3],
    schema: MODEL_SCHEMA,
    strict: true,
    mentions: ['not nullable'],
  },
];
