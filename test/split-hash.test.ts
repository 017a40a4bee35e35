/**
 * The split hash (lambdas/data/split-hash.ts): node:crypto's SHA-1 of the row's JSON, first 32
 * bits, whatever the row; and for a plain CSV line, the same as for its cells.
 */
import { hash } from 'node:crypto';
import { lineCommas, plainLineHash, rowHash } from '../lambdas/data/split-hash';

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
  let seed = 11;
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
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
