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
 *     { "name": "churned", "type": "categorical" },
 *     { "name": "signed_at", "type": "datetime", "format": "DD/MM/YYYY HH:mm" }   (format optional: ISO 8601 by default)
 *   ],
 *   "timeColumn": "signup_date"                (optional: split by time, see DatasetSchema.timeColumn)
 * }
 *
 * `nullable` defaults to true; a column without `categories` takes any value.
 *
 * The same format declares schemas in the CDK props (`datasetSchemas`, or the `mloop:datasetSchemas`
 * context key), keyed by model name: `parseDatasetSchemas` checks them at synth and, from the
 * DATASET_SCHEMAS variable, at the Ingest function's cold start.
 */
import { z } from 'zod';
import { DATE_PARTS, DateFormatInvalid, compileDateFormat, type DatePart } from './datetime';
import { MODEL_NAME_PATTERN } from './layout';
import type { DatasetSchema, Task } from './types';

/** A dataset schema whose task (and classes) may be left to inference. */
export type SchemaInput = Omit<DatasetSchema, 'task'> & { readonly task?: Task };

/** One column of a schema.json. */
export interface SchemaFileColumn {
  readonly name: string;
  readonly type: 'numeric' | 'categorical' | 'datetime';
  /**
   * Whether the column may be empty.
   * @default true
   */
  readonly nullable?: boolean;
  /**
   * The values a categorical column may take (check `category_domain`).
   * @default - any value
   */
  readonly categories?: string[];
  /**
   * A datetime column's format, for values that are not ISO 8601: tokens YYYY, MM, DD, HH, mm,
   * ss, SSS and Z, anything else literal (`DD/MM/YYYY HH:mm`).
   * @default - ISO 8601 (2024-05-01, 2024-05-01T12:30, 2024-05-01 12:30:00+02:00)
   */
  readonly format?: string;
  /**
   * A datetime column's derived features (hour, minute, dow, dom, month, doy, time, hour_sin,
   * hour_cos, doy_sin, doy_cos).
   * @default - all of them, or the calendar ones when the values have no time of day
   */
  readonly parts?: DatePart[];
}

/** A model's schema, as schema.json and the `datasetSchemas` prop declare it. */
export interface SchemaFile {
  /** The target column. */
  readonly target: string;
  /**
   * The task.
   * @default - inferred from the target column
   */
  readonly task?: 'classification' | 'regression';
  /**
   * The classes of a classification target.
   * @default - inferred from the model's first dataset
   */
  readonly classes?: string[];
  /** Every column, the target's included. */
  readonly columns: SchemaFileColumn[];
}

/** The file name that declares a schema, beside the data. */
export const SCHEMA_FILE_NAME = 'schema.json';

/** Whether a dataset key is a model's schema.json rather than data. */
export function isSchemaFile(fileName: string): boolean {
  return fileName === SCHEMA_FILE_NAME;
}

const columnSchema = z
  .object({
    name: z.string().min(1, 'expected a non-empty column name'),
    type: z.enum(['numeric', 'categorical', 'datetime'], { error: "expected 'numeric', 'categorical' or 'datetime'" }),
    nullable: z.boolean({ error: 'expected true or false' }).optional(),
    categories: z
      .array(z.string({ error: 'expected a string' }), { error: 'expected a list of strings' })
      .min(1, 'expected at least one category')
      .optional(),
    format: z.string({ error: 'expected a date format such as "DD/MM/YYYY HH:mm"' }).optional(),
    parts: z
      .array(z.enum(DATE_PARTS, { error: `expected one of ${DATE_PARTS.join(', ')}` }), { error: 'expected a list of date parts' })
      .min(1, 'expected at least one part')
      .optional(),
  })
  .strict();

