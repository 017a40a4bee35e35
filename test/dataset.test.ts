import { createHash } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { csvLine, splitOf, writeSplits, type SplitName } from '../lambdas/data/splits';
import { SPLIT_HASHES } from '../lambdas/shared/split-scheme';
import { scanDataset } from '../lambdas/data/scan';
import { schemaHash } from '../lambdas/data/schema-hash';
import type { ScanOptions, ScanResult, Violation } from '../lambdas/data/scan-types';
import { HistogramSketch } from '../lambdas/data/profile';
import { OTHER_CATEGORY, type DatasetSchema, type NumericColumnProfile, type CategoricalColumnProfile } from '../lambdas/shared/types';
import { prng } from '../local/demo-data';
import { splitsOf } from './helpers/dataset-files';

const FILE = 'datasets/churn/data.csv';

/** The bytes in chunks of `size`, as an S3 body would arrive (but smaller). */
async function* chunks(data: string | Buffer, size = 7): AsyncGenerator<Buffer> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

function scan(data: string | Buffer, options: Partial<ScanOptions> = {}, size = 7): Promise<ScanResult> {
  return scanDataset(chunks(data, size), { fileName: FILE, ...options });
}

function only(result: ScanResult, check: Violation['check']): Violation[] {
  return result.violations.filter((v) => v.check === check);
}

function one(result: ScanResult, check: Violation['check']): Violation {
  const found = only(result, check);
  expect(found).toHaveLength(1);
  return found[0];
}

/** A valid CSV: header + n rows of numeric x, categorical color and a 0/1 target. */
function csv(n: number, extra: (i: number) => string[] = () => [], header = 'x,color,target'): string {
  const lines = [header];
  for (let i = 0; i < n; i++) lines.push([String(i), ['red', 'green', 'blue'][i % 3], String(i % 2), ...extra(i)].join(','));
  return lines.join('\n') + '\n';
}

function numeric(result: ScanResult, column: string): NumericColumnProfile {
  const p = result.profile.columns[column];
  if (p.kind !== 'numeric') throw new Error(`${column} is not numeric`);
  return p;
}

function categorical(result: ScanResult, column: string): CategoricalColumnProfile {
  const p = result.profile.columns[column];
  if (p.kind !== 'categorical') throw new Error(`${column} is not categorical`);
  return p;
}

describe('scanDataset: parsing and hashing', () => {
  test('accepts a valid file and hashes exactly its bytes', async () => {
    const text = csv(12);
    const result = await scan(text);
    expect(result.violations).toEqual([]);
    expect(result.accepted).toBe(true);
    expect(result.rows).toBe(12);
    expect(result.bytes).toBe(Buffer.byteLength(text));
    expect(result.sha256).toBe(createHash('sha256').update(text).digest('hex'));
    expect(result.header).toEqual(['x', 'color', 'target']);
  });

  test('the hash covers a BOM and every byte, even after a parse error', async () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('a,target\n1,"2\n3,4\n5,6\n')]);
    const result = await scan(bytes);
    expect(result.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(result.bytes).toBe(bytes.length);
  });

  test('CRLF, BOM, quoted fields with embedded newlines, delimiters and quotes parse correctly', async () => {
    const text =
      '\ufeffid,note,target\r\n' +
      '1,"line one\r\nline two",0\r\n' + // lines 2-3
      '2,"a, b",1\r\n' + // line 4
      '\r\n' + // line 5, blank
      '3,"say ""hi""",0\r\n' + // line 6
      '4,"x\ny\nz",1\r\n' + // lines 7-9
      '5,plain,0\r\n' + // line 10
      '6,,1\r\n' + // line 11
      '7,q,0\r\n8,q,1\r\n9,q,0\r\n10,q,1\r\n11,q,bad\r\n'; // lines 12-16
    const result = await scan(text, { minRows: 5 });
    expect(result.header).toEqual(['id', 'note', 'target']); // no BOM in the first name
    expect(result.rows).toBe(11);
    const note = result.schema.columns.find((c) => c.name === 'note');
    expect(note?.categories).toEqual(['a, b', 'line one\r\nline two', 'plain', 'q', 'say "hi"', 'x\ny\nz']);
    expect(note?.nullable).toBe(true);
    // Physical line numbers survive the multi-line records and the blank line.
    expect(one(result, 'type_mismatch').exampleRows).toEqual([16]);
    expect(result.violations).toHaveLength(1);
  });

  test('line numbers count physical lines: multi-line records and blank lines', async () => {
    const text = 'id,target\n"a\nb",1\n\n\n"c\r\nd",\n"e",1\n';
    const result = await scan(text, { minRows: 1 });
    const v = one(result, 'completeness');
    expect(v.exampleRows).toEqual([6]);
  });

  test('chunk boundaries do not matter, including a multibyte character split across chunks', async () => {
    const rows = ['city,größe,target'];
    const cities = ['Zürich', 'Genève', '東京', 'Kraków', '🦊 den'];
    for (let i = 0; i < 30; i++) rows.push(`"${cities[i % 5]}",${(i * 1.5).toFixed(1)},${i % 3}`);
    const text = '\ufeff' + rows.join('\r\n') + '\r\n';
    const whole = await scan(text, {}, 1 << 20);
    expect(whole.violations).toEqual([]);
    expect(whole.schema.columns[0].categories).toEqual([...cities].sort());
    // A 3-byte character (東) starts at some offset; chunks of 1, 2, 3, 5, 7 bytes split it somewhere.
    for (const size of [1, 2, 3, 5, 7, 64]) {
      const split = await scan(text, {}, size);
      expect(split).toEqual(whole);
    }
  });

  test('a custom delimiter', async () => {
    const text = 'x;label;target\n' + Array.from({ length: 10 }, (_, i) => `${i};"a;b";${i % 2}`).join('\n');
    const result = await scan(text, { delimiter: ';' });
    expect(result.violations).toEqual([]);
    expect(result.header).toEqual(['x', 'label', 'target']);
    expect(result.schema.columns[1].categories).toEqual(['a;b']);
    const tabs = await scan(text.replace(/;/g, '\t'), { delimiter: '\t' });
    expect(tabs.header).toEqual(['x', 'label', 'target']);
    expect(tabs.schema.columns[1].categories).toEqual(['a\tb']);
  });

  test('the last record needs no line end', async () => {
    const result = await scan(csv(10).trimEnd());
    expect(result.rows).toBe(10);
    expect(result.accepted).toBe(true);
  });

  test('string and Uint8Array chunks are accepted', async () => {
    const text = csv(10);
    async function* mixed(): AsyncGenerator<string | Uint8Array> {
      yield text.slice(0, 20);
      yield new Uint8Array(Buffer.from(text.slice(20)));
    }
    const result = await scanDataset(mixed(), { fileName: FILE });
    expect(result.sha256).toBe(createHash('sha256').update(text).digest('hex'));
    expect(result.rows).toBe(10);
  });
});

