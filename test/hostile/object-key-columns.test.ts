/**
 * Issue 18, finding 7: columns named like the members every JavaScript object has
 * (`__proto__`, `constructor`, `hasOwnProperty`, `toString`) are ordinary columns. A dataset
 * whose features carry those names trains, is evaluated on its test split with the same features
 * the trainer saw (a dropped column would show as a test accuracy far under validation's), and is
 * served through the local API.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { predictThroughApi, readInstances } from '../../bin/cli';
import type { ModelCard } from '../../lambdas/shared/types';
import { binaryClassificationCsv } from '../helpers/datasets';
import { getObjectJson, splitUri, startCloud, stopCloud, trainModel, type TestCloud } from '../helpers/cloud';

jest.setTimeout(240_000);

const MODEL = 'object-keys';
const RENAMED: ReadonlyMap<string, string> = new Map([
  ['x1', '__proto__'],
  ['x2', 'constructor'],
  ['x3', 'toString'],
  ['color', 'hasOwnProperty'],
]);

/** The classification dataset with its feature columns renamed. */
function renamedCsv(rows: number, seed: number): string {
  const [header, ...lines] = binaryClassificationCsv(rows, seed).split('\n');
  const renamed = header.split(',').map((name) => RENAMED.get(name) ?? name);
  return [renamed.join(','), ...lines].join('\n');
}

/** An instance keyed by the renamed columns: `__proto__` as an own key, as JSON.parse makes it. */
const instance = (x1: number, x2: number, color: string): Record<string, unknown> =>
  Object.fromEntries([
    ['__proto__', x1],
    ['constructor', x2],
    ['toString', 50],
    ['hasOwnProperty', color],
  ]);

let t: TestCloud;

beforeAll(async () => {
  t = await startCloud();
}, 60_000);
afterAll(() => stopCloud(t), 60_000);

test('a dataset whose columns are named __proto__, constructor, toString and hasOwnProperty trains, evaluates and serves', async () => {
  const report = await trainModel(t, MODEL, renamedCsv(600, 31), 'label');
  const version = (await t.registry.versions.get(MODEL, report.modelVersion!))!;
  const card = await getObjectJson<ModelCard>(...(Object.values(splitUri(version.artifact.cardUri)) as [string, string]));

  // The model learned from every renamed column...
  expect(card.features.map((f) => f.name).sort()).toEqual(['__proto__', 'constructor', 'hasOwnProperty', 'toString']);
  // ...and the test split was scored with them: a dropped column costs 0.2 to 0.3 of accuracy.
  expect(card.validationMetrics.accuracy).toBeGreaterThan(0.85);
  expect(report.metrics!.accuracy).toBeGreaterThan(card.validationMetrics.accuracy - 0.08);
  expect(report.promoted).toBe(true);

  // Served: clear cases on either side of the rule get the right label.
  const body = JSON.stringify({ instances: [instance(2.5, 6, 'red'), instance(-2.5, 14, 'green')] });
  expect(body).toContain('"__proto__":2.5');
  const res = await predictThroughApi(t.cloud, MODEL, JSON.parse(body));
  expect(res.statusCode).toBe(200);
  expect(JSON.parse(res.body).predictions.map((p: { label: string }) => p.label)).toEqual(['1', '0']);
  // A missing `constructor` is missing, not Object.prototype.constructor; null is a missing value.
  const { constructor: _dropped, ...without } = JSON.parse(body).instances[0] as Record<string, unknown>;
  const missing = await predictThroughApi(t.cloud, MODEL, { instances: [without] });
  expect(missing.statusCode).toBe(400);
  expect(JSON.parse(missing.body).problems).toEqual([
    { index: 0, field: 'constructor', message: "instances[0] is missing feature 'constructor' (send null for a missing value)." },
  ]);
  const asNull = await predictThroughApi(t.cloud, MODEL, { instances: [{ ...without, ...Object.fromEntries([['constructor', null]]) }] });
  expect(asNull.statusCode).toBe(200);
});

test("the CLI's CSV input keeps a column named __proto__", async () => {
  const file = path.join(t.home, 'instances.csv');
  fs.writeFileSync(file, '__proto__,constructor,toString,hasOwnProperty\n2.5,6,50,red\n');
  const card = { features: [...RENAMED.values()].map((name) => ({ name, type: name === 'hasOwnProperty' ? 'categorical' : 'numeric' })) };
  const payload = (await readInstances(file, card as unknown as ModelCard)) as { instances: Record<string, unknown>[] };
  expect(Object.keys(payload.instances[0]).sort()).toEqual(['__proto__', 'constructor', 'hasOwnProperty', 'toString']);
  expect(Object.getOwnPropertyDescriptor(payload.instances[0], '__proto__')?.value).toBe(2.5);
  expect(Object.getPrototypeOf(payload.instances[0])).toBe(Object.prototype);
});
