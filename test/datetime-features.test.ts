/**
 * Dates and times as features (lambdas/shared/datetime.ts): reading ISO 8601 and declared formats,
 * the derived parts, and parity: the derived values ingestion writes into the splits, read as the
 * trainer reads them (float64 text to float32, in Python), are byte for byte those the model
 * runtime feeds the graph for the same raw values (NumericReader, used by ModelRuntime).
 */
import { spawnSync } from 'node:child_process';
import { readTime } from '../lambdas/data/cells';
import { PassThrough, Readable } from 'node:stream';
import { scanDataset } from '../lambdas/data/scan';
import { SplitFeatures } from '../lambdas/data/split-features';
import { writeSplits, type SplitName } from '../lambdas/data/splits';
import {
  DATE_PARTS,
  DateFormatInvalid,
  compileDateFormat,
  datePart,
  datePartsFor,
  parseDateTime,
  type DatePart,
} from '../lambdas/shared/datetime';
import { NumericReader, derivedFeatureFiller, inputFields } from '../lambdas/shared/model-inputs';
import { validateInstances } from '../lambdas/inference/validate';
import { RequestInvalid } from '../lambdas/shared/errors';
import type { DatasetSchema, ModelCard, ModelFeature } from '../lambdas/shared/types';
import { DriftAccumulator } from '../lambdas/monitoring/drift';
import { findPython } from '../local/python';

const parts = (text: string, format?: string): Record<DatePart, number> | undefined => {
  const time = parseDateTime(text, format);
  return time === undefined ? undefined : (Object.fromEntries(DATE_PARTS.map((p) => [p, datePart(time, p)])) as Record<DatePart, number>);
};

describe('reading dates and times', () => {
  test('ISO 8601 dates and date-times, with or without seconds, fractions and offsets', () => {
    expect(parseDateTime('2024-05-01')).toMatchObject({ year: 2024, month: 5, day: 1, hasTime: false, instant: Date.UTC(2024, 4, 1) });
    expect(parseDateTime('2024-05-01T12:30')).toMatchObject({ hour: 12, minute: 30, hasTime: true, instant: Date.UTC(2024, 4, 1, 12, 30) });
    expect(parseDateTime('2024-05-01 12:30:15.25')?.instant).toBe(Date.UTC(2024, 4, 1, 12, 30, 15, 250));
    expect(parseDateTime('2001/01/01 06:55')?.instant).toBe(Date.UTC(2001, 0, 1, 6, 55));
    expect(parseDateTime(' 2024-05-01T12:30:00Z ')?.instant).toBe(Date.UTC(2024, 4, 1, 12, 30));
    // An offset names the instant; the calendar parts stay those of the wall clock written.
    const zoned = parseDateTime('2024-05-01T08:00:00+02:00');
    expect(zoned?.instant).toBe(Date.UTC(2024, 4, 1, 6, 0));
    expect(zoned?.hour).toBe(8);
    expect(parseDateTime('2024-05-01T08:00-0530')?.instant).toBe(Date.UTC(2024, 4, 1, 13, 30));
    // Years before 100 are not read as 19xx.
    expect(parseDateTime('0050-03-01')?.instant).toBe(Date.parse('0050-03-01T00:00:00Z'));
  });

  test('what is not a date: impossible days and times, other shapes, numbers, mixed separators', () => {
    for (const text of [
      '2024-02-30',
      '2023-02-29',
      '2024-13-01',
      '2024-05-01T24:00',
      '2024-05-01T12:60',
      '2024-05-01T12:30+19:00',
      '20240501',
      '2024-5-1',
      '2024-05/01',
      '12.5',
      'May 1, 2024',
      '',
    ]) {
      expect([text, parseDateTime(text)]).toEqual([text, undefined]);
    }
    expect(parseDateTime('2024-02-29')?.day).toBe(29);
    // The time column a dataset is split by is read by the same parser (and takes numbers too).
    expect(readTime('2024-02-30')).toBeUndefined();
    expect(readTime('2024/05/01 12:30')).toBe(Date.UTC(2024, 4, 1, 12, 30));
    expect(readTime('2024-05-01T08:00+02:00')).toBe(Date.UTC(2024, 4, 1, 6));
    expect(readTime('1714550400')).toBe(1714550400);
  });

  test('a declared format reads what ISO does not, and a format without a date is refused', () => {
    expect(parseDateTime('01/05/2024 12:30', 'DD/MM/YYYY HH:mm')?.instant).toBe(Date.UTC(2024, 4, 1, 12, 30));
    expect(parseDateTime('20240501', 'YYYYMMDD')).toMatchObject({ month: 5, day: 1, hasTime: false });
    expect(parseDateTime('2024-05-01', 'DD/MM/YYYY')).toBeUndefined();
    expect(parseDateTime('31/02/2024', 'DD/MM/YYYY')).toBeUndefined();
    expect(() => compileDateFormat('HH:mm')).toThrow(DateFormatInvalid);
    expect(() => compileDateFormat('YYYY-MM-DD YYYY')).toThrow(/YYYY twice/);
  });

  test('the derived parts: Monday is 0, days of the year from 1, cyclical hour and day, time in days', () => {
    const p = parts('2024-12-31T18:00')!; // a Tuesday, the 366th day of a leap year
    expect(p).toMatchObject({ hour: 18, minute: 0, dow: 1, dom: 31, month: 12, doy: 366 });
    expect(p.time).toBe(Date.UTC(2024, 11, 31, 18) / 86_400_000);
    expect(p.hour_sin).toBeCloseTo(-1, 12);
    expect(p.hour_cos).toBeCloseTo(0, 12);
    expect(parts('2024-01-01')).toMatchObject({ dow: 0, doy: 1, doy_sin: 0, doy_cos: 1 });
    expect(parts('2024-05-05')?.dow).toBe(6); // a Sunday
    expect(datePartsFor(false)).toEqual(['dow', 'dom', 'month', 'doy', 'time', 'doy_sin', 'doy_cos']);
  });
});

