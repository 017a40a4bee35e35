/**
 * The layering rules of mloop, checked by `npm run lint:deps` (and by test/layering.test.ts).
 * Keep this list short; the README's "How it fits together" names the same rules.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'An import cycle ties two files into one concern; move the shared piece to where both may import it.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'shared-imports-no-stage',
      severity: 'error',
      comment: 'lambdas/shared is what every stage may use; it imports nothing from a stage folder.',
      from: { path: '^lambdas/shared/' },
      to: { path: '^lambdas/', pathNot: '^lambdas/shared/' },
    },
    {
      name: 'loop-order-data',
      severity: 'error',
      comment:
        'A stage uses only the stages before it in the loop (data, registry, inference, monitoring): what two stages share lives in lambdas/shared.',
      from: { path: '^lambdas/data/' },
      to: { path: '^lambdas/(registry|inference|monitoring|pipeline)/' },
    },
    {
      name: 'loop-order-registry',
      severity: 'error',
      comment:
        'A stage uses only the stages before it in the loop (data, registry, inference, monitoring): what two stages share lives in lambdas/shared.',
      from: { path: '^lambdas/registry/' },
      to: { path: '^lambdas/(inference|monitoring|pipeline)/' },
    },
    {
      name: 'loop-order-inference',
      severity: 'error',
      comment:
        'A stage uses only the stages before it in the loop (data, registry, inference, monitoring): what two stages share lives in lambdas/shared.',
      from: { path: '^lambdas/inference/' },
      to: { path: '^lambdas/(monitoring|pipeline)/' },
    },
    {
      name: 'lambdas-import-no-outer-layer',
      severity: 'error',
      comment: 'Lambda code is deployed alone: it imports nothing from the CDK app (lib), the local runtime (local) or the CLI (bin).',
      from: { path: '^lambdas/' },
      to: { path: '^(lib|local|bin)/' },
    },
    {
      name: 'lib-imports-no-runtime',
      severity: 'error',
      comment: 'The CDK constructs describe the cloud; they do not depend on the local runtime or the CLI.',
      from: { path: '^lib/' },
      to: { path: '^(local|bin)/' },
    },
    {
      name: 'local-imports-no-cli',
      severity: 'error',
      comment: 'The local runtime is a library the CLI drives; it does not import the CLI.',
      from: { path: '^local/' },
      to: { path: '^bin/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/|^cdk\\.out|\\.d\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
