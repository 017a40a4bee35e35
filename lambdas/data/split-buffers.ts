/**
 * The bytes of each split waiting for its sink (SplitBuffers): text appended as UTF-8, and lines
 * copied from the file's own bytes, consecutive lines going to the same split copied as one run.
 * A CSV line the splits write as it was read (./splits.ts) costs no string then: about a fifth of
 * the splits' time on the bench file was making, joining and encoding those strings.
 */

/** The first size of a split's buffer; it doubles as needed. */
const INITIAL_BYTES = 128 * 1024;

/** One split's bytes. */
class SplitBuffer {
  private bytes = Buffer.allocUnsafe(INITIAL_BYTES);
  length = 0;

  private room(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + extra));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

  appendText(text: string): void {
    // At most 3 bytes per UTF-16 code unit.
    this.room(text.length * 3);
    this.length += this.bytes.write(text, this.length, 'utf8');
  }

  appendBytes(source: Uint8Array, start: number, end: number): void {
    this.room(end - start);
    this.bytes.set(source.subarray(start, end), this.length);
    this.length += end - start;
  }

  /** The bytes so far, handed over (the sink keeps them: a new buffer takes their place). */
  take(): Buffer {
    const out = this.bytes.subarray(0, this.length);
    this.bytes = Buffer.allocUnsafe(Math.max(INITIAL_BYTES, this.bytes.length));
    this.length = 0;
    return out;
  }
}

/** Each split's bytes, and the run of lines being copied. */
export class SplitBuffers<K extends string> {
  private readonly buffers = new Map<K, SplitBuffer>();
  /** The run: lines of `runBytes` between two offsets, all to `runSplit`, not copied yet. */
  private runSplit: K | null = null;
  private runBytes: Uint8Array | null = null;
  private runStart = 0;
  private runEnd = 0;

  constructor(names: readonly K[]) {
    for (const name of names) this.buffers.set(name, new SplitBuffer());
  }

  /** Text (UTF-8) to a split. */
  text(name: K, text: string): void {
    this.flushRun();
    (this.buffers.get(name) as SplitBuffer).appendText(text);
  }

  /**
   * The line `bytes[start, end)` with `suffix` and an LF after it, to a split. The bytes must stay
   * as they are until flushRun() (which the caller runs before the source's next chunk).
   */
  line(name: K, bytes: Uint8Array, start: number, end: number, suffix: string): void {
    if (suffix === '' && bytes[end] === 0x0a) {
      // The line and its own LF, as they stand in the file: the run goes on while the lines follow each other.
      if (this.runSplit === name && this.runBytes === bytes && this.runEnd === start) {
        this.runEnd = end + 1;
        return;
      }
      this.flushRun();
      this.runSplit = name;
      this.runBytes = bytes;
      this.runStart = start;
      this.runEnd = end + 1;
      return;
    }
    this.flushRun();
    const buffer = this.buffers.get(name) as SplitBuffer;
    buffer.appendBytes(bytes, start, end);
    buffer.appendText(`${suffix}\n`);
  }

  /** Copy the run into its split's buffer. */
  flushRun(): void {
    if (this.runSplit === null) return;
    (this.buffers.get(this.runSplit) as SplitBuffer).appendBytes(this.runBytes as Uint8Array, this.runStart, this.runEnd);
    this.runSplit = null;
    this.runBytes = null;
  }

  /** Bytes waiting for a split's sink (the run not counted: flushRun first). */
  size(name: K): number {
    return (this.buffers.get(name) as SplitBuffer).length;
  }

  /** A split's bytes, handed over (flushRun first). */
  take(name: K): Buffer {
    return (this.buffers.get(name) as SplitBuffer).take();
  }
}
