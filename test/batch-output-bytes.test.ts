/**
 * OutputBytes (lambdas/batch/output-bytes.ts), the buffer batch scoring writes its predictions
 * into: the bytes must be the UTF-8 of the text written, whatever the mix of pieces, across growth
 * and after a take().
 */
import { OutputBytes, viewOf } from '../lambdas/batch/output-bytes';
import { prng } from '../lambdas/shared/prng';

describe('OutputBytes', () => {
  test('ASCII, any text, raw bytes and single bytes come out as the UTF-8 of the text written, in order', () => {
    const out = new OutputBytes(16);
    const pieces: string[] = [];
    const random = prng(5);
    // Multi-byte characters of every UTF-8 length, a surrogate pair (4 bytes), and a lone
    // surrogate (written as U+FFFD, as Buffer.from writes it).
    const texts = ['plain', 'Zürich', '東京', 'clef 𝄞', '\ud800 alone', '', "'=1+1", 'é'.repeat(40)];
    for (let i = 0; i < 2000; i++) {
      const kind = Math.floor(random() * 4);
      if (kind === 0) {
        const text = `row ${i},${(random() * 100).toFixed(3)}`;
        // A slice of a longer string, as a record's text is.
        const long = `xx${text}yy`;
        out.ascii(long, 2, 2 + text.length);
        pieces.push(text);
      } else if (kind === 1) {
        const text = texts[Math.floor(random() * texts.length)];
        out.text(text);
        pieces.push(text);
      } else if (kind === 2) {
        const label = texts[Math.floor(random() * texts.length)];
        out.raw(Buffer.from(label, 'utf8'));
        pieces.push(label);
      } else {
        out.byte(0x2c);
        pieces.push(',');
      }
    }
    const expected = Buffer.from(pieces.join(''), 'utf8');
    expect(out.length).toBe(expected.length);
    expect(out.take().equals(expected)).toBe(true);
  });

  test('take() hands over the bytes so far; later writes, even ones that grow the buffer, leave them as they were', () => {
    const out = new OutputBytes(8);
    out.ascii('first,');
    const first = out.take();
    expect(out.length).toBe(0);
    out.text('second, longer than the first buffer: ü');
    out.ascii('x'.repeat(100));
    expect(first.toString('utf8')).toBe('first,');
    const second = out.take();
    expect(second.toString('utf8')).toBe(`second, longer than the first buffer: ü${'x'.repeat(100)}`);
    expect(out.take().length).toBe(0);
  });

  test('reserve() gives room to a writer that fills the bytes itself, kept across growth', () => {
    const out = new OutputBytes(4);
    out.ascii('ab');
    const bytes = out.reserve(10);
    expect(bytes.length - out.length).toBeGreaterThanOrEqual(10);
    bytes.write('0123456789', out.length, 'latin1');
    out.length += 10;
    out.ascii('z'.repeat(50));
    expect(out.take().toString('latin1')).toBe(`ab0123456789${'z'.repeat(50)}`);
  });

  test('one piece larger than the buffer grows it to fit', () => {
    const out = new OutputBytes(4);
    const cell = 'c'.repeat(300_000);
    out.ascii(cell);
    out.text('€'.repeat(100_000));
    const bytes = out.take();
    expect(bytes.length).toBe(300_000 + 300_000);
    expect(bytes.toString('utf8')).toBe(cell + '€'.repeat(100_000));
  });

  test('asciiFrom() copies any range of ASCII bytes as they are, 8 at a time and the rest, at any offset, across growth and take()', () => {
    const random = prng(9);
    // Every ASCII byte, control characters and DEL included, from a Buffer that is a slice of a larger one.
    const whole = Buffer.alloc(5000);
    for (let i = 0; i < whole.length; i++) whole[i] = Math.floor(random() * 128);
    const source = whole.subarray(3, 4003);
    const view = viewOf(source);
    const out = new OutputBytes(16);
    const expected: Buffer[] = [];
    const taken: Buffer[] = [];
    for (let i = 0; i < 3000; i++) {
      const start = Math.floor(random() * source.length);
      const end = Math.min(source.length, start + Math.floor(random() * 70));
      out.asciiFrom(view, start, end);
      expected.push(source.subarray(start, end));
      if (random() < 0.1) {
        out.byte(0x0a);
        expected.push(Buffer.from('\n'));
      }
      if (random() < 0.01) taken.push(out.take());
    }
    taken.push(out.take());
    expect(Buffer.concat(taken).equals(Buffer.concat(expected))).toBe(true);
  });
});
