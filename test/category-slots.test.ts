/**
 * CategoryCounter.addInSlot (a value tallied in its CellInterner slot while the counts are exact)
 * counts exactly what add() counts, in the same map order: for few categories, for more values
 * than the interner has slots (slots change hands), past the exact limit (pruned counts), read in
 * the middle, and merged.
 */
import { CellInterner } from '../lambdas/data/cell-interner';
import { ColumnScan } from '../lambdas/data/column-scan';
import { CategoryCounter, NumericStats } from '../lambdas/data/profile';

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff;
    return s / 0x80000000;
  };
}

/** The same values through add() and through an interner and addInSlot(); toJSON of both, read every `readEvery` values. */
function both(values: string[], readEvery = Infinity): { plain: CategoryCounter; slotted: CategoryCounter } {
  const plain = new CategoryCounter();
  const slotted = new CategoryCounter();
  const interner = new CellInterner();
  // Each value inside a longer text, as a field of a line.
  values.forEach((value, i) => {
    plain.add(value);
    const text = `x,${value},y`;
    const cell = interner.get(text, 2, 2 + value.length);
    slotted.addInSlot(cell, interner.slot);
    if ((i + 1) % readEvery === 0) expect(slotted.toJSON()).toEqual(plain.toJSON());
  });
  return { plain, slotted };
}

test('a few categories: the same counts, in the same order', () => {
  const random = lcg(3);
  const colors = ['red', 'green', 'blue', 'black', 'white', ''];
  const values = Array.from({ length: 20_000 }, () => colors[Math.floor(random() * colors.length)]);
  const { plain, slotted } = both(values, 997);
  expect(slotted.toJSON()).toEqual(plain.toJSON());
  expect(slotted.top(3)).toEqual(plain.top(3));
  expect(slotted.profile(0, 4)).toEqual(plain.profile(0, 4));
});

test('more values than slots, long values (not interned), and past the exact limit (pruned)', () => {
  const random = lcg(5);
  // Skewed: a few frequent values, many rare ones (20,000 distinct in all), some over 64 characters.
  const values = Array.from({ length: 120_000 }, () => {
    const r = random();
    if (r < 0.5) return `v${Math.floor(random() * 40)}`;
    if (r < 0.52) return `long-${'z'.repeat(70)}-${Math.floor(random() * 50)}`;
    return `w${Math.floor(random() * 20_000)}`;
  });
  const { plain, slotted } = both(values, 10_007);
  expect(plain.exact).toBe(false);
  expect(slotted.toJSON()).toEqual(plain.toJSON());
  expect(slotted.distinct).toBe(plain.distinct);
  expect(slotted.top(50)).toEqual(plain.top(50));
});

test('merged counters: the same as merging counters of add()', () => {
  const random = lcg(9);
  const make = (n: number) => Array.from({ length: n }, () => `c${Math.floor(random() * 300)}`);
  const first = both(make(5000));
  const second = both(make(7000));
  first.plain.merge(second.plain);
  first.slotted.merge(second.slotted);
  expect(first.slotted.toJSON()).toEqual(first.plain.toJSON());
  // Counting goes on after a merge.
  const more = make(3000);
  const interner = new CellInterner();
  for (const value of more) {
    first.plain.add(value);
    first.slotted.addInSlot(interner.get(value, 0, value.length), interner.slot);
  }
  expect(first.slotted.toJSON()).toEqual(first.plain.toJSON());
});

test("NumericStats keeps each distinct value's count (up to 20, in the order first seen) through JSON and merges", () => {
  const values = [1, 0, -0, 2.5, 1, 1, 0, 3, 2.5];
  const stats = new NumericStats();
  for (const v of values) stats.add(v);
  expect(stats.toJSON().valueCounts).toEqual([
    [1, 3],
    [0, 3],
    [2.5, 2],
    [3, 1],
  ]);
  expect(stats.driftSketch()?.values).toEqual({ '0': 3, '1': 3, '2.5': 2, '3': 1 });
  // Through JSON and a merge with a part of other values.
  const other = new NumericStats();
  for (const v of [3, 4, 5]) other.add(v);
  const merged = NumericStats.fromJSON(stats.toJSON());
  merged.merge(other);
  expect(merged.toJSON().valueCounts).toEqual([
    [1, 3],
    [0, 3],
    [2.5, 2],
    [3, 2],
    [4, 1],
    [5, 1],
  ]);
  // Past 20 distinct values: none kept, alone or merged.
  const many = new NumericStats();
  for (let i = 0; i < 21; i++) many.add(i);
  expect(many.toJSON().valueCounts).toBeNull();
  const nineteen = new NumericStats();
  for (let i = 100; i < 119; i++) nineteen.add(i);
  const both = NumericStats.fromJSON(nineteen.toJSON());
  both.merge(other);
  expect(both.toJSON().valueCounts).toBeNull();
  expect(both.driftSketch()?.values).toBeUndefined();
});

test('a column read from CSV (interned cells, their readings remembered by slot) has the accumulators of the same cells read as strings', () => {
  const random = lcg(11);
  // Categories repeated, dates, numbers, non-finite spellings, blanks and more texts than slots.
  const pool = ['red', 'green', ' blue', '2024-01-05', '2024-02-30', '7', '-1.5', 'inf', 'NaN', '', ' ', 'x'.repeat(70)];
  const cells = Array.from({ length: 6000 }, (_, i) => (random() < 0.2 ? `text${i % 700}` : pool[Math.floor(random() * pool.length)]));
  for (const target of [false, true]) {
    const strings = new ColumnScan('c', 'infer', target, null, null, undefined, 20);
    const interned = new ColumnScan('c', 'infer', target, null, null, undefined, 20);
    const interner = new CellInterner();
    cells.forEach((cell, row) => {
      strings.add(cell, row + 2);
      const text = `a,${cell},b`;
      interned.add(interner.get(text, 2, 2 + cell.length), row + 2, cell.length > 20 ? -1 : interner.slot);
    });
    expect(interned.toJSON()).toEqual(strings.toJSON());
  }
});
