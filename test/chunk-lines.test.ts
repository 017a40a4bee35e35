/**
 * ChunkLines (lambdas/data/text-tracking.ts), the CSV sink's line numbers of offsets in the latest
 * chunk, gives what the released LineTracker gave for every offset of every chunk: CR, LF and
 * CRLF line breaks, CRLF cut between chunks, non-ASCII bytes, chunks of every size.
 */
import { ChunkLines, LineTracker } from '../lambdas/data/text-tracking';

test('the same lines as the released LineTracker, at every offset of the latest chunk and before it', () => {
  let seed = 23;
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  const alphabet = ['a', '7', ',', '\r', '\n', '\r\n', '\r\n', 'é', '\0', '\t', '\x0e', '\x0d\x0d'];
  for (let n = 0; n < 400; n++) {
    let text = '';
    const length = Math.floor(random() * 120);
    for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)];
    const bytes = Buffer.from(text);
    const tracker = new LineTracker();
    tracker.release();
    const lines = new ChunkLines();
    let base = 0;
    while (base < bytes.length) {
      const size = 1 + Math.floor(random() * 12);
      const chunk = bytes.subarray(base, base + size);
      tracker.push(chunk, base);
      lines.push(chunk, base);
      // Offsets from a few bytes before the chunk to one past its end.
      for (let offset = Math.max(0, base - 3); offset <= base + chunk.length; offset++) {
        expect({ text, offset, line: lines.lineOf(offset) }).toEqual({ text, offset, line: tracker.lineOf(offset) });
      }
      base += chunk.length;
    }
  }
});
