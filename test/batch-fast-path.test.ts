/**
 * Batch scoring's cell encoder (lambdas/batch/cell-encoder.ts) against the per-row path it
 * stands in for (cell values, the API's instance check, ModelRuntime's encoding): on generated
 * rows with missing values, blanks, bad and out-of-range numbers, boolean spellings, unknown
 * categories, bad dates, extra, duplicate, reordered and missing columns, it must accept exactly
 * the rows the per-row path accepts and give them the same inputs to the graph.
 */
import { CellEncoder } from '../lambdas/batch/cell-encoder';
import { ObjectEncoder } from '../lambdas/batch/object-encoder';
import { csvTokenizer } from '../lambdas/data/readers/csv';
import { csvField, csvLine } from '../lambdas/data/splits';
import { spreadsheetSafe } from '../lambdas/shared/spreadsheet-safe';
import { cellValues } from '../lambdas/batch/part-rows';
import { instanceChecker } from '../lambdas/inference/validate';
import { InstanceEncoder } from '../lambdas/shared/model-runtime';
import { prng } from '../lambdas/shared/prng';
import type { ModelCard } from '../lambdas/shared/types';

const card: ModelCard = {
  formatVersion: 2,
  task: 'classification',
  target: 'churned',
  classes: ['no', 'yes'],
  features: [
    { name: 'age', type: 'numeric' },
    { name: 'plan', type: 'categorical', categories: ['basic', 'pro', 'max'] },
    { name: 'amount', type: 'numeric' },
    { name: 'signup.hour', type: 'numeric', derivedFrom: { column: 'signup', part: 'hour' } },
    { name: 'signup.dow', type: 'numeric', derivedFrom: { column: 'signup', part: 'dow' } },
    { name: 'active', type: 'numeric', boolean: ['no', 'yes'] },
    { name: 'city', type: 'categorical', categories: [] },
    { name: 'paid.month', type: 'numeric', derivedFrom: { column: 'paid', part: 'month', format: 'DD/MM/YYYY' } },
    { name: 'paid.doy_sin', type: 'numeric', derivedFrom: { column: 'paid', part: 'doy_sin', format: 'DD/MM/YYYY' } },
  ],
  hyperparameters: {},
  validationMetrics: {},
  trainingSeconds: 0,
  epochs: 0,
  device: 'cpu',
  framework: 'pytorch',
} as unknown as ModelCard;

const NUMBERS = [
  '12',
  '-3.5',
  ' 7 ',
  '1e3',
  '0x1A',
  '.5',
  '5.',
  '-0',
  '3.4e38',
  '1e39',
  '-1e39',
  'Infinity',
  'NaN',
  'abc',
  '1_000',
  '1,5',
  '',
  '  ',
];
const CELLS: Record<string, string[]> = {
  age: NUMBERS,
  amount: NUMBERS,
  active: ['yes', 'no', ' yes', 'YES', '1', '0', '', 'maybe', '2.5'],
  plan: ['basic', 'pro', 'max', 'Pro', ' basic', '', ' ', 'gold', '__proto__', 'constructor'],
  city: ['Paris', '', 'x,y', 'Zürich', '  ', '0', 'c'.repeat(1001), ` ${'c'.repeat(1000)}`],
  signup: ['2024-05-01T12:30:00Z', '2024-05-01', '2024-05-01T23:59:59+02:00', '', ' ', 'not a date', '2024-13-40', ' 2024-05-01 '],
  paid: ['01/02/2024', '31/12/2023', '2024-02-01', '', '32/01/2024', 'x'],
  id: ['1', '', 'a'],
  note: ['=1+1', '', 'text', '-5', '+2.5', '-x', '@a', '\tb', 'a"b', 'é'],
};

