#!/usr/bin/env node
// Compiles every app, lib and tool from TypeScript to CommonJS under dist/ with swc (fast, keeps
// decorator metadata for NestJS, rewrites @framewire/* path aliases to relative requires), and
// bundles the viewer page (apps/viewer, browser code) with esbuild into dist/viewer.
// Type checking is separate: `npm run typecheck`.
import { transformFile } from '@swc/core';
import { build as bundle } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cp, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist');
// Build beside dist/ and swap it in at the end, so that a process running from dist/ (a test run,
// `npm start`) never sees it half-written.
const stagingDir = join(root, `dist.building-${process.pid}`);
const sourceRoots = ['apps', 'libs', 'tools'];
// Browser code: bundled, not compiled for Node.
const viewerDir = join(root, 'apps', 'viewer');
// Browsers the page is built for: current Chromium and Firefox (and what they run of ES2022).
const VIEWER_TARGETS = ['chrome111', 'firefox115', 'safari16'];
const tsconfig = JSON.parse(
  (await import('node:fs')).readFileSync(join(root, 'tsconfig.base.json'), 'utf8'),
);

// libs/shm's Node-API addon (framewire_shm.node): rebuilt with node-gyp when its sources are newer
// than the binary, and copied beside the compiled JS. Headers come from the installed Node
// (--nodedir), since node-gyp cannot download them here. A failed native build fails the build.
const shmDir = join(root, 'libs', 'shm');
const shmAddon = join(shmDir, 'build', 'Release', 'framewire_shm.node');

async function mtimeOf(file) {
  return (await stat(file).catch(() => undefined))?.mtimeMs ?? 0;
}

async function buildShmAddon() {
  const sources = [join(shmDir, 'binding.gyp'), ...(await readdir(join(shmDir, 'native'))).map((f) => join(shmDir, 'native', f))];
  const newestSource = Math.max(...(await Promise.all(sources.map(mtimeOf))));
  if ((await mtimeOf(shmAddon)) > newestSource) return;
  const nodeGyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const nodedir = process.env.npm_config_nodedir || '/usr';
  try {
    execFileSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`], { cwd: shmDir, stdio: 'pipe' });
  } catch (err) {
    const output = `${err.stdout ?? ''}${err.stderr ?? ''}`;
    console.error(`build: native addon libs/shm failed (node-gyp rebuild --nodedir=${nodedir}):\n${output}`);
    throw new Error('build: libs/shm native addon failed to build');
  }
}

async function* walk(dir) {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.name === 'node_modules' || entry.name === 'build') continue;
    const full = join(dir, entry.name);
    if (full === viewerDir) continue;
    if (entry.isDirectory()) yield* walk(full);
    else yield full;
  }
}

function isCompiled(file) {
  return file.endsWith('.ts') && !file.endsWith('.d.ts') && !file.endsWith('.spec.ts');
}

const swcOptions = (file) => ({
  filename: file,
  sourceMaps: true,
  swcrc: false,
  module: { type: 'commonjs', ignoreDynamic: true },
  jsc: {
    target: 'es2022',
    baseUrl: root,
    paths: tsconfig.compilerOptions.paths,
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    keepClassNames: true,
  },
});

await buildShmAddon();

const files = [];
for (const sourceRoot of sourceRoots) {
  for await (const file of walk(join(root, sourceRoot))) if (isCompiled(file)) files.push(file);
}
await Promise.all(
  files.map(async (file) => {
    const out = join(stagingDir, relative(root, file)).replace(/\.ts$/, '.js');
    const { code, map } = await transformFile(file, swcOptions(file));
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, `${code}\n//# sourceMappingURL=${out.split('/').pop()}.map\n`);
    if (map) await writeFile(`${out}.map`, map);
  }),
);
// The viewer: one minified script (our code, the stage decoder of libs/overlay-codecs, the browser build of
// the proto messages), the page and its styles.
const viewerOut = join(stagingDir, 'viewer');
const viewer = await bundle({
  entryPoints: [join(viewerDir, 'src', 'main.ts')],
  bundle: true,
  minify: true,
  format: 'iife',
  platform: 'browser',
  target: VIEWER_TARGETS,
  tsconfig: join(viewerDir, 'tsconfig.json'),
  outfile: join(viewerOut, 'viewer.js'),
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
for (const page of ['index.html', 'viewer.css']) await cp(join(viewerDir, 'src', page), join(viewerOut, page));
await cp(join(root, 'proto'), join(stagingDir, 'proto'), { recursive: true });
await mkdir(join(stagingDir, 'libs', 'shm', 'native'), { recursive: true });
await cp(shmAddon, join(stagingDir, 'libs', 'shm', 'native', 'framewire_shm.node'));
const retired = join(root, `dist.old-${process.pid}`);
await rename(outDir, retired).catch((err) => {
  if (err.code !== 'ENOENT') throw err;
});
await rename(stagingDir, outDir);
await rm(retired, { recursive: true, force: true });
const viewerBytes = Object.values(viewer.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
console.log(`build: ${files.length} files compiled to ${relative(root, outDir)}/, viewer bundle ${viewerBytes} bytes`);
