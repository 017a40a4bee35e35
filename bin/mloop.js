#!/usr/bin/env node
// The mloop CLI. TypeScript runs through tsx, so the CLI works from a fresh clone with no build.
require('tsx/cjs');
require('../local/polyfills.ts');
require('./cli.ts').main(process.argv.slice(2));
