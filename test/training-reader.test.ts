/**
 * train.py's channel reader (columns compacted chunk by chunk, numbers parsed a column at a time)
 * against the reader it replaced, kept verbatim in test/fixtures/training-reader/reference_reader.py:
 * on tricky CSVs both must give the same features, categories, task, classes, rows, arrays (to the
 * byte), log lines and error messages. compare.py runs each case with the default chunks and with
 * chunks of one and of four rows, so chunk boundaries fall everywhere.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../lib/function-catalog';
import { findPython } from '../local/python';
import { tempDir } from './helpers/cloud';

jest.setTimeout(300_000);

const COMPARE = path.join(REPO_ROOT, 'test', 'fixtures', 'training-reader', 'compare.py');

type Files = Record<string, string | Buffer>;

interface Case {
  train: Files;
  /** Omit for no validation channel (train.py holds rows out). */
  validation?: Files;
  hp?: Record<string, unknown>;
}

interface Comparison {
  same: boolean;
  outcome?: string;
  chunking?: [number, number];
  difference?: Record<string, unknown>;
}

const header = 'x,color,label';
const rows = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('\n');
const numbers = rows(30, (i) => `${(i * 7) % 11}.5,${['red', 'green', 'blue'][i % 3]},${i % 2}`);

/** The cases, each a pair of channels; what both readers must agree on is checked by compare.py. */
const CASES: Record<string, Case> = {
  plain: { train: { 'train.csv': `${header}\n${numbers}\n` }, validation: { 'validation.csv': `${header}\n${numbers}\n` } },
  'quoted commas and newlines, a wrong width after them': {
    train: { 'train.csv': `${header}\n1,"a,b",0\n2,"multi\nline\ncell",1\n3,"say ""hi""",0\n4,red\n` },
    validation: { 'validation.csv': `${header}\n1,red,1\n` },
  },
  'quoted commas and newlines': {
    train: { 'train.csv': `${header}\n1,"a,b",0\n2,"multi\nline\ncell",1\n3,"say ""hi""",0\n4,"x\r\ny",1\n${numbers}\n` },
    validation: { 'validation.csv': `${header}\n1,"a,b",1\n2,"multi\nline\ncell",0\n` },
  },
  'BOM, CRLF and blank lines': {
    train: {
      'train.csv': Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from(`${header}\r\n\r\n${numbers.replace(/\n/g, '\r\n\r\n')}\r\n\r\n`),
      ]),
    },
    validation: { 'validation.csv': `\ufeff${header}\r\n${numbers.replace(/\n/g, '\r\n')}` },
  },
  'missing cells, blank cells and a missing target': {
    train: { 'train.csv': `${header}\n,red,1\n 2 ,,0\n\t,green,1\n3, ,0\n4,blue,\n5,red, \n${numbers}\n` },
    validation: { 'validation.csv': `${header}\n,red,1\n6,,0\n7,blue,\n` },
  },
  'a text value in a numeric-looking column': {
    train: { 'train.csv': `${header}\n${numbers}\nabc,red,1\n` },
    validation: { 'validation.csv': `${header}\n${numbers}\n` },
  },
  'a text value only in the validation channel': {
    train: { 'train.csv': `${header}\n${numbers}\n` },
    validation: { 'validation.csv': `${header}\n${numbers}\n12abc,red,1\n` },
  },
  'text only in a row whose target is missing': {
    train: { 'train.csv': `${header}\n${numbers}\nabc,red,\n` },
    validation: { 'validation.csv': `${header}\n${numbers}\n` },
  },
  // Each alone, so that no other value makes the column text anyway.
  ...Object.fromEntries(
    ['1_000', 'nan', 'NaN', '-nan', 'inf', '-Infinity', '1e999', '0x10'].map((text) => [
      `float() reads it, NUMBER does not: ${text}`,
      { train: { 'train.csv': `${header}\n${numbers}\n${text},red,1\n` }, validation: { 'validation.csv': `${header}\n${numbers}\n` } },
    ]),
  ),
  'numbers NUMBER reads: signs, exponents, leading dots, whitespace, unicode digits': {
    train: {
      'train.csv': `${header}\n+1,red,0\n-.5,red,1\n5.,blue,0\n1E3,red,1\n2.5e-2,blue,0\n007, red,1\n" 8 ",red ,0\n\u0661\u0662,red,1\n\u00a09,red,0\n-0,red,1\n1e-400,red,0\n`,
    },
    validation: { 'validation.csv': `${header}\n\uff11,red,1\n3,red,0\n` },
  },
  'NUL characters in cells (the joined column text keeps offsets then)': {
    train: { 'train.csv': `${header}\n${rows(30, (i) => `${i}.5,${['a\x00b', '\x00', 'red'][i % 3]},${i % 2}`)}\n1\x00,red,0\n` },
    validation: { 'validation.csv': `${header}\n1,\x00,1\n2,red,0\n` },
  },
  'whitespace float() does not strip but strip() does': {
    train: { 'train.csv': `${header}\n\x1c1,red,0\n2\x1f,blue,1\n${numbers}\n` },
    validation: { 'validation.csv': `${header}\n${numbers}\n` },
  },
  'parts, each with a header, the second with its columns in another order': {
    train: {
      'part-000000.csv': `${header}\n${numbers}\n`,
      'part-000001.csv': `label,x,color\n${rows(20, (i) => `${i % 2},${i}.25,${['blue', 'black'][i % 2]}`)}\n`,
      'part-000002.csv': `color,label,x\n`,
      'part-000003.csv': `color,label,x\r\nred,1,oops\r\n`,
    },
    validation: {
      'part-000000.csv': `color,x,label\n${rows(10, (i) => `red,${i},${i % 2}`)}\n`,
      'part-000001.csv': `${header}\n1,green,0\n`,
    },
  },
  'train.csv first, then the other files in name order': {
    train: { 'a.csv': `label,color,x\n1,red,5\n`, 'train.csv': `${header}\n${numbers}\n`, 'z.csv': `x,label,color\n6,0,\n` },
  },
  'a second file with other columns': {
    train: { 'part-000000.csv': `${header}\n${numbers}\n`, 'part-000001.csv': 'x,colour,label\n1,red,0\n' },
  },
  'a wrong width in the second part, after a multi-line cell': {
    train: { 'part-000000.csv': `${header}\n${numbers}\n`, 'part-000001.csv': `label,x,color\n1,2,"a\nb"\n\n0,3,red,extra\n` },
  },
  'not UTF-8': {
    train: { 'train.csv': Buffer.concat([Buffer.from(`${header}\n${numbers}\n1,caf`), Buffer.from([0xe9]), Buffer.from(',0\n')]) },
  },
  'an unterminated quote (it takes the rest of the file)': { train: { 'train.csv': `${header}\n${numbers}\n1,"red,0\n2,blue,1\n` } },
  "a cell over the csv module's field size limit": { train: { 'train.csv': `${header}\n${numbers}\n1,"${'x'.repeat(200_000)}",0\n` } },
  'a header naming a column twice': { train: { 'train.csv': `x,x,label\n1,2,0\n` } },
  'no validation channel: rows held out': { train: { 'train.csv': `${header}\n${numbers}\n${numbers}\n` }, hp: { seed: 7 } },
  'a regression target': {
    train: { 'train.csv': `${header}\n${rows(40, (i) => `${i},red,${(i * 1.37).toFixed(3)}`)}\n` },
    validation: { 'validation.csv': `${header}\n1,red,2.5\n2,blue,-1e2\n` },
  },
  'a regression target with text': {
    train: { 'train.csv': `${header}\n${rows(40, (i) => `${i},red,${i * 3}`)}\n` },
    validation: { 'validation.csv': `${header}\n1,red,2.5\n2,blue,n/a\n` },
    hp: { task: 'regression' },
  },
  'class labels as numbers written differently': {
    train: { 'train.csv': `${header}\n${rows(30, (i) => `${i},red,${['1', '1.0', '01', ' 2', '2', '10', '-0'][i % 7]}`)}\n` },
    validation: { 'validation.csv': `${header}\n1,red,1e1\n2,red,0\n` },
  },
  'text class labels': {
    train: { 'train.csv': `${header}\n${rows(30, (i) => `${i},red,${['yes', 'no', 'Yes', '1'][i % 4]}`)}\n` },
    validation: { 'validation.csv': `${header}\n1,red,no\n` },
    hp: { task: 'classification' },
  },
  'schema.json: types, categories and classes': {
    train: {
      'train.csv': `${header},extra\n${rows(30, (i) => `${i},${['red', 'green', ''][i % 3]},${['a', 'b', '1.0', '01'][i % 4]},zz`)}\n`,
      'schema.json': JSON.stringify({
        columns: [
          { name: 'color', type: 'categorical', categories: ['green', 'red', ''] },
          { name: 'x', type: 'categorical' },
          { name: 'label', type: 'categorical' },
        ],
        classes: ['b', 'a', '1', '01'], // '1.0' is class '1', '01' its own
        task: 'classification',
      }),
    },
    validation: { 'validation.csv': `${header},extra\n1,red,a,q\n2,blue,1,q\n3,blue,01,q\n` },
  },
  'schema.json: a numeric column with text': {
    train: {
      'train.csv': `${header}\n${numbers}\n`,
      'schema.json': JSON.stringify({
        columns: [
          { name: 'color', type: 'numeric' },
          { name: 'x', type: 'numeric' },
          { name: 'label', type: 'categorical' },
        ],
      }),
    },
    validation: { 'validation.csv': `${header}\n${numbers}\n` },
  },
  'schema.json: a label outside its classes': {
    train: {
      'train.csv': `${header}\n${numbers}\n`,
      'schema.json': JSON.stringify({ columns: [{ name: 'x', type: 'numeric' }], classes: ['0'] }),
    },
    validation: { 'validation.csv': `${header}\n${numbers}\n` },
  },
};

