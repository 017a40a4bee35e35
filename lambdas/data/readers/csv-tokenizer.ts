/**
 * The CSV tokenizer of the scan and the splits (CsvTokenizer): RFC 4180 records out of byte chunks,
 * each with its physical line, the byte offset where it ends, and its fields as ranges of the
 * chunk's text (CsvRecord), so that a cell becomes a string only when asked for.
 *
 * It reads what csv-parse read with the options the scan gave it (bom, the record delimiter
 * detected from the first line break outside quotes or given, skip_empty_lines,
 * relax_column_count, max_record_size) and stops at the same errors with the same reasons;
 * test/csv-tokenizer.test.ts holds it to csv-parse's records, lines and errors on the malformed
 * corpus and on generated files, cut at every byte. Why our own: bench/README.md (ingest) measures
 * csv-parse, papaparse and uDSV; none gives byte offsets, physical lines and csv-parse's errors,
 * and a string per cell (what each of them builds) costs more than the whole scan's budget.
 *
 * How it is fast: a chunk is read as one Latin-1 string (one character per byte, so that text
 * offsets are byte offsets and the delimiters, quotes and line breaks, all ASCII, are found as
 * they are in the bytes); a field is kept as a range of that text, and turned into a string on
 * demand: a slice of the text while it is ASCII, UTF-8 decoded from the bytes otherwise (per field,
 * as csv-parse decodes, so that an invalid sequence reads the same). A record cut by a chunk's end
 * is carried into the next chunk and its scan resumes where it stopped.
 */
import { isAscii } from 'node:buffer';

const QUOTE = 34;
const CR = 13;
const LF = 10;

/** Field kinds (CsvRecord.kinds): bit 0 quoted, bit 1 holds a byte >= 0x80. */
const QUOTED = 1;
const WIDE = 2;

/** Record delimiters: not seen yet, LF, CRLF, CR. */
const RD_UNKNOWN = 0;
const RD_LF = 1;
const RD_CRLF = 2;
const RD_CR = 3;

/** Records held back for their line (see CsvTokenizer.lineOf), at most. */
const MAX_HELD = 4096;

/** A chunk pushed after a carried record is split after its first line from this size on (see push). */
const SPLIT_AFTER_CARRY = 4096;
/**
 * The most bytes scanned at once (a larger chunk is scanned in pieces). Each scan makes one
 * Latin-1 string of its bytes: a string of a 1 MiB chunk is a large object, in the old
 * generation, and 300,000 rows of batch scoring made about 20 full garbage collections where
 * 64 KiB pieces make 3 (their strings die young); batch scoring's core +7-11% in two A/B pairs.
 */
const MAX_PIECE = 64 * 1024;

/** Scanning states: at a field's start, in an unquoted field, in a quoted one, after its closing quote. */
const FIELD_START = 0;
const UNQUOTED = 1;
const IN_QUOTES = 2;
const CLOSED = 3;

/** A parse error: csv-parse's reason without its line, and the physical line of the record it stopped in. */
export interface CsvTokenError {
  line: number;
  reason: string;
}

export interface CsvTokenizerOptions {
  /** One ASCII character other than a quote, CR or LF. */
  delimiter: string;
  /** The line end that ends records (a part of a file: the header's); default: the first seen outside quotes. */
  recordDelimiter?: string;
  /** A record whose fields hold more bytes is an error (csv-parse's max_record_size); 0: no limit. */
  maxRecordBytes?: number;
  /**
   * Hand over a line of an ASCII chunk with no quote and no CR as it is, its fields found only
   * when asked for (CsvRecord.fields...): for a reader that copies such lines whole (the splits).
   */
  linesFirst?: boolean;
}

/** 10^0 to 10^22, exact: what a plain decimal's mantissa is divided by (plainDecimal, and batch's CellEncoder.encodeLine). */
export const POW10: readonly number[] = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * The number a plain decimal spells (an optional sign, digits with at most one point, at most 15
 * digits in all), else NaN. Exactly Number()'s value: the digits make an integer below 2^53 and
 * the power of ten is exact, so the one division rounds correctly. Anything else (exponents,
 * spaces, longer numbers) is left to the caller's full rules.
 */
