/**
 * The CSV tokenizer (lambdas/data/readers/csv-tokenizer.ts): RFC 4180 records with their physical
 * lines and end offsets, the same whatever the chunks, and the same as the csv-parse reading it
 * replaced (test/helpers/csv-reference.ts) on the malformed corpus and on generated files; the
 * plain-decimal reader it feeds the scan; the cell interner.
 */
import { CellInterner } from '../lambdas/data/cell-interner';
import { CsvTokenizer, plainDecimal } from '../lambdas/data/readers/csv-tokenizer';
import { MAX_RECORD_BYTES } from '../lambdas/data/scan-types';
import { referenceRead, type ReadOutcome } from './helpers/csv-reference';
import { MALFORMED } from './helpers/malformed';

function read(
  chunks: Buffer[],
  options: { delimiter?: string; recordDelimiter?: string; maxRecordBytes?: number; linesFirst?: boolean } = {},
): ReadOutcome {
  const records: ReadOutcome['records'] = [];
  const tokenizer = new CsvTokenizer(
    {
      delimiter: options.delimiter ?? ',',
      recordDelimiter: options.recordDelimiter,
      maxRecordBytes: options.maxRecordBytes ?? MAX_RECORD_BYTES,
      linesFirst: options.linesFirst,
    },
    (record) => records.push({ fields: record.fields(), line: record.line, end: record.end }),
  );
  for (const chunk of chunks) tokenizer.push(chunk);
  tokenizer.end();
  return tokenizer.error === undefined ? { records } : { records, error: tokenizer.error };
}

const bytesOf = (data: string | Buffer): Buffer => (typeof data === 'string' ? Buffer.from(data, 'utf8') : data);