describe('scanDataset: violations and their messages', () => {
  test('empty_file', async () => {
    const result = await scan('');
    expect(result.accepted).toBe(false);
    expect(result.violations).toEqual([
      {
        check: 'empty_file',
        count: 0,
        exampleRows: [],
        message: `${FILE} is empty; expected a header line and at least 10 data rows.`,
      },
    ]);
    expect(result.profile).toEqual({ rows: 0, columns: {} });
    // Blank lines only are empty too.
    expect((await scan('\n\r\n\n')).violations.map((v) => v.check)).toEqual(['empty_file']);
  });

  test('too_few_rows: header only, and fewer than minRows', async () => {
    const headerOnly = await scan('x,target\n');
    expect(one(headerOnly, 'too_few_rows').message).toBe(`${FILE} has 0 data rows after its header; expected at least 10.`);
    const few = await scan(csv(3));
    expect(one(few, 'too_few_rows')).toEqual({
      check: 'too_few_rows',
      count: 3,
      exampleRows: [],
      message: `${FILE} has 3 data rows after its header; expected at least 10.`,
    });
    expect((await scan(csv(3), { minRows: 3 })).accepted).toBe(true);
    expect(one(await scan(csv(1), { minRows: 2 }), 'too_few_rows').message).toBe(
      `${FILE} has 1 data row after its header; expected at least 2.`,
    );
  });

  test('missing_target names the file, the expected column and the columns found', async () => {
    const result = await scan(csv(10, undefined, 'x,color,label'));
    expect(one(result, 'missing_target')).toEqual({
      check: 'missing_target',
      column: 'target',
      count: 1,
      exampleRows: [1],
      message: `Target column 'target' is not in the header of ${FILE}; found the columns 'x', 'color', 'label'.`,
    });
    const named = await scan(csv(10, undefined, 'x,color,label'), { target: 'churned' });
    expect(one(named, 'missing_target').message).toBe(
      `Target column 'churned' is not in the header of ${FILE}; found the columns 'x', 'color', 'label'.`,
    );
    // The target given explicitly is used.
    expect((await scan(csv(10, undefined, 'x,color,label'), { target: 'label' })).accepted).toBe(true);
  });

  test('duplicate_column', async () => {
    const result = await scan(csv(10, (i) => [String(i)], 'x,color,target,x'));
    expect(one(result, 'duplicate_column')).toEqual({
      check: 'duplicate_column',
      column: 'x',
      count: 2,
      exampleRows: [1],
      message: `Column 'x' appears 2 times in the header of ${FILE} (columns 1, 4); expected each column name once.`,
    });
  });

  test('an empty column name in the header', async () => {
    const result = await scan(csv(10, (i) => [String(i)], 'x,color,target,'));
    expect(one(result, 'malformed_row').message).toBe(
      `The header of ${FILE} (line 1) has 1 empty column name (column 4); expected a name for every column.`,
    );
  });

  test('malformed_row: rows with too few or too many fields', async () => {
    const text = csv(12).replace('\n4,green,0\n', '\n4,green\n').replace('\n7,green,1\n', '\n7,green,1,extra\n');
    const result = await scan(text);
    expect(one(result, 'malformed_row')).toEqual({
      check: 'malformed_row',
      count: 2,
      exampleRows: [6, 9],
      message: `${FILE} has 2 rows with a different number of fields than its header (rows 6, 9); expected 3 fields in every row, as in the header.`,
    });
    expect(result.rows).toBe(12);
  });

  test('malformed_row: an unclosed quote names the line and csv-parse reason, and does not throw', async () => {
    const text = 'x,target\n1,0\n2,1\n"3,0\n4,1\n5,0\n';
    const result = await scan(text);
    expect(result.accepted).toBe(false);
    expect(result.violations).toEqual([
      {
        check: 'malformed_row',
        count: 1,
        exampleRows: [4],
        message:
          `${FILE} cannot be parsed as CSV from the row starting on line 4 (Quote Not Closed: the parsing is finished with an opening quote); ` +
          'expected RFC 4180 quoting, where a field holding the delimiter, a quote or a line break is quoted and a quote inside it is doubled.',
      },
    ]);
  });

  test('malformed_row: a stray quote inside a field', async () => {
    const text = csv(10) + '11,bl"ue,1\n12,red,0\n';
    const result = await scan(text);
    const v = one(result, 'malformed_row');
    expect(v.exampleRows).toEqual([12]);
    expect(v.message).toMatch(
      new RegExp(
        `^${FILE} cannot be parsed as CSV from the row starting on line 12 \\(Invalid Opening Quote: a quote is found on field 1, value is "bl"\\); expected RFC 4180 quoting`,
      ),
    );
  });

  test('after a parse error the rest is still hashed and checked, with the right line numbers', async () => {
    const bytes = Buffer.concat([Buffer.from('x,target\n1,0\nab"c,1\n2,0\n3,'), Buffer.from([0xff]), Buffer.from(',1\n4,0\n')]);
    for (const size of [1, 4, 7, 1 << 16]) {
      const result = await scan(bytes, {}, size);
      expect(result.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(result.violations.map((v) => [v.check, v.exampleRows])).toEqual([
        ['encoding', [5]],
        ['malformed_row', [3]],
      ]);
    }
  });

  test('encoding: an invalid byte and a truncated sequence', async () => {
    const bytes = Buffer.concat([Buffer.from(csv(10)), Buffer.from([0x63, 0xff, 0x2c, 0x31, 0x2c, 0x30, 0x0a])]);
    const result = await scan(bytes);
    expect(one(result, 'encoding')).toEqual({
      check: 'encoding',
      count: 1,
      exampleRows: [12],
      message: `${FILE} is not valid UTF-8: the byte sequence at byte offset ${Buffer.byteLength(csv(10)) + 1} (line 12) is invalid; expected UTF-8 text (save the file as UTF-8).`,
    });
    const latin1 = Buffer.from('x,city,target\n' + Array.from({ length: 10 }, (_, i) => `${i},Gen\u00e8ve,${i % 2}`).join('\n'), 'latin1');
    expect(one(await scan(latin1), 'encoding').exampleRows).toEqual([2]);
    const truncated = Buffer.concat([Buffer.from(csv(10)), Buffer.from([0xe6, 0x9d])]);
    expect(one(await scan(truncated, {}, 3), 'encoding').message).toContain(`byte offset ${Buffer.byteLength(csv(10))} (line 12)`);
    // Overlong and surrogate encodings are invalid too.
    expect(only(await scan(Buffer.concat([Buffer.from(csv(10)), Buffer.from([0xc0, 0xaf])])), 'encoding')).toHaveLength(1);
    expect(only(await scan(Buffer.concat([Buffer.from(csv(10)), Buffer.from([0xed, 0xa0, 0x80])])), 'encoding')).toHaveLength(1);
    // Valid 4-byte characters are fine.
    expect(
      only(await scan('x,e,target\n' + Array.from({ length: 10 }, (_, i) => `${i},🦊,${i % 2}`).join('\n'), {}, 1), 'encoding'),
    ).toEqual([]);
  });

  test('type_mismatch against the schema, with at most 5 example rows', async () => {
    const schema: DatasetSchema = {
      columns: [
        { name: 'age', type: 'numeric', nullable: false },
        { name: 'plan', type: 'categorical', nullable: false, categories: ['a', 'b'] },
        { name: 'target', type: 'categorical', nullable: false },
      ],
      target: 'target',
      task: 'classification',
      classes: ['no', 'yes'],
    };
    const lines = ['age,plan,target'];
    for (let i = 0; i < 20; i++) lines.push(`${i % 4 === 2 ? 'unknown' : String(20 + i)},${i % 3 ? 'a' : 'c'},${i % 2 ? 'yes' : 'no'}`);
    const result = await scan(lines.join('\n'), { schema });
    expect(result.schema).toBe(schema);
    expect(result.violations).toEqual([
      {
        check: 'type_mismatch',
        column: 'age',
        count: 5,
        exampleRows: [4, 8, 12, 16, 20],
        message: `Column 'age' in ${FILE} has 5 non-numeric values (rows 4, 8, 12, 16, 20), such as 'unknown'; expected numbers as in the model's schema.`,
      },
    ]);
    lines.push('x,a,yes', 'y,b,no');
    const more = await scan(lines.join('\n'), { schema });
    expect(one(more, 'type_mismatch').message).toBe(
      `Column 'age' in ${FILE} has 7 non-numeric values (rows 4, 8, 12, 16, 20 and 2 more), such as 'unknown'; expected numbers as in the model's schema.`,
    );
    expect(one(more, 'type_mismatch').exampleRows).toHaveLength(5);
  });

  test('unknown_class: a target value outside the classes of a classification schema', async () => {
    const schema: DatasetSchema = {
      columns: [
        { name: 'x', type: 'numeric', nullable: false },
        { name: 'target', type: 'numeric', nullable: false },
      ],
      target: 'target',
      task: 'classification',
      classes: ['0', '1'],
    };
    const rows = (label: (i: number) => string): string =>
      'x,target\n' + Array.from({ length: 12 }, (_, i) => `${i},${label(i)}`).join('\n');
    // '1.0' is class '1', as the trainer reads it.
    expect(
      (
        await scan(
          rows((i) => (i % 2 ? '1.0' : '0')),
          { schema },
        )
      ).accepted,
    ).toBe(true);
    const result = await scan(
      rows((i) => String(i % 3)),
      { schema },
    );
    expect(result.violations).toEqual([
      {
        check: 'unknown_class',
        column: 'target',
        count: 4,
        exampleRows: [4, 7, 10, 13],
        message: `Target column 'target' in ${FILE} has 4 values that are not a class of the model (rows 4, 7, 10, 13), such as '2'; expected one of the classes in the model's schema: '0', '1'.`,
      },
    ]);
    // A regression schema has no classes to keep to.
    expect(
      (
        await scan(
          rows((i) => String(i % 3)),
          { schema: { ...schema, task: 'regression', classes: undefined } },
        )
      ).accepted,
    ).toBe(true);
  });

  test('missing_column and extra_column against the schema', async () => {
    const schema: DatasetSchema = {
      columns: [
        { name: 'x', type: 'numeric', nullable: false },
        { name: 'tenure', type: 'numeric', nullable: false },
        { name: 'target', type: 'numeric', nullable: false },
      ],
      target: 'target',
      task: 'classification',
      classes: ['0', '1'],
    };
    const result = await scan(csv(10), { schema });
    expect(one(result, 'missing_column')).toEqual({
      check: 'missing_column',
      column: 'tenure',
      count: 1,
      exampleRows: [1],
      message: `Column 'tenure' of the model's schema is missing from ${FILE}; expected the columns 'x', 'tenure', 'target'.`,
    });
    expect(one(result, 'extra_column')).toEqual({
      check: 'extra_column',
      column: 'color',
      count: 1,
      exampleRows: [1],
      message: `Column 'color' in ${FILE} is not in the model's schema; expected only the columns 'x', 'tenure', 'target'.`,
    });
    expect(result.violations).toHaveLength(2);
    expect(result.schema).toBe(schema);
  });

  test('the target missing under a schema is missing_target, not missing_column', async () => {
    const schema: DatasetSchema = {
      columns: [
        { name: 'x', type: 'numeric', nullable: false },
        { name: 'churn', type: 'categorical', nullable: false },
      ],
      target: 'churn',
      task: 'classification',
    };
    const result = await scan('x\n' + Array.from({ length: 10 }, (_, i) => String(i)).join('\n'), { schema });
    expect(result.violations.map((v) => v.check)).toEqual(['missing_target']);
    expect(result.violations[0].message).toBe(`Target column 'churn' is not in the header of ${FILE}; found the columns 'x'.`);
  });

  test('non_finite in a numeric column', async () => {
    const text = csv(20).replace('\n5,blue,1\n', '\nNaN,blue,1\n').replace('\n9,red,1\n', '\n-inf,red,1\n');
    const result = await scan(text);
    expect(result.schema.columns[0].type).toBe('numeric');
    expect(one(result, 'non_finite')).toEqual({
      check: 'non_finite',
      column: 'x',
      count: 2,
      exampleRows: [7, 11],
      message: `Column 'x' in ${FILE} has 2 non-finite values (rows 7, 11), such as 'NaN'; expected finite numbers, with an empty cell for a missing value.`,
    });
    expect(only(result, 'type_mismatch')).toEqual([]);
  });

  test('constant_target', async () => {
    const text = 'x,target\n' + Array.from({ length: 10 }, (_, i) => `${i},yes`).join('\n');
    expect(one(await scan(text), 'constant_target')).toEqual({
      check: 'constant_target',
      column: 'target',
      count: 10,
      exampleRows: [],
      message: `Target column 'target' in ${FILE} has the single value 'yes' in every row; expected at least two distinct values to learn from.`,
    });
    const numericTarget = 'x,target\n' + Array.from({ length: 10 }, (_, i) => `${i},${i % 2 ? '1' : '1.0'}`).join('\n');
    expect(one(await scan(numericTarget), 'constant_target').message).toContain("the single value '1' in every row");
  });

  test('completeness: a feature above the threshold, and any empty target', async () => {
    const lines = ['x,sparse,target'];
    for (let i = 0; i < 10; i++) lines.push(`${i},${i < 4 ? 'v' : ''},${i === 3 || i === 8 ? '' : i % 2}`);
    const result = await scan(lines.join('\n'));
    const [sparse, target] = only(result, 'completeness');
    expect(sparse).toEqual({
      check: 'completeness',
      column: 'sparse',
      count: 6,
      exampleRows: [6, 7, 8, 9, 10],
      message: `Column 'sparse' in ${FILE} is empty in 6 of 10 rows (60%; rows 6, 7, 8, 9, 10 and 1 more); expected at most 50% empty cells.`,
    });
    expect(target).toEqual({
      check: 'completeness',
      column: 'target',
      count: 2,
      exampleRows: [5, 10],
      message: `Target column 'target' in ${FILE} is empty in 2 rows (rows 5, 10); expected a value in every row, since a row without a target cannot be trained on.`,
    });
    // At the threshold is fine; the threshold is configurable.
    const half = (await scan(lines.join('\n').replace('\n4,,0', '\n4,v,0'))).violations.filter((v) => v.column === 'sparse');
    expect(half).toEqual([]);
    expect(only(await scan(lines.join('\n'), { maxNullShare: 0.7 }), 'completeness').map((v) => v.column)).toEqual(['target']);
  });
});

describe('scanDataset: schema inference', () => {
  test('types, nullability and sorted categories', async () => {
    const lines = ['n,f,e,c,mixed,empty,target'];
    for (let i = 0; i < 12; i++) {
      lines.push([String(i), `${i}.5`, `${i}e-3`, ['b', 'a', 'c'][i % 3], i % 2 ? 'x' : '1', '', i % 2].join(','));
    }
    lines[3] = lines[3].replace(/^2,/, ',');
    const result = await scan(lines.join('\n'), { maxNullShare: 1 });
    expect(result.schema).toEqual({
      columns: [
        { name: 'n', type: 'numeric', nullable: true },
        { name: 'f', type: 'numeric', nullable: false },
        { name: 'e', type: 'numeric', nullable: false },
        { name: 'c', type: 'categorical', nullable: false, categories: ['a', 'b', 'c'] },
        { name: 'mixed', type: 'categorical', nullable: false, categories: ['1', 'x'] },
        { name: 'empty', type: 'categorical', nullable: true, categories: [] },
        { name: 'target', type: 'numeric', nullable: false },
      ],
      target: 'target',
      task: 'classification',
      classes: ['0', '1'],
    });
    expect(result.violations).toEqual([]);
  });

  test('the 90% rule: text in a mostly numeric column is a type_mismatch', async () => {
    const lines = ['age,target'];
    for (let i = 0; i < 20; i++) lines.push(`${i === 7 ? 'n/a' : 30 + i},${i % 2}`);
    const result = await scan(lines.join('\n'));
    expect(result.schema.columns[0]).toEqual({ name: 'age', type: 'numeric', nullable: false });
    expect(one(result, 'type_mismatch')).toEqual({
      check: 'type_mismatch',
      column: 'age',
      count: 1,
      exampleRows: [9],
      message: `Column 'age' in ${FILE} has 1 non-numeric value (row 9), such as 'n/a'; expected numbers as in the rest of the column (95% of its values are numbers).`,
    });
    expect(numeric(result, 'age').count).toBe(19);
    // Below 90% numbers the column is categorical and nothing is wrong.
    const three = lines.map((line, i) => (i === 3 || i === 5 ? line.replace(/^\d+/, 'n/a') : line)).join('\n');
    const categoricalResult = await scan(three);
    expect(categoricalResult.schema.columns[0].type).toBe('categorical');
    expect(categoricalResult.accepted).toBe(true);
  });

  test('numbers: signs, decimals, exponents and surrounding spaces; not hex or NaN', async () => {
    const values = ['-1', '+2', '3.', '.5', '1e3', '-2.5E-2', ' 7 ', '0', '10', '11'];
    const text = 'v,target\n' + values.map((v, i) => `${v},${i % 2}`).join('\n');
    const result = await scan(text);
    expect(result.schema.columns[0].type).toBe('numeric');
    expect(numeric(result, 'v').min).toBe(-1);
    expect(numeric(result, 'v').max).toBe(1000);
    const hex = 'v,target\n' + Array.from({ length: 10 }, (_, i) => `0x${i},${i % 2}`).join('\n');
    expect((await scan(hex)).schema.columns[0].type).toBe('categorical');
    const nan = 'v,target\n' + Array.from({ length: 10 }, (_, i) => `NaN,${i % 2}`).join('\n');
    expect((await scan(nan)).schema.columns[0].type).toBe('categorical');
  });

  test('classification for text or few integer targets, regression otherwise', async () => {
    const rows = (target: (i: number) => string, n = 30): string =>
      'x,target\n' + Array.from({ length: n }, (_, i) => `${i},${target(i)}`).join('\n');
    const text = await scan(rows((i) => ['no', 'yes', 'maybe'][i % 3]));
    expect(text.schema.task).toBe('classification');
    expect(text.schema.classes).toEqual(['maybe', 'no', 'yes']);
    const ints = await scan(rows((i) => String([2, 10, 1][i % 3])));
    expect(ints.schema.task).toBe('classification');
    expect(ints.schema.classes).toEqual(['1', '2', '10']); // by value
    const floats = await scan(rows((i) => ['0.0', '1.0'][i % 2]));
    expect(floats.schema.classes).toEqual(['0', '1']);
    const twenty = await scan(rows((i) => String(i % 20), 40));
    expect(twenty.schema.task).toBe('classification');
    expect(twenty.schema.classes).toHaveLength(20);
    const many = await scan(rows((i) => String(i % 21), 42));
    expect(many.schema.task).toBe('regression');
    expect(many.schema.classes).toBeUndefined();
    expect('classes' in many.schema).toBe(false);
    const real = await scan(rows((i) => String(i / 4)));
    expect(real.schema.task).toBe('regression');
    const forced = await scan(
      rows((i) => String(i % 2)),
      { task: 'regression' },
    );
    expect(forced.schema.task).toBe('regression');
    const forcedClassification = await scan(
      rows((i) => String(i / 2)),
      { task: 'classification' },
    );
    expect(forcedClassification.schema.classes?.slice(0, 4)).toEqual(['0', '0.5', '1', '1.5']);
  });

  test('a regression target with text in it is a type_mismatch', async () => {
    const text = 'x,target\n' + Array.from({ length: 12 }, (_, i) => `${i},${i % 3 ? String(i * 1.5) : 'high'}`).join('\n');
    const result = await scan(text, { task: 'regression' });
    expect(result.schema.columns[1].type).toBe('numeric');
    expect(one(result, 'type_mismatch').message).toBe(
      `Target column 'target' in ${FILE} has 4 non-numeric values (rows 2, 5, 8, 11), such as 'high'; expected numbers for a regression target.`,
    );
  });

  test('categories are capped at the 1000 most frequent, distinct counts stay close beyond the exact map', async () => {
    const lines = ['id,target'];
    for (let i = 0; i < 20000; i++) lines.push(`${i < 2000 ? `hot${i % 1000}` : `id${i}`},${i % 2}`);
    const result = await scan(lines.join('\n'), {}, 65536);
    const column = result.schema.columns[0];
    expect(column.type).toBe('categorical');
    expect(column.categories).toHaveLength(1000);
    expect(column.categories?.every((c) => c.startsWith('hot'))).toBe(true);
    expect([...(column.categories ?? [])]).toEqual([...(column.categories ?? [])].sort());
    const profile = categorical(result, 'id');
    expect(Math.abs(profile.distinct - 19000) / 19000).toBeLessThan(0.05);
    expect(Object.values(profile.frequencies).reduce((a, b) => a + b, 0)).toBe(20000);
  });
});

describe('scanDataset: profile', () => {
  test('numeric moments, counts and histogram on a known dataset', async () => {
    const lines = ['x,g,target'];
    const xs = [2, 4, 4, 4, 5, 5, 7, 9];
    xs.forEach((x, i) => lines.push(`${x},${['a', 'b', 'a', 'c', 'a', 'b', 'a', 'd'][i]},${i % 2}`));
    lines.push(',,1', ',a,0');
    const result = await scan(lines.join('\n'), { maxCategories: 2, histogramBins: 7 });
    expect(result.profile.rows).toBe(10);
    expect(numeric(result, 'x')).toEqual({
      kind: 'numeric',
      count: 8,
      missing: 2,
      min: 2,
      max: 9,
      mean: 5,
      std: 2, // population standard deviation
      histogram: { edges: [2, 3, 4, 5, 6, 7, 8, 9], counts: [1, 0, 3, 2, 0, 1, 1] },
    });
    expect(categorical(result, 'g')).toEqual({
      kind: 'categorical',
      count: 9,
      missing: 1,
      distinct: 4,
      frequencies: { a: 5, b: 2, [OTHER_CATEGORY]: 2 },
    });
    const target = numeric(result, 'target');
    expect(target.count).toBe(10);
    expect(target.mean).toBeCloseTo(0.5, 12);
    expect(target.histogram.counts.reduce((a, b) => a + b, 0)).toBe(10);
  });

  test('histograms of long columns: counts sum to the count and stay close to the exact ones', async () => {
    const lines = ['x,target'];
    for (let i = 0; i < 50000; i++) lines.push(`${(i * 7919) % 10000},${i % 2}`);
    lines.push('-15000,1', '285000,0'); // outliers after the sketch started: the range doubles
    const result = await scan(lines.join('\n'), {}, 65536);
    const x = numeric(result, 'x');
    expect(x.count).toBe(50002);
    expect(x.min).toBe(-15000);
    expect(x.max).toBe(285000);
    expect(x.histogram.edges).toEqual(Array.from({ length: 11 }, (_, i) => -15000 + 30000 * i));
    expect(x.histogram.counts.reduce((a, b) => a + b, 0)).toBe(50002);
    // All values but the outliers lie in [0, 10000), well inside the first bin [-15000, 15000).
    expect(x.histogram.counts).toEqual([50001, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  });

  test('the sketch against an exact histogram on uniform data', () => {
    const sketch = new HistogramSketch();
    const values: number[] = [];
    const random = prng(42);
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < 100000; i++) {
      const v = random() * 100;
      values.push(v);
      sketch.add(v);
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    const h = sketch.histogram(min, max, 10);
    const exact = new Array<number>(10).fill(0);
    for (const v of values) exact[Math.min(9, Math.floor(((v - min) / (max - min)) * 10))]++;
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(100000);
    h.counts.forEach((c, i) => expect(Math.abs(c - exact[i])).toBeLessThan(0.03 * exact[i]));
  });

  test("the sketch's fine bins are the division's, values on a bin's edge and the doubled ranges included", () => {
    // add() finds a bin by multiplying by the inverse width; it must put each value where
    // floor((x - origin) / width) does, as the sketch always did.
    const sketch = new HistogramSketch();
    const random = prng(7);
    // 3-decimal values (as a CSV holds them): past 1024 values the fine bins start.
    for (let i = 0; i < 1025; i++) sketch.add(Math.round(random() * 200000 - 100000) / 1000);
    const fine = (s: HistogramSketch) => s.toJSON() as { origin: number; width: number; bins: number[] };
    for (let round = 0; round < 3; round++) {
      const before = fine(sketch);
      const expected = [...before.bins];
      const { origin, width } = before;
      const values: number[] = [];
      for (let k = 0; k <= 1023; k++) values.push(origin + k * width, origin + (k + 0.5) * width, origin + k * width * (1 - 1e-16));
      for (let i = 0; i < 20000; i++) values.push(Math.round((origin + random() * 1023 * width) * 1000) / 1000);
      for (const x of values) {
        const index = Math.floor((x - origin) / width);
        if (index >= 0 && index < 1024) {
          expected[index]++;
          sketch.add(x);
        }
      }
      expect(fine(sketch)).toEqual({ ...before, n: expect.any(Number), bins: expected });
      // Twice the range (to the right), then the same again over the new bins.
      sketch.add(origin + 1500 * width);
      expect(fine(sketch).width).toBe(2 * width);
    }
  });

  test('a constant numeric column has one bin', async () => {
    const text = 'x,target\n' + Array.from({ length: 10 }, (_, i) => `3,${i % 2}`).join('\n');
    expect(numeric(await scan(text), 'x').histogram).toEqual({ edges: [3, 3], counts: [10] });
  });
});

describe('splits', () => {
  test('splitOf is deterministic and close to 80/10/10', () => {
    const counts: Record<SplitName, number> = { train: 0, validation: 0, test: 0 };
    for (let i = 0; i < 10000; i++) {
      const record = [String(i), `name ${i}`, String(i % 7)];
      const split = splitOf(record);
      expect(splitOf([...record])).toBe(split);
      counts[split]++;
    }
    expect(Math.abs(counts.train / 10000 - 0.8)).toBeLessThan(0.02);
    expect(Math.abs(counts.validation / 10000 - 0.1)).toBeLessThan(0.02);
    expect(Math.abs(counts.test / 10000 - 0.1)).toBeLessThan(0.02);
  });

  test('splitOf cannot confuse cells joined differently', () => {
    // Any naive join would make these the same key; find a pair whose splits differ to prove it.
    const pairs = Array.from({ length: 200 }, (_, i): [string[], string[]] => [
      [`a${i},b`, 'c'],
      [`a${i}`, 'b,c'],
    ]);
    expect(pairs.some(([a, b]) => splitOf(a) !== splitOf(b))).toBe(true);
  });

  test('csvLine quotes what RFC 4180 requires', () => {
    expect(csvLine(['a', 'b c', ''])).toBe('a,b c,\n');
    expect(csvLine(['a,b', 'say "hi"', 'x\ny', 'r\r'])).toBe('"a,b","say ""hi""","x\ny","r\r"\n');
    expect(csvLine([''])).toBe('""\n');
  });

  for (const scheme of SPLIT_HASHES) {
    test(`writeSplits round-trips quoted fields to the split of each row (${scheme})`, async () => {
      const header = ['id', 'text', 'target'];
      const records: string[][] = [];
      for (let i = 0; i < 300; i++)
        records.push([String(i), ['plain', 'a, b', 'say "hi"', 'two\nlines', 'crlf\r\ninside', 'ünï ✓'][i % 6], String(i % 2)]);
      const source = '\ufeff' + [header, ...records].map((r) => r.map((f) => `"${f.replace(/"/g, '""')}"`).join(';')).join('\r\n') + '\r\n';
      const outputs: Record<SplitName, string[]> = { train: [], validation: [], test: [] };
      const sinks = Object.fromEntries(
        (['train', 'validation', 'test'] as SplitName[]).map((name) => [
          name,
          new Writable({
            highWaterMark: 64,
            write(chunk: Buffer, _encoding, callback) {
              outputs[name].push(chunk.toString('utf8'));
              setImmediate(callback); // a slow sink: writes must wait for 'drain'
            },
          }),
        ]),
      ) as Record<SplitName, Writable>;
      const counts = await writeSplits(chunks(source, 11), { delimiter: ';', splitHash: scheme }, sinks);
      expect(counts.train + counts.validation + counts.test).toBe(300);
      for (const name of ['train', 'validation', 'test'] as SplitName[]) {
        expect(sinks[name].writableFinished).toBe(true);
        const rows = parse(outputs[name].join(''), { bom: false }) as string[][];
        expect(rows[0]).toEqual(header);
        const expected = records.filter((r) => splitOf(r, scheme) === name);
        expect(rows.slice(1)).toEqual(expected);
        expect(counts[name]).toBe(expected.length);
      }
    });

    test(`writeSplits writes each row as csvLine would, whatever the chunks: lines copied as they stand, quoted rows, blank lines, a last line without its end (${scheme})`, async () => {
      const random = prng(17);
      const lines: string[] = [];
      for (let i = 0; i < 3000; i++) {
        const r = random();
        if (r < 0.03) lines.push(`${i},"quoted, with a comma",${i % 2}`);
        else if (r < 0.05)
          lines.push(''); // a blank line: skipped
        else if (r < 0.06)
          lines.push(`${i},tab\there,${i % 2}`); // a character JSON escapes: hashed by its cells
        else lines.push(`${i},${(random() * 100).toFixed(2)},${i % 2}`);
      }
      const lf = 'id,x,target\n' + lines.join('\n'); // no line end after the last line
      const records = (parse(lf, { skip_empty_lines: true }) as string[][]).slice(1);
      for (const [text, size] of [1, 7, 64, 4096, lf.length].flatMap((n) => [[lf, n] as const, [lf.replace(/\n/g, '\r\n'), n] as const])) {
        const out = await splitsOf(chunks(text, size), { splitHash: scheme });
        for (const name of ['train', 'validation', 'test'] as SplitName[]) {
          const expected =
            'id,x,target\n' +
            records
              .filter((r) => splitOf(r, scheme) === name)
              .map(csvLine)
              .join('');
          expect(out[name]).toBe(expected);
        }
      }
    });
  }

  test('writeSplits honours backpressure through PassThrough sinks read slowly', async () => {
    const text = csv(50000);
    const sinks = {
      train: new PassThrough({ highWaterMark: 1024 }),
      validation: new PassThrough({ highWaterMark: 1024 }),
      test: new PassThrough({ highWaterMark: 1024 }),
    };
    const read = (s: PassThrough): Promise<string> =>
      new Promise((resolve, reject) => {
        const parts: Buffer[] = [];
        s.on('data', (d: Buffer) => {
          parts.push(d);
          s.pause();
          setTimeout(() => s.resume(), 0);
        });
        s.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
        s.on('error', reject);
      });
    const [counts, train, validation, test] = await Promise.all([
      writeSplits(chunks(text, 4096), {}, sinks),
      read(sinks.train),
      read(sinks.validation),
      read(sinks.test),
    ]);
    const lines = (s: string): number => s.split('\n').filter(Boolean).length - 1;
    expect({ train: lines(train), validation: lines(validation), test: lines(test) }).toEqual(counts);
    expect(counts.train + counts.validation + counts.test).toBe(50000);
  });

  test('the same file splits the same way twice', async () => {
    const text = csv(500);
    const collect = () => splitsOf(chunks(text, 100), {});
    expect(await collect()).toEqual(await collect());
  });

  test('writeSplits rejects on a parse error and destroys the sinks', async () => {
    const sinks = { train: new PassThrough(), validation: new PassThrough(), test: new PassThrough() };
    for (const s of Object.values(sinks)) s.resume();
    await expect(writeSplits(chunks('a,b\n"1,2\n'), {}, sinks)).rejects.toThrow(/Quote Not Closed/);
    expect(sinks.train.destroyed).toBe(true);
  });
});

describe('schemaHash', () => {
  const schema: DatasetSchema = {
    columns: [
      { name: 'x', type: 'numeric', nullable: false },
      { name: 'c', type: 'categorical', nullable: true, categories: ['a', 'b'] },
      { name: 'target', type: 'categorical', nullable: false, categories: ['no', 'yes'] },
    ],
    target: 'target',
    task: 'classification',
    classes: ['no', 'yes'],
  };

  test('is the sha256 of the canonical JSON of names, types, target and task', () => {
    const canonical =
      '{"columns":[{"name":"x","type":"numeric"},{"name":"c","type":"categorical"},{"name":"target","type":"categorical"}],"target":"target","task":"classification"}';
    expect(schemaHash(schema)).toBe(createHash('sha256').update(canonical).digest('hex'));
  });

  test('ignores key order, nullability, categories and classes; not types, names, order, target or task', () => {
    const reordered = {
      task: schema.task,
      target: schema.target,
      columns: schema.columns.map((c) => ({ type: c.type, name: c.name, nullable: !c.nullable })),
    } as DatasetSchema;
    expect(schemaHash(reordered)).toBe(schemaHash(schema));
    expect(schemaHash({ ...schema, classes: ['x'] })).toBe(schemaHash(schema));
    expect(schemaHash({ ...schema, task: 'regression' })).not.toBe(schemaHash(schema));
    expect(schemaHash({ ...schema, target: 'c' })).not.toBe(schemaHash(schema));
    expect(schemaHash({ ...schema, columns: [...schema.columns].reverse() })).not.toBe(schemaHash(schema));
    expect(schemaHash({ ...schema, columns: schema.columns.map((c) => ({ ...c, type: 'numeric' as const })) })).not.toBe(
      schemaHash(schema),
    );
  });

  test('a dataset scanned twice gets the same schema hash', async () => {
    const a = await scan(csv(20));
    const b = await scan(csv(40));
    expect(schemaHash(a.schema)).toBe(schemaHash(b.schema));
  });
});