/** A header: the input columns, extra ones, sometimes a feature's column missing or twice, in a shuffled order. */
function headerOf(random: () => number): string[] {
  const columns = ['age', 'amount', 'active', 'plan', 'city', 'signup', 'paid', 'id', 'note'];
  if (random() < 0.15) columns.splice(Math.floor(random() * 7), 1);
  if (random() < 0.2) columns.push(columns[Math.floor(random() * 7)]);
  for (let i = columns.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [columns[i], columns[j]] = [columns[j], columns[i]];
  }
  return columns;
}

describe('the cell encoder', () => {
  test('accepts exactly the rows the per-row path accepts, and gives them the same graph inputs', () => {
    const random = prng(42);
    const encoder = new InstanceEncoder(card);
    const check = instanceChecker(card, { allowUnknownFields: true, rejectUnknownCategories: true });
    const toValues = cellValues(card);
    const fast = encoder.newBatch(1);
    const slow = encoder.newBatch(1);
    const outcomes = { accepted: 0, rejected: 0, perRowOnly: 0 };
    for (let h = 0; h < 60; h++) {
      const header = headerOf(random);
      const cells = CellEncoder.for(encoder, header);
      for (let r = 0; r < 500; r++) {
        const row = header.map((name) => {
          const options = CELLS[name];
          // Mostly valid values, so that both outcomes are common.
          return random() < 0.6 ? options[0] : options[Math.floor(random() * options.length)];
        });
        const values = toValues(header, row);
        const valid = check(values, 'row').length === 0;
        if (cells === undefined) {
          // No encoder: a feature's column is missing, so the per-row path rejects every row.
          expect(valid).toBe(false);
          outcomes.perRowOnly++;
          continue;
        }
        const encoded = cells.encode(row, fast, 0);
        expect({ header, row, encoded }).toEqual({ header, row, encoded: valid });
        if (!valid) {
          outcomes.rejected++;
          continue;
        }
        encoder.encodeInstance(values, slow, 0);
        expect({ row, numeric: Array.from(fast.numeric) }).toEqual({ row, numeric: Array.from(slow.numeric) });
        expect({ row, categorical: fast.categorical }).toEqual({ row, categorical: slow.categorical });
        outcomes.accepted++;
      }
    }
    // Every path was taken, many times.
    expect(outcomes.accepted).toBeGreaterThan(1000);
    expect(outcomes.rejected).toBeGreaterThan(1000);
    expect(outcomes.perRowOnly).toBeGreaterThan(500);
  });

  test('a feature named __proto__ is left to the per-row path; an older index card too', () => {
    const proto = { ...card, features: [...card.features, { name: '__proto__', type: 'numeric' }] } as ModelCard;
    expect(CellEncoder.for(new InstanceEncoder(proto), ['__proto__', ...Object.keys(CELLS)])).toBeUndefined();
    expect(CellEncoder.for(new InstanceEncoder({ ...card, formatVersion: 1 }), Object.keys(CELLS))).toBeUndefined();
    expect(CellEncoder.for(new InstanceEncoder(card), Object.keys(CELLS))).toBeInstanceOf(CellEncoder);
  });

  test('a CSV record as the tokenizer holds it: encodeRecord answers and encodes as encode on its cells; the text of a plain line is its cells as the output writes them', () => {
    const random = prng(7);
    const encoder = new InstanceEncoder(card);
    const fromCells = encoder.newBatch(1);
    const fromRecord = encoder.newBatch(1);
    const outcomes = { encoded: 0, refused: 0, plain: 0, notPlain: 0 };
    for (let h = 0; h < 40; h++) {
      const header = headerOf(random);
      const cells = CellEncoder.for(encoder, header);
      if (cells === undefined) continue;
      const rows = Array.from({ length: 300 }, () =>
        header.map((name) => (random() < 0.6 ? CELLS[name][0] : CELLS[name][Math.floor(random() * CELLS[name].length)])),
      );
      let r = 0;
      // Lines first, as batch scoring reads: plain lines come lazily, the others field by field.
      const tokenizer = csvTokenizer(
        ',',
        '\n',
        (record) => {
          const row = rows[r++];
          expect(record.fieldCount()).toBe(row.length);
          const expected = cells.encode(row, fromCells, 0);
          const encoded = cells.encodeRecord(record, fromRecord, 0);
          expect({ row, encoded }).toEqual({ row, encoded: expected });
          if (encoded) {
            expect({ row, numeric: Array.from(fromRecord.numeric) }).toEqual({ row, numeric: Array.from(fromCells.numeric) });
            expect({ row, categorical: fromRecord.categorical }).toEqual({ row, categorical: fromCells.categorical });
            outcomes.encoded++;
          } else outcomes.refused++;
          const line = CellEncoder.isPlainLine(record) ? record.text.slice(record.textStart, record.textEnd) : undefined;
          if (line === undefined) outcomes.notPlain++;
          else {
            expect({ row, line }).toEqual({ row, line: row.map((cell) => csvField(spreadsheetSafe(cell))).join(',') });
            outcomes.plain++;
          }
        },
        true,
      );
      tokenizer.push(Buffer.from(rows.map(csvLine).join('')));
      tokenizer.end();
      expect(r).toBe(rows.length);
    }
    expect(Object.values(outcomes).every((n) => n > 500)).toBe(true);
  });

  test('a line handed over whole: encodeLine takes only a line that encodeRecord takes and that is written as it is (isPlainLine), with the same graph inputs', () => {
    const random = prng(13);
    const encoder = new InstanceEncoder(card);
    const fromCells = encoder.newBatch(1);
    const fromLine = encoder.newBatch(1);
    const outcomes = { taken: 0, left: 0, leftButValid: 0 };
    for (let h = 0; h < 80; h++) {
      const header = headerOf(random);
      const cells = CellEncoder.for(encoder, header);
      if (cells === undefined) continue;
      // (A note is any of its cells: its first is a formula, which no line written as it is may hold.)
      const rows = Array.from({ length: 300 }, () =>
        header.map((name) => (random() < 0.7 && name !== 'note' ? CELLS[name][0] : CELLS[name][Math.floor(random() * CELLS[name].length)])),
      );
      // Now and then a cell too many or too few.
      const shapes = rows.map((row) => (random() < 0.05 ? (random() < 0.5 ? [...row, '1'] : row.slice(0, -1)) : row));
      let r = 0;
      const tokenizer = csvTokenizer(
        ',',
        '\n',
        (record) => {
          const row = shapes[r++];
          const lazy = record.lazy;
          // Asked first, as batch scoring asks: the line is not split yet.
          const taken = cells.encodeLine(record, fromLine, 0);
          if (!lazy) expect(taken).toBe(false);
          const expected = row.length === header.length && cells.encode(row, fromCells, 0);
          if (taken) {
            expect({ row, expected }).toEqual({ row, expected: true });
            expect({ row, numeric: Array.from(fromLine.numeric) }).toEqual({ row, numeric: Array.from(fromCells.numeric) });
            expect({ row, categorical: fromLine.categorical }).toEqual({ row, categorical: fromCells.categorical });
            expect({ row, plain: CellEncoder.isPlainLine(record), line: record.text.slice(record.textStart, record.textEnd) }).toEqual({
              row,
              plain: true,
              line: row.map((cell) => csvField(spreadsheetSafe(cell))).join(','),
            });
            outcomes.taken++;
          } else {
            outcomes.left++;
            if (expected && CellEncoder.isPlainLine(record)) outcomes.leftButValid++;
          }
        },
        true,
      );
      // A line at a time: a chunk with a byte >= 0x80 (Zürich) hands over no line whole.
      for (const row of shapes) tokenizer.push(Buffer.from(csvLine(row)));
      tokenizer.end();
      expect(r).toBe(shapes.length);
    }
    expect(outcomes.taken).toBeGreaterThan(1500);
    expect(outcomes.left).toBeGreaterThan(1500);
    // Lines it leaves although they are valid: cells it does not read itself (' 7 ', '1e3', a bad date...), not most.
    expect(outcomes.leftButValid).toBeLessThan(outcomes.taken);
  });

  test('encodeLine never takes a category with a comma for the cells it spans', () => {
    const commaCard = {
      ...card,
      features: [{ name: 'plan', type: 'categorical', categories: ['a,b', 'a', 'é'] }],
    } as ModelCard;
    const encoder = new InstanceEncoder(commaCard);
    const cells = CellEncoder.for(encoder, ['plan', 'note'])!;
    const batch = encoder.newBatch(1);
    const seen: (string | false)[] = [];
    const tokenizer = csvTokenizer(
      ',',
      '\n',
      (record) => {
        expect(record.lazy).toBe(true);
        seen.push(cells.encodeLine(record, batch, 0) && batch.categorical[0][0]);
      },
      true,
    );
    tokenizer.push(Buffer.from('a,b\nb,a\n'));
    tokenizer.end();
    expect(seen).toEqual(['a', false]);
  });

  test('JSON Lines objects: the object encoder accepts exactly the objects the per-row check accepts, with the same graph inputs', () => {
    const random = prng(11);
    const encoder = new InstanceEncoder(card);
    const objects = ObjectEncoder.for(encoder)!;
    const check = instanceChecker(card, { allowUnknownFields: true, rejectUnknownCategories: true });
    const fast = encoder.newBatch(1);
    const slow = encoder.newBatch(1);
    // Each input field's JSON values: the usual type first, then nulls, blanks, other types, bad values.
    const VALUES: Record<string, unknown[]> = {
      age: [12, -3.5, 0, null, '12', 1e39, -1e39, true, [1], { n: 1 }, 3.4e38],
      amount: [7.25, null, 'x', false, 2e-45],
      active: [true, false, 1, 0, 'yes', null, 2.5, 'no'],
      plan: ['basic', 'pro', 'max', 'Pro', ' basic', '', ' ', null, 'gold', 3, true, '__proto__', 'b'.repeat(1001)],
      city: ['Paris', '', null, 'Zürich', 0, false, ['x'], 'c'.repeat(1001), ` ${'c'.repeat(1000)}`, 'c'.repeat(1000)],
      signup: ['2024-05-01T12:30:00Z', '2024-05-01', '', ' ', null, 'not a date', 17, '2024-13-40'],
      paid: ['01/02/2024', '31/12/2023', '2024-02-01', '', null, 'x', 5],
    };
    const outcomes = { accepted: 0, rejected: 0 };
    for (let r = 0; r < 20_000; r++) {
      const object: Record<string, unknown> = { id: r };
      for (const [name, options] of Object.entries(VALUES)) {
        if (random() < 0.03) continue; // a missing feature
        object[name] = random() < 0.7 ? options[0] : options[Math.floor(random() * options.length)];
      }
      const valid = check(object, 'row').length === 0;
      const encoded = objects.encode(object, fast, 0);
      // Never an invalid row; every valid one but those with a number or a boolean as a category (the per-row path's).
      const categoriesAreText = ['plan', 'city'].every((name) => object[name] === null || typeof object[name] === 'string');
      expect({ object, encoded }).toEqual({ object, encoded: valid && categoriesAreText });
      if (!valid) {
        outcomes.rejected++;
        continue;
      }
      encoder.encodeInstance(object, slow, 0);
      if (!encoded) continue;
      expect({ object, numeric: Array.from(fast.numeric) }).toEqual({ object, numeric: Array.from(slow.numeric) });
      expect({ object, categorical: fast.categorical }).toEqual({ object, categorical: slow.categorical });
      outcomes.accepted++;
    }
    expect(outcomes.accepted).toBeGreaterThan(1000);
    expect(outcomes.rejected).toBeGreaterThan(1000);
    expect(ObjectEncoder.for(new InstanceEncoder({ ...card, formatVersion: 1 }))).toBeUndefined();
  });
});
