#!/usr/bin/env node
// The mloop CLI. TypeScript runs through tsx, so the CLI works from a fresh clone with no build.
// On Node.js 20 the AWS SDK prints a several-line notice (releases after early 2027 need Node.js 22)
// in every process; a CLI user is not the audience (`mloop doctor` reports the Node.js version),
// so the CLI turns it off unless the user set the SDK's variable. Programs that embed the
// handlers keep it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('tsx/cjs');
require('../local/polyfills.ts');
require('./cli.ts').main(process.argv.slice(2));
