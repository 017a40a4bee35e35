/**
 * Dataset schemas declared in the CDK app (the `datasetSchemas` setting of DatasetIngestion, lib/data.ts, or
 * the `mloop:datasetSchemas` context key): checked at synth with schema.json's own parser, and
 * handed to the Ingest function as its DATASET_SCHEMAS variable, within Lambda's 4 KB limit on
 * environment variables.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Stack } from 'aws-cdk-lib';
import type { IValidation } from 'constructs';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { parseDatasetSchemas, SCHEMA_FILE_NAME, type SchemaFile } from '../lambdas/shared/schema-file';

/** The context key (cdk.json or `-c`) that declares dataset schemas. */
export const DATASET_SCHEMAS_CONTEXT_KEY = 'mloop:datasetSchemas';

/** Lambda's limit on a function's environment variables, all of them together. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;

/**
 * What a value CloudFormation fills in at deploy time (the data bucket's or the table's name) is
 * counted as: the longest such a name can be (a DynamoDB table name has up to 255 characters, a
 * bucket name up to 63), so that a template that passes here cannot fail the limit on deploy.
 */
const DEPLOY_TIME_VALUE_BYTES = 255;

/**
 * The DATASET_SCHEMAS variable for `schemas`, after checking them as Ingest will: model names as
 * elsewhere, each value a valid schema.json document. A problem throws, naming the model and the
 * field: "datasetSchemas.churn is not a valid schema: columns[1].type: expected 'numeric', 'categorical' or 'datetime'."
 */
export function datasetSchemasEnvironment(schemas: Record<string, SchemaFile> | undefined): { DATASET_SCHEMAS?: string } {
  if (schemas === undefined) return {};
  const parsed = parseDatasetSchemas(schemas, 'datasetSchemas');
  if (!parsed.ok) throw new Error(parsed.message);
  // The documents as given (schema.json's format, no defaults filled in): Ingest parses them again at cold start.
  return Object.keys(schemas).length > 0 ? { DATASET_SCHEMAS: JSON.stringify(schemas) } : {};
}

/**
 * The value of the `mloop:datasetSchemas` context key: an object of model names to schemas, or
 * the path of a JSON file holding one (relative to `appDir`, the directory of cdk.json), or JSON
 * text (as `-c 'mloop:datasetSchemas={...}'` passes it). Checked here so that a problem names the
 * key or the file it is in.
 */
export function datasetSchemasFromContext(value: unknown, appDir: string): Record<string, SchemaFile> | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  let json: unknown = value;
  let where = DATASET_SCHEMAS_CONTEXT_KEY;
  if (typeof value === 'string' && value.trim().startsWith('{')) {
    json = parseJson(value, where);
  } else if (typeof value === 'string') {
    const file = path.resolve(appDir, value);
    where = file;
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new Error(
        `${DATASET_SCHEMAS_CONTEXT_KEY}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); expected an object of model names to schemas, or the path of a JSON file with one, relative to ${appDir}.`,
      );
    }
    json = parseJson(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, file);
  }
  const parsed = parseDatasetSchemas(json, where);
  if (!parsed.ok) throw new Error(parsed.message);
  return json as Record<string, SchemaFile>;
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(
      `${where} is not valid JSON (${(error as Error).message.replace(/[.\s]+$/, '')}); expected an object of model names to schemas.`,
    );
  }
}

/**
 * The size of a function's environment as measured against Lambda's limit: the variables as one
 * JSON object, keys and values together, in UTF-8 bytes. Lambda's own refusal quotes the JSON
 * object it measured ("String measured: {...}"), so the quotes inside a JSON value (DATASET_SCHEMAS)
 * count escaped; that is stricter than summing keys and values (cfn-lint's E3697), never looser.
 * A value that is not a plain string (a reference CloudFormation resolves at deploy time) counts
 * as DEPLOY_TIME_VALUE_BYTES.
 */
export function environmentBytes(variables: Record<string, unknown>): number {
  const measured = Object.fromEntries(
    Object.entries(variables).map(([key, value]) => [key, typeof value === 'string' ? value : 'x'.repeat(DEPLOY_TIME_VALUE_BYTES)]),
  );
  return Buffer.byteLength(JSON.stringify(measured), 'utf8');
}

/**
 * A synth-time check that the Ingest function's environment fits Lambda's limit. It runs when the
 * app is synthesized (after every construct has added its variables), so it measures the
 * environment as deployed; over the limit, the message says how big it is, how much of it the
 * schemas take, and where big schemas belong instead (schema.json beside the data).
 */
export function ingestEnvironmentFits(fn: lambda.Function): IValidation {
  return {
    validate: () => {
      const cfn = fn.node.defaultChild as lambda.CfnFunction;
      const variables = ((Stack.of(fn).resolve(cfn.environment) as { variables?: Record<string, unknown> } | undefined)?.variables ??
        {}) as Record<string, unknown>;
      const bytes = environmentBytes(variables);
      if (bytes <= LAMBDA_ENVIRONMENT_LIMIT_BYTES) return [];
      const n = (x: number) => x.toLocaleString('en-US');
      let schemasPart = '';
      const raw = variables.DATASET_SCHEMAS;
      if (typeof raw === 'string') {
        const { DATASET_SCHEMAS: _schemas, ...others } = variables;
        // Each schema as it counts inside the variable: its JSON, quotes escaped.
        const bySize = Object.entries(JSON.parse(raw) as Record<string, unknown>)
          .map(([model, schema]) => [model, Buffer.byteLength(JSON.stringify(JSON.stringify(schema)), 'utf8') - 2] as const)
          .sort((a, b) => b[1] - a[1]);
        schemasPart =
          `; DATASET_SCHEMAS (the datasetSchemas prop) takes ${n(bytes - environmentBytes(others))} of them (${bySize.map(([model, size]) => `${model}: ${n(size)}`).join(', ')}). ` +
          `Drop the big schemas beside the data as datasets/<model>/${SCHEMA_FILE_NAME} instead (the same format; it wins over datasetSchemas) and leave them out of datasetSchemas`;
      }
      return [
        `The Ingest function's environment variables take ${n(bytes)} bytes, over Lambda's limit of 4 KB (${n(LAMBDA_ENVIRONMENT_LIMIT_BYTES)} bytes, keys and values together, ` +
          `counting each name CloudFormation fills in at deploy time as ${DEPLOY_TIME_VALUE_BYTES} bytes)${schemasPart}.`,
      ];
    },
  };
}
