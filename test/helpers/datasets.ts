/**
 * Deterministic tabular datasets for tests, as CSV text. The same (rows, seed) always gives the
 * same bytes, and each target depends on the features strongly enough that a small MLP learns it.
 */
import { parse } from 'csv-parse/sync';
import { prng } from '../../local/demo-data';

/** mulberry32, the seeded PRNG the demo data uses too. */
export const mulberry32 = prng;

/** A standard normal draw (Box-Muller). */
function gaussian(random: () => number): number {
  const u = 1 - random(); // (0, 1], so the log is finite
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function pick<T>(random: () => number, values: readonly T[]): T {
  return values[Math.floor(random() * values.length)];
}

/** A number as a CSV cell, or '' (missing) with the given probability. */
function cell(random: () => number, value: number, missingRate = 0): string {
  return random() < missingRate ? '' : String(Number(value.toFixed(4)));
}

function toCsv(header: string[], rows: string[][]): string {
  const quote = (value: string) => (/[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);
  return [header, ...rows].map((row) => row.map(quote).join(',')).join('\n') + '\n';
}

export const COLORS = ['red', 'green', 'blue'] as const;
export const SPECIES = ['setosa', 'versicolor', 'virginica'] as const;

/**
 * Binary classification: numeric x1, x2, x3 (about 5% of x1 and x2 missing), categorical
 * `color`, target `label` in {0, 1}. The label is a noisy linear rule, about 95% learnable.
 */
export function binaryClassificationCsv(rows: number, seed: number): string {
  const random = mulberry32(seed);
  const colorEffect: Record<string, number> = { red: 1.5, green: -1.5, blue: 0 };
  const out: string[][] = [];
  for (let i = 0; i < rows; i++) {
    const x1 = gaussian(random);
    const x2 = gaussian(random) * 3 + 10; // off-centre and wide: standardization matters
    const x3 = random() * 100;
    const color = pick(random, COLORS);
    const score = 2 * x1 - (x2 - 10) / 1.5 + colorEffect[color] + 0.2 * gaussian(random);
    out.push([cell(random, x1, 0.05), cell(random, x2, 0.05), cell(random, x3), color, score > 0 ? '1' : '0']);
  }
  return toCsv(['x1', 'x2', 'x3', 'color', 'label'], out);
}

/**
 * Three-class classification: numeric petal_length, petal_width, sepal_length, categorical
 * `region`, target `species` in {setosa, versicolor, virginica} from well separated clusters.
 */
export function multiclassCsv(rows: number, seed: number): string {
  const random = mulberry32(seed);
  const centres = [
    [1.5, 0.3, 5.0],
    [4.3, 1.3, 5.9],
    [5.6, 2.0, 6.6],
  ];
  const out: string[][] = [];
  for (let i = 0; i < rows; i++) {
    const k = Math.floor(random() * 3);
    const [length, width, sepal] = centres[k];
    out.push([
      cell(random, length + 0.35 * gaussian(random)),
      cell(random, width + 0.15 * gaussian(random), 0.03),
      cell(random, sepal + 0.4 * gaussian(random)),
      pick(random, ['north', 'south']),
      SPECIES[k],
    ]);
  }
  return toCsv(['petal_length', 'petal_width', 'sepal_length', 'region', 'species'], out);
}

/**
 * Regression: numeric area, rooms, age (about 5% of age missing), categorical `city`, target
 * `price` = linear in the features plus the city's premium plus noise (noise std 5,000 against a
 * target std of about 60,000).
 */
export function regressionCsv(rows: number, seed: number): string {
  const random = mulberry32(seed);
  const premium: Record<string, number> = { paris: 80000, lyon: 30000, lille: 0 };
  const out: string[][] = [];
  for (let i = 0; i < rows; i++) {
    const area = 30 + random() * 120;
    const rooms = 1 + Math.floor(random() * 5);
    const age = random() * 80;
    const city = pick(random, Object.keys(premium));
    const price = 50000 + 1200 * area + 8000 * rooms - 500 * age + premium[city] + 5000 * gaussian(random);
    out.push([cell(random, area), String(rooms), cell(random, age, 0.05), city, price.toFixed(2)]);
  }
  return toCsv(['area', 'rooms', 'age', 'city', 'price'], out);
}

/** CSV text (with a header row) as one record per row, every value a string. */
export function parseCsv(text: string): Record<string, string>[] {
  return parse(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
}