export function plainDecimal(text: string, start: number, end: number): number {
  let i = start;
  let c = text.charCodeAt(i);
  const negative = c === 45;
  if (negative || c === 43) i++;
  let mantissa = 0;
  let digits = 0;
  let point = -1;
  for (; i < end; i++) {
    c = text.charCodeAt(i);
    const digit = c - 48;
    if (digit >= 0 && digit <= 9) {
      mantissa = mantissa * 10 + digit;
      digits++;
    } else if (c === 46 && point < 0) point = i;
    else return NaN;
  }
  if (digits === 0 || digits > 15) return NaN;
  const value = point < 0 ? mantissa : mantissa / POW10[end - point - 1];
  return negative ? -value : value;
}

/** plainDecimal over bytes (a character per byte): the same number, read from a typed array (cheaper than a string's characters). */
export function plainDecimalBytes(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  let c = bytes[i];
  const negative = c === 45;
  if (negative || c === 43) i++;
  let mantissa = 0;
  let digits = 0;
  let point = -1;
  for (; i < end; i++) {
    c = bytes[i];
    const digit = c - 48;
    if (digit >= 0 && digit <= 9) {
      mantissa = mantissa * 10 + digit;
      digits++;
    } else if (c === 46 && point < 0) point = i;
    else return NaN;
  }
  if (digits === 0 || digits > 15) return NaN;
  const value = point < 0 ? mantissa : mantissa / POW10[end - point - 1];
  return negative ? -value : value;
}

/**
 * A record as the tokenizer found it: its fields as ranges of `text` (valid until the callback
 * returns; the object is reused). `field(i)` and `fields()` make strings; the rest reads the text.
 */
export class CsvRecord {
  text = '';
  /** The bytes `text` was read from (UTF-8 mode), for fields that are not ASCII. */
  bytes: Buffer | null = null;
  /** The text is UTF-16 decoded (a file with a UTF-16 LE byte-order mark). */
  utf16 = false;
  count = 0;
  starts = new Int32Array(64);
  ends = new Int32Array(64);
  kinds = new Uint8Array(64);
  /** Physical line (1-based) the record starts on, blank lines before it skipped. */
  line = 0;
  /** Offset of the byte after the record (its line end included), from the first byte pushed. */
  end = 0;
  /** Where the record's text starts and its content ends (before its line end). */
  textStart = 0;
  textEnd = 0;
  /** No quoted field and no line break inside a field: the text between textStart and textEnd is the record as written. */
  plain = true;
  /** A byte >= 0x80 in some field. */
  wide = false;
  /** Fields already made strings (a record held back until its line was known). */
  values: string[] | null = null;
  /** A line handed over whole (CsvTokenizerOptions.linesFirst): its fields not split yet. */
  lazy = false;
  /** The delimiter, to split a lazy line. */
  delimiter = 44;

  /** Split a lazy line (unquoted, ASCII, no line break) at its delimiters. */
  private split(): void {
    this.lazy = false;
    const text = this.text;
    const d = this.delimiter;
    let count = 0;
    let start = this.textStart;
    for (let p = start; ; p++) {
      if (p === this.textEnd || text.charCodeAt(p) === d) {
        if (count === this.starts.length) {
          const starts = new Int32Array(count * 2);
          starts.set(this.starts);
          this.starts = starts;
          const ends = new Int32Array(count * 2);
          ends.set(this.ends);
          this.ends = ends;
          this.kinds = new Uint8Array(count * 2);
        }
        this.starts[count] = start;
        this.ends[count] = p;
        this.kinds[count] = 0;
        count++;
        start = p + 1;
        if (p === this.textEnd) break;
      }
    }
    this.count = count;
  }

