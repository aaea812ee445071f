// What the container suites need beside the clients of @framewire/testing (which read the stack
// from the host, through its public doors only): the images, built when missing or stale.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { CALL_TIMEOUT_MS, REPO_ROOT } from '@framewire/testing';

// Testcontainers' reaper (Ryuk) is an image that cannot be pulled here; the suites remove what they
// start themselves (afterAll, and removeLeftovers for what a dead run left).
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';

/** Bound on building the images when the suites find them missing or stale (CI built them already). */
const IMAGE_BUILD_TIMEOUT_MS = 8 * 60_000;

/** The Dockerfiles' FROM. */
const BASE_IMAGE = 'node:20-bookworm-slim';

function imageExists(name: string): boolean {
  try {
    execFileSync('docker', ['image', 'inspect', name], { stdio: 'ignore', timeout: CALL_TIMEOUT_MS });
    return true;
  } catch {
    return false;
  }
}

/** Builds framewire/<service>:latest unless the images were built from the current dist/ (which
 *  Jest's global setup has just compiled); two suites asking at once share one build. Where no
 *  base image exists (this project's machines reach no registry) it is made locally first, as
 *  .ci/run does. */
export function ensureImages(): void {
  if (!imageExists(BASE_IMAGE)) {
    execFileSync(join(REPO_ROOT, 'tools/docker/make-base-image.sh'), [], { stdio: ['ignore', 'pipe', 'inherit'], timeout: IMAGE_BUILD_TIMEOUT_MS });
    process.stderr.write(`made a local ${BASE_IMAGE} for the container suites (tools/docker/make-base-image.sh); with a registry, \`docker rmi ${BASE_IMAGE}\` lets the official one be pulled\n`);
  }
  execFileSync(process.execPath, [join(REPO_ROOT, 'tools/docker/build-images.mjs'), '--if-changed', '--skip-build'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: IMAGE_BUILD_TIMEOUT_MS,
  });
}
