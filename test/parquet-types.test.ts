/**
 * Parquet's logical types as cells, one file per type written by a real writer (arrow-rs through
 * parquet-wasm; hyparquet-writer for what arrow-rs does not write; INT96 relabelled, see
 * int96Parquet), each with a null, read through the scan the pipeline uses (scanDataset) and the
 * splits (writeSplits): the exact text of every value, as docs/data.md's Parquet section states it.
 * Nested columns (LIST, MAP, STRUCT) and raw bytes are violations that name the column.
 */
import * as arrow from 'apache-arrow';
import { parse } from 'csv-parse/sync';
import { bufferSource } from '../lambdas/data/formats';
import { scanDataset } from '../lambdas/data/scan';
import type { ScanOptions, ScanResult } from '../lambdas/data/scan-types';
import { splitsOf } from './helpers/dataset-files';
import { arrowParquet, arrowValues, arrowVector, footer, int96, int96Parquet, schemaParquet } from './helpers/parquet-files';

/** Column `v` holds the values under test; `id` numbers the rows, so that the splits can be put back in order. */
async function readBack(bytes: Buffer, options: Partial<ScanOptions> = {}): Promise<{ result: ScanResult; cells: string[] }> {
  // One row is enough, any share may be null, and id is the (numeric) target: only v is under test.
  const scan: ScanOptions = { fileName: 'types.parquet', target: 'id', minRows: 1, maxNullShare: 1, ...options };
  const result = await scanDataset(bufferSource(bytes), scan);
  const splits = await splitsOf(bufferSource(bytes), { format: 'parquet' });
  const rows = Object.values(splits).flatMap((text) => (parse(text, { columns: true }) as Record<string, string>[]).map((r) => r));
  const cells = rows.sort((a, b) => Number(a.id) - Number(b.id)).map((r) => r.v);
  return { result, cells };
}

/** An Arrow file of `id` (0..n-1) and `v`. */
function withIds(v: arrow.Vector): Buffer {
  return arrowParquet({
    id: arrowVector(
      new arrow.Int32(),
      Int32Array.from({ length: v.length }, (_, i) => i),
    ),
    v,
  });
}

/** The nulls of `values` as a validity list, for arrowVector. */
const validOf = (values: readonly unknown[]): boolean[] => values.map((x) => x !== null);
const int64s = (values: readonly (bigint | null)[]): BigInt64Array => BigInt64Array.from(values, (x) => x ?? 0n);

/** Arrow Decimal128 storage: four little-endian 32-bit words per value. */
function decimalWords(values: readonly (bigint | null)[]): Uint32Array {
  const words = new Uint32Array(values.length * 4);
  values.forEach((value, i) => {
    const bits = BigInt.asUintN(128, value ?? 0n);
    for (let w = 0; w < 4; w++) words[i * 4 + w] = Number((bits >> BigInt(32 * w)) & 0xffffffffn);
  });
  return words;
}

