/**
 * Batch scoring end to end on the local stack: a champion trained through the pipeline, then files
 * dropped under batch/ through `mloop score` (the batch state machine from the template: plan, the
 * Distributed Map of score-part, merge), and the score-part core called directly for what the
 * state machine cannot show by itself (parts against one part, a retried part).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as arrow from 'apache-arrow';
import { PassThrough } from 'node:stream';
import { Readable } from 'node:stream';
import { runDriftCommand } from '../bin/commands/drift';
import { scoreCommand, type ScoreResult } from '../bin/commands/score';
import { Reservoir } from '../lambdas/batch/capture-sample';
import type { CaptureRecord } from '../lambdas/shared/capture-record';
import { executionStatusEvent } from '../local/events';
import { readLocalEvents } from '../local/events-journal';
import { localTarget } from '../bin/local-target';
import { partRanges } from '../lambdas/data/parts';
import { CsvRecordCuts, partsAtCuts } from '../lambdas/batch/record-cuts';
import { mergeBatch, planBatch, scorePlanPart } from '../lambdas/batch/runs';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../lambdas/shared/clients';
import { batchEnv } from '../lambdas/shared/env';
import { parse as parseCsv } from 'csv-parse/sync';
import { cellValues, textPartFrom, type FileLayout } from '../lambdas/batch/part-rows';
import { spreadsheetSafe } from '../lambdas/shared/spreadsheet-safe';
import { csvLine } from '../lambdas/data/splits';
import { scorePart, type RowSampler, type ScorePartOptions } from '../lambdas/batch/score-part';
import { ModelServer } from '../lambdas/inference/serving';
import type { ModelRuntime } from '../lambdas/shared/model-runtime';
import { churnRows, toCsv } from '../local/demo-data';
import { getObjectJson, getText, listKeys, startCloud, stopCloud, tempDir, trainModel, type TestCloud } from './helpers/cloud';
import { arrowParquet, arrowValues } from './helpers/parquet-files';

jest.setTimeout(300_000);

let test_: TestCloud;
let runtime: ModelRuntime;
let dir: string;
const MODEL = 'churn';
/** A full garbage collection (V8's gc, exposed at run time: the test command passes no flag). */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
/** Rows scored by every `mloop score` run of this file: the drift monitor must see each (all runs are under the sample's cap). */
let scoredByRuns = 0;

beforeAll(async () => {
  test_ = await startCloud();
  await trainModel(test_, MODEL, toCsv(churnRows({ rows: 400, seed: 7 })), 'churned');
  runtime = (await new ModelServer(test_.registry, 0).get(MODEL)).runtime;
  dir = tempDir('batch');
});