  /** Field i as a string (quotes removed and doubled quotes undone, UTF-8 decoded). */
  field(i: number): string {
    if (this.lazy) this.split();
    if (this.values !== null) return this.values[i];
    const start = this.starts[i];
    const end = this.ends[i];
    const kind = this.kinds[i];
    if (kind === 0) return this.text.slice(start, end);
    if ((kind & QUOTED) === 0) return this.decode(start, end);
    // An opening quote at `start`; the closing one is the last quote (none may follow it).
    const close = this.text.lastIndexOf('"', end - 1);
    const inner = close > start ? this.decode(start + 1, close).replaceAll('""', '"') : this.decode(start + 1, end).replaceAll('""', '"');
    return close > start && close + 1 < end ? inner + this.decode(close + 1, end) : inner;
  }

  private decode(start: number, end: number): string {
    return this.bytes !== null && !this.utf16 ? this.bytes.toString('utf8', start, end) : this.text.slice(start, end);
  }

  fields(): string[] {
    if (this.lazy) this.split();
    if (this.values !== null) return this.values;
    const out = new Array<string>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.field(i);
    return out;
  }

  /** The number of fields (a lazy line is split first). */
  fieldCount(): number {
    if (this.lazy) this.split();
    return this.values !== null ? this.values.length : this.count;
  }

  /** Field i's range in `text` (valid for an unquoted ASCII field: see isPlain). */
  fieldStart(i: number): number {
    if (this.lazy) this.split();
    return this.starts[i];
  }

  fieldEnd(i: number): number {
    if (this.lazy) this.split();
    return this.ends[i];
  }

  /** Whether field i is unquoted ASCII: its string is the text's slice. */
  isPlain(i: number): boolean {
    if (this.lazy) this.split();
    return this.values === null && this.kinds[i] === 0;
  }

  /** Field i's number when it is a plain decimal (see plainDecimal), else NaN (blank, text, or another spelling). */
  number(i: number): number {
    if (this.lazy) this.split();
    if (this.values !== null || this.kinds[i] !== 0) return NaN;
    const start = this.starts[i];
    const end = this.ends[i];
    if (end <= start) return NaN;
    // A plain field's text is its bytes (or UTF-16 text, without bytes to read).
    const bytes = this.bytes;
    return bytes !== null && !this.utf16 ? plainDecimalBytes(bytes, start, end) : plainDecimal(this.text, start, end);
  }

  /** The last code unit of the last field (NaN when it is empty). */
  lastCharCode(): number {
    if (this.lazy) this.split();
    const i = this.count - 1;
    if (this.isPlain(i)) return this.ends[i] > this.starts[i] ? this.text.charCodeAt(this.ends[i] - 1) : NaN;
    const last = this.field(i);
    return last.charCodeAt(last.length - 1);
  }

  /** A copy that keeps its fields as strings (for a record held back). */
  detach(): CsvRecord {
    const copy = new CsvRecord();
    copy.values = this.fields();
    copy.count = this.count;
    copy.line = this.line;
    copy.end = this.end;
    copy.plain = false;
    copy.wide = this.wide;
    return copy;
  }
}

/**
 * RFC 4180 records out of byte chunks, each handed to `onRecord` synchronously as soon as it is
 * complete (see the file's comment). After an error (`error`) it reads nothing more.
 */
export class CsvTokenizer {
  error: CsvTokenError | undefined;
  private readonly delimiter: number;
  private readonly maxRecordBytes: number;
  private readonly linesFirst: boolean;
  private rd: number;
  private readonly record = new CsvRecord();
  private bomChecked = false;
  private utf16 = false;
  private stopped = false;
  /** Bytes not scanned yet: the record in progress (from its start) and what follows. */
  private carry: Buffer | null = null;
  /** Offset of the carry's first byte from the first byte pushed. */
  private base = 0;
  private text = '';
  private bytes: Buffer = Buffer.alloc(0);
  // Where the scan stands, in the text (relative to the carry's start).
  private pos = 0;
  private state = FIELD_START;
  private recordStart = 0;
  private fieldStart = 0;
  private fieldWide = 0;
  /** Line breaks before `pos`, and before the record's start. */
  private lines = 0;
  private recordLines = 0;
  /** The byte before the carry is a CR (an LF first in the carry ends a CRLF line break). */
  private crBefore = false;
  /** A byte-order mark was skipped and no record read yet. */
  private bomFirst = false;
  /** No blank line was skipped since the last record. */
  private afterRecord = true;
  /** Records complete but for their line (all line breaks so far): emitted once a later line is known. */
  private held: CsvRecord[] = [];

