/**
 * ChunkLines (lambdas/data/text-tracking.ts), the CSV sink's line numbers of offsets in the latest
 * chunk, gives what the released LineTracker gave for every offset of every chunk: CR, LF and
 * CRLF line breaks, CRLF cut between chunks, non-ASCII bytes, chunks of every size.
 */
import { CsvSink } from '../lambdas/data/readers/csv';
import type { CsvTokenizer } from '../lambdas/data/readers/csv-tokenizer';
import { prepareScan } from '../lambdas/data/scan';
import { ChunkLines, LineTracker, lineFeeds } from '../lambdas/data/text-tracking';
import { prng } from '../lambdas/shared/prng';

/**
 * `bytes` pushed to a released LineTracker and to ChunkLines in chunks of 1 to `maxChunk` bytes:
 * the same line for offsets from a few bytes before each chunk to one past its end (every
 * `step()`-th one), and for the chunk's end.
 */
function expectSameLines(bytes: Buffer, random: () => number, maxChunk: number, step: () => number): void {
  const text = bytes.toString('latin1');
  const tracker = new LineTracker();
  tracker.release();
  const lines = new ChunkLines();
  let base = 0;
  while (base < bytes.length) {
    const chunk = bytes.subarray(base, base + 1 + Math.floor(random() * maxChunk));
    tracker.push(chunk, base);
    lines.push(chunk, base);
    for (let offset = Math.max(0, base - 3); offset <= base + chunk.length; offset += step()) {
      expect({ text, offset, line: lines.lineOf(offset) }).toEqual({ text, offset, line: tracker.lineOf(offset) });
    }
    expect(lines.lineOf(base + chunk.length)).toBe(tracker.lineOf(base + chunk.length));
    base += chunk.length;
  }
}

/** Up to `maxLength` pieces of `alphabet`, drawn by `random`, each a CRLF instead with probability `crlf`. */
function randomText(random: () => number, alphabet: readonly string[], maxLength: number, crlf: number): string {
  let text = '';
  const length = Math.floor(random() * maxLength);
  for (let i = 0; i < length; i++) text += crlf > 0 && random() < crlf ? '\r\n' : alphabet[Math.floor(random() * alphabet.length)];
  return text;
}

test('the same lines as the released LineTracker, at every offset of the latest chunk and before it', () => {
  const random = prng(23);
  const alphabet = ['a', '7', ',', '\r', '\n', '\r\n', '\r\n', 'é', '\0', '\t', '\x0e', '\x0d\x0d'];
  for (let n = 0; n < 400; n++) expectSameLines(Buffer.from(randomText(random, alphabet, 120, 0)), random, 12, () => 1);
});

test('chunks without a CR (the LFs counted a word at a time) give the same lines, a CRLF cut between chunks included', () => {
  const random = prng(41);
  // Mostly no CR: long runs of chunks with none, now and then a CRLF (cut between chunks or not).
  const alphabet = ['a', '7', ',', '\n', '\n', '\n\n', 'é', '\0', '\x0b', '\x8a', 'xyzw', '-12.345,'];
  for (let n = 0; n < 60; n++)
    expectSameLines(Buffer.from(randomText(random, alphabet, 3000, 0.003)), random, 1500, () => 1 + Math.floor(random() * 40));
  // A CRLF cut between chunks, the chunk after it holding no CR: its LF is no line break of its own.
  for (const cuts of [
    ['ab\r', '\ncd\nef\n'],
    ['\r', '\n', '\n'],
    ['x\r', '\nlong line with no cr at all,1,2,3\n\n'],
  ]) {
    const tracker = new LineTracker();
    tracker.release();
    const lines = new ChunkLines();
    let base = 0;
    for (const cut of cuts) {
      const chunk = Buffer.from(cut);
      tracker.push(chunk, base);
      lines.push(chunk, base);
      for (let offset = base; offset <= base + chunk.length; offset++)
        expect({ cuts, offset, line: lines.lineOf(offset) }).toEqual({ cuts, offset, line: tracker.lineOf(offset) });
      base += chunk.length;
    }
  }
});

