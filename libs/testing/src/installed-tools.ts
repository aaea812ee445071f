// Tests that need a program from the machine (ffmpeg, kubectl): skipped with the reason printed when
// it is missing on a developer's machine, never skipped in CI, where .ci/run installs it.
import { execFileSync } from 'node:child_process';

const TOOL_CHECK_TIMEOUT_MS = 5_000;
const known = new Map<string, boolean>();

/** How a tool is asked for its version when it is not `-version` (ffmpeg's). */
const VERSION_ARGUMENTS: Record<string, readonly string[]> = { kubectl: ['version', '--client'] };

/** Whether the tool runs when asked for its version. */
export function isInstalled(tool: string): boolean {
  let found = known.get(tool);
  if (found === undefined) {
    try {
      execFileSync(tool, [...(VERSION_ARGUMENTS[tool] ?? ['-version'])], { stdio: 'ignore', timeout: TOOL_CHECK_TIMEOUT_MS });
      found = true;
    } catch {
      found = false;
    }
    known.set(tool, found);
  }
  return found;
}

/** `describe` when `tool` is installed or under CI (a missing tool then fails the suite loudly);
 *  otherwise `describe.skip`, after printing why and how to install it. */
export function describeIfInstalled(tool: string, installHint: string): jest.Describe {
  if (isInstalled(tool) || process.env.CI) return describe;
  process.stderr.write(`skipped: tests that need ${tool}: it is not installed (${installHint})\n`);
  return describe.skip;
}

/** `it` when `tool` is installed or under CI; otherwise `it.skip`, after printing why. */
export function itIfInstalled(tool: string, installHint: string): jest.It {
  if (isInstalled(tool) || process.env.CI) return it;
  process.stderr.write(`skipped: a test that needs ${tool}: it is not installed (${installHint})\n`);
  return it.skip;
}
