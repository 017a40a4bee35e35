#!/usr/bin/env node
// The mloop CLI. TypeScript runs through tsx, so the CLI works from a fresh clone with no build.
// The npm package ships these TypeScript sources (bin/, lib/, local/, lambdas/) with tsx as a
// dependency rather than a compiled CLI: the local runtime loads each Lambda handler from its
// source path in the function catalog and the constructs bundle the same sources with esbuild at
// synth, so the sources ship anyway and one copy of the code runs everywhere.
// On Node.js 20 the AWS SDK prints a several-line notice (releases after early 2027 need Node.js 22)
// in every process; a CLI user is not the audience (`mloop doctor` reports the Node.js version),
// so the CLI turns it off unless the user set the SDK's variable. Programs that embed the
// handlers keep it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('tsx/cjs');
require('../local/polyfills.ts');
require('./cli.ts').main(process.argv.slice(2));