afterAll(async () => {
  await stopCloud(test_);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function score(
  file: string,
  body: string | Buffer,
  extra: { idColumn?: string; output?: string; version?: string; force?: boolean } = {},
) {
  const input = path.join(dir, file);
  fs.writeFileSync(input, body);
  const lines: string[] = [];
  const io = { json: true, out: (t: string) => lines.push(t), err: () => undefined };
  const result = await scoreCommand(io, await localTarget(test_.cloud), { model: MODEL, input, ...extra });
  scoredByRuns += result.rowsScored ?? 0;
  return { result, printed: JSON.parse(lines[0]) as ScoreResult };
}

const errorsOf = (result: ScoreResult) =>
  fs
    .readFileSync(result.errors!, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { line: number; reason: string });

const good = churnRows({ rows: 30, seed: 11 });

/**
 * A sampler that keeps every nth line in a slot of its own, and once the part is scored pushes each
 * kept row as JSON into `into`, in input order. The rows are built after the part is scored, as
 * the drift sample builds them: what builds a row must not read the batches, lines or buffers
 * scoring reused since.
 */
function everyNth(n: number, into: string[]): RowSampler {
  const lines: number[] = [];
  return {
    size: 10_000,
    slotFor: (line) => (line % n === 0 ? lines.push(line) - 1 : -1),
    collect: (build) => lines.forEach((line, slot) => into.push(JSON.stringify({ line, ...build(slot) }))),
  };
}

describe('mloop score', () => {
  test('a CSV with bad rows: every good row is scored, each bad one rejected with its line and reason', async () => {
    const csv = toCsv(good).trimEnd().split('\n');
    // Lines 5, 9 and 12 of the file (the header is line 1) are broken.
    csv[4] = csv[4].replace(/^\d+,/, 'abc,');
    csv[8] = csv[8].replace(/month-to-month|one-year|two-year/, 'weekly');
    csv[11] = csv[11].split(',').slice(0, 4).join(',');
    const { result, printed } = await score('customers.csv', csv.join('\n') + '\n');

    expect(Object.keys(printed)).toEqual([
      'status',
      'model',
      'version',
      'rowsIn',
      'rowsScored',
      'rowsRejected',
      'output',
      'errors',
      'execution',
    ]);
    expect(printed).toEqual(result);
    expect(result).toMatchObject({ status: 'SUCCEEDED', model: MODEL, version: 1, rowsIn: 30, rowsScored: 27, rowsRejected: 3 });
    const out = fs.readFileSync(result.output!, 'utf8').trim().split('\n');
    expect(out[0]).toBe('tenure_months,monthly_charges,support_calls,contract,payment,churned,predicted_label,probability_0,probability_1');
    expect(out).toHaveLength(28);
    // Input order, the input's own cells first.
    expect(out[1].startsWith(csv[1] + ',')).toBe(true);
    expect(out[27].startsWith(csv[30] + ',')).toBe(true);
    const errors = errorsOf(result);
    expect(errors.map((e) => e.line)).toEqual([5, 9, 12]);
    expect(errors[0].reason).toBe('row.tenure_months must be a number or null, got string.');
    expect(errors[1].reason).toMatch(/^row\.contract is 'weekly', a category the model was not trained on \(it knows .*'month-to-month'/);
    expect(errors[2].reason).toBe('The row has 4 field(s) where the header has 6; expected one value per column.');
    // The run's manifest beside the predictions.
    const manifestKey = (await listKeys(test_.cloud.dataBucket, `predictions/${MODEL}/${result.execution}/`)).find((k) =>
      k.endsWith('manifest.json'),
    )!;
    const manifest = await getObjectJson<Record<string, unknown>>(test_.cloud.dataBucket, manifestKey);
    expect(manifest).toMatchObject({
      run: result.execution,
      model: { name: MODEL, version: 1, alias: 'champion' },
      input: { key: `batch/${MODEL}/customers.csv`, format: 'csv', gzip: false, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      rowsIn: 30,
      rowsScored: 27,
      rowsRejected: 3,
    });
  });

  test('JSON Lines in, JSON Lines out: a missing feature and a line that is not JSON are rejected by line', async () => {
    const lines = good.slice(0, 6).map((r) => JSON.stringify({ id: `c${r.tenure_months}`, ...r }));
    const missing = { id: 'missing', ...good[6] } as Partial<(typeof good)[number]>;
    delete missing.support_calls;
    lines.splice(2, 0, JSON.stringify(missing), '{not json');
    const { result } = await score('customers.jsonl', lines.join('\n') + '\n', { idColumn: 'id' });
    expect(result).toMatchObject({ rowsIn: 8, rowsScored: 6, rowsRejected: 2 });
    expect(result.output!.endsWith('customers.predictions.jsonl')).toBe(true);
    const out = fs
      .readFileSync(result.output!, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; prediction: { label: string; probabilities: Record<string, number> } });
    expect(out.map((o) => Object.keys(o))).toEqual(out.map(() => ['id', 'prediction']));
    expect(out.map((o) => o.id)).toEqual(good.slice(0, 6).map((r) => `c${r.tenure_months}`));
    expect(['0', '1']).toContain(out[0].prediction.label);
    const errors = errorsOf(result);
    expect(errors.map((e) => e.line)).toEqual([3, 4]);
    expect(errors[0].reason).toBe("row is missing feature 'support_calls' (send null for a missing value).");
    expect(errors[1].reason).toMatch(/^The line is not valid JSON/);
  });

  test('Parquet in, CSV out: the same predictions as the CSV of the same rows', async () => {
    const rows = good.slice(0, 20);
    const parquet = arrowParquet(
      {
        tenure_months: arrowValues(
          new arrow.Float64(),
          rows.map((r) => r.tenure_months),
        ),
        monthly_charges: arrowValues(
          new arrow.Float64(),
          rows.map((r) => r.monthly_charges),
        ),
        support_calls: arrowValues(
          new arrow.Float64(),
          rows.map((r) => r.support_calls),
        ),
        contract: arrowValues(
          new arrow.Utf8(),
          rows.map((r) => r.contract),
        ),
        payment: arrowValues(
          new arrow.Utf8(),
          rows.map((r) => r.payment),
        ),
      },
      { rowGroupSize: 7 },
    );
    const fromParquet = (await score('table.parquet', parquet)).result;
    const fromCsv = (
      await score(
        'table.csv',
        toCsv(rows)
          .replace(/,churned\n/, '\n')
          .replace(/,[01]\n/g, '\n'),
      )
    ).result;
    expect(fromParquet).toMatchObject({ rowsIn: 20, rowsScored: 20, rowsRejected: 0, errors: null });
    const predictionsOf = (file: string) =>
      fs
        .readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(',').slice(-3).join(','));
    expect(predictionsOf(fromParquet.output!)).toEqual(predictionsOf(fromCsv.output!));
  });
});

describe('the score-part core', () => {
  const layoutOf = (bytes: Buffer): FileLayout => ({
    format: 'csv',
    gzip: false,
    size: bytes.length,
    header: ['tenure_months', 'monthly_charges', 'support_calls', 'contract', 'payment', 'churned'],
    recordDelimiter: '\n',
  });

  async function run(
    bytes: Buffer,
    part: { index: number; start: number; end: number },
    options: ScorePartOptions = { batchRows: 5 },
    layout: FileLayout = layoutOf(bytes),
  ) {
    const predictions = new PassThrough();
    const errors = new PassThrough();
    const collect = (s: PassThrough) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      return new Promise<string>((resolve) => s.on('end', () => resolve(Buffer.concat(chunks).toString('utf8'))));
    };
    const [p, e] = [collect(predictions), collect(errors)];
    const from = textPartFrom(part);
    const stream = Readable.from([bytes.subarray(from, from + 37), bytes.subarray(from + 37)]);
    const counts = await scorePart({ text: { stream, from } }, layout, part, runtime, { predictions, errors }, options);
    return { counts, predictions: await p, errors: await e };
  }

  test('the drift sample holds none of the input: every chunk can be collected while the sample is kept', async () => {
    // Chunks of their own, as a stream allocates them; CRLF lines go the tokenizer's field path,
    // LF lines its whole-line path: both kinds of fast row are kept for a while.
    const lf = Buffer.from(toCsv(churnRows({ rows: 6000, seed: 5 })));
    const crlf = Buffer.from(toCsv(churnRows({ rows: 6000, seed: 6 })).replaceAll('\n', '\r\n'));
    for (const bytes of [lf, crlf]) {
      const alive: WeakRef<ArrayBuffer>[] = [];
      const chunks = function* () {
        for (let at = 0; at < bytes.length; at += 8 * 1024) {
          const chunk = Buffer.alloc(Math.min(8 * 1024, bytes.length - at));
          bytes.copy(chunk, 0, at, at + chunk.length);
          alive.push(new WeakRef(chunk.buffer));
          yield chunk;
        }
      };
      const sampler = new Reservoir(500, 'held');
      const sinks = { predictions: new PassThrough(), errors: new PassThrough() };
      sinks.predictions.resume();
      sinks.errors.resume();
      const layout = { ...layoutOf(bytes), recordDelimiter: bytes === crlf ? '\r\n' : '\n' };
      await scorePart(
        { text: { stream: Readable.from(chunks()), from: 0 } },
        layout,
        { index: 0, start: 0, end: bytes.length },
        runtime,
        sinks,
        {
          sampler,
        },
      );
      for (let i = 0; i < 3; i++) {
        collectGarbage();
        await new Promise((resolve) => setImmediate(resolve));
      }
      // The sample is kept (the sampler holds it), and no chunk is held for it.
      expect(alive.length).toBeGreaterThan(20);
      expect({ crlf: bytes === crlf, held: alive.filter((ref) => ref.deref() !== undefined).length }).toEqual({
        crlf: bytes === crlf,
        held: 0,
      });
      expect(sampler.sample()).toHaveLength(500);
    }
  });

  test("the drift sample holds none of the chunks' text either: rows read cell by cell keep strings of their own", async () => {
    // Rows on the per-row path (every row of a model the cell encoder cannot take, or a row it is
    // unsure of), with an id column the model does not read: their cells are cut from the text
    // the tokenizer makes of each 64 KiB it scans, and a cut of 13 characters or more (an id) is a
    // slice that keeps that whole text alive for as long as the row is kept.
    const rows = churnRows({ rows: 60_000, seed: 8 });
    const csv = toCsv(rows)
      .trimEnd()
      .split('\n')
      .map((line, i) => (i === 0 ? 'customer_id,' : `customer-${String(i).padStart(8, '0')},`) + line)
      .join('\n');
    const bytes = Buffer.from(csv + '\n');
    const whole = { index: 0, start: 0, end: bytes.length };
    const layout = { ...layoutOf(bytes), header: csv.slice(0, csv.indexOf('\n')).split(',') };
    const heapAfterGc = async () => {
      for (let i = 0; i < 3; i++) {
        collectGarbage();
        await new Promise((resolve) => setImmediate(resolve));
      }
      return process.memoryUsage().heapUsed;
    };
    // Once without a sample, so that what scoring leaves behind for good (compiled code, caches) is there before.
    await run(bytes, whole, { batchRows: 256, perRow: true }, layout);
    const before = await heapAfterGc();
    const sampler = new Reservoir(500, 'ids');
    // Only the counts kept: the predictions' text is not what is measured.
    const { counts } = await run(bytes, whole, { batchRows: 256, sampler, perRow: true }, layout);
    expect(counts.rowsScored).toBe(60_000);
    const held = (await heapAfterGc()) - before;
    const sample = sampler.sample();
    expect(sample).toHaveLength(500);
    expect(sample.every((r) => r.instance.customer_id === `customer-${String(r.line - 1).padStart(8, '0')}`)).toBe(true);
    // The file's text is about 60 texts of 64 KiB: held by the slices, 3.8 MB was measured; 500 rows of their own, 0.3.
    expect({ bytes: bytes.length, heldUnderAMegabyte: held < 2 ** 20 }).toEqual({ bytes: bytes.length, heldUnderAMegabyte: true });
  });

  test('a file in several parts gives the same rows, in order, as one part; lines add up', async () => {
    const csv = toCsv(churnRows({ rows: 120, seed: 3 })).replace(/\n(\d+),([^\n]*)\n/, '\nx$1,$2\n');
    const bytes = Buffer.from(csv);
    const whole = await run(bytes, { index: 0, start: 0, end: bytes.length });
    const { parts } = partRanges(bytes.length, 1024, 1000);
    expect(parts.length).toBeGreaterThan(3);
    const pieces: Awaited<ReturnType<typeof run>>[] = [];
    for (const part of parts) pieces.push(await run(bytes, part));
    const body = (text: string) => text.split('\n').slice(1).join('\n');
    // Row for row: the same cells and label; the probabilities to float32's last bits, which
    // onnxruntime may round differently when a part's batches hold other rows (other shapes).
    const rows = (text: string) =>
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split(','));
    const inParts = rows(pieces.map((p) => body(p.predictions)).join(''));
    const inOne = rows(body(whole.predictions));
    expect(inParts).toHaveLength(inOne.length);
    inParts.forEach((cells, i) => {
      expect(cells.slice(0, -2)).toEqual(inOne[i].slice(0, -2));
      cells.slice(-2).forEach((p, j) => expect(Number(p)).toBeCloseTo(Number(inOne[i][inOne[i].length - 2 + j]), 6));
    });
    expect(pieces.every((p) => p.predictions.split('\n')[0] === whole.predictions.split('\n')[0])).toBe(true);
    const sum = (k: 'rowsIn' | 'rowsScored' | 'rowsRejected' | 'lines') => pieces.reduce((s, p) => s + p.counts[k], 0);
    expect([sum('rowsIn'), sum('rowsScored'), sum('rowsRejected'), sum('lines')]).toEqual([
      whole.counts.rowsIn,
      whole.counts.rowsScored,
      whole.counts.rowsRejected,
      whole.counts.lines,
    ]);
    expect(whole.counts).toMatchObject({ rowsIn: 120, rowsScored: 119, rowsRejected: 1, lines: 121 });
  });

  /** 150 churn rows whose passed-through last cell spans three lines (LF and CRLF inside quotes): nominal part starts fall inside quotes. */
  const quotedNotesCsv = (): Buffer => {
    const lines = toCsv(churnRows({ rows: 150, seed: 5 }))
      .trimEnd()
      .split('\n');
    return Buffer.from(
      [lines[0], ...lines.slice(1).map((l, i) => l.replace(/,[^,]*$/, `,"note ${i}\nsaid ""no""\r\nend"`))].join('\n') + '\n',
    );
  };

  test('a CSV whose quoted cells hold line breaks: parts cut where the plan finds them equal one part; nominal cuts would not', async () => {
    const bytes = quotedNotesCsv();
    const nominal = partRanges(bytes.length, 1024, 1000).parts;
    const cuts = new CsvRecordCuts(nominal.slice(1).map((p) => p.start));
    for (let at = 0; at < bytes.length; at += 333) cuts.update(bytes.subarray(at, at + 333)); // chunked as S3 streams it
    const parts = partsAtCuts(bytes.length, cuts.cuts);
    expect(parts.length).toBeGreaterThan(3);
    const whole = await run(bytes, { index: 0, start: 0, end: bytes.length });
    expect(whole.counts).toMatchObject({ rowsIn: 150, rowsScored: 150, rowsRejected: 0, lines: 451 });
    const pieces: Awaited<ReturnType<typeof run>>[] = [];
    for (const part of parts) pieces.push(await run(bytes, part));
    const records = (text: string) => (parseCsv(text, { relax_column_count: true }) as string[][]).slice(1);
    const inParts = pieces.flatMap((p) => records(p.predictions));
    const inOne = records(whole.predictions);
    expect(inParts.map((r) => r.slice(0, -2))).toEqual(inOne.map((r) => r.slice(0, -2)));
    expect(pieces.reduce((n, p) => n + p.counts.lines, 0)).toBe(whole.counts.lines);
    expect(pieces.reduce((n, p) => n + p.counts.rowsRejected, 0)).toBe(0);
    // The nominal ranges cut records apart: a part that ends inside a quoted cell cannot be read.
    await expect(run(bytes, nominal[0])).rejects.toThrow(
      /cannot be read as CSV from the row starting on line 50 of part 0 \(Quote Not Closed/,
    );
  });

  test('Plan batch cuts such a CSV between records: planned, scored part by part and merged, every row is scored', async () => {
    // Its own bucket: a drop under the data bucket's batch/ would start a run of its own.
    const bucket = 'mloop-test-quoted-plan';
    await s3Client().send(new CreateBucketCommand({ Bucket: bucket }));
    const key = `batch/${MODEL}/quoted-notes.csv`;
    const bytes = quotedNotesCsv();
    await s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
    const env = batchEnv.parse({ ...test_.cloud.functions.byId('batch').environment, PART_BYTES: '1024', BATCH_CAPTURE_ROWS: '0' });
    const server = new ModelServer(test_.registry, 0);
    const planned = await planBatch({ bucket, key }, 'quoted-plan', server, env);
    expect(planned.parts.length).toBeGreaterThan(3);
    for (const part of planned.parts.slice(1)) expect(bytes[part.start - 1]).toBe(0x0a);
    const results = [];
    for (const part of planned.parts) results.push(await scorePlanPart(planned.plan, part, server, env));
    const summary = await mergeBatch(planned.plan, results);
    expect(summary).toMatchObject({ status: 'SUCCEEDED', rowsIn: 150, rowsScored: 150, rowsRejected: 0 });
    const manifest = await getObjectJson<{ parts: { predictions: string }[] }>(bucket, new URL(summary.manifest).pathname.slice(1));
    const texts = await Promise.all(manifest.parts.map((p) => getText(bucket, new URL(p.predictions).pathname.slice(1))));
    const rows = texts.flatMap((t) => (parseCsv(t) as string[][]).slice(1));
    expect(rows.map((r) => r[5])).toEqual(Array.from({ length: 150 }, (_, i) => `note ${i}\nsaid "no"\r\nend`));
  });

  test('cells that a spreadsheet would run as formulas are written with a leading quote; numbers such as -1.5 are not', async () => {
    // The target column is passed through: the hostile cells ride in it (issue 18, CSV injection).
    const lines = toCsv(churnRows({ rows: 5, seed: 9 }))
      .trimEnd()
      .split('\n');
    const hostile = ['=HYPERLINK("http://evil.example","x")', '+1+cmd|calc', '-1.5', '@SUM(A1)', '-2+3'];
    const csv = [lines[0], ...lines.slice(1).map((l, i) => l.replace(/,[^,]*$/, `,"${hostile[i].replace(/"/g, '""')}"`))].join('\n') + '\n';
    const bytes = Buffer.from(csv);
    const { predictions, counts } = await run(bytes, { index: 0, start: 0, end: bytes.length });
    expect(counts.rowsScored).toBe(5);
    const lastCells = predictions
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',')[5]);
    expect(lastCells).toEqual([`"'=HYPERLINK(""http://evil.example""`, "'+1+cmd|calc", '-1.5', "'@SUM(A1)", "'-2+3"]);
  });

  test('the cell encoder gives the same output as the per-row path, byte for byte: predictions, rejections and the drift sample', async () => {
    // Bad numbers, blanks, unknown categories, short rows, quoted cells, extra columns' values.
    const lines = toCsv(churnRows({ rows: 300, seed: 9 }))
      .trimEnd()
      .split('\n');
    const damage = ['x', '', ' ', '1e39', 'Infinity', '0x10', ' 12 ', 'gold', '"a,b"', '"=1"'];
    const messy = lines.map((line, i) => {
      // A column the model does not read (the target) in UTF-8 beyond ASCII, a surrogate pair too:
      // the row is scored, and its cells are written as read.
      if (i > 0 && i % 11 === 0) return line.replace(/[^,]*$/, 'sí 𝄞');
      if (i === 0 || i % 3 !== 0) return line;
      const cells = line.split(',');
      if (i % 31 === 0) return cells.slice(1).join(',');
      cells[i % cells.length] = damage[i % damage.length];
      return cells.join(',');
    });
    const bytes = Buffer.from(messy.join('\n') + '\n');
    const [fastSample, perRowSample]: string[][] = [[], []];
    const whole = { index: 0, start: 0, end: bytes.length };
    const fast = await run(bytes, whole, { batchRows: 16, sampler: everyNth(7, fastSample) });
    const perRow = await run(bytes, whole, { batchRows: 16, sampler: everyNth(7, perRowSample), perRow: true });
    expect(fast.predictions).toBe(perRow.predictions);
    expect(fast.errors).toBe(perRow.errors);
    expect(fast.counts).toMatchObject({
      rowsIn: perRow.counts.rowsIn,
      rowsScored: perRow.counts.rowsScored,
      rowsRejected: perRow.counts.rowsRejected,
    });
    expect(fastSample).toEqual(perRowSample);
    // With an id column: its cell, then the prediction; the same both ways, rows in input order.
    const fastId = await run(bytes, whole, { batchRows: 16, idColumn: 'contract' });
    const perRowId = await run(bytes, whole, { batchRows: 16, idColumn: 'contract', perRow: true });
    expect(fastId.predictions).toBe(perRowId.predictions);
    const idLines = fastId.predictions.trimEnd().split('\n');
    expect(idLines[0]).toMatch(/^contract,predicted_label,probability_/);
    expect(idLines.length - 1).toBe(fast.counts.rowsScored);
    expect(idLines.slice(1).map((l) => l.split(',').length)).toEqual(
      fast.predictions
        .trimEnd()
        .split('\n')
        .slice(1)
        .map(() => 4),
    );
    // And both are what the API's predict core answers for the rows not rejected, as csvLine writes them.
    const rejected = new Set(
      fast.errors
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { line: number }).line),
    );
    const header = messy[0].split(',');
    const kept = messy.slice(1).filter((_, i) => !rejected.has(i + 2));
    const cellsOf = (line: string) =>
      line
        .match(/("[^"]*"|[^,]*)(?:,|$)/g)!
        .slice(0, header.length)
        .map((c) => c.replace(/,$/, '').replace(/^"(.*)"$/, '$1'));
    const toValues = cellValues(runtime.card);
    // In the same batches of 16 scored rows: onnxruntime's float32 results may differ in the last
    // bits with the batch's shape.
    const answered: Awaited<ReturnType<typeof runtime.predict>> = [];
    for (let i = 0; i < kept.length; i += 16) {
      answered.push(...(await runtime.predict(kept.slice(i, i + 16).map((line) => toValues(header, cellsOf(line))))));
    }
    const classes = runtime.card.classes!;
    const expected = kept.map((line, i) => {
      const p = answered[i] as { label: string; probabilities: Record<string, number> };
      return csvLine([...cellsOf(line), p.label, ...classes.map((c) => String(p.probabilities[c]))].map(spreadsheetSafe));
    });
    expect(fast.predictions).toBe(
      csvLine([...header, 'predicted_label', ...classes.map((c) => `probability_${c}`)].map(spreadsheetSafe)) + expected.join(''),
    );
    expect(fast.counts.rowsRejected).toBeGreaterThan(30);
    expect(fast.counts.rowsScored).toBeGreaterThan(200);
    expect(fastSample.length).toBeGreaterThan(20);
  });

  test('the drift sample holds, in each slot, the row last given it: its own values and prediction, on both paths', async () => {
    // 3,000 rows through 12 slots: rows replace each other in the slots many times over.
    const rows = churnRows({ rows: 3000, seed: 17 });
    const bytes = Buffer.from(toCsv(rows));
    const whole = { index: 0, start: 0, end: bytes.length };
    const [fastSampler, perRowSampler] = [new Reservoir(12, 'slots'), new Reservoir(12, 'slots')];
    const fast = await run(bytes, whole, { batchRows: 64, sampler: fastSampler });
    const perRow = await run(bytes, whole, { batchRows: 64, sampler: perRowSampler, perRow: true });
    const sample = fastSampler.sample();
    expect(sample).toHaveLength(12);
    expect(sample).toEqual(perRowSampler.sample());
    expect(fast.predictions).toBe(perRow.predictions);
    // Line 1 is the header: line L is rows[L - 2], and output line L - 1 its prediction.
    const output = fast.predictions.trimEnd().split('\n');
    const values = cellValues(runtime.card);
    const header = output[0].split(',');
    for (const kept of sample) {
      expect(kept.line).toBeGreaterThan(1);
      const row = rows[kept.line - 2];
      expect(kept.instance).toEqual(values(header.slice(0, 6), toCsv([row]).split('\n')[1].split(',')));
      const cells = output[kept.line - 1].split(',');
      const probabilities = (kept.prediction as { probabilities: Record<string, number> }).probabilities;
      expect(cells.slice(-Object.keys(probabilities).length)).toEqual(Object.values(probabilities).map(String));
    }
    // Spread over the file, not its first rows.
    expect(Math.max(...sample.map((r) => r.line))).toBeGreaterThan(1500);
  });

  test('JSON Lines: the object encoder and the text writer give the same output as the per-row path, byte for byte, and what the API answers', async () => {
    const rows = churnRows({ rows: 300, seed: 21 }).map((r) => ({ ...r }) as Record<string, unknown>);
    const damage: ((o: Record<string, unknown>) => void)[] = [
      (o) => (o.tenure_months = String(o.tenure_months)),
      (o) => (o.monthly_charges = null),
      (o) => delete o.support_calls,
      (o) => (o.contract = 'gold'),
      (o) => (o.contract = null),
      (o) => (o.payment = '  '),
      (o) => (o.payment = 3),
      (o) => (o.tenure_months = true),
      (o) => (o.monthly_charges = { nested: 1 }),
      (o) => (o.prediction = 'kept in place'),
      (o) => (o['7'] = 'an integer-like key'),
      (o) => (o.note = '=1+1 é "quoted"'),
      (o) => (o.contract = 'c'.repeat(1001)),
      (o) => (o.support_calls = 1e39),
    ];
    const lines = rows.map((o, i) => {
      if (i % 3 === 0) damage[(i / 3) % damage.length](o);
      return JSON.stringify(o);
    });
    lines.splice(40, 0, '{"__proto__": {"x": 1}, "tenure_months": 3}', '[1,2]', 'not json', '{}');
    const bytes = Buffer.from(lines.join('\n') + '\n');
    const layout: FileLayout = { format: 'jsonl', gzip: false, size: bytes.length };
    const [fastSample, perRowSample]: string[][] = [[], []];
    const whole = { index: 0, start: 0, end: bytes.length };
    const fast = await run(bytes, whole, { batchRows: 16, sampler: everyNth(5, fastSample) }, layout);
    const perRow = await run(bytes, whole, { batchRows: 16, sampler: everyNth(5, perRowSample), perRow: true }, layout);
    expect(fast.predictions).toBe(perRow.predictions);
    expect(fast.errors).toBe(perRow.errors);
    expect(fastSample).toEqual(perRowSample);
    expect(fast.counts).toMatchObject({
      rowsIn: lines.length,
      rowsScored: perRow.counts.rowsScored,
      rowsRejected: perRow.counts.rowsRejected,
    });
    // And both are what the API's predict core answers, in the same batches of 16 scored rows.
    const rejected = new Set(
      fast.errors
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { line: number }).line),
    );
    const kept = lines.filter((_, i) => !rejected.has(i + 1)).map((l) => JSON.parse(l) as Record<string, unknown>);
    const answered: Awaited<ReturnType<typeof runtime.predict>> = [];
    for (let i = 0; i < kept.length; i += 16) answered.push(...(await runtime.predict(kept.slice(i, i + 16))));
    expect(fast.predictions).toBe(kept.map((o, i) => JSON.stringify({ ...o, prediction: answered[i] }) + '\n').join(''));
    expect(fast.counts.rowsRejected).toBeGreaterThan(40);
    expect(fast.counts.rowsScored).toBeGreaterThan(200);
  });

  test('a part scored again (a Map retry) gives byte-identical output', async () => {
    const bytes = Buffer.from(toCsv(churnRows({ rows: 60, seed: 5 })));
    const part = partRanges(bytes.length, 1024, 1000).parts[1];
    const [first, second] = [await run(bytes, part), await run(bytes, part)];
    expect(second.predictions).toBe(first.predictions);
    expect(second.errors).toBe(first.errors);
    expect(first.counts.rowsIn).toBeGreaterThan(0);
  });
});

