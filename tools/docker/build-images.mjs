#!/usr/bin/env node
// `npm run images`: builds the four service images (framewire/<service>:latest and :<version>)
// from the host's build output. It stages a small build context in tmp/docker-context — the
// compiled apps, libs and health probe from dist/ and the production dependencies only — then runs
// `docker build -f docker/<service>.Dockerfile` on it. Nothing is downloaded inside the build.
//
//   npm run images                      # npm run build, stage, build all four
//   npm run images -- --if-changed      # skip images already built from the same staged content
//   npm run images -- --skip-build      # use dist/ as it is (a test run has just built it)
//
// The base image comes from a registry (node:20-bookworm-slim); offline, make it first with
// tools/docker/make-base-image.sh.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SERVICES = ['capture', 'supplier', 'worker', 'gateway'];
export const IMAGE_PREFIX = 'framewire';
const contextDir = join(root, 'tmp', 'docker-context');
const lockDir = join(root, 'tmp', 'docker-images.lock');
/** Label holding the digest of the staged context an image was built from (for --if-changed). */
const DIGEST_LABEL = 'io.framewire.context-digest';
/** Two test suites may ask for the images at once; the second waits for the first's build. */
const LOCK_WAIT_MS = 10 * 60_000;
/** A lock older than this was left by a build that died. */
const STALE_LOCK_MS = 15 * 60_000;
/** What of dist/ the images need: the four apps, their libs, the contract, the health probe, and
 *  the viewer page the gateway serves. */
const DIST_PARTS = [
  ...SERVICES.map((s) => `apps/${s}/src`),
  'libs',
  'proto',
  'tools/health-probe',
  'viewer',
];
/** Test support and benchmarks are never needed at run time. */
const DIST_EXCLUDED = new Set(['libs/testing', 'libs/containers', 'bench']);

function log(message) {
  console.log(`images: ${message}`);
}

function docker(args, options = {}) {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options }).trim();
}