test('lineFeeds counts the LFs of bytes at any alignment and length, bytes above 0x7f included', () => {
  const random = prng(5);
  const pool = [10, 10, 0, 9, 11, 13, 0x0a + 0x80, 0x8a, 0xff, 0x7f, 0x7a, 65, 0x0e];
  const memory = new Uint8Array(4096);
  for (let i = 0; i < memory.length; i++) memory[i] = pool[Math.floor(random() * pool.length)];
  for (let from = 0; from < 8; from++) {
    for (const length of [0, 1, 3, 4, 5, 7, 8, 509, 510, 511, 512, 1017, 1024, 2047, 4000]) {
      const bytes = memory.subarray(from, from + length);
      for (const end of [bytes.length, Math.floor(bytes.length / 2)]) {
        let expected = 0;
        for (let i = 0; i < end; i++) if (bytes[i] === 10) expected++;
        expect({ from, length, end, count: lineFeeds(bytes, end) }).toEqual({ from, length, end, count: expected });
      }
    }
  }
  // Every byte an LF: the per-byte tallies at their largest.
  const all = new Uint8Array(5000).fill(10);
  expect(lineFeeds(all, all.length)).toBe(5000);
  expect(lineFeeds(new Uint8Array(5000), 5000)).toBe(0);
});

test("the CSV sink's line breaks, counted by its tokenizer as it reads, are LineTracker's: quotes, CR, BOMs, errors, a part's stop", () => {
  const random = prng(97);
  const pieces = ['a', '17', ',', ',', '"', '"x,\ny"', '""', '\n', '\n', '\r\n', '\r', 'é', '\n\n', 'abc,de,f\n'];
  const fields3 = ['a', '17', '', 'é', '"x,\ny"', '"a""b"', '"\r\n"', 'a\rb', 'c\nd'];
  const heads = [Buffer.alloc(0), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from([0xff, 0xfe]), Buffer.from('x,y\r\n')];
  let tokenizerCounted = 0;
  for (let n = 0; n < 400; n++) {
    let text = '';
    if (n % 2 === 0) {
      // Records that parse: fields, quoted ones holding line breaks, one line end for the file (a lone CR or LF inside fields).
      const end = ['\n', '\r\n', '\r'][n % 3];
      const rows = Math.floor(random() * 40);
      for (let r = 0; r < rows; r++) {
        const fields = Array.from({ length: 3 }, () => fields3[Math.floor(random() * fields3.length)]);
        text += fields.join(',') + (random() < 0.1 ? end + end : end);
      }
    } else {
      const length = Math.floor(random() * 300);
      for (let i = 0; i < length; i++) text += pieces[Math.floor(random() * pieces.length)];
    }
    const body = Buffer.from(text);
    // Now and then an invalid UTF-8 byte (its line comes from these counts too).
    if (body.length > 0 && random() < 0.2) body[Math.floor(random() * body.length)] = 0xff;
    const bytes = Buffer.concat([heads[Math.floor(random() * heads.length)], body]);
    const { table } = prepareScan({ fileName: 't.csv' });
    const stopAt = random() < 0.3 ? Math.floor(random() * bytes.length) : undefined;
    const sink = new CsvSink(table, 't.csv', ',', { base: 0, ...(stopAt !== undefined ? { stopAt } : {}) });
    const tokenizer = (sink as unknown as { tokenizer: CsvTokenizer }).tokenizer;
    const tracker = new LineTracker();
    tracker.release();
    let base = 0;
    while (base < bytes.length) {
      const chunk = bytes.subarray(base, base + 1 + Math.floor(random() * 40));
      if (tokenizer.lineBreaksPushed() >= 0) tokenizerCounted++;
      tracker.push(chunk, base);
      void sink.push(chunk);
      for (let offset = base; offset <= base + chunk.length; offset++) {
        expect({ n, offset, lines: sink.lineBreaksBefore(offset) }).toEqual({ n, offset, lines: tracker.lineOf(offset) - 1 });
      }
      base += chunk.length;
    }
  }
  // (Most chunks came after a scan that counted the bytes before them.)
  expect(tokenizerCounted).toBeGreaterThan(800);
});
