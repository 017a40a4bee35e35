/**
 * Byte-level trackers of the text being parsed: physical line numbers (LineTracker) and UTF-8
 * validity (Utf8Validator). Both keep memory bounded by a record and a chunk.
 */
import { isAscii } from 'node:buffer';

/**
 * Maps byte offsets to physical line numbers (CRLF, LF or CR each one line break). It keeps the
 * line breaks not yet passed by a record (recordLine), so its memory is bounded by one record and
 * one chunk; released (release()), only the latest chunk's, which is how the CSV sink uses it (the
 * tokenizer numbers the records itself, by the same rule: ./readers/csv-tokenizer.ts).
 */
export class LineTracker {
  private starts: number[] = [];
  private ends: number[] = [];
  private head = 0;
  private passed = 0;
  private pendingCR = false;
  private counting = false;

  /**
   * Stop tracking records (after a parse error): from now on each chunk's line breaks replace the
   * previous ones, so lineOf() works within the latest chunk and memory stays bounded.
   */
  release(): void {
    this.counting = true;
  }

  push(buf: Buffer, base: number): void {
    if (this.counting) {
      this.passed += this.ends.length - this.head;
      this.starts = [];
      this.ends = [];
      this.head = 0;
    }
    const carryCR = this.pendingCR;
    this.pendingCR = buf.length > 0 && buf[buf.length - 1] === 13;
    let lf = buf.indexOf(10);
    let cr = buf.indexOf(13);
    while (lf !== -1 || cr !== -1) {
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        if (lf === cr + 1) {
          this.add(base + cr, base + cr + 2);
          lf = buf.indexOf(10, lf + 1);
        } else {
          this.add(base + cr, base + cr + 1);
        }
        cr = buf.indexOf(13, cr + 1);
      } else {
        if (lf === 0 && carryCR) {
          // The LF of a CRLF split across chunks: the same line break.
          const last = this.ends.length - 1;
          if (last >= this.head && this.ends[last] === base) this.ends[last] = base + 1;
        } else {
          this.add(base + lf, base + lf + 1);
        }
        lf = buf.indexOf(10, lf + 1);
      }
    }
  }

  private add(start: number, end: number): void {
    this.starts.push(start);
    this.ends.push(end);
  }

  /**
   * The line on which a record starting at byte `start` begins (skipping blank lines there), and
   * forget the line breaks before it. Calls must come with non-decreasing offsets.
   */
  recordLine(start: number): number {
    const { starts, ends } = this;
    while (this.head < ends.length && ends[this.head] <= start) {
      this.head++;
      this.passed++;
    }
    let at = start;
    while (this.head < ends.length && starts[this.head] === at) {
      at = ends[this.head];
      this.head++;
      this.passed++;
    }
    if (this.head > 1024 && this.head * 2 > ends.length) {
      this.starts = starts.slice(this.head);
      this.ends = ends.slice(this.head);
      this.head = 0;
    }
    return this.passed + 1;
  }

  /** The line of any byte at or after the last record start, without forgetting anything. */
  lineOf(offset: number): number {
    let line = this.passed + 1;
    for (let i = this.head; i < this.ends.length && this.ends[i] <= offset; i++) line++;
    return line;
  }
}

/** A streaming UTF-8 validator that remembers where the first invalid sequence starts. */
export class Utf8Validator {
  private need = 0;
  private lower = 0x80;
  private upper = 0xbf;
  private sequenceStart = 0;
  invalidAt: number | null = null;

  push(buf: Buffer, base: number): void {
    if (this.invalidAt !== null || (this.need === 0 && isAscii(buf))) return;
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i];
      if (this.need === 0) {
        if (b < 0x80) continue;
        this.sequenceStart = base + i;
        if (b >= 0xc2 && b <= 0xdf) {
          this.need = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
          this.need = 2;
          if (b === 0xe0) this.lower = 0xa0;
          else if (b === 0xed) this.upper = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
          this.need = 3;
          if (b === 0xf0) this.lower = 0x90;
          else if (b === 0xf4) this.upper = 0x8f;
        } else {
          this.invalidAt = base + i;
          return;
        }
      } else {
        if (b < this.lower || b > this.upper) {
          this.invalidAt = this.sequenceStart;
          return;
        }
        this.lower = 0x80;
        this.upper = 0xbf;
        this.need--;
      }
    }
  }

  end(): void {
    if (this.invalidAt === null && this.need > 0) this.invalidAt = this.sequenceStart;
  }
}
