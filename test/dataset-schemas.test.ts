/**
 * Dataset schemas in the CDK app: the `datasetSchemas` prop and the `mloop:datasetSchemas` context
 * key are checked at synth with schema.json's parser, reach the Ingest function as DATASET_SCHEMAS
 * (checked again by its environment contract at cold start), and must fit Lambda's 4 KB limit on
 * environment variables. Which schema a dataset is checked against follows one precedence
 * (chooseSchema). Ingest on the local runtime with such a schema: test/ingest-formats.test.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { chooseSchema } from '../lambdas/data/ingest';
import type { SchemaFile, SchemaInput } from '../lambdas/shared/schema-file';
import { ingestEnv, loadEnv } from '../lambdas/shared/env';
import { buildApp, inProcessApp } from '../lib/app';
import {
  DATASET_SCHEMAS_CONTEXT_KEY,
  datasetSchemasFromContext,
  environmentBytes,
  LAMBDA_ENVIRONMENT_LIMIT_BYTES,
} from '../lib/dataset-schemas';
import { MloopStack } from '../lib/mloop-stack';
import { mloopFunction } from './helpers/template';

const churn: SchemaFile = {
  target: 'churned',
  task: 'classification',
  columns: [
    { name: 'tenure_months', type: 'numeric', nullable: false },
    { name: 'contract', type: 'categorical', categories: ['month-to-month', 'one-year', 'two-year'] },
    { name: 'churned', type: 'categorical' },
  ],
};

const scratch: string[] = [];
/** A fresh folder for schema files, removed after the suite. */
function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mloop-${prefix}-`));
  scratch.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
});

let stackCount = 0;
function synth(datasetSchemas: Record<string, SchemaFile> | undefined): Template {
  return Template.fromStack(new MloopStack(inProcessApp(), `Schemas${++stackCount}`, { training: { datasetSchemas } }));
}

function ingestVariables(template: Template): Record<string, unknown> {
  return mloopFunction(template, 'ingest').resource.Properties.Environment.Variables;
}

/** A schema of `n` numeric columns with long names: about 47 bytes of JSON per column. */
function wideSchema(n: number): SchemaFile {
  const columns = Array.from({ length: n }, (_, i) => ({ name: `measurement_${String(i).padStart(3, '0')}`, type: 'numeric' as const }));
  return { target: 'measurement_000', columns };
}

describe('the datasetSchemas prop', () => {
  test('reaches the Ingest function as DATASET_SCHEMAS, the schemas as JSON in schema.json format', () => {
    const variables = ingestVariables(synth({ churn }));
    expect(variables.DATASET_SCHEMAS).toBe(JSON.stringify({ churn }));
  });

  test('is read back by the Ingest environment contract as the schemas schema.json would give', () => {
    const raw = ingestVariables(synth({ churn })).DATASET_SCHEMAS as string;
    const env = loadEnv(ingestEnv, { REGISTRY_TABLE: 't', DATA_BUCKET: 'b', DATASET_SCHEMAS: raw });
    expect(env.DATASET_SCHEMAS).toEqual({
      churn: {
        target: 'churned',
        task: 'classification',
        columns: [
          { name: 'tenure_months', type: 'numeric', nullable: false },
          { name: 'contract', type: 'categorical', nullable: true, categories: ['month-to-month', 'one-year', 'two-year'] },
          { name: 'churned', type: 'categorical', nullable: true },
        ],
      },
    });
  });

  test('leaves DATASET_SCHEMAS out of the environment when not set', () => {
    expect(ingestVariables(synth(undefined))).not.toHaveProperty('DATASET_SCHEMAS');
  });

  test('with an invalid schema fails at synth, naming the model and the field', () => {
    const bad = { ...churn, columns: [churn.columns[0], { name: 'contract', type: 'text' }] } as unknown as SchemaFile;
    expect(() => synth({ churn, fraud: bad })).toThrow(
      "datasetSchemas.fraud is not a valid schema: columns[1].type: expected 'numeric', 'categorical' or 'datetime'.",
    );
  });

  test('with an unknown key in a column fails at synth, naming the model and the column', () => {
    const bad = { ...churn, columns: [{ name: 'tenure_months', type: 'numeric', nulable: false }] } as unknown as SchemaFile;
    expect(() => synth({ churn: bad })).toThrow('datasetSchemas.churn is not a valid schema: columns[0]: Unrecognized key: "nulable".');
  });

  test('with a name that is not a model name fails at synth', () => {
    expect(() => synth({ Churn_Model: churn })).toThrow(/^datasetSchemas: 'Churn_Model' is not a model name: /);
  });
});

describe("Lambda's 4 KB limit on environment variables", () => {
  test('counts keys and values as a JSON object, and a deploy-time name at its longest (255 bytes)', () => {
    expect(environmentBytes({ A: 'bc' })).toBe('{"A":"bc"}'.length);
    expect(environmentBytes({ DATA_BUCKET: { Ref: 'DataBucket' } })).toBe(`{"DATA_BUCKET":"${'x'.repeat(255)}"}`.length);
    expect(environmentBytes({ A: 'é' })).toBe(10); // '{"A":"é"}': 9 characters, 10 bytes
    expect(environmentBytes({ A: '{"b":1}' })).toBe('{"A":"{\\"b\\":1}"}'.length); // a JSON value's quotes count escaped
  });

  test('schemas that fit synthesize', () => {
    const schemas = { sensors: wideSchema(50) };
    expect(Buffer.byteLength(JSON.stringify(schemas))).toBeGreaterThan(2000);
    expect(ingestVariables(synth(schemas)).DATASET_SCHEMAS).toBe(JSON.stringify(schemas));
  });

  test('schemas that do not fit fail at synth, saying how big the environment is and where big schemas go', () => {
    const schemas = { sensors: wideSchema(80), churn };
    const stack = new MloopStack(inProcessApp(), 'TooBig', { training: { datasetSchemas: schemas } });
    let message = '';
    try {
      Template.fromStack(stack);
    } catch (error) {
      message = (error as Error).message;
    }
    const n = (x: number) => x.toLocaleString('en-US');
    // As they count inside the variable's JSON value: quotes escaped (one more byte each).
    const counted = (value: unknown) => JSON.stringify(value).length + (JSON.stringify(value).match(/"/g) ?? []).length;
    const match = /environment variables take ([\d,]+) bytes, over Lambda's limit of 4 KB \(4,096 bytes/.exec(message);
    expect(match).not.toBeNull();
    expect(Number(match![1].replace(/,/g, ''))).toBeGreaterThan(LAMBDA_ENVIRONMENT_LIMIT_BYTES);
    expect(message).toContain('[TooBig/Ingestion/Ingest]');
    expect(message).toContain(
      `DATASET_SCHEMAS (the datasetSchemas prop) takes ${n(counted(schemas) + '"DATASET_SCHEMAS":"",'.length)} of them (sensors: ${n(counted(schemas.sensors))}, churn: ${n(counted(churn))}).`,
    );
    expect(message).toContain('Drop the big schemas beside the data as datasets/<model>/schema.json instead');
  });
});

describe('the mloop:datasetSchemas context key', () => {
  test('as an object in the context reaches the Ingest function through the app', () => {
    const app = inProcessApp(undefined, { [DATASET_SCHEMAS_CONTEXT_KEY]: { churn } });
    const template = Template.fromStack(buildApp(app));
    expect(ingestVariables(template).DATASET_SCHEMAS).toBe(JSON.stringify({ churn }));
  });

  test('as a path, reads the JSON file relative to the app directory', () => {
    const dir = tempDir('schemas');
    fs.mkdirSync(path.join(dir, 'config'));
    fs.writeFileSync(path.join(dir, 'config', 'schemas.json'), JSON.stringify({ churn }, null, 2));
    expect(datasetSchemasFromContext('config/schemas.json', dir)).toEqual({ churn });
  });

  test('as an absolute path, through the app', () => {
    const file = path.join(tempDir('schemas'), 'schemas.json');
    fs.writeFileSync(file, JSON.stringify({ churn }));
    const template = Template.fromStack(buildApp(inProcessApp(undefined, { [DATASET_SCHEMAS_CONTEXT_KEY]: file })));
    expect(ingestVariables(template).DATASET_SCHEMAS).toBe(JSON.stringify({ churn }));
  });

  test("as JSON text (`-c 'mloop:datasetSchemas={...}'`)", () => {
    expect(datasetSchemasFromContext(JSON.stringify({ churn }), '/nowhere')).toEqual({ churn });
  });

  test('a file that is missing is named, with where relative paths start', () => {
    const dir = tempDir('schemas');
    expect(() => datasetSchemasFromContext('schemas.json', dir)).toThrow(
      `mloop:datasetSchemas: cannot read ${path.join(dir, 'schemas.json')} (ENOENT); expected an object of model names to schemas, or the path of a JSON file with one, relative to ${dir}.`,
    );
  });

  test('a file that is not JSON is named', () => {
    const file = path.join(tempDir('schemas'), 'schemas.json');
    fs.writeFileSync(file, '{"churn": ');
    expect(() => datasetSchemasFromContext(file, '/')).toThrow(new RegExp(`^${file.replace(/[.]/g, '\\.')} is not valid JSON \\(`));
  });

  test('an invalid schema in a file is reported with the file, the model and the field', () => {
    const file = path.join(tempDir('schemas'), 'schemas.json');
    fs.writeFileSync(file, JSON.stringify({ churn: { ...churn, task: 'ranking' } }));
    expect(() => datasetSchemasFromContext(file, '/')).toThrow(
      `${file}.churn is not a valid schema: task: expected 'classification' or 'regression'.`,
    );
  });

  test('an invalid schema given as an object is reported with the context key, the model and the field', () => {
    const app = inProcessApp(undefined, { [DATASET_SCHEMAS_CONTEXT_KEY]: { churn: { ...churn, columns: [] } } });
    expect(() => buildApp(app)).toThrow('mloop:datasetSchemas.churn is not a valid schema: columns: expected at least one column.');
  });
});

describe('DATASET_SCHEMAS at cold start (the Ingest environment contract)', () => {
  const base = { REGISTRY_TABLE: 't', DATA_BUCKET: 'b' };

  test('absent means no schemas', () => {
    expect(loadEnv(ingestEnv, base).DATASET_SCHEMAS).toEqual({});
  });

  test('an invalid schema fails, naming the variable, the model and the field', () => {
    const raw = JSON.stringify({ churn: { ...churn, columns: [{ name: 'churned', type: 'categorical', categories: [] }] } });
    expect(() => loadEnv(ingestEnv, { ...base, DATASET_SCHEMAS: raw })).toThrow(
      "The function's environment does not satisfy its contract: DATASET_SCHEMAS: DATASET_SCHEMAS.churn is not a valid schema: columns[0].categories: expected at least one category.",
    );
  });

  test('text that is not JSON fails, naming the variable', () => {
    expect(() => loadEnv(ingestEnv, { ...base, DATASET_SCHEMAS: '{churn' })).toThrow(/contract: DATASET_SCHEMAS: not valid JSON \(/);
  });
});

describe('which schema a dataset is checked against (chooseSchema)', () => {
  const schema = (target: string): SchemaInput => ({ target, columns: [{ name: target, type: 'categorical', nullable: true }] });
  const uri = 's3://bucket/datasets/churn/schema.json';

  test('a schema.json beside the data wins over the CDK props and the model', () => {
    expect(chooseSchema({ dropped: { schema: schema('a'), uri }, props: schema('b'), model: schema('c') })).toEqual({
      schema: schema('a'),
      strict: true,
      source: uri,
    });
  });

  test("the CDK props' schema wins over the model's, and is enforced as declared", () => {
    expect(chooseSchema({ props: schema('b'), model: schema('c') })).toEqual({ schema: schema('b'), strict: true, source: 'cdk-props' });
  });

  test("the model's schema (fixed by its first dataset) wins over inference", () => {
    expect(chooseSchema({ model: schema('c') })).toEqual({ schema: schema('c'), strict: false, source: 'model' });
  });

  test('with none, the schema is inferred', () => {
    expect(chooseSchema({})).toEqual({ strict: false, source: 'inferred' });
  });
});
