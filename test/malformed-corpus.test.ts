/**
 * The malformed corpus (test/helpers/malformed.ts) through the pure scan: every file ends as a
 * rejection with the expected check, and its message names the file, the column and the lines or
 * rows concerned. The same files through the real Ingest handler: test/ingest-formats.test.ts.
 */
import { scanDataset } from '../lambdas/data/scan';
import { bufferSource } from '../lambdas/data/formats';
import { chunks } from './helpers/dataset-files';
import { MALFORMED } from './helpers/malformed';

const FOLDER = 'datasets/corpus/';

test('the corpus has at least 20 files, each named once', () => {
  expect(MALFORMED.length).toBeGreaterThanOrEqual(20);
  expect(new Set(MALFORMED.map((c) => c.fileName)).size).toBe(MALFORMED.length);
});

describe.each(MALFORMED.map((c) => [c.fileName, c] as const))('%s', (_name, c) => {
  const fileName = FOLDER + c.fileName;
  const options = { fileName, schema: c.schema, strictSchema: c.strict };

  test(`${c.what}: rejected as ${c.check}, naming the file${c.column ? `, column '${c.column}'` : ''}${c.rows ? ` and rows ${c.rows.join(', ')}` : ''}`, async () => {
    const result = await scanDataset(chunks(c.bytes(), 5), options);
    expect(result.accepted).toBe(false);
    const found = result.violations.filter((v) => v.check === c.check && (c.column === undefined || v.column === c.column));
    if (found.length !== 1)
      throw new Error(`expected one ${c.check} violation, got:\n${result.violations.map((v) => `${v.check}: ${v.message}`).join('\n')}`);
    const [v] = found;
    expect(v.message).toContain(fileName);
    if (c.column !== undefined) expect(v.message).toContain(`'${c.column}'`);
    if (c.rows !== undefined) {
      expect(v.exampleRows).toEqual(c.rows);
      if (c.rowsInMessage !== false) expect(v.message).toMatch(new RegExp(`\\b(rows?|lines?) ${c.rows[0]}\\b`));
    }
    for (const text of c.mentions ?? []) expect(v.message).toContain(text);
    // Full sentences.
    expect(v.message).toMatch(/^[A-Z'a-z].+[.?]$/);
  });

  test('the same verdict from one chunk and by ranges, with the hash of every byte', async () => {
    const bytes = c.bytes();
    const [streamed, whole, ranged] = await Promise.all([
      scanDataset(chunks(bytes, 5), options),
      scanDataset(chunks(bytes, bytes.length || 1), options),
      scanDataset(bufferSource(bytes), options),
    ]);
    const verdict = (r: typeof streamed) => r.violations.map((v) => [v.check, v.column, v.exampleRows]);
    expect(verdict(whole)).toEqual(verdict(streamed));
    expect(verdict(ranged)).toEqual(verdict(streamed));
    expect(new Set([streamed.sha256, whole.sha256, ranged.sha256]).size).toBe(1);
    expect(streamed.bytes).toBe(bytes.length);
  });
});
