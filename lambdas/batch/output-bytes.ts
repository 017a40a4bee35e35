/**
 * A part's output gathered as UTF-8 bytes in one growing buffer, which score-part.ts hands to its
 * sink every SINK_BATCH bytes or so (take()).
 *
 * Why not a string: a predictions line built by `+=` is a tree of small strings (the row's text,
 * commas, the label, two numbers) that V8 must flatten and then encode to UTF-8 when the sink
 * takes it; measured in isolation, those two passes cost about twice what building the line does
 * (bench/README.md, batch). Writing the bytes as each piece is made does neither. ASCII pieces are
 * copied by a loop of charCodeAt, cheaper than a native call for a few dozen characters; anything
 * else goes through Buffer#write as UTF-8.
 */
export class OutputBytes {
  private bytes: Buffer;
  /** `bytes` as a DataView, for asciiFrom's 8-byte copies. */
  private view: DataView;
  /** Bytes written since the last take(). */
  length = 0;

  /** @param capacity the first buffer's size, and each new one's after take() */
  constructor(private readonly capacity = 128 * 1024) {
    this.bytes = Buffer.allocUnsafe(capacity);
    this.view = viewOf(this.bytes);
  }

  /** Text known to be ASCII (every character under 0x80), characters [start, end). */
  ascii(text: string, start = 0, end = text.length): void {
    this.room(end - start);
    const bytes = this.bytes;
    let at = this.length;
    for (let i = start; i < end; i++) bytes[at++] = text.charCodeAt(i);
    this.length = at;
  }

  /** Any text, as UTF-8. */
  text(text: string): void {
    // At most 3 bytes per UTF-16 unit (a surrogate pair is 2 units and 4 bytes).
    this.room(text.length * 3);
    this.length += this.bytes.write(text, this.length, 'utf8');
  }

  /** Bytes made beforehand (a label's UTF-8). */
  raw(source: Uint8Array): void {
    this.room(source.length);
    const bytes = this.bytes;
    let at = this.length;
    for (let i = 0; i < source.length; i++) bytes[at++] = source[i];
    this.length = at;
  }

  /**
   * Bytes [start, end) of `source`, known to be ASCII (every byte under 0x80: an input line the
   * tokenizer handed over whole), 8 at a time. Why: a line is some 40 bytes, which a loop copies in
   * about 3x the time (and a native copy's call costs as much). A float64 read and written back is
   * its 8 bytes as they were: 8 ASCII bytes are never a NaN (that needs a byte from 0xf0 on, below
   * a 0x7f or 0xff), whose bits an engine may change.
   */
  asciiFrom(source: DataView, start: number, end: number): void {
    this.room(end - start);
    const view = this.view;
    let at = this.length;
    let i = start;
    for (; i + 8 <= end; i += 8, at += 8) view.setFloat64(at, source.getFloat64(i, true), true);
    for (; i < end; i++) view.setUint8(at++, source.getUint8(i));
    this.length = at;
  }

  /** Bytes [start, end) written since the last take(), as Latin-1 text (ASCII written: the same characters). */
  latin1(start: number, end: number): string {
    return this.bytes.toString('latin1', start, end);
  }

  /**
   * Room for n more bytes, for a writer that fills them itself: it writes from `length` on in the
   * buffer answered, then adds what it wrote to `length` (float32-text.ts: no copy of its digits).
   */
  reserve(n: number): Buffer {
    this.room(n);
    return this.bytes;
  }

  /** One byte (an ASCII separator). */
  byte(value: number): void {
    this.room(1);
    this.bytes[this.length++] = value;
  }

  /** The bytes written so far; later writes go to a new buffer, so the ones handed over stay as they are. */
  take(): Buffer {
    if (this.length === 0) return Buffer.alloc(0);
    const taken = this.bytes.subarray(0, this.length);
    // Room for twice what was taken: the next take is about as much (a chunk's rows), and a buffer
    // sized to the last one grew (a copy of all written) about every other time (batch core +6-9%
    // rows per CPU second in two A/B pairs).
    this.bytes = Buffer.allocUnsafe(Math.max(this.capacity, 2 * this.length));
    this.view = viewOf(this.bytes);
    this.length = 0;
    return taken;
  }

  private room(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + n));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
    this.view = viewOf(grown);
  }
}

/** A DataView of exactly `bytes` (a Buffer may be a slice of a larger pool). */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