/** `bytes` cut into chunks of `least` + a random part of `spread` bytes each (the last one shorter). */
function randomChunks(bytes: Buffer, random: () => number, least: number, spread: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const size = least + Math.floor(random() * spread);
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

/** The bytes cut every way that matters: whole, in two at every offset, one byte at a time. */
function cuts(bytes: Buffer): Buffer[][] {
  const all: Buffer[][] = [[bytes]];
  for (let at = 1; at < bytes.length; at++) all.push([bytes.subarray(0, at), bytes.subarray(at)]);
  all.push([...bytes].map((b) => Buffer.from([b])));
  return all;
}

const fieldsOf = (data: string | Buffer, options = {}) => read([bytesOf(data)], options).records.map((r) => r.fields);

describe('RFC 4180', () => {
  test.each([
    [
      'plain fields, LF',
      'a,b\n1,2\n',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    [
      'CRLF line ends',
      'a,b\r\n1,2\r\n',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    [
      'CR line ends',
      'a,b\r1,2\r',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    [
      'no line end at the end',
      'a,b\n1,2',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    [
      'quoted delimiter, quote and line breaks',
      'a,b\n"1,2","say ""hi""\r\nbye"\n',
      [
        ['a', 'b'],
        ['1,2', 'say "hi"\r\nbye'],
      ],
    ],
    [
      'empty fields and an empty quoted field',
      'a,b,c\n,,\n"",x,""\n',
      [
        ['a', 'b', 'c'],
        ['', '', ''],
        ['', 'x', ''],
      ],
    ],
    [
      'a delimiter at the very end',
      'a,b\n1,',
      [
        ['a', 'b'],
        ['1', ''],
      ],
    ],
    [
      'blank lines skipped',
      '\n\na,b\n\n1,2\n\n',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    [
      'a UTF-8 byte-order mark dropped',
      '\ufeffa,b\n1,2\n',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    [
      'UTF-8 text',
      'nom,ville\nZoë,"Saint-Étienne, FR"\n',
      [
        ['nom', 'ville'],
        ['Zoë', 'Saint-Étienne, FR'],
      ],
    ],
    [
      'the first line end decides: a CR in an LF file is a character',
      'a,b\n1,2\r\n',
      [
        ['a', 'b'],
        ['1', '2\r'],
      ],
    ],
    [
      'an LF in a CRLF file is a character',
      'a,b\r\n1\n,2\r\n',
      [
        ['a', 'b'],
        ['1\n', '2'],
      ],
    ],
    ['ragged records kept as they are', 'a,b\n1\n1,2,3\n', [['a', 'b'], ['1'], ['1', '2', '3']]],
  ])('%s', (_what, data, expected) => {
    expect(fieldsOf(data)).toEqual(expected);
  });

  test('another delimiter', () => {
    expect(fieldsOf('a;b\n"1;2";3,4\n', { delimiter: ';' })).toEqual([
      ['a', 'b'],
      ['1;2', '3,4'],
    ]);
    expect(() => read([Buffer.from('a')], { delimiter: '"' })).toThrow(/delimiter/);
    expect(() => read([Buffer.from('a')], { delimiter: ';;' })).toThrow(/delimiter/);
  });

  test('invalid UTF-8 reads as csv-parse read it: a replacement character per bad sequence', () => {
    const bytes = Buffer.concat([Buffer.from('a,b\nx'), Buffer.from([0xe9]), Buffer.from(',"q'), Buffer.from([0xc3]), Buffer.from('"\n')]);
    expect(fieldsOf(bytes)).toEqual([
      ['a', 'b'],
      ['x\ufffd', 'q\ufffd'],
    ]);
  });

  test('a UTF-16 LE byte-order mark reads the file as UTF-16', () => {
    expect(fieldsOf(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('a,b\n1,"2"\n', 'utf16le')]))).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
  });
});

describe('errors: the reason and the line of the record they stop in', () => {
  test.each([
    ['a quote never closed', 'a,b\n1,2\n3,"x\n\n', 3, 'Quote Not Closed: the parsing is finished with an opening quote'],
    ['a quote inside an unquoted field', 'a,b\n1,x"y\n', 2, 'Invalid Opening Quote: a quote is found on field 1, value is "x"'],
    [
      'a character after a closing quote',
      'a,b\n\n"1"x,2\n',
      3,
      'Invalid Closing Quote: got "x" instead of delimiter, record delimiter, trimable character (if activated) or comment',
    ],
  ])('%s', (_what, data, line, reason) => {
    const outcome = read([Buffer.from(data)]);
    expect(outcome.error).toEqual({ line, reason });
    expect(outcome.records.map((r) => r.fields)).toEqual([['a', 'b'], ...(line === 3 && data.startsWith('a,b\n1,2') ? [['1', '2']] : [])]);
  });

  test('a record over the size limit', () => {
    const outcome = read([Buffer.from('a\n'), Buffer.from('x'.repeat(40)), Buffer.from('y'.repeat(40) + '\n')], { maxRecordBytes: 64 });
    expect(outcome.error).toEqual({ line: 2, reason: 'Max Record Size: record exceed the maximum number of tolerated bytes of 64' });
  });
});

describe('lines and offsets', () => {
  test('each record has its physical line and the offset after its line end', () => {
    const data = '\ufeffa,b\r\n"1\r\n2",x\r\n\r\n3,y';
    expect(read([Buffer.from(data)]).records.map((r) => [r.line, r.end])).toEqual([
      [1, 8],
      [2, 18],
      [5, 23],
    ]);
  });

  test.each([
    'a,b\n1,"x\ny"\n\n2,"z""\r\n"\n3,\n',
    'a,b\r\n"1\n",2\r\n\r\n3,4',
    'h\r\r\n1\r\n\ufeff.',
    '\ufeffa,"b\n',
    'a,b\n1,x"y\n',
    'a,"b\r\n"\n"c"x',
    Buffer.concat([Buffer.from('a,é\n1,'), Buffer.from([0xe2, 0x82]), Buffer.from(',"ü"\n')]),
  ])('every cut of %j gives what one chunk gives, and what csv-parse gave', async (data) => {
    const bytes = bytesOf(data);
    const whole = read([bytes]);
    expect(whole).toEqual(await referenceRead([bytes]));
    for (const chunks of cuts(bytes)) {
      expect(read(chunks)).toEqual(whole);
      expect(read(chunks, { linesFirst: true })).toEqual(whole);
    }
  });
});

describe('parity with the csv-parse reading of old', () => {
  test('the malformed corpus: the same records, lines, offsets and errors, whole and in chunks of 5', async () => {
    const csv = MALFORMED.filter((c) => c.fileName.endsWith('.csv'));
    expect(csv.length).toBeGreaterThan(10);
    for (const c of csv) {
      const bytes = c.bytes();
      const expected = await referenceRead(bytes.length > 0 ? [bytes] : []);
      const fives: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += 5) fives.push(bytes.subarray(at, at + 5));
      expect({ file: c.fileName, ...read([bytes]) }).toEqual({ file: c.fileName, ...expected });
      expect({ file: c.fileName, ...read(fives) }).toEqual({ file: c.fileName, ...expected });
      expect({ file: c.fileName, ...read([bytes], { linesFirst: true }) }).toEqual({ file: c.fileName, ...expected });
    }
  });

  test('generated files of quotes, delimiters, line ends of every kind, NULs and UTF-8, cut at random', async () => {
    let seed = 7;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    const alphabet = ['a', '7', ',', ',', '"', '"', '\r', '\n', '\n', '\r\n', 'é', '\0', ' ', '.', '\ufeff'];
    for (let n = 0; n < 3000; n++) {
      let text = '';
      const length = Math.floor(random() * 40);
      for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)];
      const bytes = Buffer.from(text);
      const chunks = randomChunks(bytes, random, 1, 6);
      // csv-parse's reading numbered a record that is nothing but line breaks by the breaks it had
      // seen so far, so it is the oracle read whole; the tokenizer must match it in any chunks.
      const expected = await referenceRead(bytes.length > 0 ? [bytes] : []);
      expect({ text, ...read(chunks) }).toEqual({ text, ...expected });
      // Lines handed over whole, their fields split on demand: the same.
      expect({ text, ...read(chunks, { linesFirst: true }) }).toEqual({ text, ...expected });
    }
  });

  test('generated ASCII files of longer fields (read a word at a time), every delimiter kind, cut at random', async () => {
    let seed = 19;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    // Characters on both sides of each delimiter's value, and below it (space, '!', '#', '+').
    const filler = ['0', '9', '.', '-', 'x', 'Z', ' ', '!', '#', '+', '~', ':', '<', '{', '}', '\x7f'];
    for (const delimiter of [',', ';', '\t', '|', ' ']) {
      for (let n = 0; n < 300; n++) {
        let text = '';
        const fields = Math.floor(random() * 60);
        for (let f = 0; f < fields; f++) {
          const length = Math.floor(random() * 13);
          let field = '';
          for (let i = 0; i < length; i++) field += filler[Math.floor(random() * filler.length)];
          const r = random();
          text += r < 0.05 ? `"${field}"` : field;
          text += r < 0.75 ? delimiter : r < 0.9 ? '\n' : r < 0.95 ? '\r\n' : r < 0.97 ? '"' : '\r';
        }
        const bytes = Buffer.from(text);
        const chunks = randomChunks(bytes, random, 1, 40);
        const expected = await referenceRead(bytes.length > 0 ? [bytes] : [], { delimiter });
        expect({ delimiter, text, ...read(chunks, { delimiter }) }).toEqual({ delimiter, text, ...expected });
        expect({ delimiter, text, ...read([bytes], { delimiter }) }).toEqual({ delimiter, text, ...expected });
      }
    }
  });
});

test('large chunks after a carried record (split after their first line, see push), and a file larger than a scan, read as the file whole: quotes, line breaks in them, CRLF, CR, errors, UTF-8', async () => {
  let seed = 23;
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  const cells = ['12', '-3.5', 'plain', '"quoted, with comma"', '"two\nlines"', '"crlf\r\ninside"', 'Zürich', '', '"a ""q"""'];
  for (let n = 0; n < 12; n++) {
    let text = '';
    const lineEnd = n % 4 === 3 ? '\r\n' : '\n';
    while (text.length < 150_000) {
      const fields = 1 + Math.floor(random() * 8);
      const row: string[] = [];
      for (let f = 0; f < fields; f++) row.push(cells[Math.floor(random() * cells.length)]);
      // A long quoted field now and then, so that a carried record spans a whole chunk.
      if (random() < 0.002) row.push(`"${'long\n'.repeat(2000)}"`);
      text += row.join(',') + lineEnd;
    }
    // One file has a stray quote (an error some way in), one lone CR line ends.
    if (n === 5) text = text.slice(0, 40_000) + 'x"y\n' + text.slice(40_000);
    if (n === 7) text = text.replaceAll('\n', '\r');
    const bytes = Buffer.from(text);
    const chunks = randomChunks(bytes, random, 4096, 16_000);
    const expected = await referenceRead([bytes], {});
    expect({ n, ...read(chunks) }).toEqual({ n, ...expected });
    expect({ n, ...read(chunks, { linesFirst: true }) }).toEqual({ n, ...expected });
    // Whole: more than the most the tokenizer scans at once (64 KiB), so it cuts the file itself.
    expect({ n, ...read([bytes]) }).toEqual({ n, ...expected });
  }
});

test('plainDecimal reads exactly what Number() reads, and declines the rest', () => {
  const read = (cell: string) => plainDecimal(cell, 0, cell.length);
  for (const cell of [
    '0',
    '-0',
    '+5',
    '12',
    '-87.608',
    '.5',
    '5.',
    '-.25',
    '000123.4500',
    '999999999999999',
    '0.1',
    '123456.789012345',
    '3.000',
  ]) {
    expect(Object.is(read(cell), Number(cell))).toBe(true);
  }
  let seed = 3;
  for (let i = 0; i < 20000; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    const cell = ((seed / 0x80000000) * 10 ** (seed % 9) - 1000).toFixed(seed % 7);
    expect(read(cell)).toBe(Number(cell));
  }
  for (const cell of ['', '.', '-', '+', '1e5', ' 1', '1 ', '0x10', '1.2.3', 'NaN', '1234567890123456', '1,5'])
    expect(read(cell)).toBeNaN();
});

test('CellInterner gives back the same string for the same characters', () => {
  const interner = new CellInterner();
  const text = 'red,green,red,blue,green';
  const first = interner.get(text, 0, 3);
  expect(first).toBe('red');
  expect(interner.get(text, 10, 13)).toBe('red');
  expect(interner.get(text, 14, 18)).toBe('blue');
  expect(interner.get(text, 14, 18)).toBe('blue');
  expect(interner.get(text, 4, 9)).toBe('green');
  expect(interner.get(text, 19, 24)).toBe('green');
  const long = 'x'.repeat(100);
  expect(interner.get(long, 0, 100)).toBe(long);
});

test('memory stays bounded: a long run of records that are nothing but line breaks is not all held', () => {
  const records: number[] = [];
  const tokenizer = new CsvTokenizer({ delimiter: ',', maxRecordBytes: MAX_RECORD_BYTES }, (record) => records.push(record.line));
  tokenizer.push(Buffer.from('a\n'));
  for (let i = 0; i < 10; i++) tokenizer.push(Buffer.from('\r\n'.repeat(1000)));
  // Handed over while the input goes on (a CR before an LF is a character in a file of LF lines).
  expect(records.length).toBeGreaterThan(4000);
  tokenizer.end();
  expect(records.length).toBe(10_001);
  expect(records[0]).toBe(1);
});
