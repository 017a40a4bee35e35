/** diffDatasets: schema changes and per-column distribution changes between two dataset versions. */
import { scanDataset } from '../lambdas/data/scan';
import type { ScanResult } from '../lambdas/data/scan-types';
import { PSI_SHIFT, diffDatasets, rebin } from '../lambdas/data/diff';
import { chunks, tableCsv, type Cell } from './helpers/dataset-files';

async function scanRows(rows: Cell[][], header = ['x', 'color', 'target']): Promise<ScanResult> {
  const result = await scanDataset(chunks(tableCsv({ header, rows }), 4096), { fileName: 'd.csv' });
  expect(result.violations).toEqual([]);
  return result;
}

const side = (version: number, r: ScanResult) => ({ version, schema: r.schema, profile: r.profile });

function rows(n: number, f: (i: number) => Cell[]): Cell[][] {
  return Array.from({ length: n }, (_, i) => f(i));
}

describe('rebin', () => {
  test('spreads each bin evenly over the bins it overlaps; outer bins are open', () => {
    expect(rebin({ edges: [0, 10, 20], counts: [10, 20] }, [0, 5, 15, 20])).toEqual([5, 15, 10]);
    // Below and above the target edges: the first and last bins.
    expect(rebin({ edges: [-10, 0, 30], counts: [4, 6] }, [0, 10, 20])).toEqual([4 + 2, 4]);
    // A one-value bin moves whole.
    expect(rebin({ edges: [7, 7], counts: [9] }, [0, 5, 10])).toEqual([0, 9]);
  });
});

describe('diffDatasets', () => {
  test('the same data: no schema change, PSI 0 on the same edges', async () => {
    const r = await scanRows(rows(200, (i) => [i % 50, ['red', 'green', 'blue'][i % 3], i % 2]));
    const diff = diffDatasets(side(1, r), side(2, r));
    expect(diff.schemaChanges).toEqual([]);
    expect(diff.shifted).toEqual([]);
    expect(diff.rows).toEqual({ a: 200, b: 200, delta: 0 });
    const x = diff.columns.find((c) => c.column === 'x')!;
    expect(x).toMatchObject({ kind: 'numeric', psi: 0, psiMethod: 'same_edges', shifted: false, mean: { delta: 0 } });
  });

  test('a shifted numeric column: deltas, a re-binned PSI above the threshold', async () => {
    const a = await scanRows(rows(400, (i) => [i % 100, 'red', i % 2]));
    const b = await scanRows(rows(300, (i) => [50 + (i % 100), 'red', i % 2]));
    const diff = diffDatasets(side(1, a), side(2, b));
    const x = diff.columns.find((c) => c.column === 'x')!;
    expect(x.kind).toBe('numeric');
    expect(x.psiMethod).toBe('rebinned');
    expect(x.psi).toBeGreaterThan(PSI_SHIFT);
    expect(x.mean!.delta).toBeCloseTo(50, 6);
    expect(x.count).toEqual({ a: 400, b: 300, delta: -100 });
    expect(diff.shifted).toEqual(['x']);
    expect(diff.rows.delta).toBe(-100);
  });

  test('category share changes, largest first, and their PSI', async () => {
    const a = await scanRows(rows(300, (i) => [i, ['red', 'green', 'blue'][i % 3], i % 2]));
    const b = await scanRows(rows(300, (i) => [i, i % 10 === 0 ? 'blue' : 'red', i % 2]));
    const color = diffDatasets(side(1, a), side(2, b)).columns.find((c) => c.column === 'color')!;
    expect(color.kind).toBe('categorical');
    expect(color.psiMethod).toBe('categories');
    expect(color.psi).toBeGreaterThan(PSI_SHIFT);
    expect(color.categories![0].value).toBe('red');
    expect(color.categories![0].a).toBeCloseTo(1 / 3, 6);
    expect(color.categories![0].b).toBeCloseTo(0.9, 6);
    expect(color.categories!.map((c) => c.value)).toEqual(['red', 'green', 'blue']);
    expect(color.distinct).toEqual({ a: 3, b: 2, delta: -1 });
  });

  test('schema changes: added and removed columns, a type change, missing shares', async () => {
    const a = await scanRows(
      rows(100, (i) => [i, 'red', i % 2, i % 7]),
      ['x', 'color', 'target', 'old'],
    );
    const b = await scanRows(
      rows(100, (i) => [i % 4 === 0 ? null : `c${i % 5}`, 'red', i % 2, 1]),
      ['x', 'color', 'target', 'new'],
    );
    const diff = diffDatasets(side(1, a), side(2, b));
    expect(diff.schemaChanges).toEqual([
      { column: 'old', change: 'removed', type: 'numeric' },
      { column: 'new', change: 'added', type: 'numeric' },
      { column: 'x', change: 'type', from: 'numeric', to: 'categorical' },
      { column: 'x', change: 'nullable', from: false, to: true },
    ]);
    const x = diff.columns.find((c) => c.column === 'x')!;
    expect(x).toMatchObject({ kind: 'changed', psi: null, missing: { a: 0, b: 25, delta: 25 }, missingShare: { a: 0, b: 0.25 } });
  });
});
