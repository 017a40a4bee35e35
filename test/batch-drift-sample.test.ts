/**
 * The drift sample a batch part keeps (lambdas/batch/capture-sample.ts): Li's algorithm L over a
 * part's scored rows, seeded, in slots; a part's share of the run's cap. Pure: the parts scored
 * with it end to end are in test/batch-scoring.test.ts.
 */
import { Reservoir, partSampleSize } from '../lambdas/batch/capture-sample';

describe('the drift sample', () => {
  const offerAll = (reservoir: Reservoir, rows: number) => {
    const inSlot: number[] = [];
    for (let line = 1; line <= rows; line++) {
      const slot = reservoir.slotFor(line);
      if (slot !== -1) inSlot[slot] = line;
    }
    reservoir.collect((slot) => ({ values: { x: inSlot[slot] }, prediction: { value: inSlot[slot] } }));
    return reservoir.sample();
  };

  test('keeps at most its size, in input order, the same rows for the same seed and others for another', () => {
    const a = offerAll(new Reservoir(100, 'run-1/0'), 10_000);
    const again = offerAll(new Reservoir(100, 'run-1/0'), 10_000);
    const other = offerAll(new Reservoir(100, 'run-1/1'), 10_000);
    expect(a).toHaveLength(100);
    expect(a.map((r) => r.line)).toEqual([...a.map((r) => r.line)].sort((x, y) => x - y));
    expect(again).toEqual(a);
    expect(other.map((r) => r.line)).not.toEqual(a.map((r) => r.line));
  });

  test('gives slots as scorePart asks, one per row while filling, then few: it builds only the rows still kept at the end', () => {
    const asked = new Reservoir(100, 'run-1/0');
    const inSlot: number[] = [];
    let kept = 0;
    for (let line = 1; line <= 10_000; line++) {
      const slot = asked.slotFor(line);
      if (slot === -1) continue;
      expect(slot).toBeGreaterThanOrEqual(0);
      expect(slot).toBeLessThan(100);
      if (line <= 100) expect(slot).toBe(line - 1);
      inSlot[slot] = line;
      kept++;
    }
    // About 100 * (1 + ln(10,000 / 100)) rows are kept for a while, far fewer than offered.
    expect(kept).toBeGreaterThan(100);
    expect(kept).toBeLessThan(1000);
    expect(asked.sample()).toEqual([]);
    const built: number[] = [];
    asked.collect((slot) => {
      built.push(slot);
      return { values: { x: inSlot[slot] }, prediction: { value: inSlot[slot] } };
    });
    // Each slot built once, and each row the line last given its slot.
    expect([...built].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(asked.sample()).toEqual(offerAll(new Reservoir(100, 'run-1/0'), 10_000));
    expect(asked.sample().every((r) => r.instance.x === r.line)).toBe(true);
  });

  test('every row has the same chance, size / rows, first, middle and last alike (algorithm L, checked over 4,000 seeds)', () => {
    const seeds = 4000;
    const rows = 100;
    const size = 10;
    const counts = new Array<number>(rows + 1).fill(0);
    for (let s = 0; s < seeds; s++) for (const row of offerAll(new Reservoir(size, `seed-${s}`), rows)) counts[row.line]++;
    // Each line is kept 400 times on average (4,000 * 10 / 100), standard deviation about 19.
    const expected = (seeds * size) / rows;
    const sd = Math.sqrt(seeds * (size / rows) * (1 - size / rows));
    for (let line = 1; line <= rows; line++)
      expect({ line, off: Math.abs(counts[line] - expected) < 4.5 * sd }).toEqual({ line, off: true });
    // And over all lines together (chi-square with 99 degrees of freedom: 99 on average, 150 is far in its tail).
    const chi = counts.slice(1).reduce((sum, n) => sum + (n - expected) ** 2 / sd ** 2, 0);
    expect(chi).toBeLessThan(150);
  });

  test('is spread over the whole part, not its first rows', () => {
    const lines = offerAll(new Reservoir(500, 'spread'), 100_000).map((r) => r.line);
    const mean = lines.reduce((s, l) => s + l, 0) / lines.length;
    // A uniform sample's mean is 50,000 with a standard error of about 1,300.
    expect(Math.abs(mean - 50_000)).toBeLessThan(6_000);
    expect(lines.filter((l) => l > 90_000).length).toBeGreaterThan(20);
  });

  test('a small file is captured whole; the cap is shared between parts; 0 captures nothing', () => {
    expect(offerAll(new Reservoir(partSampleSize(10_000, 1), 's'), 30)).toHaveLength(30);
    expect(partSampleSize(10_000, 3)).toBe(3334);
    expect(partSampleSize(0, 3)).toBe(0);
    expect(offerAll(new Reservoir(partSampleSize(0, 1), 's'), 30)).toHaveLength(0);
  });
});
