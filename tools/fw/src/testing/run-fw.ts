// Test support: runs the built `fw` launcher as a child process, exactly as a user's shell would,
// and makes throw-away directories for the files it reads and writes.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** tools/fw/bin/fw.js; it runs dist/, which Jest's global setup builds before the run. */
export const FW_LAUNCHER = resolve(__dirname, '..', '..', 'bin', 'fw.js');
const RUN_TIMEOUT_MS = 15_000;
/** Every Jest run rebuilds dist/ from scratch (rm, then compile: about two seconds). In a checkout
 *  shared by several people a run of theirs can remove dist/ under ours; the launcher then says it
 *  is not built, and the run is repeated once dist/ is back. A build that never appears still fails. */
const NOT_BUILT_MESSAGE = 'the CLI is not built yet';
const REBUILD_WAIT_MS = 500;
const REBUILD_WAIT_ATTEMPTS = 20;

export interface FwRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `fw args…` in `cwd` and resolves when it exits, whatever its status. */
export async function runFw(args: readonly string[], cwd: string): Promise<FwRun> {
  let run = await runOnce(args, cwd);
  for (let attempt = 0; attempt < REBUILD_WAIT_ATTEMPTS && run.code !== 0 && run.stderr.includes(NOT_BUILT_MESSAGE); attempt++) {
    await new Promise((wake) => setTimeout(wake, REBUILD_WAIT_MS));
    run = await runOnce(args, cwd);
  }
  return run;
}

function runOnce(args: readonly string[], cwd: string): Promise<FwRun> {
  return new Promise((done, fail) => {
    execFile(process.execPath, [FW_LAUNCHER, ...args], { cwd, timeout: RUN_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return fail(error);
      done({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  });
}

/** JSON lines text → values. */
export function parseJsonLines(text: string): unknown[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as unknown);
}

export function toJsonLines(values: readonly unknown[]): string {
  return values.map((value) => `${JSON.stringify(value)}\n`).join('');
}

/** A fresh directory under the OS temp dir, and its removal. */
export async function makeScratchDir(): Promise<{ dir: string; path: (name: string) => string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'fw-cli-'));
  return { dir, path: (name) => join(dir, name), remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The one-line error contract: exactly one line on stderr, starting with `fw: `, and nothing
 *  that looks like a stack frame. */
export function expectOneErrorLine(run: FwRun): string {
  const lines = run.stderr.split('\n').filter((line) => line !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^fw: /);
  expect(run.stderr).not.toMatch(/^\s+at\s/m);
  expect(run.stderr).not.toMatch(/\.(js|ts):\d+/);
  return lines[0];
}
