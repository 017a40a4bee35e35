/**
 * Where a CSV's parts may start so that no record is cut: after a line feed that is outside every
 * quoted field. A nominal part start (lambdas/data/parts.ts: byte ranges of about PART_BYTES) can
 * fall inside a quoted field that holds line breaks; a part cut there would read the rest of the
 * field as rows of its own. The plan reads every byte once anyway (the file's SHA-256), so it
 * also follows the quotes (RFC 4180: a `"` opens or closes a quoted field, `""` inside one is
 * two toggles) and moves each start to the first line feed at or after `start - 1` that is
 * outside quotes: the byte after it is where the part starts, which is where textPartBytes
 * (part-rows.ts) starts reading a range beginning there.
 *
 * A nominal start at or before the cut found for the one before it (a record longer than a part
 * stretched that part) is dropped: its range is in the part before. A file whose quotes never
 * close (malformed) gets no cut after the opening quote: its rest is one part, whose reader
 * rejects it with the line. JSON Lines need none of this: a JSON string holds
 * no raw line feed.
 */
import type { PartRange } from '../shared/pipeline';

const QUOTE = 0x22;
const LF = 0x0a;

/** Follows a CSV's quotes through its bytes, in order, and finds the record-aligned part starts. */
export class CsvRecordCuts {
  private position = 0;
  private inQuotes = false;
  /** The index in `nominal` of the start being looked for. */
  private target = 0;
  /** The first byte where that start's line feed may be (its nominal start - 1, or after the previous cut). */
  private from: number;
  private readonly found: number[] = [];

  /** `nominal`: the parts' nominal starts after the first, ascending. */
  constructor(private readonly nominal: readonly number[]) {
    this.from = nominal.length > 0 ? nominal[0] - 1 : Infinity;
  }

  /** The next bytes of the file. */
  update(chunk: Buffer): void {
    const base = this.position;
    this.position += chunk.length;
    let i = 0;
    while (i < chunk.length && this.target < this.nominal.length) {
      if (this.inQuotes) {
        const close = chunk.indexOf(QUOTE, i);
        if (close === -1) return;
        this.inQuotes = false;
        i = close + 1;
        continue;
      }
      // Outside quotes up to the next quote: a line feed in [i, end) at or after `from` is a cut.
      const open = chunk.indexOf(QUOTE, i);
      const end = open === -1 ? chunk.length : open;
      for (;;) {
        const start = Math.max(i, this.from - base);
        if (start >= end || this.target >= this.nominal.length) break;
        const lf = chunk.indexOf(LF, start);
        if (lf === -1 || lf >= end) break;
        this.cut(base + lf + 1);
      }
      if (open === -1) return;
      this.inQuotes = true;
      i = open + 1;
    }
  }

  private cut(at: number): void {
    this.found.push(at);
    this.target++;
    // The next start's line feed is at or after its nominal start - 1, and after this cut's.
    while (this.target < this.nominal.length && this.nominal[this.target] <= at) this.target++;
    this.from = this.target < this.nominal.length ? this.nominal[this.target] - 1 : Infinity;
  }

  /** The starts found (ascending, each after a line feed outside quotes); fewer than asked where none was found. */
  get cuts(): readonly number[] {
    return this.found;
  }
}

/** Parts of a file of `size` bytes that start at 0 and at each cut (indexes renumbered; no empty part). */
export function partsAtCuts(size: number, cuts: readonly number[]): PartRange[] {
  const starts = [0, ...cuts.filter((c) => c > 0 && c < size)];
  return starts.map((start, index) => ({ index, start, end: index + 1 < starts.length ? starts[index + 1] : size }));
}
