/**
 * schema.json: a model's schema declared beside its data (`datasets/<model>/schema.json`) instead
 * of inferred from its first dataset. When present, every dataset of the model is checked against
 * it, including each column's `nullable` and, where listed, its `categories`.
 *
 * {
 *   "target": "churned",
 *   "task": "classification",                 (optional: inferred from the target column)
 *   "classes": ["0", "1"],                    (optional, classification: inferred when absent)
 *   "columns": [
 *     { "name": "tenure_months", "type": "numeric", "nullable": false },
 *     { "name": "contract", "type": "categorical", "categories": ["month-to-month", "one-year"] },
 *     { "name": "churned", "type": "categorical" }
 *   ],
 *   "timeColumn": "signup_date"                (optional: split by time, see DatasetSchema.timeColumn)
 * }
 *
 * `nullable` defaults to true; a column without `categories` takes any value.
 */
import { z } from 'zod';
import type { SchemaInput } from './dataset';

/** The file name that declares a schema, beside the data. */
export const SCHEMA_FILE_NAME = 'schema.json';

/** Whether a dataset key is a model's schema.json rather than data. */
export function isSchemaFile(fileName: string): boolean {
  return fileName === SCHEMA_FILE_NAME;
}

const columnSchema = z
  .object({
    name: z.string().min(1, 'expected a non-empty column name'),
    type: z.enum(['numeric', 'categorical'], { error: "expected 'numeric' or 'categorical'" }),
    nullable: z.boolean({ error: 'expected true or false' }).optional(),
    categories: z.array(z.string({ error: 'expected a string' }), { error: 'expected a list of strings' }).min(1, 'expected at least one category').optional(),
  })
  .strict();

const schemaFileSchema = z
  .object({
    target: z.string({ error: 'expected the name of the target column' }).min(1, 'expected the name of the target column'),
    task: z.enum(['classification', 'regression'], { error: "expected 'classification' or 'regression'" }).optional(),
    classes: z.array(z.string({ error: 'expected a string' }), { error: 'expected a list of strings' }).min(2, 'expected at least two classes').optional(),
    columns: z.array(columnSchema, { error: 'expected a list of columns' }).min(1, 'expected at least one column'),
    timeColumn: z.string({ error: 'expected the name of a column of times' }).min(1, 'expected the name of a column of times').optional(),
  })
  .strict()
  .superRefine((value, ctx) => {
    const seen = new Map<string, number>();
    value.columns.forEach((column, i) => {
      const first = seen.get(column.name);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['columns', i, 'name'], message: `'${column.name}' is already the name of columns[${first}]` });
      else seen.set(column.name, i);
      if (column.categories !== undefined && column.type !== 'categorical') {
        ctx.addIssue({ code: 'custom', path: ['columns', i, 'categories'], message: 'only a categorical column has categories' });
      }
    });
    if (value.timeColumn !== undefined && value.timeColumn === value.target) {
      ctx.addIssue({ code: 'custom', path: ['timeColumn'], message: 'the target cannot be the time column the rows are split by' });
    }
    if (value.classes !== undefined && value.task === 'regression') {
      ctx.addIssue({ code: 'custom', path: ['classes'], message: 'a regression task has no classes' });
    }
  });

/** A zod path as JavaScript would write it: columns[2].type. */
function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? String(part) : `.${String(part)}`;
  return out === '' ? '(the document)' : out;
}

export type SchemaFileResult = { ok: true; schema: SchemaInput } | { ok: false; message: string; problems: { field: string; message: string }[] };

/**
 * Parse and validate the text of a schema.json. A problem is reported with the field it concerns:
 * "datasets/churn/schema.json is not a valid schema: columns[1].type: expected 'numeric' or 'categorical'."
 */
export function parseSchemaFile(text: string, file: string): SchemaFileResult {
  let json: unknown;
  try {
    json = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    const reason = (error as Error).message.replace(/[.\s]+$/, '');
    return { ok: false, message: `${file} is not valid JSON (${reason}); expected a schema: {"target", "columns": [{"name", "type"}]}.`, problems: [{ field: '(the document)', message: reason }] };
  }
  const parsed = schemaFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => ({ field: pathText(issue.path), message: issue.message }));
    return { ok: false, message: `${file} is not a valid schema: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}.`, problems };
  }
  const value = parsed.data;
  const schema: SchemaInput = {
    target: value.target,
    ...(value.task !== undefined ? { task: value.task } : {}),
    ...(value.classes !== undefined ? { classes: value.classes } : {}),
    ...(value.timeColumn !== undefined ? { timeColumn: value.timeColumn } : {}),
    columns: value.columns.map((c) => ({
      name: c.name,
      type: c.type,
      nullable: c.nullable ?? true,
      ...(c.categories !== undefined ? { categories: c.categories } : {}),
    })),
  };
  return { ok: true, schema };
}