let work: string;
let report: Record<string, Comparison>;
let fuzz: { cases: number; errors: number; mismatches: unknown[] };

function runPython(args: string[]): Promise<string> {
  return findPython().then(
    (python) =>
      new Promise((resolve, reject) =>
        execFile(python, [COMPARE, ...args], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
        ),
      ),
  );
}

beforeAll(async () => {
  work = tempDir('training-reader');
  const cases = path.join(work, 'cases');
  Object.entries(CASES).forEach(([, c], k) => {
    const dir = path.join(cases, `case-${String(k).padStart(2, '0')}`);
    for (const [channel, files] of [
      ['train', c.train],
      ['validation', c.validation],
    ] as const) {
      if (!files) continue;
      fs.mkdirSync(path.join(dir, channel), { recursive: true });
      for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, channel, name), content);
    }
    fs.writeFileSync(path.join(dir, 'hp.json'), JSON.stringify({ target: 'label', task: 'auto', seed: 42, ...c.hp }));
  });
  const byDir = JSON.parse(await runPython([cases])) as Record<string, Comparison>;
  report = Object.fromEntries(Object.keys(CASES).map((name, k) => [name, byDir[`case-${String(k).padStart(2, '0')}`]]));
  fuzz = JSON.parse(await runPython(['--fuzz', '600', '--seed', '1', '--work', path.join(work, 'fuzz')])) as typeof fuzz;
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe('the new reader gives exactly what the old one gave', () => {
  it.each(Object.keys(CASES))('%s', (name) => {
    const result = report[name];
    expect(result).toBeDefined();
    if (!result.same)
      throw new Error(`readers differ (chunking ${JSON.stringify(result.chunking)}): ${JSON.stringify(result.difference, null, 2)}`);
  });

  it('on 600 random channels of tricky cells and files (seeded)', () => {
    expect(fuzz.mismatches).toEqual([]);
    expect(fuzz.cases).toBe(600);
    // Some cases end in an error on both sides (that the messages agree is part of the check),
    // but most must get as far as the arrays.
    expect(fuzz.errors).toBeLessThan(fuzz.cases * 0.6);
  });
});