describe('drift sees batch rows', () => {
  test('each run writes its scored rows where the monitor reads captures, marked source batch, and the monitor counts them', async () => {
    const { result } = await score('drift.csv', toCsv(churnRows({ rows: 40, seed: 21 })));
    expect(result.rowsScored).toBe(40);
    const manifestKey = `predictions/${MODEL}/${result.execution}/manifest.json`;
    const manifest = await getObjectJson<{ capture: { rows: number; key: string } }>(test_.cloud.dataBucket, manifestKey);
    expect(manifest.capture.rows).toBe(40);
    expect(manifest.capture.key).toMatch(
      new RegExp(`^capture/${MODEL}/\\d{4}/\\d{2}/\\d{2}/\\d{2}/\\d{15}-batch-${result.execution}\\.jsonl$`),
    );
    const records = (await getText(test_.cloud.dataBucket, manifest.capture.key))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as CaptureRecord);
    expect(records).toHaveLength(40);
    // The run is the request id and the file's line the index: feedback joins a batch row as it joins an API prediction.
    expect(records.map((r) => r.index)).toEqual(Array.from({ length: 40 }, (_, i) => i + 2));
    expect(records.every((r) => r.source === 'batch' && r.requestId === result.execution && r.version === 1)).toBe(true);
    // Only the model's inputs: the file's target column is not captured.
    expect(Object.keys(records[0].instance).sort()).toEqual(['contract', 'monthly_charges', 'payment', 'support_calls', 'tenure_months']);

    const run = await runDriftCommand(test_.cloud, MODEL, '1h');
    expect(run.rowsBySource).toEqual({ api: 0, batch: scoredByRuns });
    expect(run.rows).toBe(scoredByRuns);
  });
});

