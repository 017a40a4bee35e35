/**
 * The npm package as a user gets it (issue 19): `npm pack`, the tarball installed into a fresh CDK
 * app beside the peer dependencies, that app synthesized with cdk-nag (Lambda code really bundled
 * from the shipped sources, no Docker, no network), and `npx mloop demo` run there on a fresh home.
 *
 * No network: `npm install --offline` cannot resolve here (the npm cache holds tarballs but not
 * the registry metadata of aws-cdk-lib and the rest), so the install is done as npm lays it out,
 * by hand: the tarball unpacked into node_modules/mloop (real files: nothing of this repository's
 * lib/, lambdas/ or training/ is reachable from it), its bin linked into node_modules/.bin, and
 * for every other package the app needs, the closure of mloop's dependencies and peer
 * dependencies as their package.json files declare them, linked from this repository's
 * node_modules (the versions package-lock pins). A package mloop uses without declaring it is
 * then missing, as it would be from a user's install.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../lib/function-catalog';

jest.setTimeout(600_000);

const REPO_MODULES = path.join(REPO_ROOT, 'node_modules');
let work: string;
let app: string;
let tarball: string;

interface Manifest {
  name: string;
  version: string;
  files?: string[];
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}
const manifest = (dir: string): Manifest => JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest;

/** The packages `roots` need, found as Node resolves them from this repository's top-level node_modules. */
function dependencyClosure(roots: string[]): string[] {
  const seen = new Set<string>();
  const queue = [...roots];
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    const dir = path.join(REPO_MODULES, name);
    if (!fs.existsSync(dir)) continue; // nested in its dependent's own node_modules, or an absent optional one
    seen.add(name);
    const m = manifest(dir);
    queue.push(...Object.keys({ ...m.dependencies, ...m.optionalDependencies, ...m.peerDependencies }));
  }
  return [...seen].sort();
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-package-'));
  // `npm pack` runs prepack (the build of dist/).
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  ) as { filename: string }[];
  tarball = path.join(work, packed[0].filename);
  app = path.join(work, 'app');
  const installed = path.join(app, 'node_modules', 'mloop');
  fs.mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '--strip-components=1', '-C', installed]);
  const mloop = manifest(installed);
  for (const name of dependencyClosure(Object.keys({ ...mloop.dependencies, ...mloop.peerDependencies }))) {
    const link = path.join(app, 'node_modules', name);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(path.join(REPO_MODULES, name), link, 'dir');
  }
  fs.mkdirSync(path.join(app, 'node_modules', '.bin'));
  fs.symlinkSync('../mloop/bin/mloop.js', path.join(app, 'node_modules', '.bin', 'mloop'));
  // What `npm install` would have written beside them; NodejsFunction wants the app's lock file.
  const peers = {
    'aws-cdk-lib': manifest(path.join(REPO_MODULES, 'aws-cdk-lib')).version,
    constructs: manifest(path.join(REPO_MODULES, 'constructs')).version,
  };
  fs.writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'user-app', private: true, dependencies: { mloop: `file:${tarball}`, ...peers } }),
  );
  fs.writeFileSync(path.join(app, 'package-lock.json'), JSON.stringify({ name: 'user-app', lockfileVersion: 3, packages: {} }));
  // The user's own app: cdk init's feature flags (mloop's cdk.json has the ones it is tested with).
  const flags = Object.fromEntries(Object.entries(manifestContext()).filter(([key]) => !key.startsWith('mloop:')));
  fs.writeFileSync(path.join(app, 'cdk.json'), JSON.stringify({ app: 'node app.js', context: flags }));
  fs.writeFileSync(
    path.join(app, 'app.js'),
    [
      "const { App, Validations } = require('aws-cdk-lib');",
      "const { AwsSolutionsChecks } = require('cdk-nag');",
      "const { MloopStack, Mloop } = require('mloop');",
      "const app = new App({ outdir: process.argv[2], context: require('./cdk.json').context });",
      "new MloopStack(app, 'UserMloop');",
      "if (typeof Mloop !== 'function') throw new Error('mloop exports no Mloop construct');",
      'Validations.of(app).addPlugins(new AwsSolutionsChecks(app));',
      'app.synth();',
    ].join('\n'),
  );
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function manifestContext(): Record<string, unknown> {
  return (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
}

test('the tarball ships the API, the CLI, the handlers and the training code, and no tests, benches or fixtures', () => {
  const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const file of [
    'package/dist/lib/index.js',
    'package/dist/lib/index.d.ts',
    'package/bin/mloop.js',
    'package/lambdas/inference/predict-handler.ts',
    'package/training/train.py',
    'package/cdk.json',
  ]) {
    expect([file, listing.includes(file)]).toEqual([file, true]);
  }
  expect(
    listing.filter((f) => /^package\/(test|bench|\.ci|docs|scratch|coverage)\//.test(f) || /(\.test\.ts|__pycache__|\.pyc)$/.test(f)),
  ).toEqual([]);
  const m = manifest(path.join(app, 'node_modules', 'mloop'));
  expect(Object.keys(m.peerDependencies ?? {}).sort()).toEqual(['aws-cdk-lib', 'constructs']);
  expect(Object.keys(m.dependencies ?? {})).not.toContain('aws-cdk-lib');
});

test("a fresh CDK app synthesizes MloopStack from the package: cdk-nag clean, Lambda code bundled from the package's sources", () => {
  const out = path.join(work, 'cdk.out');
  execFileSync(process.execPath, ['app.js', out], {
    cwd: app,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1' },
  });
  const template = JSON.parse(fs.readFileSync(path.join(out, 'UserMloop.template.json'), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  };
  const types = Object.values(template.Resources).map((r) => r.Type);
  expect(types.filter((t) => t === 'AWS::StepFunctions::StateMachine').length).toBeGreaterThanOrEqual(1);
  expect(types).toContain('AWS::ApiGateway::RestApi');
  // cdk-nag: the report lists no unacknowledged finding (an error would also have failed synth).
  const report = path.join(out, 'validation-report.json');
  if (fs.existsSync(report))
    expect(
      (JSON.parse(fs.readFileSync(report, 'utf8')) as { pluginReports?: { violations?: unknown[] }[] }).pluginReports?.flatMap(
        (p) => p.violations ?? [],
      ),
    ).toEqual([]);
  // Every function's asset was built by esbuild; the ONNX ones carry onnxruntime for linux/arm64 only.
  const functions = Object.values(template.Resources).filter(
    (r) => r.Type === 'AWS::Lambda::Function' && (r as { Metadata?: Record<string, unknown> }).Metadata?.['mloop:function'] !== undefined,
  );
  expect(functions.length).toBeGreaterThan(5);
  let onnx = 0;
  for (const fn of functions) {
    const key = (fn.Properties!.Code as { S3Key: string }).S3Key.replace(/\.zip$/, '');
    const asset = path.join(out, `asset.${key}`);
    expect([key, fs.existsSync(path.join(asset, 'index.js'))]).toEqual([key, true]);
    const bin = path.join(asset, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');
    if (fs.existsSync(bin)) {
      onnx += 1;
      expect(fs.readdirSync(bin)).toEqual(['linux']);
      expect(fs.readdirSync(path.join(bin, 'linux'))).toEqual(['arm64']);
      expect(fs.existsSync(path.join(asset, 'node_modules', 'onnxruntime-common', 'package.json'))).toBe(true);
    }
  }
  expect(onnx).toBeGreaterThanOrEqual(1);
});

test("onnxruntime-node's install script does nothing (no download) with ONNXRUNTIME_NODE_INSTALL=skip", () => {
  const script = path.join(app, 'node_modules', 'onnxruntime-node', 'script', 'install.js');
  execFileSync(process.execPath, [script], {
    cwd: app,
    stdio: 'pipe',
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', HTTPS_PROXY: 'http://127.0.0.1:9' },
  });
});

test('npx mloop --version and npx mloop demo run from the installed package on a fresh home', () => {
  // A fresh home and a fresh cache (no template or training code archive of this repository's).
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MLOOP_HOME: path.join(work, 'home'),
    XDG_CACHE_HOME: path.join(work, 'cache'),
    MLOOP_PYTHON: '/usr/bin/python3',
  };
  delete env.MLOOP_CACHE_DIR;
  const version = execFileSync('npx', ['--no-install', 'mloop', '--version', '--json'], { cwd: app, env, encoding: 'utf8' });
  expect(JSON.parse(version)).toEqual({ version: manifest(REPO_ROOT).version });
  const demo = execFileSync('npx', ['--no-install', 'mloop', 'demo', '--json'], {
    cwd: app,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
  const report = JSON.parse(demo.trim().split('\n').pop()!) as Record<string, unknown>;
  expect(JSON.stringify(report)).not.toMatch(/FAILED/);
  expect(fs.existsSync(path.join(work, 'home'))).toBe(true);
});