function imageLabel(image, label) {
  const r = spawnSync('docker', ['image', 'inspect', '-f', `{{ index .Config.Labels "${label}" }}`, image], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** The production dependency closure, as npm resolved it: top-level package folders only. */
function productionPackages() {
  const r = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const paths = r.stdout.split('\n').filter(Boolean).slice(1); // the first line is the root itself
  if (paths.length === 0) throw new Error(`npm ls --omit=dev found no packages (exit ${r.status}): ${r.stderr}`);
  const sorted = [...new Set(paths)].sort();
  // A package nested in another's node_modules comes with its parent's folder.
  return sorted.filter((p, i) => !sorted.slice(0, i).some((parent) => p.startsWith(`${parent}/`)));
}

async function copyTree(from, to) {
  await mkdir(dirname(to), { recursive: true });
  // Hard links: staging 100 MB of dependencies then takes a moment, not a copy.
  const r = spawnSync('cp', ['-al', from, to]);
  if (r.status !== 0) await cp(from, to, { recursive: true, preserveTimestamps: true });
}

// TensorFlow.js packages ship every bundle (ES modules, minified, source maps, TypeScript sources):
// ~90 MB of which Node loads only the dist/*.node.js bundle and the backend's .wasm files.
const TENSORFLOW_KEPT = /^(package\.json|LICENSE|README\.md|dist\/[^/]+\.node\.js|dist\/[^/]+\.wasm)$/;

async function pruneTensorflow() {
  const scope = join(contextDir, 'node_modules', '@tensorflow');
  for (const pkg of await readdir(scope).catch(() => [])) {
    for await (const f of files(join(scope, pkg))) {
      if (!TENSORFLOW_KEPT.test(relative(join(scope, pkg), f))) await rm(f);
    }
  }
}

/** The model files of models/manifest.json (the worker's model analyzers), checked by the worker at start. */
async function stageModels() {
  const manifest = JSON.parse(await readFile(join(root, 'models', 'manifest.json'), 'utf8'));
  const names = ['manifest.json', manifest.licenceFile.name, ...Object.values(manifest.models).flatMap((m) => Object.keys(m.files))];
  await mkdir(join(contextDir, 'models'), { recursive: true });
  for (const name of names) {
    if (!(await stat(join(root, 'models', name)).catch(() => undefined))) throw new Error(`models/${name} is missing: run \`node tools/models/fetch.mjs\``);
    await copyTree(join(root, 'models', name), join(contextDir, 'models', name));
  }
}

async function stageDist() {
  for (const part of DIST_PARTS) {
    const from = join(root, 'dist', part);
    if (!(await stat(from).catch(() => undefined))) throw new Error(`dist/${part} is missing: run npm run build`);
    await cp(from, join(contextDir, 'dist', part), {
      recursive: true,
      filter: (src) => {
        const rel = relative(join(root, 'dist'), src);
        return !rel.split('/').some((segment, i, all) => DIST_EXCLUDED.has(segment) || DIST_EXCLUDED.has(all.slice(0, i + 1).join('/')));
      },
    });
  }
}

async function* files(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(full);
    else yield full;
  }
}

/** sha256 over the staged files (paths, modes and contents), the Dockerfiles and the base image. */
async function contextDigest(baseImageId) {
  const hash = createHash('sha256');
  const all = [];
  for await (const f of files(contextDir)) all.push(f);
  all.sort();
  for (const f of all) {
    const s = await stat(f);
    hash.update(`${relative(contextDir, f)}\0${s.mode}\0`);
    hash.update(await readFile(f));
  }
  for (const s of SERVICES) hash.update(await readFile(join(root, 'docker', `${s}.Dockerfile`)));
  hash.update(baseImageId);
  return hash.digest('hex').slice(0, 32);
}

async function withLock(body) {
  const deadline = Date.now() + LOCK_WAIT_MS;
  await mkdir(dirname(lockDir), { recursive: true });
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const age = Date.now() - ((await stat(lockDir).catch(() => undefined))?.mtimeMs ?? Date.now());
      if (age > STALE_LOCK_MS) await rm(lockDir, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`${lockDir} held for over ${LOCK_WAIT_MS} ms by another build`);
      else await sleep(500);
    }
  }
  try {
    return await body();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

export async function buildImages({ ifChanged = false, skipBuild = false, tag = 'latest' } = {}) {
  const started = Date.now();
  if (!skipBuild) execFileSync(process.execPath, [join(root, 'tools/build.mjs')], { stdio: 'inherit' });
  const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  const revision = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout?.trim() || 'unknown';
  const nodeImage = /^ARG NODE_IMAGE=(\S+)$/m.exec(await readFile(join(root, 'docker/gateway.Dockerfile'), 'utf8'))[1];
  const baseImageId = spawnSync('docker', ['image', 'inspect', '-f', '{{.Id}}', nodeImage], { encoding: 'utf8' }).stdout?.trim() || 'absent';

  return withLock(async () => {
    await rm(contextDir, { recursive: true, force: true });
    await mkdir(join(contextDir, 'data', 'archive'), { recursive: true });
    for (const pkg of productionPackages()) await copyTree(pkg, join(contextDir, relative(root, pkg)));
    await pruneTensorflow();
    await stageModels();
    await stageDist();
    const digest = await contextDigest(baseImageId);
    const staged = Date.now();
    log(`staged ${relative(root, contextDir)} (digest ${digest}) in ${((staged - started) / 1000).toFixed(1)} s`);

    const built = [];
    for (const service of SERVICES) {
      const image = `${IMAGE_PREFIX}/${service}:${tag}`;
      if (ifChanged && imageLabel(image, DIGEST_LABEL) === digest) {
        log(`${image} is up to date`);
        continue;
      }
      const t0 = Date.now();
      const r = spawnSync(
        'docker',
        [
          'build', '--quiet',
          '-f', join(root, 'docker', `${service}.Dockerfile`),
          '-t', image, '-t', `${IMAGE_PREFIX}/${service}:${version}`,
          '--build-arg', `VERSION=${version}`, '--build-arg', `REVISION=${revision}`,
          '--label', `${DIGEST_LABEL}=${digest}`,
          contextDir,
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
      if (r.status !== 0) {
        const offline = /pull access denied|failed to resolve|dial tcp|no such host|not found/i.test(r.stderr) && baseImageId === 'absent';
        throw new Error(
          `docker build of ${image} failed:\n${r.stderr}` +
            (offline ? `\nThe base image ${nodeImage} cannot be pulled here: make it locally with tools/docker/make-base-image.sh` : ''),
        );
      }
      built.push(service);
      log(`built ${image} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    // A rebuild moves the tags; the images they left are of no use (their shared layers stay).
    if (built.length > 0) spawnSync('docker', ['image', 'prune', '--force', '--filter', `label=${DIGEST_LABEL}`], { stdio: 'ignore' });
    for (const service of SERVICES) {
      const size = Number(docker(['image', 'inspect', '-f', '{{.Size}}', `${IMAGE_PREFIX}/${service}:${tag}`]));
      log(`${IMAGE_PREFIX}/${service}:${tag} ${(size / 1e6).toFixed(0)} MB`);
    }
    log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s (${built.length} built)`);
    return { digest, built };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const tagAt = args.indexOf('--tag');
  buildImages({
    ifChanged: args.includes('--if-changed'),
    skipBuild: args.includes('--skip-build'),
    tag: tagAt >= 0 ? args[tagAt + 1] : 'latest',
  }).catch((err) => {
    console.error(`images: ${err.message}`);
    process.exit(1);
  });
}
