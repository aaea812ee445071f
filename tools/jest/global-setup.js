// Suites that start real service processes run the compiled output; build it once per Jest run so
// they always test the current sources (swc: about two seconds).
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

module.exports = async function globalSetup() {
  if (process.env.FW_TEST_SKIP_BUILD === '1') return;
  execFileSync(process.execPath, [join(__dirname, '..', 'build.mjs')], { stdio: 'pipe' });
};
