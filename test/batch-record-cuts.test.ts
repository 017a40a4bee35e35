/**
 * Record-aligned part starts of a CSV (lambdas/batch/record-cuts.ts): every start is right after a
 * line feed outside quoted fields, the first such at or after the nominal start's byte before,
 * whatever the chunks the file arrives in; and the parts, read each on its own (a part after the
 * first with the header), hold exactly the file's records.
 */
import fc from 'fast-check';
import { parse } from 'csv-parse/sync';
import { CsvRecordCuts, partsAtCuts } from '../lambdas/batch/record-cuts';
import { partRanges } from '../lambdas/data/parts';

/** The starts a byte-at-a-time reading gives: the oracle. */
function referenceCuts(bytes: Buffer, nominal: readonly number[]): number[] {
  const boundaries: number[] = [];
  let quoted = false;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x22) quoted = !quoted;
    else if (bytes[i] === 0x0a && !quoted) boundaries.push(i + 1);
  }
  const cuts: number[] = [];
  for (const start of nominal) {
    const after = cuts.length > 0 ? cuts[cuts.length - 1] : 0;
    if (start <= after) continue; // inside the part before, which a long record stretched: merged into it
    const cut = boundaries.find((b) => b >= start);
    if (cut === undefined) break;
    cuts.push(cut);
  }
  return cuts;
}

const cell = fc.oneof(
  fc.stringMatching(/^[a-z0-9 .]{0,8}$/),
  // Quoted, with line breaks (LF and CRLF), commas and escaped quotes inside.
  fc.array(fc.constantFrom('a', 'b', ' ', ',', '\n', '\r\n', '""'), { maxLength: 12 }).map((parts) => `"${parts.join('')}"`),
);
const csvFile = fc
  .array(fc.tuple(cell, cell, cell), { minLength: 1, maxLength: 60 })
  .chain((rows) => fc.constantFrom('\n', '\r\n').map((eol) => ['h1,h2,h3', ...rows.map((r) => r.join(','))].join(eol) + eol));

describe('CsvRecordCuts', () => {
  test('each start is the first record boundary at or after the nominal one, whatever the chunks', () => {
    fc.assert(
      fc.property(csvFile, fc.integer({ min: 16, max: 300 }), fc.integer({ min: 1, max: 97 }), (csv, partBytes, chunk) => {
        const bytes = Buffer.from(csv);
        const nominal = partRanges(bytes.length, partBytes, 1000)
          .parts.slice(1)
          .map((p) => p.start);
        const cuts = new CsvRecordCuts(nominal);
        for (let at = 0; at < bytes.length; at += chunk) cuts.update(bytes.subarray(at, at + chunk));
        expect(cuts.cuts).toEqual(referenceCuts(bytes, nominal));
        for (const c of cuts.cuts) expect(bytes[c - 1]).toBe(0x0a);
      }),
      { numRuns: 300 },
    );
  });

  test('the parts, each read alone, hold the records of the file in order', () => {
    fc.assert(
      fc.property(csvFile, fc.integer({ min: 16, max: 200 }), (csv, partBytes) => {
        const bytes = Buffer.from(csv);
        const nominal = partRanges(bytes.length, partBytes, 1000)
          .parts.slice(1)
          .map((p) => p.start);
        const cuts = new CsvRecordCuts(nominal);
        cuts.update(bytes);
        const parts = partsAtCuts(bytes.length, cuts.cuts);
        const whole = parse(bytes) as string[][];
        const header = csv.slice(0, csv.indexOf('\n') + 1); // with the file's line end
        const inParts = parts.flatMap((p, i) => {
          const text = bytes.subarray(p.start, p.end).toString('utf8');
          const rows = parse(i === 0 ? text : `${header}${text}`) as string[][];
          return rows.slice(i === 0 ? 0 : 1);
        });
        expect(inParts).toEqual(whole);
        expect(parts.map((p) => p.index)).toEqual(parts.map((_, i) => i));
      }),
      { numRuns: 200 },
    );
  });

  test('an unclosed quote ends the cuts: the rest is one part', () => {
    const bytes = Buffer.from('a,b\n1,2\n3,"open\n4,5\n6,7\n8,9\n');
    const cuts = new CsvRecordCuts([5, 10, 15, 20]);
    cuts.update(bytes);
    expect(cuts.cuts).toEqual([8]);
    expect(partsAtCuts(bytes.length, cuts.cuts)).toEqual([
      { index: 0, start: 0, end: 8 },
      { index: 1, start: 8, end: bytes.length },
    ]);
  });

  test('a cut at the end of the file makes no empty part', () => {
    expect(partsAtCuts(10, [4, 10])).toEqual([
      { index: 0, start: 0, end: 4 },
      { index: 1, start: 4, end: 10 },
    ]);
  });
});
