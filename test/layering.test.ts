/**
 * The layering rules of .dependency-cruiser.cjs (also `npm run lint:deps`): the repository keeps
 * them, and each rule does catch what it names, on small trees that break it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');
// The package's exports map hides its bin from require.resolve; the file is where npm puts it.
const DEPCRUISE = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

function cruise(cwd: string, dirs: string[]): { code: number | null; out: string } {
  const result = spawnSync(process.execPath, [DEPCRUISE, ...dirs, '--config', CONFIG, '--output-type', 'err'], {
    cwd,
    encoding: 'utf8',
  });
  return { code: result.status, out: `${result.stdout}${result.stderr}` };
}

/** A tree of TypeScript files (path -> source) in a fresh directory, with the repository's tsconfig. */
function tree(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-layering-'));
  fs.copyFileSync(path.join(ROOT, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
  for (const [file, source] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), source);
  }
  return dir;
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

test('the repository keeps every layering rule', () => {
  const { code, out } = cruise(ROOT, ['lambdas', 'lib', 'local', 'bin']);
  expect(out).toMatch(/no dependency violations found/);
  expect(code).toBe(0);
});

describe('on a tree that breaks every rule once', () => {
  // One cruise for all the rules (each run of dependency-cruiser costs a second).
  let out = '';
  let code: number | null = null;
  beforeAll(() => {
    const dir = tree({
      'lambdas/data/a.ts': "import { b } from './b';\nexport const a = () => b;\n",
      'lambdas/data/b.ts': "import { a } from './a';\nexport const b = () => a;\n",
      'lambdas/shared/s.ts': "export { d } from '../data/d';\n",
      'lambdas/data/d.ts': "export { m } from '../monitoring/m';\n",
      'lambdas/monitoring/m.ts': 'export const m = 1;\n',
      'lambdas/registry/r.ts': "export { i } from '../inference/i';\n",
      'lambdas/inference/i.ts': "export { m } from '../monitoring/m';\n",
      'lambdas/data/e.ts': "export { l } from '../../local/l';\n",
      'lib/c.ts': "export { l } from '../local/l';\n",
      'local/l.ts': "export { b } from '../bin/b';\n",
      'bin/b.ts': 'export const b = 1;\n',
    });
    dirs.push(dir);
    ({ code, out } = cruise(dir, ['lambdas', 'lib', 'local', 'bin']));
  });

  test.each([
    ['no-cycles', 'lambdas/data/a.ts'],
    ['shared-imports-no-stage', 'lambdas/shared/s.ts → lambdas/data/d.ts'],
    ['loop-order-data', 'lambdas/data/d.ts → lambdas/monitoring/m.ts'],
    ['loop-order-registry', 'lambdas/registry/r.ts → lambdas/inference/i.ts'],
    ['loop-order-inference', 'lambdas/inference/i.ts → lambdas/monitoring/m.ts'],
    ['lambdas-import-no-outer-layer', 'lambdas/data/e.ts → local/l.ts'],
    ['lib-imports-no-runtime', 'lib/c.ts → local/l.ts'],
    ['local-imports-no-cli', 'local/l.ts → bin/b.ts'],
  ])('the rule %s names %s', (rule, where) => {
    expect(out).toContain(`error ${rule}: ${where}`);
    expect(code).not.toBe(0);
  });
});

test('the later stages may use the earlier ones', () => {
  const dir = tree({
    'lambdas/monitoring/m.ts': "export { r } from '../registry/r';\n",
    'lambdas/registry/r.ts': "export { d } from '../data/d';\n",
    'lambdas/data/d.ts': "export { s } from '../shared/s';\n",
    'lambdas/shared/s.ts': 'export const s = 1;\n',
  });
  dirs.push(dir);
  const { code, out } = cruise(dir, ['lambdas']);
  expect(out).toMatch(/no dependency violations found/);
  expect(code).toBe(0);
});
