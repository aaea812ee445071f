// Whether this machine can run the container suites: a Docker engine that answers and Compose.
// On a developer's machine without them the suites are skipped with the reason printed; under CI
// (CI=true), where .ci/run installs both, they always run, so that a missing engine fails loudly.
import { execFileSync } from 'node:child_process';
import { COMPOSE_EXECUTABLE } from './stack';

const CHECK_TIMEOUT_MS = 15_000;

/** Why the container suites cannot run here, or undefined when they can. */
export function dockerProblem(): string | undefined {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: CHECK_TIMEOUT_MS });
  } catch {
    return 'no Docker engine answers `docker info` (apt-get install docker.io, then start dockerd)';
  }
  try {
    execFileSync(COMPOSE_EXECUTABLE, ['version'], { stdio: 'ignore', timeout: CHECK_TIMEOUT_MS });
  } catch {
    return `${COMPOSE_EXECUTABLE} is not installed (apt-get install docker-compose)`;
  }
  return undefined;
}

/** `describe(name, suite)` when Docker can run here or under CI; otherwise `describe.skip`, after
 *  printing why. */
export function describeWithDocker(name: string, suite: () => void): void {
  const problem = process.env.CI ? undefined : dockerProblem();
  if (problem === undefined) {
    describe(name, suite);
    return;
  }
  process.stderr.write(`skipped: ${name}: ${problem}\n`);
  describe.skip(name, suite);
}
