/**
 * Categories that generalize and columns that are no features, from a dropped file to a served
 * prediction: the vocabulary of each categorical feature comes from the train split alone (a value
 * met only in validation or test rows is the model's unknown bucket), the most frequent values are
 * kept when there are too many, an identifier or free-text column is left out of the features
 * (noted in the report and the model card, accepted and ignored in a request), and a boolean
 * column takes JSON's true and false. The trainer is train.py, as the pipeline runs it.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { scanDataset } from '../lambdas/data/scan';
import { MAX_VOCABULARY, SplitFeatures } from '../lambdas/data/split-features';
import { writeSplits, type SplitName } from '../lambdas/data/splits';
import { validateInstances } from '../lambdas/inference/validate';
import { ModelRuntime } from '../lambdas/shared/model-runtime';
import type { DatasetSchema, ModelCard } from '../lambdas/shared/types';
import { findPython } from '../local/python';
import { prng } from '../local/demo-data';

jest.setTimeout(180_000);

const SPLITS: SplitName[] = ['train', 'validation', 'test'];

/** Scan a CSV, write its splits and their schema.json as ingestion does; the splits' text by name. */
async function ingest(text: string, target: string) {
  const scan = await scanDataset(Readable.from([Buffer.from(text)]), { fileName: 'data.csv', target });
  const features = new SplitFeatures(scan.schema);
  const sinks = { train: new PassThrough(), validation: new PassThrough(), test: new PassThrough() };
  const splits: Record<SplitName, string> = { train: '', validation: '', test: '' };
  for (const s of SPLITS) sinks[s].on('data', (c: Buffer) => (splits[s] += c.toString()));
  await writeSplits(Readable.from([Buffer.from(text)]), { format: 'csv', header: scan.header, features }, sinks);
  return { scan, splits, schema: features.trainingSchema() };
}

/** The cells of one column of a split's CSV (no quoting in these tests). */
function columnOf(csv: string, name: string): string[] {
  const [head, ...lines] = csv.trim().split('\n');
  const index = head.split(',').indexOf(name);
  return lines.map((line) => line.split(',')[index]);
}

/** A churn-like table: a customer id, a plan with rare values, a boolean, a date-time and free text. */
function churnCsv(rows: number): string {
  const random = prng(11);
  const lines = ['customer,plan,member,signed,notes,spend,churned'];
  for (let i = 0; i < rows; i++) {
    // Plans a-d are common; "rare-<i>" values occur once, in whichever split their row lands.
    const plan = i % 10 === 9 ? `rare-${i}` : ['a', 'b', 'c', 'd'][Math.floor(random() * 4)];
    const member = random() < 0.5 ? 'yes' : 'no';
    const day = String(1 + Math.floor(random() * 28)).padStart(2, '0');
    const hour = String(Math.floor(random() * 24)).padStart(2, '0');
    const spend = Math.round(random() * 1000) / 10;
    const notes = `customer ${i} called about ${['billing', 'the app', 'coverage'][i % 3]} and asked for a callback on day ${i}`;
    const churned = (plan === 'a' ? 0.7 : 0.2) + (member === 'yes' ? -0.15 : 0.1) + (Number(hour) < 12 ? 0.1 : -0.1) > random() ? 1 : 0;
    lines.push(`C-${100000 + i},${plan},${member},2024-03-${day}T${hour}:00,${notes},${spend},${churned}`);
  }
  return lines.join('\n') + '\n';
}

let workDir: string;
beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-roles-'));
});
afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

