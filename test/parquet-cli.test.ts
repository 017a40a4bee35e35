/**
 * Parquet end to end: a ZSTD file through the real CLI (`mloop run --data x.parquet`) on the local
 * runtime, trained and promoted; and the Lambda bundle (esbuild, as MloopFunction builds it) reads
 * every codec, the decompressors being ES modules bundled as CommonJS.
 */
import { buildSync } from 'esbuild';
import * as arrow from 'apache-arrow';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BUNDLING_TARGET } from '../lib/mloop-function';
import { CODECS, arrowParquet, arrowValues, arrowVector } from './helpers/parquet-files';

const ROOT = path.resolve(__dirname, '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-parquet-'));

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** n flights: a time, a distance, a price, an airport (some missing), and whether the flight is long. */
function flights(n: number, codec: (typeof CODECS)[number]): Buffer {
  const distance = Array.from({ length: n }, (_, i) => (i * 37) % 2000);
  return arrowParquet(
    {
      date: arrowVector(
        new arrow.TimestampMicrosecond(),
        BigInt64Array.from({ length: n }, (_, i) => 978_307_260_000_000n + BigInt(i) * 3_600_000_000n),
      ),
      distance: arrowVector(new arrow.Int64(), BigInt64Array.from(distance, BigInt)),
      price: arrowVector(
        new arrow.Decimal(2, 9, 128),
        Uint32Array.from({ length: n * 4 }, (_, w) => (w % 4 === 0 ? 5_000 + distance[w / 4] * 13 : 0)),
      ),
      origin: arrowValues(
        new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()),
        Array.from({ length: n }, (_, i) => (i % 11 === 0 ? null : ['SEA', 'LAX', 'JFK'][i % 3])),
      ),
      long: arrowValues(
        new arrow.Utf8(),
        distance.map((d) => (d > 1000 ? 'yes' : 'no')),
      ),
    },
    { codec, rowGroupSize: 250 },
  );
}

describe('Parquet through the CLI and the Lambda bundle', () => {
  jest.setTimeout(300_000);

  test('mloop run on a ZSTD Parquet file trains and promotes a model', () => {
    const file = path.join(dir, 'flights.parquet');
    fs.writeFileSync(file, flights(600, 'ZSTD'));
    const home = path.join(dir, 'home');
    const run = spawnSync(
      process.execPath,
      [path.join(ROOT, 'bin', 'mloop.js'), 'run', '--model', 'flights', '--data', file, '--target', 'long', '--json'],
      { cwd: dir, env: { ...process.env, MLOOP_HOME: home }, encoding: 'utf8', timeout: 240_000 },
    );
    expect(run.stderr).not.toMatch(/unsupported compression codec/);
    const json = JSON.parse(run.stdout.trim()) as Record<string, unknown>;
    expect(json).toMatchObject({ status: 'SUCCEEDED', datasetVersion: 1, modelVersion: 1, promoted: true, error: null });
    expect(run.status).toBe(0);
    // Whether a flight is long follows its distance (and price): the values arrived intact.
    expect((json.metrics as Record<string, number>).accuracy).toBeGreaterThan(0.9);
  });

  test('the Lambda bundle (esbuild: CommonJS, minified, for the Lambda runtime) reads every codec', () => {
    const entry = path.join(dir, 'entry.ts');
    fs.writeFileSync(
      entry,
      [
        `import { readFileSync } from 'node:fs';`,
        `import { bufferSource } from ${JSON.stringify(path.join(ROOT, 'lambdas/data/formats'))};`,
        `import { scanDataset } from ${JSON.stringify(path.join(ROOT, 'lambdas/data/scan'))};`,
        `(async () => {`,
        `  for (const file of process.argv.slice(2)) {`,
        `    const r = await scanDataset(bufferSource(readFileSync(file)), { fileName: file, target: 'long' });`,
        `    console.log(JSON.stringify({ rows: r.rows, violations: r.violations.map((v) => v.message) }));`,
        `  }`,
        `})();`,
      ].join('\n'),
    );
    const bundle = path.join(dir, 'bundle', 'index.js');
    buildSync({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      minify: true,
      target: BUNDLING_TARGET,
      external: ['@aws-sdk/*'],
      outfile: bundle,
      logLevel: 'silent',
    });
    const files = CODECS.map((codec) => {
      const file = path.join(dir, `${codec}.parquet`);
      fs.writeFileSync(file, flights(300, codec));
      return file;
    });
    const run = spawnSync(process.execPath, [bundle, ...files], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).toBe('');
    const results = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    expect(results).toEqual(CODECS.map(() => ({ rows: 300, violations: [] })));
  });
});
