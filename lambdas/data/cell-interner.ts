/**
 * Strings for the cells of a column that repeat (CellInterner): a small table from a cell's
 * characters to the string made for them the first time, so that a column of a few categories
 * costs no new string per row, and the map that counts them (./profile.ts) finds its key by a hash
 * V8 has already computed. A cell that misses takes the slot; nothing grows past SLOTS.
 */

/** Slots per column: a power of two. */
export const SLOTS = 256;
/** Longer cells are sliced as they are: a category is short, and long text rarely repeats. */
const MAX_LENGTH = 64;

export class CellInterner {
  private readonly strings = new Array<string>(SLOTS).fill('');
  private readonly filled = new Uint8Array(SLOTS);
  /** The slot of the string get() returned last (-1: a long cell, not interned): see CategoryCounter.addInSlot. */
  slot = -1;

  /** The string text[start, end), the same object as the last time these characters were seen in its slot. */
  get(text: string, start: number, end: number): string {
    const length = end - start;
    if (length > MAX_LENGTH) {
      this.slot = -1;
      return text.slice(start, end);
    }
    let h = length;
    for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    const slot = (h ^ (h >>> 15)) & (SLOTS - 1);
    this.slot = slot;
    if (this.filled[slot] === 1) {
      const seen = this.strings[slot];
      if (seen.length === length) {
        let same = true;
        for (let i = 0; i < length; i++) {
          if (seen.charCodeAt(i) !== text.charCodeAt(start + i)) {
            same = false;
            break;
          }
        }
        if (same) return seen;
      }
    }
    const made = text.slice(start, end);
    this.strings[slot] = made;
    this.filled[slot] = 1;
    return made;
  }
}