  constructor(
    options: CsvTokenizerOptions,
    private readonly onRecord: (record: CsvRecord) => void,
  ) {
    const { delimiter } = options;
    const code = delimiter.charCodeAt(0);
    if (delimiter.length !== 1 || code >= 0x80 || code === QUOTE || code === CR || code === LF)
      throw new Error(
        `The CSV delimiter must be one ASCII character other than a quote or a line break, not ${JSON.stringify(delimiter)}.`,
      );
    this.delimiter = code;
    this.maxRecordBytes = options.maxRecordBytes ?? 0;
    this.linesFirst = options.linesFirst === true;
    this.record.delimiter = code;
    const given = options.recordDelimiter;
    this.rd = given === undefined ? RD_UNKNOWN : given === '\n' ? RD_LF : given === '\r\n' ? RD_CRLF : given === '\r' ? RD_CR : -1;
    if (this.rd < 0) throw new Error(`The CSV record delimiter must be a line end, not ${JSON.stringify(given)}.`);
  }

  /** Stop reading: the caller wants no more records (a part's last record was read). */
  stop(): void {
    this.stopped = true;
    this.carry = null;
  }

  /** Whether it reads no more (an error, or stop()). */
  get finished(): boolean {
    return this.stopped || this.error !== undefined;
  }

  /**
   * The line breaks in every byte pushed so far, counted as the scan went (CRLF, LF or CR each one,
   * as lambdas/data/text-tracking.ts counts them), so that the CSV sink need not count them again;
   * -1 where it cannot tell: once finished (it reads no more), in UTF-16 text (its line breaks
   * are characters, not bytes), before its first scan, or handing over whole lines.
   */
  lineBreaksPushed(): number {
    if (this.finished || this.utf16 || !this.bomChecked || this.linesFirst) return -1;
    let lines = this.lines;
    const carry = this.carry;
    if (carry !== null) {
      // What the scan left for the next chunk to decide (a CR, or a quote, at the chunk's end).
      for (let p = this.pos; p < carry.length; p++) {
        const c = carry[p];
        if (c === CR || (c === LF && (p > 0 ? carry[p - 1] !== CR : !this.crBefore))) lines++;
      }
    }
    return lines;
  }

  push(chunk: Buffer): void {
    for (let at = 0; at < chunk.length && !this.finished; at += MAX_PIECE) this.pushPiece(chunk.subarray(at, at + MAX_PIECE));
  }

  private pushPiece(chunk: Buffer): void {
    const carry = this.carry;
    if (carry !== null && carry.length > 0 && this.bomChecked && !this.utf16 && chunk.length >= SPLIT_AFTER_CARRY) {
      // The record carried from the last chunk is copied in front of this one (Buffer.concat):
      // in front of its first line only, so that the rest, which most often starts a record, is
      // scanned where it is, not copied. (A chunk split anywhere reads the same.)
      const lf = chunk.indexOf(LF);
      if (lf !== -1 && lf + 1 < chunk.length) {
        this.pushData(chunk.subarray(0, lf + 1));
        if (!this.finished) this.pushData(chunk.subarray(lf + 1));
        return;
      }
    }
    this.pushData(chunk);
  }

  private pushData(chunk: Buffer): void {
    let data = this.carry === null || this.carry.length === 0 ? chunk : Buffer.concat([this.carry, chunk]);
    if (!this.bomChecked) {
      // csv-parse looks for a byte-order mark once it has 3 bytes (or at the end).
      if (data.length < 3) {
        this.carry = data;
        return;
      }
      data = this.skipBom(data);
    }
    this.scan(data, false);
  }

