/**
 * The registry at DynamoDB's 400 KB item limit and Step Functions' 256 KiB state limit, against
 * the local emulators: a 1,000-column schema of 1,000 categories each round-trips through S3 with
 * a hash in the model's META item; a 1,000-class evaluation's details reach the version's report
 * through S3 while Register's answer and the items it writes stay small.
 */
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { register } from '../lambdas/registry/register';
import { dynamoClient } from '../lambdas/shared/clients';
import { registryKeys, s3Keys, s3Uri } from '../lambdas/shared/layout';
import type { ClassificationDetails, EvaluationReport } from '../lambdas/shared/pipeline';
import { DYNAMODB_ITEM_LIMIT_BYTES, itemBytes, valueBytes } from '../lambdas/shared/registry/item-size';
import { INLINE_SCHEMA_MAX_BYTES, isSchemaReference } from '../lambdas/shared/registry/models';
import { STAGE_OUTPUT_BUDGET_BYTES, jsonBytes } from '../lambdas/shared/state-payload';
import type { DatasetSchema } from '../lambdas/shared/types';
import { getObjectJson, putObject, splitUri, startCloud, stopCloud, type TestCloud } from './helpers/cloud';
import { registerFixture, registryEnv } from './helpers/registry';

jest.setTimeout(120_000);

let t: TestCloud;

beforeAll(async () => {
  t = await startCloud();
}, 120_000);

afterAll(async () => {
  await stopCloud(t);
}, 60_000);

/** The stored item, keys included, as DynamoDB holds it. */
async function rawItem(model: string, sk: string): Promise<Record<string, unknown>> {
  const out = await dynamoClient().send(new GetCommand({ TableName: t.cloud.registryTable, Key: { pk: registryKeys.pk(model), sk } }));
  return out.Item!;
}

/** A schema of `columns` categorical columns of `categories` categories each (and a target). */
function wideSchema(columns: number, categories: number): DatasetSchema {
  return {
    columns: [
      ...Array.from({ length: columns }, (_, c) => ({
        name: `column_${String(c).padStart(4, '0')}`,
        type: 'categorical' as const,
        nullable: true,
        categories: Array.from({ length: categories }, (__, i) => `category-${String(i).padStart(4, '0')}`),
      })),
      { name: 'label', type: 'categorical' as const, nullable: false },
    ],
    target: 'label',
    task: 'classification',
    classes: ['no', 'yes'],
  };
}