describe('batch events', () => {
  const journal = () => readLocalEvents(test_.cloud.eventsJournal);

  test('a run that ends publishes Batch Scoring Completed on the bus and the topic, with its counts', async () => {
    const before = journal().length;
    const { result } = await score('events.csv', toCsv(churnRows({ rows: 12, seed: 31 })));
    const lines = journal().slice(before);
    const bus = lines.filter((l) => l.kind === 'eventbridge' && l.event.source === 'mloop.batch');
    expect(bus.map((l) => l.kind === 'eventbridge' && l.event['detail-type'])).toEqual(['Batch Scoring Completed']);
    const detail = bus[0].kind === 'eventbridge' ? (bus[0].event.detail as Record<string, unknown>) : {};
    expect(detail).toMatchObject({
      model: MODEL,
      version: 1,
      alias: 'champion',
      run: result.execution,
      input: { key: `batch/${MODEL}/events.csv`, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      rowsIn: 12,
      rowsScored: 12,
      rowsRejected: 0,
      captured: 12,
      parts: 1,
      manifest: expect.stringMatching(new RegExp(`/predictions/${MODEL}/${result.execution}/manifest\\.json$`)),
    });
    const sns = lines.filter((l) => l.kind === 'sns');
    expect(sns.map((l) => l.kind === 'sns' && l.subject)).toEqual([`mloop: ${MODEL} batch scored 12 of 12 rows`]);
  });

  test('a run that fails publishes Batch Scoring Failed with the error and its message', async () => {
    const before = journal().length;
    await expect(score('unknown-version.csv', toCsv(churnRows({ rows: 5, seed: 32 })), { version: '99' })).rejects.toThrow(/failed/);
    const lines = journal().slice(before);
    const bus = lines.filter((l) => l.kind === 'eventbridge' && l.event.source === 'mloop.batch');
    expect(bus.map((l) => l.kind === 'eventbridge' && l.event['detail-type'])).toEqual(['Batch Scoring Failed']);
    const detail = bus[0].kind === 'eventbridge' ? (bus[0].event.detail as Record<string, string>) : {};
    expect(detail).toMatchObject({ model: MODEL, input: { key: `batch/${MODEL}/unknown-version.csv` }, error: 'ModelNotFound' });
    expect(detail.cause).toMatch(/version 99/);
    expect(detail.cause).not.toMatch(/errorType|trace/);
    const sns = lines.filter((l) => l.kind === 'sns');
    expect(sns.map((l) => l.kind === 'sns' && l.subject)).toEqual([`mloop: ${MODEL} batch scoring failed (ModelNotFound)`]);
    // Step Functions' FAILED status change for that run came too (the rule ran before the run's end
    // was reported): the failure path had reported it, so it published nothing more (above: one event).
  });

  test('an execution stopped, timed out or failed outside its failure path publishes Batch Scoring Failed from its status change, once', async () => {
    const machine = test_.cloud.template.stateMachines.find((m) => m.logicalId.startsWith('Batch'))!;
    const before = journal().length;
    const input = {
      detail: { bucket: { name: test_.cloud.dataBucket }, object: { key: `batch/${MODEL}/stopped.csv`, 'version-id': 'v1' } },
    };
    const run = `${MODEL}-${'ab'.repeat(16)}`;
    const ended = (status: string) =>
      test_.cloud.publish(
        executionStatusEvent(machine.arn, run, status, input, `${machine.arn.replace(':stateMachine:', ':execution:')}:${run}`),
      );
    const reasons = (deliveries: Awaited<ReturnType<typeof ended>>) =>
      deliveries.map((d) => (d.status === 'DELIVERED' ? (d.result as { reason: string }).reason : d.error));
    expect(reasons(await ended('ABORTED'))).toEqual(['reported']);
    // The same event again (EventBridge delivers at least once) and a later TIMED_OUT: the run was reported.
    expect(reasons(await ended('ABORTED'))).toEqual(['reported already']);
    expect(reasons(await ended('TIMED_OUT'))).toEqual(['reported already']);
    // A run that succeeded matches no rule.
    expect(await ended('SUCCEEDED')).toEqual([]);
    const bus = journal()
      .slice(before)
      .filter((l) => l.kind === 'eventbridge' && l.event.source === 'mloop.batch');
    expect(bus.map((l) => l.kind === 'eventbridge' && l.event['detail-type'])).toEqual(['Batch Scoring Failed']);
    const detail = bus[0].kind === 'eventbridge' ? (bus[0].event.detail as Record<string, unknown>) : {};
    expect(detail).toMatchObject({
      model: MODEL,
      run,
      status: 'ABORTED',
      error: 'States.Aborted',
      input: { bucket: test_.cloud.dataBucket, key: `batch/${MODEL}/stopped.csv`, versionId: 'v1' },
    });
    expect(
      journal()
        .slice(before)
        .filter((l) => l.kind === 'sns'),
    ).toHaveLength(1);

    // FAILED where no Catch took it (its failure path left no marker): Step Functions' error and cause.
    const other = `${MODEL}-${'cd'.repeat(16)}`;
    const failedAt = journal().length;
    await test_.cloud.publish(
      executionStatusEvent(machine.arn, other, 'FAILED', input, `${machine.arn.replace(':stateMachine:', ':execution:')}:${other}`, {
        error: 'States.DataLimitExceeded',
        cause: 'The state/task returned a result with a size exceeding the maximum number of bytes service limit.',
      }),
    );
    const failed = journal()
      .slice(failedAt)
      .filter((l) => l.kind === 'eventbridge' && l.event.source === 'mloop.batch');
    expect(failed.map((l) => l.kind === 'eventbridge' && l.event.detail)).toEqual([
      expect.objectContaining({
        run: other,
        status: 'FAILED',
        error: 'States.DataLimitExceeded',
        cause: expect.stringMatching(/size exceeding/),
      }),
    ]);
  });
});

describe('a re-drop of the same bytes', () => {
  test('under another name answers the run that scored them (DUPLICATE), with its predictions, and scores nothing again', async () => {
    const body = toCsv(churnRows({ rows: 15, seed: 41 }));
    const first = (await score('monday.csv', body)).result;
    const events = readLocalEvents(test_.cloud.eventsJournal).length;
    const { result: again, printed } = await score('monday-again.csv', body);
    expect(printed.status).toBe('DUPLICATE');
    expect(again).toMatchObject({ status: 'DUPLICATE', version: first.version, rowsIn: 15, rowsScored: 15, rowsRejected: 0 });
    expect(again.execution).not.toBe(first.execution);
    expect(fs.readFileSync(again.output!, 'utf8')).toBe(fs.readFileSync(first.output!, 'utf8'));
    // Nothing scored: no manifest of its own, no second drift sample, no Completed event.
    expect(await listKeys(test_.cloud.dataBucket, `predictions/${MODEL}/${again.execution}/`)).toEqual([]);
    expect(
      readLocalEvents(test_.cloud.eventsJournal)
        .slice(events)
        .filter((l) => l.kind === 'eventbridge'),
    ).toEqual([]);
    scoredByRuns -= 15;
  });

  test('with --force is scored again as a run of its own', async () => {
    const body = toCsv(churnRows({ rows: 15, seed: 41 }));
    const { result } = await score('monday-forced.csv', body, { force: true });
    expect(result).toMatchObject({ status: 'SUCCEEDED', rowsScored: 15 });
    expect(await listKeys(test_.cloud.dataBucket, `predictions/${MODEL}/${result.execution}/`)).toContain(
      `predictions/${MODEL}/${result.execution}/manifest.json`,
    );
  });
});