  end(): void {
    if (this.finished) return;
    // (Fewer than 3 bytes in all: no byte-order mark is looked for.)
    this.bomChecked = true;
    this.scan(this.carry ?? Buffer.alloc(0), true);
    if (this.finished) return;
    const state = this.state;
    if (state === IN_QUOTES) {
      this.fail('Quote Not Closed: the parsing is finished with an opening quote');
      return;
    }
    const textEnd = this.text.length;
    if (state === CLOSED || this.record.count > 0 || (state === UNQUOTED && this.pos > this.fieldStart)) {
      // The last field: empty after a delimiter at the very end.
      const start = state === FIELD_START ? textEnd : this.fieldStart;
      this.endField(start, textEnd, state === CLOSED ? QUOTED | this.fieldWide : state === FIELD_START ? 0 : this.fieldWide);
      if (this.finished) return;
      this.endRecord(textEnd, textEnd);
    }
    this.release(this.lines + 1);
  }

  /** Drop a UTF-8 byte-order mark; a UTF-16 LE one switches the text to UTF-16 (as csv-parse does). */
  private skipBom(data: Buffer): Buffer {
    this.bomChecked = true;
    if (data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) {
      this.bomFirst = true;
      this.base += 3;
      return data.subarray(3);
    }
    if (data[0] === 0xff && data[1] === 0xfe) {
      this.utf16 = true;
      this.bomFirst = true;
      this.base += 2;
      return data.subarray(2);
    }
    return data;
  }

  /** Bytes per text unit. */
  private get unit(): number {
    return this.utf16 ? 2 : 1;
  }

