#!/usr/bin/env node
// Launcher of the `fw` command line: runs the compiled CLI from dist/ (built by `npm install` or
// `npm run build`), so that the tool starts without a TypeScript loader.
'use strict';
const { join } = require('node:path');

const entry = join(__dirname, '..', '..', '..', 'dist', 'tools', 'fw', 'src', 'main.js');
let cli;
try {
  cli = require(entry);
} catch (error) {
  if (error && error.code === 'MODULE_NOT_FOUND' && String(error.message).includes(entry)) {
    process.stderr.write('fw: the CLI is not built yet: run `npm install` (which builds) or `npm run build`\n');
    process.exit(1);
  }
  throw error;
}
cli.main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
