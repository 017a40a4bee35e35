/**
 * Byte-level trackers of the text being parsed: physical line numbers (LineTracker) and UTF-8
 * validity (Utf8Validator). Both keep memory bounded by a record and a chunk.
 */
import { isAscii } from 'node:buffer';

/**
 * Maps byte offsets to physical line numbers (CRLF, LF or CR each one line break). It keeps the
 * line breaks not yet passed by a record (recordLine), so its memory is bounded by one record and
 * one chunk; released (release()), only the latest chunk's. The tokenizer numbers the records
 * itself, by the same rule (./readers/csv-tokenizer.ts), and the CSV sink's other line numbers
 * come from ChunkLines, which the tests hold to this class (as they hold the tokenizer to the
 * csv-parse reading that numbered records with it: test/helpers/csv-reference.ts).
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

/**
 * What LineTracker answers once released, for less: the line of an offset in the latest chunk
 * pushed (or before it), by the same rule (CRLF, LF or CR each one line break). Earlier chunks'
 * line breaks are only counted (by the CSV tokenizer as it reads, where it can tell; else here,
 * four bytes at a time: see lineBreaks), and the latest chunk's are looked for when asked:
 * LineTracker's list of every line break cost about a tenth of the scan of a plain CSV.
 */
export class ChunkLines {
  /** Line breaks before the latest chunk. */
  private passed = 0;
  private chunk: Uint8Array | null = null;
  private base = 0;
  /** The byte before the latest chunk is a CR (an LF first in it is the same line break). */
  private crBefore = false;

  /**
   * @param before the line breaks in every byte before `buf`, where the caller knows them (the CSV
   * tokenizer counted them: CsvTokenizer.lineBreaksPushed); -1: the previous chunk's are counted
   */
  push(buf: Uint8Array, base: number, before = -1): void {
    const chunk = this.chunk;
    if (chunk !== null) {
      this.passed = before >= 0 ? before : this.passed + lineBreaks(chunk, chunk.length, this.crBefore);
      if (chunk.length > 0) this.crBefore = chunk[chunk.length - 1] === 13;
    }
    this.chunk = buf;
    this.base = base;
  }

  /**
   * The line of the byte at `offset`: 1 + the line breaks that end at or before it. For an offset
   * before the latest chunk, every line break before that chunk counts (the offsets asked for are
   * never before a line break of an earlier chunk: see LineTracker.release).
   */
  lineOf(offset: number): number {
    const chunk = this.chunk;
    if (chunk === null || offset <= this.base) return this.passed + 1;
    const upTo = Math.min(chunk.length, offset - this.base);
    // A CRLF whose LF is past `upTo` ends after the offset: not counted.
    const cut = upTo < chunk.length && upTo > 0 && chunk[upTo - 1] === 13 && chunk[upTo] === 10 ? 1 : 0;
    return this.passed + 1 + lineBreaks(chunk, upTo, this.crBefore) - cut;
  }
}

/** The line breaks in bytes[0, end) (CRLF one, an LF first after a CR before them none). */
function lineBreaks(bytes: Uint8Array, end: number, crBefore: boolean): number {
  // Most files have no CR: then each LF is a line break (but one first after a CR before), and
  // LFs are counted without a branch per word. (A Buffer's indexOf is native: memchr.)
  const cr = bytes.indexOf(13);
  if (cr === -1 || cr >= end) return lineFeeds(bytes, end) - (crBefore && end > 0 && bytes[0] === 10 ? 1 : 0);
  return lineBreaksWithCR(bytes, end, crBefore);
}

/**
 * The LFs in bytes[0, end): byte by byte up to a 4-byte boundary of the memory, then a word at a
 * time, each byte of the word XOR LF being 0 for an LF: ((y & 0x7f) + 0x7f) | y has its top bit
 * set for any other byte (no carry leaves a byte), so each word adds its non-LF bytes to the
 * bytes of `others` (summed before one of them could pass 0x7f).
 */
export function lineFeeds(bytes: Uint8Array, end: number): number {
  let count = 0;
  let i = 0;
  for (const head = Math.min(end, (4 - (bytes.byteOffset & 3)) & 3); i < head; i++) if (bytes[i] === 10) count++;
  const n = (end - i) >> 2;
  if (n > 0) {
    const words = new Int32Array(bytes.buffer, bytes.byteOffset + i, n);
    for (let w = 0; w < n;) {
      const stop = Math.min(n, w + 127);
      count += (stop - w) * 4;
      let others = 0;
      for (; w < stop; w++) {
        const y = words[w] ^ 0x0a0a0a0a;
        others += ((((y & 0x7f7f7f7f) + 0x7f7f7f7f) | y) >>> 7) & 0x01010101;
      }
      count -= (others & 0xff) + ((others >>> 8) & 0xff) + ((others >>> 16) & 0xff) + (others >>> 24);
    }
    i += n * 4;
  }
  for (; i < end; i++) if (bytes[i] === 10) count++;
  return count;
}

/** lineBreaks for bytes that hold a CR. */
function lineBreaksWithCR(bytes: Uint8Array, end: number, crBefore: boolean): number {
  let count = 0;
  let previous = crBefore ? 13 : 0;
  // Byte by byte up to a 4-byte boundary of the memory, then a word at a time while no byte of it
  // is below 14 (CR is 13, LF 10: the word test holds for bytes under 0x80; a word with a byte
  // of 0x80 or more is looked at byte by byte too), then the bytes left.
  const head = (4 - (bytes.byteOffset & 3)) & 3;
  let i = 0;
  for (; i < head && i < end; i++) {
    const c = bytes[i];
    if (c === 13 || (c === 10 && previous !== 13)) count++;
    previous = c;
  }
  const words = end - head >= 4 ? new Int32Array(bytes.buffer, bytes.byteOffset + head, (end - head) >> 2) : null;
  for (let w = 0; words !== null && w < words.length; w++) {
    const x = words[w];
    if ((((x - 0x0e0e0e0e) & ~x) | x) & 0x80808080) {
      for (const stop = i + 4; i < stop; i++) {
        const c = bytes[i];
        if (c === 13 || (c === 10 && previous !== 13)) count++;
        previous = c;
      }
    } else {
      previous = bytes[i + 3];
      i += 4;
    }
  }
  for (; i < end; i++) {
    const c = bytes[i];
    if (c === 13 || (c === 10 && previous !== 13)) count++;
    previous = c;
  }
  return count;
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
