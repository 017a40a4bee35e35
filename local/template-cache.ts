/**
 * The local template, cached by what decides it, so that a command whose app did not change
 * does not synthesize it again (synthesis is most of a read-only command's time).
 *
 * The key is a SHA-256 of everything synthesis reads: the sources of `lib/` and `lambdas/` (the
 * constructs and what they import), `local/template.ts` (how the template is read),
 * `package-lock.json` (the versions of aws-cdk-lib and cdk-nag), `cdk.json`, the CDK context
 * given to the process (CDK_CONTEXT_JSON and the caller's context), the default training code, and
 * every file or folder that a context value names (`mloop:trainingCodeDir`, a
 * `mloop:datasetSchemas` file). An entry is the resolved template and copies of its file assets
 * (the training code archive), in `<cache>/templates/<key>/`, written under a temporary name and
 * renamed into place, so a reader finds a whole entry or none. `MLOOP_TEMPLATE_CACHE=off` turns
 * the cache off.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../lib/function-catalog';
import { cacheDirectory } from './provision';
import type { LocalTemplate } from './template-types';

/** Entries kept; older ones are removed when a new one is written. */
const KEEP_ENTRIES = 20;
/** A context value naming a folder bigger than this is not hashed: the template is not cached. */
const MAX_FILES = 5000;
const SKIPPED_FOLDERS = new Set(['node_modules', '.git', '__pycache__', '.mloop', 'cdk.out']);

/** The cache's folder: MLOOP_CACHE_DIR (or XDG_CACHE_HOME/mloop, ~/.cache/mloop) + templates. */
export function templateCacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheDirectory(env), 'templates');
}

function cacheOff(env: NodeJS.ProcessEnv): boolean {
  return ['off', '0', 'false', 'no'].includes((env.MLOOP_TEMPLATE_CACHE ?? '').trim().toLowerCase());
}

/** Every file under `root` (sorted, relative), or undefined when there are more than MAX_FILES. */
function filesUnder(root: string): string[] | undefined {
  const out: string[] = [];
  const walk = (dir: string): boolean => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (SKIPPED_FOLDERS.has(entry.name)) continue;
        if (!walk(full)) return false;
      } else if (entry.isFile() && !entry.name.endsWith('.pyc')) {
        out.push(full);
        if (out.length > MAX_FILES) return false;
      }
    }
    return true;
  };
  return walk(root) ? out : undefined;
}

/** The context values that name an existing file or folder, resolved (relative ones from the repository, as cdk.json's are). */
function pathsInContext(context: Record<string, unknown>): string[] {
  const found = new Set<string>();
  const visit = (value: unknown) => {
    if (typeof value === 'string') {
      if (value === '' || value.trimStart().startsWith('{') || value.length > 4096) return;
      const resolved = path.resolve(REPO_ROOT, value);
      if (resolved !== REPO_ROOT && fs.existsSync(resolved)) found.add(resolved);
    } else if (Array.isArray(value)) value.forEach(visit);
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(visit);
  };
  visit(context);
  return [...found].sort();
}

/**
 * The cache key of the template that `context` synthesizes in this process, or undefined when it
 * cannot be told (a context value names a folder too big to hash).
 */
export function templateKey(context: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const hash = createHash('sha256');
  const cdkJson = fs.readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8');
  let envContext: Record<string, unknown> = {};
  try {
    envContext = env.CDK_CONTEXT_JSON ? (JSON.parse(env.CDK_CONTEXT_JSON) as Record<string, unknown>) : {};
  } catch {
    return undefined; // CDK itself will say what is wrong with it
  }
  hash.update(JSON.stringify({ context, envContext }));
  const sources = [path.join(REPO_ROOT, 'lib'), path.join(REPO_ROOT, 'lambdas'), path.join(REPO_ROOT, 'training')];
  // An installed package has no package-lock.json (npm never ships one): there the versions of
  // the peer packages the app installed (aws-cdk-lib, cdk-nag) stand for it.
  const candidates: (string | undefined)[] = [
    path.join(REPO_ROOT, 'local', 'template.ts'),
    path.join(REPO_ROOT, 'package-lock.json'),
    path.join(REPO_ROOT, 'cdk.json'),
    ...['aws-cdk-lib', 'cdk-nag', 'constructs'].map((pkg) => installedManifest(pkg)),
  ];
  const files = candidates.filter((file): file is string => file !== undefined && fs.existsSync(file));
  const named = pathsInContext({
    ...((JSON.parse(cdkJson) as { context?: Record<string, unknown> }).context ?? {}),
    ...envContext,
    ...context,
  });
  for (const root of [...sources, ...named]) {
    if (fs.statSync(root).isFile()) files.push(root);
    else {
      const under = filesUnder(root);
      if (!under) return undefined;
      files.push(...under);
    }
  }
  for (const file of files) {
    hash.update(`\0${file}\0`);
    hash.update(fs.readFileSync(file));
  }
  return hash.digest('hex');
}