  /** Scan `data` (the carry and the new chunk) from where the scan stopped; carry what is left. */
  private scan(data: Buffer, final: boolean): void {
    const utf16 = this.utf16;
    const text = utf16 ? data.toString('utf16le', 0, data.length & ~1) : data.toString('latin1');
    this.text = text;
    this.bytes = data;
    const record = this.record;
    record.text = text;
    record.bytes = data;
    record.utf16 = utf16;
    const n = text.length;
    const d = this.delimiter;
    // Characters above `top` are never special; a chunk of ASCII needs no check for UTF-8 per field
    // (nor does UTF-16 text, whose fields are slices of the text whatever they hold).
    const top = d > QUOTE ? d : QUOTE;
    const ascii = utf16 || isAscii(data);
    // An ASCII chunk's 32-bit words (little-endian), for the unquoted-field loop; `below` has
    // top + 1 in each byte (the test for a byte below it holds for bytes under 0x80: ASCII).
    const words = ascii && !utf16 && top < 0x80 ? new DataView(data.buffer, data.byteOffset, data.length) : null;
    const lastWord = n - 4;
    const below = (top + 1) * 0x01010101;
    let pos = this.pos;
    let state = this.state;
    let fieldStart = this.fieldStart;
    let wide = this.fieldWide;
    let lines = this.lines;

    const linesFirst = this.linesFirst && ascii && !utf16;
    // The next quote and CR at or after `pos` (-1: none in the chunk; -2: not looked for yet).
    let nextQuote = -2;
    let nextCR = -2;

    for (;;) {
      if (linesFirst && state === FIELD_START && record.count === 0 && this.rd === RD_LF) {
        // A whole line, when it holds no quote and no CR (see CsvTokenizerOptions.linesFirst).
        const lf = text.indexOf('\n', pos);
        if (nextQuote !== -1 && nextQuote < pos) nextQuote = text.indexOf('"', pos);
        if (nextCR !== -1 && nextCR < pos) nextCR = text.indexOf('\r', pos);
        if (
          lf >= 0 &&
          (nextQuote === -1 || nextQuote > lf) &&
          (nextCR === -1 || nextCR > lf) &&
          (this.maxRecordBytes === 0 || lf - pos <= this.maxRecordBytes)
        ) {
          lines++;
          if (lf === pos) {
            this.afterRecord = false;
            pos++;
            continue;
          }
          this.recordStart = pos;
          this.recordLines = lines - 1;
          record.plain = true;
          record.wide = false;
          record.lazy = true;
          this.lines = lines;
          this.endRecord(lf, lf + 1);
          record.lazy = false;
          if (this.finished) return;
          pos = lf + 1;
          continue;
        }
      }
      if (state === FIELD_START) {
        if (pos >= n) break;
        if (record.count === 0) {
          this.recordStart = pos;
          this.recordLines = lines;
          record.plain = true;
          record.wide = false;
        }
        fieldStart = pos;
        wide = 0;
        if ((utf16 ? text.charCodeAt(pos) : data[pos]) === QUOTE) {
          state = IN_QUOTES;
          record.plain = false;
          pos++;
          continue;
        }
        state = UNQUOTED;
      }
      if (state === UNQUOTED || state === CLOSED) {
        let c = 0;
        const from = pos;
        if (utf16) {
          while (pos < n) {
            c = text.charCodeAt(pos);
            // Most characters are above every special one: one comparison.
            if (c > top) {
              pos++;
              continue;
            }
            if (c === d || c === LF || c === CR || c === QUOTE) break;
            pos++;
          }
        } else {
          // The same over the bytes (a character per byte): a typed array's element is cheaper to
          // read than a string's character. In ASCII, 4 bytes at a time while none is at or below
          // `top` (a word with such a byte: its lowest such byte's bit is the lowest bit of `low`).
          while (pos < n) {
            if (words !== null) {
              while (pos <= lastWord) {
                const x = words.getInt32(pos, true);
                const low = (x - below) & ~x & 0x80808080;
                if (low !== 0) {
                  pos += (31 - Math.clz32(low & -low)) >> 3;
                  break;
                }
                pos += 4;
              }
              if (pos >= n) break;
            }
            c = data[pos];
            if (c > top) {
              pos++;
              continue;
            }
            if (c === d || c === LF || c === CR || c === QUOTE) break;
            pos++;
          }
        }
        if (!ascii && wide === 0) {
          for (let p = from; p < pos; p++) {
            if (text.charCodeAt(p) >= 0x80) {
              wide = WIDE;
              break;
            }
          }
        }
        if (pos >= n) break;
        const kind = state === CLOSED ? QUOTED | wide : wide;
        if (c === d) {
          const i = record.count;
          if (i < record.starts.length) {
            // The common case inline: room for the field, no size to keep.
            record.starts[i] = fieldStart;
            record.ends[i] = pos;
            record.kinds[i] = kind;
            record.count = i + 1;
            if (kind & WIDE) record.wide = true;
          } else {
            this.fieldWide = wide;
            this.endField(fieldStart, pos, kind);
            if (this.error !== undefined) return;
          }
          pos++;
          state = FIELD_START;
          continue;
        }
        if (c === QUOTE) {
          // An opening quote where the field already has characters.
          this.lines = lines;
          this.openingQuoteError(fieldStart, pos, state === CLOSED, wide !== 0);
          return;
        }
        // (Records ending with LF, the common case, without the call.)
        const length = c === LF && this.rd === RD_LF ? 1 : this.recordDelimiterAt(text, pos, final);
        if (length < 0) break;
        if (length === 0) {
          // A line break inside a field (a CR where records end with LF...): a character of it.
          if (c === CR || (pos > 0 ? text.charCodeAt(pos - 1) !== CR : !this.crBefore)) lines++;
          record.plain = false;
          pos++;
          continue;
        }
        // The line end's line break (an LF after a CR that was a character of the field ends it).
        if (c === CR || (pos > 0 ? (utf16 ? text.charCodeAt(pos - 1) : data[pos - 1]) !== CR : !this.crBefore)) lines++;
        if (state === UNQUOTED && record.count === 0 && pos === fieldStart) {
          // An empty line: skipped.
          this.afterRecord = false;
          pos += length;
          state = FIELD_START;
          continue;
        }
        this.fieldWide = wide;
        this.endField(fieldStart, pos, kind);
        if (this.error !== undefined) return;
        this.lines = lines;
        this.endRecord(pos, pos + length);
        if (this.finished) return;
        pos += length;
        state = FIELD_START;
        continue;
      }
      // IN_QUOTES: up to the next quote, counting line breaks.
      let c = 0;
      let high = 0;
      while (pos < n) {
        c = text.charCodeAt(pos);
        if (c === QUOTE) break;
        if (c === LF) {
          if (pos > 0 ? text.charCodeAt(pos - 1) !== CR : !this.crBefore) lines++;
        } else if (c === CR) lines++;
        high |= c;
        pos++;
      }
      if (high >= 0x80) wide = WIDE;
      if (pos >= n) break;
      if (pos + 1 >= n) {
        if (!final) break;
        // The last byte: the closing quote.
        state = CLOSED;
        pos++;
        continue;
      }
      const next = text.charCodeAt(pos + 1);
      if (next === QUOTE) {
        pos += 2;
        continue;
      }
      // A closing quote must be followed by the delimiter, a record delimiter or the end (or, as
      // csv-parse reads it, a NUL byte).
      if (next === 0 || next === d) {
        state = CLOSED;
        pos++;
        continue;
      }
      if (next === CR || next === LF) {
        const length = this.recordDelimiterAt(text, pos + 1, final);
        if (length < 0) break;
        if (length > 0) {
          state = CLOSED;
          pos++;
          continue;
        }
      }
      this.lines = lines;
      this.fail(
        `Invalid Closing Quote: got "${String.fromCharCode(next)}" instead of delimiter, record delimiter, trimable character (if activated) or comment`,
      );
      return;
    }

    this.pos = pos;
    this.state = state;
    this.fieldStart = fieldStart;
    this.fieldWide = wide;
    this.lines = lines;
    if (final) return;
    this.carryRest(n);
  }