/** A dataset with a date-time column in several spellings (and a missing one), and its splits. */
async function splitRows(values: string[]): Promise<{ schema: DatasetSchema; rows: Record<string, string>[] }> {
  const header = 'when,x,target';
  const lines = values.map((v, i) => `${v},${i % 7},${i % 2}`);
  const text = `${header}\n${lines.join('\n')}\n`;
  const scan = await scanDataset(Readable.from([Buffer.from(text)]), { fileName: 'times.csv', target: 'target' });
  expect(scan.violations).toEqual([]);
  const features = new SplitFeatures(scan.schema);
  const sinks = { train: new PassThrough(), validation: new PassThrough(), test: new PassThrough() };
  const out: Record<SplitName, string> = { train: '', validation: '', test: '' };
  for (const s of ['train', 'validation', 'test'] as SplitName[]) sinks[s].on('data', (c: Buffer) => (out[s] += c.toString()));
  await writeSplits(Readable.from([Buffer.from(text)]), { format: 'csv', header: scan.header, features }, sinks);
  const rows: Record<string, string>[] = [];
  for (const s of ['train', 'validation', 'test'] as SplitName[]) {
    const [head, ...data] = out[s].trim().split('\n');
    const names = head.split(',');
    for (const line of data) {
      const cells = line.split(',');
      rows.push(Object.fromEntries(names.map((n, i) => [n, cells[i]])));
    }
  }
  return { schema: features.trainingSchema(), rows };
}

describe('parity: the splits and the runtime derive the same features', () => {
  const values = Array.from({ length: 60 }, (_, i) => {
    const day = String(1 + (i % 28)).padStart(2, '0');
    const hour = String((i * 7) % 24).padStart(2, '0');
    const spellings = [
      `2024-03-${day}T${hour}:15`,
      `2023-11-${day} ${hour}:45:30.5`,
      `2024-07-${day}T${hour}:00:00+05:30`,
      `2022-01-${day}T${hour}:59:59Z`,
      `1999-12-${day}`,
      '',
    ];
    return spellings[i % spellings.length];
  });

  test('each derived cell, read as the trainer reads it, is the float32 the runtime feeds', async () => {
    const { schema, rows } = await splitRows(values);
    const derived = schema.columns.filter((c) => c.derivedFrom !== undefined);
    expect(derived.map((c) => c.name)).toEqual(DATE_PARTS.map((p) => `when.${p}`));
    const features: ModelFeature[] = derived.map((c) => ({ name: c.name, type: 'numeric', derivedFrom: c.derivedFrom }));

    // The runtime's floats for the raw values.
    const runtime = new Float32Array(rows.length * features.length);
    const reader = new NumericReader(features);
    rows.forEach((row, i) => reader.read({ when: row.when }, runtime, i * features.length));

    // The trainer's floats for the split's cells: Python's float(), then float32, as train.py reads numbers.
    const cells = rows.flatMap((row) => features.map((f) => row[f.name]));
    const python = await findPython();
    const script =
      'import sys, numpy as np\n' +
      'cells = sys.stdin.read().split("\\n")\n' +
      'values = np.array([float(c) if c != "" else float("nan") for c in cells], dtype=np.float64).astype(np.float32)\n' +
      'sys.stdout.write(values.tobytes().hex())\n';
    const result = spawnSync(python, ['-c', script], { input: cells.join('\n'), encoding: 'utf8' });
    expect(result.stderr).toBe('');
    const trainer = Buffer.from(result.stdout, 'hex');
    expect(trainer.length).toBe(runtime.byteLength);
    // Missing dates are NaN on both sides; compare bytes with NaN normalized (any NaN bit pattern is missing).
    const normalized = (f: Float32Array): Buffer => Buffer.from(Float32Array.from(f, (v) => (Number.isNaN(v) ? NaN : v)).buffer);
    expect(normalized(new Float32Array(trainer.buffer, trainer.byteOffset, trainer.length / 4)).equals(normalized(runtime))).toBe(true);
    // And the values are the parts themselves: the zoned row is hour 10 of its own clock, not UTC's.
    const zoned = rows.find((r) => r.when.endsWith('+05:30'))!;
    expect(Number(zoned['when.hour'])).toBe(Number(zoned.when.slice(11, 13)));
    expect(rows.filter((r) => r.when === '').every((r) => r['when.hour'] === '')).toBe(true);
  });

  test('the drift monitor derives the same values from a captured instance', async () => {
    const { schema } = await splitRows(values);
    const card = {
      features: schema.columns.filter((c) => c.derivedFrom).map((c) => ({ name: c.name, type: 'numeric', derivedFrom: c.derivedFrom })),
    } as unknown as ModelCard;
    const withDerived = derivedFeatureFiller(card);
    const instance = withDerived({ when: '2024-03-04T05:06', other: 1 });
    expect(instance).toMatchObject({ when: '2024-03-04T05:06', other: 1, 'when.hour': 5, 'when.minute': 6, 'when.dow': 0, 'when.dom': 4 });
    expect(withDerived({ when: null })['when.hour']).toBeNull();
  });
});

