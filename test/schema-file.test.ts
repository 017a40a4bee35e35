/**
 * schema.json: parsed with zod, every problem reported with the field it concerns; schemas keyed by
 * model name (the `datasetSchemas` prop, DATASET_SCHEMAS) with the same parser, naming the model.
 */
import { parseDatasetSchemas, parseSchemaFile } from '../lambdas/shared/schema-file';

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
  [
    'a wrong type',
    { ...valid, columns: [{ name: 'x', type: 'float' }] },
    "is not a valid schema: columns[0].type: expected 'numeric', 'categorical' or 'datetime'.",
  ],
  ['no target', { columns: valid.columns }, 'is not a valid schema: target: expected the name of the target column.'],
  ['an unknown key', { ...valid, colums: [] }, 'is not a valid schema: (the document): Unrecognized key: "colums".'],
  [
    'an unknown column key',
    { ...valid, columns: [{ name: 'x', type: 'numeric', nulable: true }] },
    'columns[0]: Unrecognized key: "nulable"',
  ],
  [
    'a duplicate name',
    { ...valid, columns: [...valid.columns, { name: 'x', type: 'numeric' }] },
    "columns[3].name: 'x' is already the name of columns[0]",
  ],
  [
    'categories of a numeric column',
    { ...valid, columns: [{ name: 'x', type: 'numeric', categories: ['a'] }] },
    'columns[0].categories: only a categorical column has categories',
  ],
  ['classes of a regression', { ...valid, task: 'regression', classes: ['a', 'b'] }, 'classes: a regression task has no classes'],
  ['a bad task', { ...valid, task: 'ranking' }, "task: expected 'classification' or 'regression'"],
  ['no columns', { ...valid, columns: [] }, 'columns: expected at least one column'],
  [
    'nullable not a boolean',
    { ...valid, columns: [{ name: 'x', type: 'numeric', nullable: 'no' }] },
    'columns[0].nullable: expected true or false',
  ],
])('%s', (_what, doc, expected) => {
  const message = problem(doc);
  expect(message.startsWith(FILE)).toBe(true);
  if (expected instanceof RegExp) expect(message).toMatch(expected);
  else expect(message).toContain(expected);
});

describe('schemas keyed by model name (datasetSchemas, DATASET_SCHEMAS)', () => {
  test('each is parsed as schema.json is, defaults filled in', () => {
    const result = parseDatasetSchemas(
      { churn: valid, 'fraud-2': { target: 'y', columns: [{ name: 'y', type: 'numeric' }] } },
      'datasetSchemas',
    );
    expect(result).toEqual({
      ok: true,
      schemas: {
        churn: (parseSchemaFile(JSON.stringify(valid), FILE) as { schema: unknown }).schema,
        'fraud-2': { target: 'y', columns: [{ name: 'y', type: 'numeric', nullable: true }] },
      },
    });
  });

  test('an invalid schema is reported with its model and the field', () => {
    const bad = { ...valid, columns: [valid.columns[0], { name: 'color', type: 'text' }] };
    expect(parseDatasetSchemas({ churn: valid, fraud: bad }, 'datasetSchemas')).toEqual({
      ok: false,
      message: "datasetSchemas.fraud is not a valid schema: columns[1].type: expected 'numeric', 'categorical' or 'datetime'.",
    });
  });

  test('a key that is not a model name is refused', () => {
    expect(parseDatasetSchemas({ 'Churn Model': valid }, 'datasetSchemas')).toEqual({
      ok: false,
      message:
        "datasetSchemas: 'Churn Model' is not a model name: expected 1 to 40 lower-case letters, digits or hyphens, starting and ending with a letter or digit.",
    });
  });

  test.each([
    ['a list', [valid]],
    ['a string', 'schema.json'],
    ['null', null],
  ])('%s is not an object of schemas', (_what, value) => {
    const result = parseDatasetSchemas(value, 'datasetSchemas');
    expect(result).toEqual({ ok: false, message: expect.stringMatching(/^datasetSchemas is not an object of model names to schemas: /) });
  });
});
