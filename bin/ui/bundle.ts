/**
 * The UI's script: bin/ui/app/ (TypeScript) and its charting library (Observable Plot, with the
 * d3 modules it uses) bundled into one file by esbuild, so the page needs nothing from the
 * network.
 *
 * Bundled at first use, not at build time: mloop runs from its sources through tsx and has no
 * build step, and esbuild is already a runtime dependency (it bundles the Lambda functions).
 * The bundle is cached under <MLOOP_HOME>/cache/ui/, named after a hash of the app's sources and
 * the library's version, so a second start serves it at once and a changed source is rebundled.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const APP_DIR = path.join(__dirname, 'app');
const ENTRY = path.join(APP_DIR, 'main.ts');

function sourceHash(): string {
  const hash = createHash('sha256');
  for (const name of fs.readdirSync(APP_DIR).sort()) {
    if (!name.endsWith('.ts')) continue;
    hash
      .update(name)
      .update('\0')
      .update(fs.readFileSync(path.join(APP_DIR, name)));
  }
  // The library's version, from its package.json (which its "exports" do not let require.resolve reach).
  const plot = path.join(path.dirname(require.resolve('@observablehq/plot')), '..', 'package.json');
  hash.update((JSON.parse(fs.readFileSync(plot, 'utf8')) as { version: string }).version);
  return hash.digest('hex').slice(0, 16);
}

/** The bundled script, from the cache when it is there. */
export async function bundleApp(home: string): Promise<string> {
  const file = path.join(home, 'cache', 'ui', `app-${sourceHash()}.js`);
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8');
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [ENTRY],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  const text = result.outputFiles[0].text;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // Written whole, then renamed: a second process starting at once never reads half a file.
  const partial = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(partial, text);
  fs.renameSync(partial, file);
  return text;
}

/** The script, bundled once per process (the first request waits for it). */
export function appScript(home: string): () => Promise<string> {
  let pending: Promise<string> | undefined;
  return () => {
    pending ??= bundleApp(home).catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}
