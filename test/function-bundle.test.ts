/**
 * The SDK in the Lambda runtime (issue 14): a function's code, as `cdk synth` bundles it through
 * MloopFunction, carries the AWS SDK it was tested with (package-lock's versions) instead of
 * leaving `@aws-sdk/*` to the runtime's copies. The bundle is really built here (esbuild, as CDK
 * runs it) for the ingest function, which uses the S3 client, lib-storage's Upload and
 * lib-dynamodb, then read: no `@aws-sdk` module is left to require, and the pinned versions are in it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { REPO_ROOT } from '../lib/function-catalog';
import { BUNDLE_OPTIONS, MloopFunction } from '../lib/mloop-function';
import { mloopFunction } from './helpers/template';

jest.setTimeout(180_000);

const version = (pkg: string): string =>
  (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;

let outdir: string;
let code: string;

beforeAll(() => {
  outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-bundle-'));
  // Bundling on (no 'aws:cdk:bundling-stacks' override): what `cdk synth` builds.
  const app = new App({ outdir });
  const stack = new Stack(app, 'Bundle');
  new MloopFunction(stack, 'Ingest', {
    functionId: 'ingest',
    environment: { DATA_BUCKET: 'bucket', REGISTRY_TABLE: 'table' },
  });
  app.synth();
  const key = mloopFunction(Template.fromStack(stack), 'ingest').resource.Properties.Code.S3Key as string;
  code = fs.readFileSync(path.join(outdir, `asset.${key.replace(/\.zip$/, '')}`, 'index.js'), 'utf8');
});

afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

test('MloopFunction leaves no module external and reads the SDK from its ES modules', () => {
  expect(BUNDLE_OPTIONS.externalModules).toEqual([]);
  expect(BUNDLE_OPTIONS.mainFields).toEqual(['module', 'main']);
});

test('the bundled function requires no @aws-sdk module: the runtime’s copies are never loaded', () => {
  const required = [...code.matchAll(/require\(["'`]([^"'`]+)["'`]\)/g)].map((m) => m[1]);
  // Only the SDK's optional SigV4a signers stay as requires: the S3 client tries them (in a
  // try/catch) for multi-region access points alone, they are no dependency of mloop's, and
  // neither is installed, so there is no tested copy to bundle and no other to fall back on.
  const optional = ['@aws-sdk/signature-v4-crt', '@aws-sdk/signature-v4a'];
  for (const pkg of optional) expect([pkg, fs.existsSync(path.join(REPO_ROOT, 'node_modules', pkg))]).toEqual([pkg, false]);
  expect(required.filter((m) => (m.startsWith('@aws-sdk/') || m.startsWith('@smithy/')) && !optional.includes(m))).toEqual([]);
  // What it still requires is Node.js's own modules.
  expect(required.filter((m) => !m.startsWith('node:') && !/^[a-z_]+$/.test(m) && !optional.includes(m))).toEqual([]);
});

test('the bundled function carries the SDK versions package-lock pins (S3 client, lib-dynamodb, lib-storage)', () => {
  // Each SDK package writes its own version into its user agent: the bundle has the tested ones.
  for (const pkg of ['@aws-sdk/client-s3', '@aws-sdk/client-dynamodb', '@aws-sdk/lib-dynamodb', '@aws-sdk/lib-storage']) {
    expect([pkg, code.includes(`"${version(pkg)}"`)]).toEqual([pkg, true]);
  }
});
