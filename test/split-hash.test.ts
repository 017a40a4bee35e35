/**
 * The split hashes (lambdas/data/split-hash.ts). sha1-json: node:crypto's SHA-1 of the row's JSON,
 * first 32 bits, whatever the row; and for a plain CSV line, the same as for its cells.
 * murmur3-csv: MurmurHash3 x86_32 against known answers of another implementation, and for a
 * plain CSV line, the same as for its text, with the same commas noted.
 */
import { hash } from 'node:crypto';
import { lineCommas, murmur3, murmur3Text, plainLineHash, plainLineMurmur3, rowHash } from '../lambdas/data/split-hash';
import { csvLine, splitOf } from '../lambdas/data/splits';
import { prng } from '../lambdas/shared/prng';

const reference = (cells: string[]): number => hash('sha1', JSON.stringify(cells), 'buffer').readUInt32BE(0);

test('rowHash is the first 32 bits of SHA-1 over the JSON of the cells, for every message length and any text', () => {
  // Lengths around the block boundaries (55, 56, 63, 64, 119, 120...) and well past them.
  for (let length = 0; length < 300; length++) {
    const cells = ['x'.repeat(length)];
    expect(rowHash(cells)).toBe(reference(cells));
  }
  for (const cells of [
    [],
    [''],
    ['a', 'b'],
    ['é', '"q"', 'back\\slash', 'tab\there', 'nul\0', '\ud83d\ude00', '\ud800'],
    ['1.5', '', '-3'],
  ]) {
    expect(rowHash(cells)).toBe(reference(cells));
  }
});

test('plainLineHash of a line is rowHash of its cells; -1 where JSON would escape a character', () => {
  const random = prng(11);
  for (let n = 0; n < 2000; n++) {
    const cells = Array.from({ length: 1 + Math.floor(random() * 12) }, () => (random() * 2000 - 1000).toFixed(Math.floor(random() * 4)));
    if (random() < 0.3) cells.push('', 'green', 'a b~\x7f');
    const line = `>${cells.join(',')}<`;
    expect(plainLineHash(Buffer.from(line, 'latin1'), 1, line.length - 1)).toBe(reference(cells));
    // The commas it met: where the line's cells start and end.
    const commas = Array.from(lineCommas.at.subarray(0, lineCommas.count));
    expect(commas).toEqual([...line].flatMap((c, i) => (c === ',' ? [i] : [])));
  }
  expect(plainLineHash(Buffer.from('a,b\\c', 'latin1'), 0, 5)).toBe(-1);
  expect(plainLineHash(Buffer.from('a,\tb', 'latin1'), 0, 4)).toBe(-1);
  expect(plainLineHash(Buffer.from('a,é', 'latin1'), 0, 3)).toBe(-1);
  // Inside long cells too (read four bytes at a time), at every position.
  for (const odd of ['\\', '\t', '\x01', 'é', '\x80']) {
    for (let at = 0; at < 24; at++) {
      const line = 'abcdefghijkl,mnopqrstuvwx'.slice(0, at) + odd + 'abcdefghijkl,mnopqrstuvwx'.slice(at);
      expect(plainLineHash(Buffer.from(line, 'latin1'), 0, line.length)).toBe(-1);
    }
  }
});

/**
 * MurmurHash3 x86_32, seed 0, of these strings' UTF-8 bytes, as scikit-learn 1.2's
 * `sklearn.utils.murmurhash3_32(s.encode('utf-8'), seed=0, positive=True)` gives them.
 */
const MURMUR3_KNOWN: [string, number][] = [
  ['', 0x0],
  ['a', 0x3c2569b2],
  ['ab', 0x9bbfd75f],
  ['abc', 0xb3dd93fa],
  ['abcd', 0x43ed676a],
  ['hello', 0x248bfa47],
  ['The quick brown fox jumps over the lazy dog', 0x2e4ff723],
  ['café,naïve,日本', 0x76003149],
  ['x'.repeat(61), 0xc7e2c6cb],
  ['0.25,red,1', 0x90796fe5],
  ['"a,b",c', 0x1e4c1815],
  ['\ud83d\ude00', 0xbeb42efa],
];

test('murmur3 and murmur3Text give the known answers of another implementation, wherever the bytes lie', () => {
  for (const [text, expected] of MURMUR3_KNOWN) {
    expect([text, murmur3Text(text)]).toEqual([text, expected]);
    const bytes = Buffer.from(`ab${text}cd`, 'utf8');
    expect([text, murmur3(bytes, 2, bytes.length - 2)]).toEqual([text, expected]);
  }
});

test('plainLineMurmur3 of a plain line is murmur3 of its text, and notes its commas as plainLineHash does', () => {
  const random = prng(5);
  for (let n = 0; n < 2000; n++) {
    const cells = Array.from({ length: 1 + Math.floor(random() * 12) }, () => (random() * 2000 - 1000).toFixed(Math.floor(random() * 4)));
    // Every byte value a plain ASCII line may hold, commas at every offset within a word.
    if (random() < 0.3) cells.push('', ',,', 'a b~\x7f\\\t', ',');
    const line = `>${cells.join(',')}<`;
    const bytes = Buffer.from(line, 'latin1');
    expect(plainLineMurmur3(bytes, 1, line.length - 1)).toBe(murmur3Text(line.slice(1, -1)));
    expect(Array.from(lineCommas.at.subarray(0, lineCommas.count))).toEqual([...line].flatMap((c, i) => (c === ',' ? [i] : [])));
  }
});

test("splitOf by murmur3-csv hashes the row's CSV line as the splits write it, so any spelling of the same cells splits alike", () => {
  const rows = [['1', 'red', '0'], ['a,b', 'say "hi"', ''], ['line\nbreak', 'café', '2'], [''], ['', '']];
  for (const row of rows) {
    const line = csvLine(row);
    const expected = murmur3Text(line.slice(0, -1));
    const share = expected / 0x1_0000_0000;
    expect(splitOf(row, 'murmur3-csv')).toBe(share < 0.8 ? 'train' : share < 0.9 ? 'validation' : 'test');
  }
  // Close to 80/10/10 over many rows, under both schemes.
  for (const scheme of ['murmur3-csv', 'sha1-json'] as const) {
    const counts = { train: 0, validation: 0, test: 0 };
    for (let i = 0; i < 20_000; i++) counts[splitOf([String(i), `c${i % 7}`, String(i % 2)], scheme)]++;
    expect(counts.train / 20_000).toBeGreaterThan(0.78);
    expect(counts.train / 20_000).toBeLessThan(0.82);
    expect(counts.validation / 20_000).toBeGreaterThan(0.09);
    expect(counts.test / 20_000).toBeGreaterThan(0.09);
  }
});
