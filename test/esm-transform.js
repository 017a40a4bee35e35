/**
 * A jest transform for the few dependencies published only as ES modules (hyparquet,
 * hyparquet-compressors, hysnappy and hyparquet-writer): esbuild rewrites them as CommonJS, as the Lambda bundle (esbuild) and tsx do
 * at run time. jest's module loader cannot load ES modules without --experimental-vm-modules.
 */
const { transformSync } = require('esbuild');

module.exports = {
  process(source, filename) {
    const out = transformSync(source, { format: 'cjs', loader: 'js', target: 'node20', sourcefile: filename, sourcemap: 'inline' });
    return { code: out.code };
  },
};