describe('TIMESTAMP: ISO 8601 in UTC with the unit’s digits', () => {
  const values = [978_307_260_000_000_000n, null, -1n, 0n, 1_700_000_000_123_456_789n];
  const cases = [
    [
      'MILLIS',
      1_000_000n,
      ['2001-01-01T00:01:00.000Z', '', '1969-12-31T23:59:59.999Z', '1970-01-01T00:00:00.000Z', '2023-11-14T22:13:20.123Z'],
    ],
    [
      'MICROS',
      1_000n,
      ['2001-01-01T00:01:00.000000Z', '', '1969-12-31T23:59:59.999999Z', '1970-01-01T00:00:00.000000Z', '2023-11-14T22:13:20.123456Z'],
    ],
    [
      'NANOS',
      1n,
      [
        '2001-01-01T00:01:00.000000000Z',
        '',
        '1969-12-31T23:59:59.999999999Z',
        '1970-01-01T00:00:00.000000000Z',
        '2023-11-14T22:13:20.123456789Z',
      ],
    ],
  ] as const;
  const types = {
    MILLIS: (tz?: string) => new arrow.TimestampMillisecond(tz),
    MICROS: (tz?: string) => new arrow.TimestampMicrosecond(tz),
    NANOS: (tz?: string) => new arrow.TimestampNanosecond(tz),
  };

  for (const [unit, perUnit, expected] of cases) {
    for (const utc of [true, false]) {
      test(`${unit}, isAdjustedToUTC ${utc}`, async () => {
        // -1 is a unit before 1970: floor, not toward zero.
        const stored = values.map((x) => (x === null ? null : x === -1n ? -1n : x / perUnit));
        const bytes = withIds(arrowVector(types[unit](utc ? 'UTC' : undefined), int64s(stored), validOf(stored)));
        expect(footer(bytes).schema[2].logical_type).toEqual({ type: 'TIMESTAMP', isAdjustedToUTC: utc, unit });
        const { result, cells } = await readBack(bytes);
        expect(result.violations).toEqual([]);
        expect(cells).toEqual(expected);
      });
    }
  }

  test('NANOS keeps the date at both ends of INT64 (1677 to 2262)', async () => {
    const stored = [-9_223_372_036_854_775_808n, 9_223_372_036_854_775_807n];
    const { cells } = await readBack(withIds(arrowVector(new arrow.TimestampNanosecond('UTC'), int64s(stored))));
    expect(cells).toEqual(['1677-09-21T00:12:43.145224192Z', '2262-04-11T23:47:16.854775807Z']);
  });

  test('MICROS far from 1970 (beyond 2^52 microseconds) and beyond the years JavaScript dates reach', async () => {
    const stored = [253_402_300_799_999_999n, -62_167_219_200_000_000n, 9_223_372_036_854_775_807n];
    const { cells } = await readBack(withIds(arrowVector(new arrow.TimestampMicrosecond(), int64s(stored))));
    expect(cells).toEqual(['9999-12-31T23:59:59.999999Z', '0000-01-01T00:00:00.000000Z', '+294247-01-10T04:00:54.775807Z']);
  });

  test('a NANOS column is a time column: its times split the rows', async () => {
    const n = 100;
    const stored = Array.from({ length: n }, (_, i) => 1_700_000_000_000_000_000n + BigInt(i) * 86_400_000_000_000n + 1n);
    const bytes = withIds(arrowVector(new arrow.TimestampNanosecond('UTC'), int64s(stored)));
    const schema = {
      target: 'id',
      task: 'regression' as const,
      timeColumn: 'v',
      columns: [{ name: 'id', type: 'numeric' as const, nullable: false }],
    };
    const { result } = await readBack(bytes, { schema });
    expect(result.violations).toEqual([]);
    // The 80% and 90% cut points: day 80 and day 90 after the first, in epoch milliseconds.
    expect(result.timeSplit?.cutoffs).toEqual([1_700_000_000_000 + 80 * 86_400_000, 1_700_000_000_000 + 90 * 86_400_000]);
  });
});

describe('INT96 (legacy timestamps)', () => {
  test('nanoseconds of the Julian day, as ISO 8601 with nine digits', async () => {
    // No JavaScript writer writes INT96: int96Parquet relabels FIXED_LEN_BYTE_ARRAY(12) bytes.
    const epochJulian = 2_440_588;
    const bytes = int96Parquet([
      int96(epochJulian + 11_323, 60_123_456_789n),
      null,
      int96(epochJulian - 1, 86_399_999_999_999n),
      int96(epochJulian, 0n),
    ]);
    const { result, cells } = await readBack(bytes);
    expect(result.violations).toEqual([]);
    expect(cells).toEqual(['2001-01-01T00:01:00.123456789Z', '', '1969-12-31T23:59:59.999999999Z', '1970-01-01T00:00:00.000000000Z']);
  });
});