/** The package.json of a package as this process loads it, when it resolves. */
function installedManifest(pkg: string): string | undefined {
  try {
    return require.resolve(`${pkg}/package.json`, { paths: [REPO_ROOT] });
  } catch {
    return undefined;
  }
}

/** The cached template of `key`, when a whole entry with all its assets is there. */
export function readCachedTemplate(key: string | undefined, env: NodeJS.ProcessEnv = process.env): LocalTemplate | undefined {
  if (!key || cacheOff(env)) return undefined;
  const file = path.join(templateCacheDirectory(env), key, 'template.json');
  let template: LocalTemplate;
  try {
    template = JSON.parse(fs.readFileSync(file, 'utf8')) as LocalTemplate;
  } catch {
    return undefined; // none (a damaged entry is written again by the next synthesis)
  }
  if (
    !Array.isArray(template.functions) ||
    !Array.isArray(template.apiRoutes) ||
    !Array.isArray(template.assets) ||
    !Array.isArray(template.stack?.outputs) ||
    !template.assets.every((a) => fs.existsSync(a.file))
  )
    return undefined;
  return template;
}

/**
 * Keep a synthesized template under `key`, with copies of its file assets (the synthesis folder
 * may be a temporary one). Returns the template as cached (asset paths in the cache), or the
 * template as given when the cache is off or cannot be written.
 */
export function writeCachedTemplate(key: string | undefined, template: LocalTemplate, env: NodeJS.ProcessEnv = process.env): LocalTemplate {
  if (!key || cacheOff(env)) return template;
  const root = templateCacheDirectory(env);
  const final = path.join(root, key);
  const pending = path.join(root, `.${key}.${process.pid}-${randomUUID()}.partial`);
  try {
    fs.mkdirSync(path.join(pending, 'assets'), { recursive: true });
    const assets = template.assets.map((asset, i) => {
      const copy = path.join(final, 'assets', `${i}-${path.basename(asset.file)}`);
      fs.copyFileSync(asset.file, path.join(pending, 'assets', path.basename(copy)));
      return { ...asset, file: copy };
    });
    const cached: LocalTemplate = { ...template, assets };
    fs.writeFileSync(path.join(pending, 'template.json'), JSON.stringify(cached));
    try {
      fs.renameSync(pending, final);
    } catch (error) {
      // Another process cached the same key first: its entry is the same.
      if (!['EEXIST', 'ENOTEMPTY', 'EPERM'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
      fs.rmSync(pending, { recursive: true, force: true });
    }
    prune(root, key);
    return readCachedTemplate(key, env) ?? template;
  } catch {
    fs.rmSync(pending, { recursive: true, force: true });
    return template; // a cache that cannot be written costs a synthesis next time, nothing more
  }
}

/** Remove all but the KEEP_ENTRIES newest entries (and partial ones an hour old). */
function prune(root: string, keep: string): void {
  const entries = fs.readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory());
  const stale = Date.now() - 3600_000;
  const whole = entries
    .filter((e) => !e.name.startsWith('.'))
    .map((e) => ({ name: e.name, at: fs.statSync(path.join(root, e.name)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const entry of whole.slice(KEEP_ENTRIES))
    if (entry.name !== keep) fs.rmSync(path.join(root, entry.name), { recursive: true, force: true });
  for (const entry of entries.filter((e) => e.name.startsWith('.') && e.name.endsWith('.partial'))) {
    if (fs.statSync(path.join(root, entry.name)).mtimeMs < stale) fs.rmSync(path.join(root, entry.name), { recursive: true, force: true });
  }
}