/** Run train.py on the splits as SageMaker channels; the model directory. */
async function train(splits: Record<SplitName, string>, schema: DatasetSchema): Promise<string> {
  const dirs = { train: path.join(workDir, 'train'), validation: path.join(workDir, 'validation'), model: path.join(workDir, 'model') };
  for (const dir of Object.values(dirs)) fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dirs.train, 'train.csv'), splits.train);
  fs.writeFileSync(path.join(dirs.train, 'schema.json'), JSON.stringify(schema));
  fs.writeFileSync(path.join(dirs.validation, 'validation.csv'), splits.validation);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SM_CHANNEL_TRAIN: dirs.train,
    SM_CHANNEL_VALIDATION: dirs.validation,
    SM_MODEL_DIR: dirs.model,
    SM_OUTPUT_DIR: path.join(workDir, 'output'),
    SM_INPUT_CONFIG_DIR: path.join(workDir, 'config'),
  };
  delete env.SM_HPS;
  const python = await findPython();
  const train = path.resolve(__dirname, '..', 'training', 'train.py');
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(python, [train, '--epochs', '15'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
  if (code !== 0) throw new Error(`train.py exited ${code}:\n${output.slice(-3000)}`);
  return dirs.model;
}

describe('categorical features from the train split', () => {
  test('a value met only outside the train split is not in the vocabulary; one in train is', async () => {
    const { splits, schema } = await ingest(churnCsv(600), 'churned');
    const vocabulary = schema.columns.find((c) => c.name === 'plan')!.categories!;
    const trainPlans = new Set(columnOf(splits.train, 'plan'));
    const elsewhere = [...columnOf(splits.validation, 'plan'), ...columnOf(splits.test, 'plan')].filter((p) => p.startsWith('rare-'));
    expect(elsewhere.length).toBeGreaterThan(5);
    for (const plan of elsewhere) expect(vocabulary).not.toContain(plan);
    expect(vocabulary).toEqual([...trainPlans].sort());
    expect(vocabulary).toEqual(expect.arrayContaining(['a', 'b', 'c', 'd']));
  });

  test('past the limit, the most frequent train values are kept and values met once are left out', async () => {
    // 1,200 frequent values (3 to 6 train rows each) and 2,000 met once: more than MAX_VOCABULARY distinct.
    const lines = ['code,x,target'];
    const random = prng(3);
    let row = 0;
    for (let v = 0; v < 1200; v++) for (let k = 0; k < 3 + (v % 4); k++) lines.push(`f${v},${row++ % 13},${Math.floor(random() * 2)}`);
    for (let v = 0; v < 2000; v++) lines.push(`once${v},${row++ % 13},${Math.floor(random() * 2)}`);
    const text = lines.join('\n') + '\n';
    const { splits, schema } = await ingest(text, 'target');
    const vocabulary = schema.columns.find((c) => c.name === 'code')!.categories!;
    expect(vocabulary).toHaveLength(MAX_VOCABULARY);
    expect(vocabulary.some((v) => v.startsWith('once'))).toBe(false);
    // The kept values are the most frequent in train: none left out is more frequent than one kept.
    const counts = new Map<string, number>();
    for (const v of columnOf(splits.train, 'code')) counts.set(v, (counts.get(v) ?? 0) + 1);
    const kept = new Set(vocabulary);
    const minKept = Math.min(...vocabulary.map((v) => counts.get(v)!));
    const maxLeft = Math.max(...[...counts].filter(([v]) => !kept.has(v)).map(([, c]) => c));
    expect(maxLeft).toBeLessThanOrEqual(minKept);
  });
});

describe('from ingestion to a prediction', () => {
  let card: ModelCard;
  let runtime: ModelRuntime;
  let ingested: Awaited<ReturnType<typeof ingest>>;

  beforeAll(async () => {
    ingested = await ingest(churnCsv(800), 'churned');
    const model = await train(ingested.splits, ingested.schema);
    card = JSON.parse(fs.readFileSync(path.join(model, 'model-card.json'), 'utf8')) as ModelCard;
    runtime = await ModelRuntime.load(fs.readFileSync(path.join(model, 'model.onnx')), card);
  });

  test('the identifier and the free text are noted, kept in the splits and left out of the features', () => {
    const { scan, splits } = ingested;
    expect(scan.notes?.map((n) => [n.column, n.reason])).toEqual([
      ['customer', 'identifier'],
      ['notes', 'free_text'],
    ]);
    expect(scan.notes?.[0].message).toMatch(
      /^Column 'customer' in data\.csv has a different value in almost every row \(\d+ distinct in 800\)/,
    );
    expect(splits.train.split('\n')[0]).toMatch(/^customer,plan,member,signed,notes,spend,churned,signed\.hour,/);
    expect(card.ignoredColumns).toEqual([
      { name: 'customer', reason: 'identifier' },
      { name: 'notes', reason: 'free_text' },
    ]);
    const names = card.features.map((f) => f.name);
    expect(names).not.toContain('customer');
    expect(names).not.toContain('notes');
    expect(names).not.toContain('signed');
    expect(names).toEqual(expect.arrayContaining(['plan', 'member', 'spend', 'signed.hour', 'signed.dow', 'signed.time']));
    expect(card.features.find((f) => f.name === 'signed.hour')?.derivedFrom).toEqual({ column: 'signed', part: 'hour' });
    expect(card.features.find((f) => f.name === 'member')?.boolean).toEqual(['no', 'yes']);
  });

  test('a request sends the raw date-time, may send the ignored columns, and true for a boolean', async () => {
    const base = { plan: 'a', spend: 12.5, signed: '2024-03-05T08:00' };
    const instances = validateInstances(
      {
        instances: [
          { ...base, member: true, customer: 'C-999', notes: 'anything' },
          { ...base, member: 'yes' },
          { ...base, member: false },
          { ...base, member: 'no' },
          { ...base, member: 'yes', plan: 'rare-never-seen' },
          { ...base, member: 'yes', plan: null },
        ],
      },
      card,
      100,
    );
    const out = await runtime.predict(instances);
    const p = out.map((o) => ('probabilities' in o ? o.probabilities['1'] : NaN));
    // JSON true is the column's "yes", false its "no"; the ignored fields change nothing.
    expect(p[0]).toBe(p[1]);
    expect(p[2]).toBe(p[3]);
    // A plan the model never saw is its unknown bucket, as a missing one is.
    expect(p[4]).toBe(p[5]);
    // The hour of the date-time reaches the model: another hour, another answer.
    const later = await runtime.predict([{ ...base, member: 'yes', signed: '2024-03-05T20:00' }]);
    expect('probabilities' in later[0] && later[0].probabilities['1']).not.toBe(p[1]);
  });
});

describe('a plain CSV line and its fields give the same split row', () => {
  test('derived cells and train counts from a line cut by its commas equal those from its cells', () => {
    const schema: DatasetSchema = {
      target: 'y',
      task: 'classification',
      columns: [
        { name: 'a', type: 'categorical', nullable: true },
        { name: 'when', type: 'datetime', nullable: true, parts: ['hour', 'dow', 'time'] },
        { name: 'x', type: 'numeric', nullable: true },
        { name: 'b', type: 'categorical', nullable: true },
        { name: 'y', type: 'categorical', nullable: false },
      ],
    };
    const lines = [
      'p,2024-03-04T05:06,1.5,q,1',
      ',2024-03-05 07:00,,,0',
      'p,,2,r,1',
      'long value here,2024-03-06,3,q,0',
      'p,2024-03-07T23:59:59Z,4,,1',
    ];
    const byCells = new SplitFeatures(schema);
    const byLine = new SplitFeatures(schema);
    // The same lines with their commas already found (as plainLineHash notes them for the splits).
    const byCommas = new SplitFeatures(schema);
    const header = ['a', 'when', 'x', 'b', 'y'];
    expect(byLine.header(header)).toEqual(byCells.header(header));
    expect(byCommas.header(header)).toEqual(byCells.header(header));
    // Each line as the tokenizer hands it over: inside a longer text, with a line after it.
    const text = lines.join('\n') + '\n';
    let at = 0;
    for (const line of lines) {
      const asCells = byCells.row(line.split(','), 'train').join(',');
      const asLine = line + byLine.lineSuffix({ text, textStart: at, textEnd: at + line.length }, 'train');
      expect(asLine).toBe(asCells);
      const commas = [...line].flatMap((c, i) => (c === ',' ? [at + i] : []));
      const withCommas = byCommas.lineSuffix(
        { text, textStart: at, textEnd: at + line.length, commas: { at: Int32Array.from(commas), count: commas.length } },
        'train',
      );
      expect(line + withCommas).toBe(asCells);
      at += line.length + 1;
    }
    expect(byLine.vocabularyState()).toEqual(byCells.vocabularyState());
    expect(byCommas.vocabularyState()).toEqual(byCells.vocabularyState());
    expect(byLine.trainingSchema().columns.find((c) => c.name === 'a')?.categories).toEqual(['long value here', 'p']);
  });
});