  /**
   * The record in progress is carried (from its start), and its scan resumes at `pos`. Out of
   * scan(), whose loop V8 optimizes in the middle of a call: a branch taken there for the first
   * time (a chunk that ends between two records) deoptimizes that code every time it is taken.
   */
  private carryRest(n: number): void {
    const pos = this.pos;
    const keep = this.state === FIELD_START && this.record.count === 0 ? Math.min(pos, n) : this.recordStart;
    if (this.tooLarge(keep, pos)) return;
    this.rebase(keep);
  }

  /** Keep the text from `keep` on for the next chunk, every position shifted to it. */
  private rebase(keep: number): void {
    const unit = this.unit;
    this.crBefore = keep > 0 ? this.text.charCodeAt(keep - 1) === CR : this.crBefore;
    this.carry = keep * unit < this.bytes.length ? this.bytes.subarray(keep * unit) : null;
    this.base += keep * unit;
    this.pos -= keep;
    this.fieldStart -= keep;
    this.recordStart -= keep;
    const record = this.record;
    for (let i = 0; i < record.count; i++) {
      record.starts[i] -= keep;
      record.ends[i] -= keep;
    }
  }

  /**
   * Whether a record delimiter starts at `pos` (a CR or an LF): its length, 0 when not, -1 when
   * the next chunk must tell. The first line break outside quotes decides which one ends records.
   */
  private recordDelimiterAt(text: string, pos: number, final: boolean): number {
    const c = text.charCodeAt(pos);
    switch (this.rd) {
      case RD_LF:
        return c === LF ? 1 : 0;
      case RD_CR:
        return c === CR ? 1 : 0;
      case RD_CRLF:
        if (c !== CR) return 0;
        if (pos + 1 >= text.length) return final ? 0 : -1;
        return text.charCodeAt(pos + 1) === LF ? 2 : 0;
      default:
        if (c === LF) {
          this.rd = RD_LF;
          return 1;
        }
        if (pos + 1 >= text.length && !final) return -1;
        if (text.charCodeAt(pos + 1) === LF) {
          this.rd = RD_CRLF;
          return 2;
        }
        this.rd = RD_CR;
        return 1;
    }
  }

  private endField(start: number, end: number, kind: number): void {
    const record = this.record;
    const i = record.count;
    if (i === record.starts.length) {
      const grow = <T extends Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      record.starts = grow(record.starts, (n) => new Int32Array(n));
      record.ends = grow(record.ends, (n) => new Int32Array(n));
      record.kinds = grow(record.kinds, (n) => new Uint8Array(n));
    }
    record.starts[i] = start;
    record.ends[i] = end;
    record.kinds[i] = kind;
    record.count = i + 1;
    if (kind & WIDE) record.wide = true;
  }

