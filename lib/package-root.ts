/**
 * Where mloop's own files are: the folder of its package.json. The constructs find the Lambda
 * handlers (lambdas/), the training code (training/) and cdk.json there, whether they run from
 * the TypeScript sources (a clone, tsx, ts-jest: lib/*.ts) or from the compiled package
 * (node_modules/mloop/dist/lib/*.js), so the root is searched for instead of assumed one folder up.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The package's name, as its package.json says it. */
export const PACKAGE_NAME = 'mloop';

/** The nearest folder at or above `from` whose package.json is mloop's. */
export function findPackageRoot(from: string): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      try {
        if ((JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir;
      } catch {
        // Not JSON: not ours; keep looking.
      }
    }
    if (path.dirname(dir) === dir) {
      throw new Error(`mloop's package root: no package.json named "${PACKAGE_NAME}" at or above ${from}; the package is incomplete.`);
    }
  }
}

/** The package root: the repository in a clone, node_modules/mloop in an installed package. */
export const PACKAGE_ROOT = findPackageRoot(__dirname);

/** mloop's version (package.json's). */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}