describe("a model's schema and DynamoDB's 400 KB item", () => {
  test('item sizes count names and values as DynamoDB does', () => {
    expect(itemBytes({ pk: 'MODEL#m', n: 1, b: true, l: ['ab', 'c'] })).toBe(2 + 7 + 1 + 21 + 1 + 1 + 1 + (3 + 1 + 2 + 1 + 1));
    expect(valueBytes({ é: 'é' })).toBe(3 + 1 + 2 + 2);
  });

  test('1,000 columns of 1,000 categories: stored in S3 with its hash, the item stays small, the schema round-trips', async () => {
    const model = 'wide-schema';
    const schema = wideSchema(1000, 1000);
    expect(valueBytes(schema)).toBeGreaterThan(20 * DYNAMODB_ITEM_LIMIT_BYTES); // inline, it could never be written

    await t.registry.models.nextNumber(model, 'datasetCounter');
    const fixed = await t.registry.models.fixSchema(model, schema, 1, t.cloud.dataBucket);
    expect(fixed).toEqual(schema);

    const item = await rawItem(model, registryKeys.meta);
    expect(itemBytes(item)).toBeLessThan(1024);
    expect(itemBytes(item)).toBeLessThan(DYNAMODB_ITEM_LIMIT_BYTES);
    const stored = item.schema as DatasetSchema;
    expect(isSchemaReference(stored)).toBe(true);
    expect(item.schema).toMatchObject({ s3Uri: s3Uri(t.cloud.dataBucket, s3Keys.modelSchema(model, 1)), columns: 1001 });
    expect(item.schema).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });

    // Every reader goes through schemaOf: the schema comes back whole.
    expect(await t.registry.models.schemaOf(await t.registry.models.get(model))).toEqual(schema);
    // A later dataset leaves the fixed schema as it is.
    expect(await t.registry.models.fixSchema(model, wideSchema(2, 2), 2, t.cloud.dataBucket)).toEqual(schema);
  });

  test('a schema at the inline limit stays in the item; one category more goes to S3', async () => {
    // Grow a schema's categories until it is the largest that stays inline.
    const schema = wideSchema(10, 0) as { columns: { categories?: string[] }[] } & DatasetSchema;
    let i = 0;
    while (valueBytes(schema) <= INLINE_SCHEMA_MAX_BYTES) schema.columns[i++ % 10].categories!.push(`c${i}`.padEnd(20, 'x'));
    const over = structuredClone(schema);
    schema.columns[(i - 1) % 10].categories!.pop();
    expect(valueBytes(schema)).toBeLessThanOrEqual(INLINE_SCHEMA_MAX_BYTES);
    expect(valueBytes(over)).toBeGreaterThan(INLINE_SCHEMA_MAX_BYTES);

    for (const [model, s, inline] of [
      ['at-limit', schema, true],
      ['over-limit', over, false],
    ] as const) {
      await t.registry.models.nextNumber(model, 'datasetCounter');
      await t.registry.models.fixSchema(model, s, 1, t.cloud.dataBucket);
      const item = await rawItem(model, registryKeys.meta);
      expect([model, isSchemaReference(item.schema as DatasetSchema)]).toEqual([model, !inline]);
      expect(itemBytes(item)).toBeLessThan(DYNAMODB_ITEM_LIMIT_BYTES);
      expect(await t.registry.models.schemaOf(await t.registry.models.get(model))).toEqual(s);
    }
  });

  test('a schema object changed after it was fixed is refused, naming the model, the object and both hashes', async () => {
    const model = 'tampered';
    await t.registry.models.nextNumber(model, 'datasetCounter');
    await t.registry.models.fixSchema(model, wideSchema(300, 100), 1, t.cloud.dataBucket);
    const key = s3Keys.modelSchema(model, 1);
    await putObject(t.cloud.dataBucket, key, JSON.stringify(wideSchema(300, 99)));
    await expect(t.registry.models.schemaOf(await t.registry.models.get(model))).rejects.toThrow(
      new RegExp(
        `^The schema of model 'tampered' at s3://${t.cloud.dataBucket}/${key} has SHA-256 [0-9a-f]{64}, not the [0-9a-f]{64} its registry item holds`,
      ),
    );
  });

  test('an item written before schemas could move (the schema inline) reads as before', async () => {
    const model = 'inline-legacy';
    await t.registry.models.nextNumber(model, 'datasetCounter');
    const schema = wideSchema(3, 3);
    await dynamoClient().send(
      new UpdateCommand({
        TableName: t.cloud.registryTable,
        Key: { pk: registryKeys.pk(model), sk: registryKeys.meta },
        UpdateExpression: 'SET #s = :s',
        ExpressionAttributeNames: { '#s': 'schema' },
        ExpressionAttributeValues: { ':s': schema },
      }),
    );
    expect(await t.registry.models.schemaOf(await t.registry.models.get(model))).toEqual(schema);
  });
});

describe('a 1,000-class evaluation through Register', () => {
  test("the details reach the version's report from S3; Register's answer and its items stay small", async () => {
    const model = 'thousand-classes';
    const execution = 'exec-1000';
    const input = await registerFixture(t, model, execution);
    const labels = Array.from({ length: 1000 }, (_, i) => `class-${i}`);
    const candidate: ClassificationDetails = {
      labels,
      confusionMatrix: labels.map((_, i) => labels.map((__, j) => (i === j ? 7 : 1))),
      perClass: labels.map((label) => ({ label, precision: 0.5, recall: 0.5, f1: 0.5, support: 1006, predicted: 1006 })),
    };
    const { details: _inline, ...summary } = input.evaluation;
    const report: EvaluationReport = { ...summary, details: { candidate, champion: null } };
    const reportKey = s3Keys.candidateEvaluation(model, execution);
    await putObject(t.cloud.dataBucket, reportKey, JSON.stringify(report));
    const evaluation = { ...summary, reportUri: s3Uri(t.cloud.dataBucket, reportKey) };
    expect(jsonBytes(report)).toBeGreaterThan(2 * 256 * 1024);

    const out = await register({ ...input, evaluation }, registryEnv(t));

    expect(jsonBytes(out)).toBeLessThan(STAGE_OUTPUT_BUDGET_BYTES);
    const version = await t.registry.versions.get(model, out.modelVersion);
    const { bucket, key } = splitUri(version!.artifact.evaluationUri);
    const stored = await getObjectJson<EvaluationReport & { version: number; reportUri?: string }>(bucket, key);
    expect(stored.version).toBe(out.modelVersion);
    expect(stored.details.candidate).toEqual(candidate);
    expect(stored.reportUri).toBeUndefined();
    for (const sk of [registryKeys.version(out.modelVersion), registryKeys.meta, registryKeys.run(execution)]) {
      expect([sk, itemBytes(await rawItem(model, sk)) < DYNAMODB_ITEM_LIMIT_BYTES]).toEqual([sk, true]);
    }
  });
});