describe('requests send the raw date-time', () => {
  const card = {
    formatVersion: 2,
    task: 'regression',
    target: 'y',
    features: [
      { name: 'x', type: 'numeric' },
      ...(['hour', 'dow'] as DatePart[]).map((part) => ({ name: `when.${part}`, type: 'numeric', derivedFrom: { column: 'when', part } })),
      { name: 'day', type: 'numeric', derivedFrom: { column: 'day', part: 'dom', format: 'DD/MM/YYYY' } },
      { name: 'member', type: 'categorical', categories: ['no', 'yes'], boolean: ['no', 'yes'] },
    ],
    ignoredColumns: [{ name: 'id', reason: 'identifier' }],
  } as unknown as ModelCard;

  test('the fields: the date-time column in place of its parts, an ignored column allowed', () => {
    expect(inputFields(card).map((f) => [f.name, f.type])).toEqual([
      ['x', 'numeric'],
      ['when', 'datetime'],
      ['day', 'datetime'],
      ['member', 'categorical'],
    ]);
    const ok = validateInstances(
      {
        instances: [
          { x: 1, when: '2024-05-01T12:00', day: '01/05/2024', member: true, id: 'u-17' },
          { x: null, when: null, day: null, member: null },
        ],
      },
      card,
      10,
    );
    expect(ok).toHaveLength(2);
  });

  test('a value that is not a date is a 400 naming the instance, the field and the format', () => {
    let error: unknown;
    try {
      validateInstances({ instances: [{ x: 1, when: 'yesterday', day: '2024-05-01', member: 'yes', 'when.hour': 3 }] }, card, 10);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RequestInvalid);
    const problems = (error as RequestInvalid & { problems: { field: string; message: string }[] }).problems;
    expect(problems.map((p) => p.message)).toEqual([
      "instances[0] has unknown feature 'when.hour'.",
      "instances[0].when must be an ISO 8601 date or date-time such as '2024-05-01' or '2024-05-01T12:30:00Z' (UTC unless it names a zone) or null, got 'yesterday'.",
      "instances[0].day must be a date in the format 'DD/MM/YYYY' or null, got '2024-05-01'.",
    ]);
  });
});