const schemaFileSchema = z
  .object({
    target: z.string({ error: 'expected the name of the target column' }).min(1, 'expected the name of the target column'),
    task: z.enum(['classification', 'regression'], { error: "expected 'classification' or 'regression'" }).optional(),
    classes: z
      .array(z.string({ error: 'expected a string' }), { error: 'expected a list of strings' })
      .min(2, 'expected at least two classes')
      .optional(),
    columns: z.array(columnSchema, { error: 'expected a list of columns' }).min(1, 'expected at least one column'),
    timeColumn: z.string({ error: 'expected the name of a column of times' }).min(1, 'expected the name of a column of times').optional(),
  })
  .strict()
  .superRefine((value, ctx) => {
    const seen = new Map<string, number>();
    value.columns.forEach((column, i) => {
      const first = seen.get(column.name);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['columns', i, 'name'],
          message: `'${column.name}' is already the name of columns[${first}]`,
        });
      else seen.set(column.name, i);
      if (column.categories !== undefined && column.type !== 'categorical') {
        ctx.addIssue({ code: 'custom', path: ['columns', i, 'categories'], message: 'only a categorical column has categories' });
      }
      for (const key of ['format', 'parts'] as const) {
        if (column[key] !== undefined && column.type !== 'datetime')
          ctx.addIssue({ code: 'custom', path: ['columns', i, key], message: `only a datetime column has a ${key}` });
      }
      if (column.format !== undefined) {
        try {
          compileDateFormat(column.format);
        } catch (error) {
          if (!(error instanceof DateFormatInvalid)) throw error;
          ctx.addIssue({ code: 'custom', path: ['columns', i, 'format'], message: error.message.replace(/\.$/, '') });
        }
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

export type SchemaFileResult =
  { ok: true; schema: SchemaInput } | { ok: false; message: string; problems: { field: string; message: string }[] };

/**
 * Parse and validate the text of a schema.json. A problem is reported with the field it concerns:
 * "datasets/churn/schema.json is not a valid schema: columns[1].type: expected 'numeric', 'categorical' or 'datetime'."
 */
export function parseSchemaFile(text: string, file: string): SchemaFileResult {
  let json: unknown;
  try {
    json = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    const reason = (error as Error).message.replace(/[.\s]+$/, '');
    return {
      ok: false,
      message: `${file} is not valid JSON (${reason}); expected a schema: {"target", "columns": [{"name", "type"}]}.`,
      problems: [{ field: '(the document)', message: reason }],
    };
  }
  return parseSchemaValue(json, file);
}

/** Validate a parsed schema.json document; `where` names it in messages (a file, or `datasetSchemas.churn`). */
export function parseSchemaValue(json: unknown, where: string): SchemaFileResult {
  const parsed = schemaFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => ({ field: pathText(issue.path), message: issue.message }));
    return {
      ok: false,
      message: `${where} is not a valid schema: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}.`,
      problems,
    };
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
      ...(c.format !== undefined ? { format: c.format } : {}),
      ...(c.parts !== undefined ? { parts: c.parts } : {}),
    })),
  };
  return { ok: true, schema };
}

export type DatasetSchemasResult = { ok: true; schemas: Record<string, SchemaInput> } | { ok: false; message: string };

/**
 * Validate schemas keyed by model name (the `datasetSchemas` prop, the DATASET_SCHEMAS variable):
 * each key must be a model name and each value a valid schema.json document. The first problem is
 * reported with the model and the field, `where` naming the whole:
 * "datasetSchemas.churn is not a valid schema: columns[1].type: expected 'numeric', 'categorical' or 'datetime'."
 */
export function parseDatasetSchemas(json: unknown, where: string): DatasetSchemasResult {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    return {
      ok: false,
      message: `${where} is not an object of model names to schemas: expected {"<model>": {"target", "columns": [{"name", "type"}]}}.`,
    };
  }
  const schemas: Record<string, SchemaInput> = {};
  for (const [model, value] of Object.entries(json)) {
    if (!MODEL_NAME_PATTERN.test(model)) {
      return {
        ok: false,
        message: `${where}: '${model}' is not a model name: expected 1 to 40 lower-case letters, digits or hyphens, starting and ending with a letter or digit.`,
      };
    }
    const parsed = parseSchemaValue(value, `${where}.${model}`);
    if (!parsed.ok) return { ok: false, message: parsed.message };
    schemas[model] = parsed.schema;
  }
  return { ok: true, schemas };
}
