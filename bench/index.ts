/**
 * `npm run bench [-- NAME...]`: runs every bench/*.ts that exports `run()` (in file-name order, or
 * only the named ones) and prints one JSON line per benchmark on stdout: its name, wall seconds
 * and what its run() returned. Progress goes to stderr. Benchmarks are discovered, not listed, so
 * adding one is adding a file. Performance figures live here, never in tests.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface BenchModule {
  run?: () => Promise<unknown> | unknown;
}

async function main(): Promise<void> {
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const files = fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== 'index.ts')
    .sort();
  const unknown = only.filter((name) => !files.includes(`${name}.ts`));
  if (unknown.length > 0)
    throw new Error(`No benchmark ${unknown.join(', ')} in bench/ (there are: ${files.map((f) => f.replace(/\.ts$/, '')).join(', ')}).`);
  for (const file of files) {
    const name = file.replace(/\.ts$/, '');
    if (only.length > 0 && !only.includes(name)) continue;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(path.join(__dirname, file)) as BenchModule;
    if (typeof mod.run !== 'function') continue;
    process.stderr.write(`bench ${name}...\n`);
    const started = performance.now();
    const result = await mod.run();
    console.log(JSON.stringify({ bench: name, seconds: Number(((performance.now() - started) / 1000).toFixed(1)), result }));
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