describe('DATE, DECIMAL, BOOLEAN, integers, floats, times', () => {
  test('DATE: YYYY-MM-DD, not a midnight date-time', async () => {
    const days = [11_323, null, -1, 0, 2_932_896, -719_528];
    const bytes = withIds(
      arrowVector(
        new arrow.DateDay(),
        Int32Array.from(days, (d) => d ?? 0),
        validOf(days),
      ),
    );
    expect(footer(bytes).schema[2]).toMatchObject({ type: 'INT32', logical_type: { type: 'DATE' } });
    const { result, cells } = await readBack(bytes);
    expect(result.violations).toEqual([]);
    expect(cells).toEqual(['2001-01-01', '', '1969-12-31', '1970-01-01', '9999-12-31', '0000-01-01']);
  });

  test.each([
    ['INT32', 9, 2, [12_345n, null, -1n, 999_999_999n, 0n], ['123.45', '', '-0.01', '9999999.99', '0.00']],
    ['INT64', 18, 3, [123_456_789_012_345_678n, null, -5n], ['123456789012345.678', '', '-0.005']],
    [
      'FIXED_LEN_BYTE_ARRAY',
      38,
      4,
      [10n ** 37n + 1n, null, -(10n ** 37n), -(10n ** 38n - 1n)],
      [
        '1000000000000000000000000000000000.0001',
        '',
        '-1000000000000000000000000000000000.0000',
        '-9999999999999999999999999999999999.9999',
      ],
    ],
  ] as const)('DECIMAL in %s (precision %d, scale %d): the exact decimal', async (physical, precision, scale, values, expected) => {
    const bytes = withIds(arrowVector(new arrow.Decimal(scale, precision, 128), decimalWords(values), validOf(values)));
    expect(footer(bytes).schema[2]).toMatchObject({ type: physical, logical_type: { type: 'DECIMAL', precision, scale } });
    const { result, cells } = await readBack(bytes);
    expect(result.violations).toEqual([]);
    expect(result.schema.columns.find((c) => c.name === 'v')?.type).toBe('numeric');
    expect(cells).toEqual(expected);
  });

  test('DECIMAL in a BYTE_ARRAY (hyparquet-writer): the exact decimal', async () => {
    const bytes = schemaParquet(
      [
        { name: 'root', num_children: 2 },
        { name: 'id', type: 'INT32', repetition_type: 'REQUIRED' },
        { name: 'v', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL', converted_type: 'DECIMAL', precision: 30, scale: 2 },
      ],
      [
        { name: 'id', data: [0, 1, 2, 3] },
        { name: 'v', data: [123_456_789_012_345_678_901_234_567n, null, -1n, 0n] },
      ],
    );
    const { result, cells } = await readBack(bytes);
    expect(result.violations).toEqual([]);
    expect(cells).toEqual(['1234567890123456789012345.67', '', '-0.01', '0.00']);
  });

  test('BOOLEAN: true and false', async () => {
    const { result, cells } = await readBack(withIds(arrowValues(new arrow.Bool(), [true, null, false, true])));
    expect(cells).toEqual(['true', '', 'false', 'true']);
    expect(result.profile.columns.v).toMatchObject({ kind: 'categorical', missing: 1, frequencies: { true: 2, false: 1 } });
  });

  test('INT64 and UINT64 beyond 2^53 in full; UINT32 above 2^31', async () => {
    const signed = [9_007_199_254_740_993n, null, -9_223_372_036_854_775_808n, 9_223_372_036_854_775_807n];
    const s = await readBack(withIds(arrowVector(new arrow.Int64(), int64s(signed), validOf(signed))));
    expect(s.cells).toEqual(['9007199254740993', '', '-9223372036854775808', '9223372036854775807']);
    const unsigned = [18_446_744_073_709_551_615n, null, 1n];
    const u = withIds(
      arrowVector(
        new arrow.Uint64(),
        BigUint64Array.from(unsigned, (x) => x ?? 0n),
        validOf(unsigned),
      ),
    );
    expect(footer(u).schema[2].logical_type).toEqual({ type: 'INTEGER', bitWidth: 64, isSigned: false });
    expect((await readBack(u)).cells).toEqual(['18446744073709551615', '', '1']);
    const u32 = withIds(arrowVector(new arrow.Uint32(), Uint32Array.from([4_294_967_295, 2_147_483_648, 0])));
    expect((await readBack(u32)).cells).toEqual(['4294967295', '2147483648', '0']);
  });

  test('FLOAT: the shortest decimal of the 32-bit float; DOUBLE in full', async () => {
    const floats = [0.1, null, 3.4e38, 16_777_217, 1e-45, -2.5];
    const f = await readBack(
      withIds(
        arrowVector(
          new arrow.Float32(),
          Float32Array.from(floats, (x) => x ?? 0),
          validOf(floats),
        ),
      ),
    );
    // 16777217 has no 32-bit float: it is stored as 16777216.
    expect(f.cells).toEqual(['0.1', '', '3.4e+38', '16777216', '1e-45', '-2.5']);
    const d = await readBack(withIds(arrowVector(new arrow.Float64(), Float64Array.from([0.1, 1 / 3, 1e300]))));
    expect(d.cells).toEqual(['0.1', '0.3333333333333333', '1e+300']);
  });

  test('FLOAT16: the shortest decimal of the 16-bit float', async () => {
    // 0.1 (0x2e66), the largest half (0x7bff), the smallest subnormal (0x0001), -2 (0xc000).
    const bits = [0x2e66, null, 0x7bff, 0x0001, 0xc000];
    const bytes = withIds(
      arrowVector(
        new arrow.Float16(),
        Uint16Array.from(bits, (x) => x ?? 0),
        validOf(bits),
      ),
    );
    expect(footer(bytes).schema[2]).toMatchObject({ type: 'FIXED_LEN_BYTE_ARRAY', type_length: 2, logical_type: { type: 'FLOAT16' } });
    const { result, cells } = await readBack(bytes);
    expect(result.violations).toEqual([]);
    // As numpy prints float16: 65500 is the shortest decimal nearest to 65504 of all.
    expect(cells).toEqual(['0.1', '', '65500', '6e-8', '-2']);
  });

  test('TIME: HH:MM:SS with the unit’s digits', async () => {
    const ms = await readBack(withIds(arrowVector(new arrow.TimeMillisecond(), Int32Array.from([3_723_004, 0, 86_399_999]))));
    expect(ms.cells).toEqual(['01:02:03.004', '00:00:00.000', '23:59:59.999']);
    const us = await readBack(withIds(arrowVector(new arrow.TimeMicrosecond(), int64s([3_723_004_005n, null]), [true, false])));
    expect(us.cells).toEqual(['01:02:03.004005', '']);
    const ns = await readBack(withIds(arrowVector(new arrow.TimeNanosecond(), int64s([3_723_004_005_006n]))));
    expect(ns.cells).toEqual(['01:02:03.004005006']);
  });

  test('what arrow-rs writes with no logical type (second-unit timestamps, Date64) stays the integer it stores', async () => {
    const { cells } = await readBack(withIds(arrowVector(new arrow.TimestampSecond(), int64s([978_307_260n]))));
    expect(cells).toEqual(['978307260']);
  });
});

describe('text: dictionary-encoded strings, ENUM, JSON, UUID, unannotated bytes', () => {
  test('dictionary-encoded strings, an empty string being an empty cell as in CSV', async () => {
    const values = Array.from({ length: 60 }, (_, i) => (i % 7 === 6 ? null : ['SEA', 'LAX', 'Zürich, CH', '"quoted"', ''][i % 5]));
    const bytes = withIds(arrowValues(new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()), values));
    expect(footer(bytes).row_groups[0].columns[1].meta_data?.encodings).toContain('RLE_DICTIONARY');
    const { result, cells } = await readBack(bytes);
    expect(cells).toEqual(values.map((v) => v ?? ''));
    const frequencies: Record<string, number> = {};
    for (const v of values) if (v) frequencies[v] = (frequencies[v] ?? 0) + 1;
    expect(frequencies).toEqual({ SEA: 10, LAX: 10, 'Zürich, CH': 11, '"quoted"': 10 });
    expect(result.profile.columns.v).toMatchObject({ missing: 19, frequencies });
  });

  test('ENUM, JSON and UUID (hyparquet-writer) are text: JSON as written, UUIDs in lower-case 8-4-4-4-12', async () => {
    const utf8 = new TextEncoder();
    const bytes = schemaParquet(
      [
        { name: 'root', num_children: 4 },
        { name: 'id', type: 'INT32', repetition_type: 'REQUIRED' },
        { name: 'v', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL', converted_type: 'ENUM', logical_type: { type: 'ENUM' } },
        { name: 'json', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL', converted_type: 'JSON', logical_type: { type: 'JSON' } },
        { name: 'uuid', type: 'FIXED_LEN_BYTE_ARRAY', type_length: 16, repetition_type: 'OPTIONAL', logical_type: { type: 'UUID' } },
      ],
      [
        { name: 'id', data: [0, 1, 2] },
        { name: 'v', data: [utf8.encode('RED'), null, utf8.encode('GREEN')] },
        { name: 'json', data: [{ a: 1, b: [2, 3] }, 'text', null] },
        { name: 'uuid', data: ['123E4567-E89B-12D3-A456-426614174000', null, '00000000-0000-0000-0000-000000000001'] },
      ],
    );
    const { result } = await readBack(bytes);
    expect(result.violations).toEqual([]);
    const splits = await splitsOf(bufferSource(bytes), { format: 'parquet' });
    const rows = Object.values(splits)
      .flatMap((text) => parse(text, { columns: true }) as Record<string, string>[])
      .sort((a, b) => Number(a.id) - Number(b.id));
    expect(rows).toEqual([
      { id: '0', v: 'RED', json: '{"a":1,"b":[2,3]}', uuid: '123e4567-e89b-12d3-a456-426614174000' },
      { id: '1', v: '', json: '"text"', uuid: '' },
      { id: '2', v: 'GREEN', json: '', uuid: '00000000-0000-0000-0000-000000000001' },
    ]);
  });

  test('unannotated bytes are text when they are UTF-8, and a binary column otherwise', async () => {
    const text = await readBack(withIds(arrowValues(new arrow.Binary(), [new TextEncoder().encode('plain'), null])));
    expect(text.cells).toEqual(['plain', '']);
    const binary = await readBack(withIds(arrowValues(new arrow.Binary(), [new Uint8Array([0xff, 0xfe]), null, new Uint8Array([0x41])])));
    expect(binary.result.violations).toEqual([
      expect.objectContaining({ check: 'type_mismatch', column: 'v', count: 1, exampleRows: [1] }),
    ]);
  });
});

describe('nested columns are not features', () => {
  test('LIST, STRUCT and MAP columns are each a violation naming the column; the flat ones are read', async () => {
    const n = 12;
    const ids = Int32Array.from({ length: n }, (_, i) => i);
    const bytes = arrowParquet({
      id: arrowVector(new arrow.Int32(), ids),
      tags: arrowValues(
        new arrow.List(new arrow.Field('item', new arrow.Utf8(), true)),
        Array.from({ length: n }, (_, i) => (i === 3 ? null : ['a', 'b'].slice(0, i % 3))),
      ),
      place: arrowValues(
        new arrow.Struct([new arrow.Field('lat', new arrow.Float64(), true), new arrow.Field('lon', new arrow.Float64(), true)]),
        Array.from({ length: n }, (_, i) => ({ lat: i, lon: -i })),
      ),
      attrs: arrowValues(
        new arrow.Map_<arrow.Utf8, arrow.Int32>(
          new arrow.Field(
            'entries',
            new arrow.Struct<{ key: arrow.Utf8; value: arrow.Int32 }>([
              new arrow.Field('key', new arrow.Utf8(), false),
              new arrow.Field('value', new arrow.Int32(), true),
            ]),
            false,
          ),
        ),
        Array.from({ length: n }, (_, i) => new Map([['k', i]])),
      ),
      v: arrowVector(
        new arrow.Float64(),
        Float64Array.from(ids, (i) => i / 2),
      ),
    });
    const { result, cells } = await readBack(bytes, { fileName: 'nested.parquet' });
    expect(result.accepted).toBe(false);
    expect(result.header).toEqual(['id', 'tags', 'place', 'attrs', 'v']);
    expect(result.violations.map((v) => [v.check, v.column, v.count])).toEqual([
      ['type_mismatch', 'tags', n],
      ['type_mismatch', 'place', n],
      ['type_mismatch', 'attrs', n],
    ]);
    expect(result.violations[0].message).toBe(
      "Column 'tags' in nested.parquet is a nested or binary Parquet column (12 values without a cell, rows 1, 2, 3, 4, 5 and 7 more): nested Parquet columns (LIST, MAP, STRUCT, repeated fields) and raw bytes are not features; expected one number, string, boolean, date or time per row (drop the column, or flatten it into columns of their own, before ingesting).",
    );
    expect(cells).toEqual(Array.from(ids, (i) => String(i / 2)));
  });

  // A repeated field at the top level (a list in the old style) is nested too, by the same rule
  // (parquetLayout), but no JavaScript writer writes one: hyparquet-writer refuses ("repeated types
  // not supported") and arrow-rs writes lists as LIST groups, as above.
  test('raw bytes (FIXED_LEN_BYTE_ARRAY with no annotation) are a violation naming the column', async () => {
    const bytes = schemaParquet(
      [
        { name: 'root', num_children: 2 },
        { name: 'id', type: 'INT32', repetition_type: 'REQUIRED' },
        { name: 'hash', type: 'FIXED_LEN_BYTE_ARRAY', type_length: 2, repetition_type: 'OPTIONAL' },
      ],
      [
        { name: 'id', data: [0, 1, 2] },
        { name: 'hash', data: [new Uint8Array([1, 2]), null, new Uint8Array([3, 4])] },
      ],
    );
    const { result } = await readBack(bytes, { fileName: 'hashes.parquet' });
    expect(result.violations.map((v) => [v.check, v.column, v.count, v.exampleRows])).toEqual([['type_mismatch', 'hash', 2, [1, 3]]]);
    expect(result.violations[0].message).toMatch(
      /^Column 'hash' in hashes\.parquet is a nested or binary Parquet column \(2 values without a cell, rows 1, 3\)/,
    );
  });
});