describe('the cases test what they are meant to', () => {
  it('reads the tricky files to the end', () => {
    for (const name of [
      'plain',
      'quoted commas and newlines',
      'BOM, CRLF and blank lines',
      'missing cells, blank cells and a missing target',
      'a text value in a numeric-looking column',
      'text only in a row whose target is missing',
      'NUL characters in cells (the joined column text keeps offsets then)',
      'float() reads it, NUMBER does not: 1_000',
      'numbers NUMBER reads: signs, exponents, leading dots, whitespace, unicode digits',
      'parts, each with a header, the second with its columns in another order',
      'no validation channel: rows held out',
      'a regression target',
      'class labels as numbers written differently',
      'schema.json: types, categories and classes',
    ]) {
      expect([name, report[name].outcome]).toEqual([name, 'ok']);
    }
  });

  it('names the file and line of bad input', () => {
    expect(report['quoted commas and newlines, a wrong width after them'].outcome).toBe(
      'error: train file train.csv line 7 has 2 cells but the header has 3 columns',
    );
    expect(report['a wrong width in the second part, after a multi-line cell'].outcome).toBe(
      'error: train file part-000001.csv line 5 has 4 cells but the header has 3 columns',
    );
    expect(report['a regression target with text'].outcome).toBe(
      "error: target 'label' must be numeric for regression, but validation validation.csv line 3 has 'n/a'",
    );
    expect(report['schema.json: a numeric column with text'].outcome).toBe(
      "error: column 'color' is numeric but train train.csv line 2 has 'red'",
    );
    expect(report['a second file with other columns'].outcome).toMatch(
      /^error: train file part-000001\.csv has columns \['x', 'colour', 'label'\]/,
    );
    expect(report['not UTF-8'].outcome).toMatch(/^error: train file train\.csv is not UTF-8 text/);
    expect(report['an unterminated quote (it takes the rest of the file)'].outcome).toBe(
      'error: train file train.csv line 33 has 2 cells but the header has 3 columns',
    );
    expect(report["a cell over the csv module's field size limit"].outcome).toBe(
      'error: train file train.csv line 32 is not valid CSV: field larger than field limit (131072)',
    );
    expect(report['a header naming a column twice'].outcome).toBe("error: train file train.csv has the column 'x' twice in its header");
    expect(report['schema.json: a label outside its classes'].outcome).toMatch(
      /^error: target 'label' value '1' at train train\.csv line 3 is not one of the classes/,
    );
    expect(report['a text value only in the validation channel'].outcome).toBe('ok');
  });
});
