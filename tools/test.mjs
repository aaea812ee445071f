#!/usr/bin/env node
// `npm test`: the whole Jest run (arguments pass through, e.g. `npm test -- libs/framing`), its
// results kept in test-results.json, ending with one plain line of the real counts.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const resultsFile = join(root, 'test-results.json');

/** The closing line CI reads: `tests: N passed, N failed, N skipped`, from Jest's --json output. */
export function summaryLine(file = resultsFile) {
  if (!existsSync(file)) return { line: 'tests: 0 passed, 1 failed, 0 skipped', passed: 0, failed: 1, skipped: 0, ran: 0, ok: false };
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const skipped = r.numPendingTests + r.numTodoTests;
  // A suite that failed to load has no failed tests but must still count as a failure.
  const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
  return {
    line: `tests: ${r.numPassedTests} passed, ${failed} failed, ${skipped} skipped`,
    passed: r.numPassedTests,
    failed,
    skipped,
    ran: r.numPassedTests + r.numFailedTests,
    ok: r.success && failed === 0,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  rmSync(resultsFile, { force: true });
  const jest = join(root, 'node_modules/jest/bin/jest.js');
  const r = spawnSync(process.execPath, [jest, '--json', `--outputFile=${resultsFile}`, ...process.argv.slice(2)], {
    stdio: 'inherit',
    cwd: root,
  });
  const { line, ran, ok } = summaryLine();
  console.log(line);
  process.exit(r.status === 0 && ok && ran > 0 ? 0 : 1);
}