  /** A record (or the part of it read so far) over maxRecordBytes: an error, as csv-parse's max_record_size. */
  private tooLarge(start: number, end: number): boolean {
    if (this.maxRecordBytes === 0 || (end - start) * this.unit <= this.maxRecordBytes) return false;
    this.fail(`Max Record Size: record exceed the maximum number of tolerated bytes of ${this.maxRecordBytes}`);
    return true;
  }

  /** The record's content ends at `contentEnd`, its line end at `end` (text offsets): hand it over. */
  private endRecord(contentEnd: number, end: number): void {
    const record = this.record;
    if (this.tooLarge(this.recordStart, contentEnd)) return;
    if (record.lazy) record.count = 0;
    record.textStart = this.recordStart;
    record.textEnd = contentEnd;
    record.end = this.base + end * this.unit;
    const line = this.lineOf(this.recordStart, end);
    this.bomFirst = false;
    this.afterRecord = true;
    if (line < 0) {
      // Nothing but line breaks in it (a CR alone where records end with LF): its line is that
      // of the next character that is not a line break, not known yet.
      this.held.push(record.detach());
      // A file of such records alone would hold them all: past MAX_HELD, they take the line the
      // breaks read so far give (what the tracking of old gave them in chunks that ended there).
      if (this.held.length > MAX_HELD) this.release(this.lines + 1);
    } else {
      this.release(line);
      if (this.stopped) return;
      record.line = line;
      this.onRecord(record);
    }
    record.count = 0;
  }

  /**
   * The physical line of a record starting at `start`: the line of its first character that is
   * not a line break (line breaks at a record's start are blank lines to the line tracking of
   * old, lambdas/data/text-tracking.ts, whose numbers these are); -1 when there is none before
   * `limit`. While records are held, the next such character gives their line and this one's.
   */
  private lineOf(start: number, limit: number): number {
    // After a byte-order mark, the first record was on line 1 to the tracking of old, which
    // looked for blank lines from the file's first byte, the mark's.
    if (this.bomFirst) return 1;
    const text = this.text;
    let c = this.utf16 ? text.charCodeAt(start) : this.bytes[start];
    if (c !== CR && c !== LF) return this.recordLines + 1;
    const crBefore = start > 0 ? text.charCodeAt(start - 1) === CR : this.crBefore;
    // The LF of a CRLF whose CR ended the record just before (no blank line between, none held):
    // the tracking of old had not passed that line break yet, nor skipped any after it.
    if (c === LF && crBefore && this.afterRecord && this.held.length === 0) return this.recordLines;
    let line = this.recordLines + 1;
    for (let p = start; p < limit; p++) {
      c = text.charCodeAt(p);
      if (c === CR) line++;
      else if (c === LF) {
        if (p > 0 ? text.charCodeAt(p - 1) !== CR : !this.crBefore) line++;
      } else return line;
    }
    return -1;
  }

  /** Hand over the records held back, now that the line of the next character is known. */
  private release(line: number): void {
    if (this.held.length === 0) return;
    const held = this.held;
    this.held = [];
    for (const record of held) {
      if (this.stopped) return;
      record.line = line;
      this.onRecord(record);
    }
  }

  private openingQuoteError(fieldStart: number, pos: number, closed: boolean, wide: boolean): void {
    const record = this.record;
    const i = record.count;
    record.starts[i] = fieldStart;
    record.ends[i] = pos;
    record.kinds[i] = (closed ? QUOTED : 0) | (wide ? WIDE : 0);
    const value = record.field(i);
    const bom = value === '\ufeff' ? ' (utf8 bom)' : '';
    this.fail(`Invalid Opening Quote: a quote is found on field ${i}, value is ${JSON.stringify(value)}${bom}`);
  }

  private fail(reason: string): void {
    const line = this.lineOf(this.recordStart, this.text.length);
    const at = line < 0 ? this.lines + 1 : line;
    this.release(at);
    this.error = { line: at, reason };
    this.carry = null;
  }
}