describe('datetime columns in the scan', () => {
  const scanText = (text: string, schema?: DatasetSchema) =>
    scanDataset(Readable.from([Buffer.from(text)]), {
      fileName: 'days.csv',
      target: 'y',
      ...(schema ? { schema, strictSchema: true } : {}),
    });
  /** A declared schema whose column 'day' is a datetime (in `format`, when given). */
  const declaredDay = (format?: string): DatasetSchema => ({
    target: 'y',
    task: 'classification',
    columns: [
      { name: 'day', type: 'datetime', nullable: true, ...(format !== undefined ? { format } : {}) },
      { name: 'x', type: 'numeric', nullable: true },
      { name: 'y', type: 'categorical', nullable: false },
    ],
  });
  const rows = (cells: (i: number) => string, n = 30) =>
    ['day,x,y', ...Array.from({ length: n }, (_, i) => `${cells(i)},${i},${i % 2}`)].join('\n') + '\n';

  test('dates alone derive the calendar parts; one date that is not is a type_mismatch naming the row', async () => {
    const dates = await scanText(rows((i) => `2024-02-${String(1 + (i % 28)).padStart(2, '0')}`));
    expect(dates.schema.columns[0]).toEqual({ name: 'day', type: 'datetime', nullable: false, parts: datePartsFor(false) });
    expect(dates.profile.columns['day.month']).toMatchObject({ kind: 'numeric', min: 2, max: 2 });
    const bad = await scanText(rows((i) => (i === 6 ? '2024-02-30' : `2024-02-${String(1 + (i % 28)).padStart(2, '0')}`)));
    expect(bad.violations.map((v) => v.message)).toEqual([
      "Column 'day' in days.csv has 1 value that is not a date (row 8), such as '2024-02-30'; expected ISO 8601 dates or date-times (2024-05-01, 2024-05-01T12:30, 2024-05-01 12:30:00+02:00; UTC when no zone is given) as in the rest of the column (96% of its values are dates).",
    ]);
  });

  test('a declared format reads its own spelling and names it when a value does not fit', async () => {
    const schema = declaredDay('DD/MM/YYYY HH:mm');
    const ok = await scanText(
      rows((i) => `${String(1 + (i % 28)).padStart(2, '0')}/03/2024 ${String(i % 24).padStart(2, '0')}:30`),
      schema,
    );
    expect(ok.violations).toEqual([]);
    expect(ok.schema.columns[0].parts).toEqual(DATE_PARTS);
    const bad = await scanText(
      rows((i) => (i === 2 ? '2024-03-01T10:30' : `01/03/2024 10:30`)),
      schema,
    );
    expect(bad.violations.map((v) => v.message)).toEqual([
      "Column 'day' in days.csv has 1 value that is not a date (row 4), such as '2024-03-01T10:30'; expected dates in the format 'DD/MM/YYYY HH:mm' as schema.json declares.",
    ]);
  });

  test('a number in a declared datetime column is not a date', async () => {
    const schema = declaredDay();
    const result = await scanText(
      rows((i) => (i === 4 ? '20240301' : `2024-03-0${1 + (i % 9)}`)),
      schema,
    );
    expect(result.violations.map((v) => [v.check, v.column, v.exampleRows])).toEqual([['type_mismatch', 'day', [6]]]);
  });

  test('a column named like a derived feature is a duplicate_column', async () => {
    const text = ['day,day.dow,y', ...Array.from({ length: 20 }, (_, i) => `2024-01-${10 + (i % 9)},${i % 7},${i % 2}`)].join('\n') + '\n';
    const result = await scanText(text);
    expect(result.violations.map((v) => [v.check, v.column])).toEqual([['duplicate_column', 'day.dow']]);
    expect(result.violations[0].message).toBe(
      "Column 'day.dow' in days.csv has the name of the dow feature derived from the datetime column 'day'; expected no column named 'day.<part>' beside a datetime column (rename it).",
    );
  });
});

describe('the drift monitor compares the derived features', () => {
  test('a window of later hours drifts on the hour, not on the day of the week', async () => {
    // Training: hours spread over the day, every day of two weeks.
    const lines = ['when,x,y'];
    for (let i = 0; i < 2000; i++)
      lines.push(
        `2024-03-${String(1 + (i % 14)).padStart(2, '0')}T${String(i % 24).padStart(2, '0')}:${String(i % 60).padStart(2, '0')},${i % 5},${i % 2}`,
      );
    const scan = await scanDataset(Readable.from([Buffer.from(lines.join('\n') + '\n')]), { fileName: 'times.csv', target: 'y' });
    const features = new SplitFeatures(scan.schema).trainingSchema().columns.filter((c) => c.derivedFrom !== undefined);
    const card = { features: features.map((c) => ({ name: c.name, type: 'numeric', derivedFrom: c.derivedFrom })) } as unknown as ModelCard;
    // As monitor.ts does: each captured instance's derived features, against the profile's.
    const accumulator = new DriftAccumulator(card.features, scan.profile);
    const withDerived = derivedFeatureFiller(card);
    for (let i = 0; i < 1000; i++) {
      const instance = {
        when: `2024-04-${String(1 + (i % 14)).padStart(2, '0')}T${String(18 + (i % 6)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}`,
        x: 1,
      };
      accumulator.add(withDerived(instance));
    }
    const report = accumulator.report();
    const drifted = new Map(report.features.map((f) => [f.name, f.drifted]));
    expect(drifted.get('when.hour')).toBe(true);
    expect(drifted.get('when.hour_sin')).toBe(true);
    expect(drifted.get('when.dow')).toBe(false);
    expect(drifted.get('when.minute')).toBe(false);
    expect(drifted.has('when')).toBe(false);
  });
});
