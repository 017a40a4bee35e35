/** schema.json: parsed with zod, every problem reported with the field it concerns. */
import { parseSchemaFile } from '../lambdas/data/schema-file';

const FILE = 's3://b/datasets/m/schema.json';

function problem(doc: unknown): string {
  const result = parseSchemaFile(typeof doc === 'string' ? doc : JSON.stringify(doc), FILE);
  if (result.ok) throw new Error('expected a problem');
  return result.message;
}

const valid = {
  target: 'label',
  columns: [
    { name: 'x', type: 'numeric', nullable: false },
    { name: 'color', type: 'categorical', categories: ['red', 'blue'] },
    { name: 'label', type: 'categorical' },
  ],
};

test('a valid schema: nullable defaults to true, task and classes left to inference', () => {
  expect(parseSchemaFile('\ufeff' + JSON.stringify(valid), FILE)).toEqual({
    ok: true,
    schema: {
      target: 'label',
      columns: [
        { name: 'x', type: 'numeric', nullable: false },
        { name: 'color', type: 'categorical', nullable: true, categories: ['red', 'blue'] },
        { name: 'label', type: 'categorical', nullable: true },
      ],
    },
  });
});

test.each([
  ['not JSON', '{"target": ', /^s3:\/\/b\/datasets\/m\/schema\.json is not valid JSON \(.+\); expected a schema/],
  ['a wrong type', { ...valid, columns: [{ name: 'x', type: 'float' }] }, "is not a valid schema: columns[0].type: expected 'numeric' or 'categorical'."],
  ['no target', { columns: valid.columns }, 'is not a valid schema: target: expected the name of the target column.'],
  ['an unknown key', { ...valid, colums: [] }, 'is not a valid schema: (the document): Unrecognized key: "colums".'],
  ['an unknown column key', { ...valid, columns: [{ name: 'x', type: 'numeric', nulable: true }] }, 'columns[0]: Unrecognized key: "nulable"'],
  ['a duplicate name', { ...valid, columns: [...valid.columns, { name: 'x', type: 'numeric' }] }, "columns[3].name: 'x' is already the name of columns[0]"],
  ['categories of a numeric column', { ...valid, columns: [{ name: 'x', type: 'numeric', categories: ['a'] }] }, 'columns[0].categories: only a categorical column has categories'],
  ['classes of a regression', { ...valid, task: 'regression', classes: ['a', 'b'] }, 'classes: a regression task has no classes'],
  ['a bad task', { ...valid, task: 'ranking' }, "task: expected 'classification' or 'regression'"],
  ['no columns', { ...valid, columns: [] }, 'columns: expected at least one column'],
  ['nullable not a boolean', { ...valid, columns: [{ name: 'x', type: 'numeric', nullable: 'no' }] }, 'columns[0].nullable: expected true or false'],
])('%s', (_what, doc, expected) => {
  const message = problem(doc);
  expect(message.startsWith(FILE)).toBe(true);
  if (expected instanceof RegExp) expect(message).toMatch(expected);
  else expect(message).toContain(expected);
});
