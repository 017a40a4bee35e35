/**
 * Issue 18, finding 10: a category value has a documented maximum length (1,000 characters by
 * default, maxCategoryLength raises it). At ingestion a longer value in a categorical column (or
 * the target) is a category_too_long violation naming the file, the rows, the column, the limit
 * and the setting, and the scan never keeps the whole value; free text (not a feature) may be
 * longer. At the API a longer value of a categorical feature is a 400 naming the instance and the
 * field, and a long field that is not a feature is cut before it is captured.
 */
import { scanDataset } from '../../lambdas/data/scan';
import { DEFAULT_MAX_CATEGORY_LENGTH } from '../../lambdas/data/scan-types';
import { validateInstances } from '../../lambdas/inference/validate';
import { boundedInstance } from '../../lambdas/shared/category-limit';
import { ingestEnv, predictEnv } from '../../lambdas/shared/env';
import { RequestInvalid } from '../../lambdas/shared/errors';
import type { ModelCard } from '../../lambdas/shared/types';
import { chunks } from '../helpers/dataset-files';

const SETTING =
  "the ingestion setting maxCategoryLength (the stack's training.maxCategoryLength prop; MAX_CATEGORY_LENGTH on the Ingest function)";
const HUGE = 'x'.repeat(5 * 1024 * 1024);

/** 30 rows of a categorical `plan` and a numeric `x`; `plan` of row `at` (0-based data row) is `value`. */
const csvWith = (value: string, at: number): string => {
  const rows = Array.from({ length: 30 }, (_, i) => `${i === at ? value : ['basic', 'pro', 'team'][i % 3]},${i},${i % 2}`);
  return ['plan,x,target', ...rows].join('\n') + '\n';
};

test('the default is 1,000 characters, the same in the Ingest and Predict contracts', () => {
  expect(DEFAULT_MAX_CATEGORY_LENGTH).toBe(1000);
  expect(ingestEnv.parse({ REGISTRY_TABLE: 't', DATA_BUCKET: 'b' }).MAX_CATEGORY_LENGTH).toBe(1000);
  expect(predictEnv.parse({ REGISTRY_TABLE: 't', DATA_BUCKET: 'b' }).MAX_CATEGORY_LENGTH).toBe(1000);
});

test('a 5 MB category value is a category_too_long violation naming the file, row, column, limit and setting', async () => {
  const result = await scanDataset(chunks(csvWith(HUGE, 6), 64 * 1024), { fileName: 'big-category.csv' });
  expect(result.accepted).toBe(false);
  const violation = result.violations.find((v) => v.check === 'category_too_long');
  expect(violation).toEqual({
    check: 'category_too_long',
    column: 'plan',
    count: 1,
    exampleRows: [8],
    message: `Column 'plan' in big-category.csv has 1 category value longer than the limit of 1000 characters (row 8; the longest has ${HUGE.length}), such as '${'x'.repeat(40)}...'; expected categories of at most 1000 characters (${SETTING} raises it).`,
  });
  // Nothing the scan answers (schema, profile, messages) holds the value whole.
  expect(JSON.stringify(result).length).toBeLessThan(20_000);
});

test('a class label over the limit is a violation of the target column', async () => {
  const csv = ['x,target', ...Array.from({ length: 20 }, (_, i) => `${i},${i === 3 ? 'y'.repeat(1001) : ['a', 'b'][i % 2]}`)].join('\n');
  const result = await scanDataset(chunks(csv, 4096), { fileName: 'labels.csv' });
  const violation = result.violations.find((v) => v.check === 'category_too_long');
  expect(violation?.column).toBe('target');
  expect(violation?.message).toMatch(
    /^Target column 'target' in labels.csv has 1 category value longer than the limit of 1000 characters \(row 5;/,
  );
});

test('exactly the limit is accepted; maxCategoryLength raises it', async () => {
  const at = await scanDataset(chunks(csvWith('a'.repeat(1000), 6), 4096), { fileName: 'at.csv' });
  expect(at.violations.filter((v) => v.check === 'category_too_long')).toEqual([]);
  const raised = await scanDataset(chunks(csvWith('a'.repeat(5000), 6), 4096), { fileName: 'raised.csv', maxCategoryLength: 5000 });
  expect(raised.violations.filter((v) => v.check === 'category_too_long')).toEqual([]);
  const over = await scanDataset(chunks(csvWith('a'.repeat(5001), 6), 4096), { fileName: 'over.csv', maxCategoryLength: 5000 });
  expect(over.violations.map((v) => v.check)).toContain('category_too_long');
});

test('free text longer than the limit is not a category: the column is excluded, not refused', async () => {
  const rows = Array.from({ length: 40 }, (_, i) => `${i},${i % 2},"${`review ${i} `.repeat(150)}"`);
  const result = await scanDataset(chunks(['x,target,review', ...rows].join('\n') + '\n', 4096), { fileName: 'reviews.csv' });
  expect(result.violations).toEqual([]);
  expect(result.schema.columns.find((c) => c.name === 'review')?.excluded).toBe('free_text');
});

describe('the prediction API', () => {
  const card: ModelCard = {
    formatVersion: 2,
    task: 'classification',
    target: 'target',
    classes: ['0', '1'],
    features: [
      { name: 'x', type: 'numeric' },
      { name: 'plan', type: 'categorical', categories: ['basic', 'pro'] },
    ],
    ignoredColumns: [{ name: 'review', reason: 'free_text' }],
    hyperparameters: {},
    validationMetrics: {},
    trainingSeconds: 1,
    epochs: 1,
    device: 'cpu',
    framework: 'pytorch',
  };

  test('a category value over the limit is a 400 naming the instance index and the field', () => {
    const payload = {
      instances: [
        { x: 1, plan: 'pro' },
        { x: 2, plan: HUGE },
      ],
    };
    let error: unknown;
    try {
      validateInstances(payload, card, 1000);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RequestInvalid);
    expect((error as RequestInvalid).problems).toEqual([
      {
        index: 1,
        field: 'plan',
        message: `instances[1].plan is ${HUGE.length} characters long ('${'x'.repeat(40)}...'): a category may have at most 1000 characters (the setting maxCategoryLength).`,
      },
    ]);
    expect(validateInstances({ instances: [{ x: 1, plan: 'p'.repeat(1000) }] }, card, 1000)).toHaveLength(1);
    expect(() => validateInstances({ instances: [{ x: 1, plan: 'p'.repeat(1001) }] }, card, 1000, 2000)).not.toThrow();
  });

  test('a long field that is not a feature is cut before it is captured', () => {
    const instance = { x: 1, plan: 'pro', review: HUGE };
    const captured = boundedInstance(instance, 1000);
    expect(captured).toEqual({ x: 1, plan: 'pro', review: `${'x'.repeat(1000)}\u2026(${HUGE.length} characters)` });
    expect(instance.review).toBe(HUGE);
    const short = { x: 1, plan: 'pro' };
    expect(boundedInstance(short, 1000)).toBe(short);
  });
});
