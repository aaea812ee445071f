#!/usr/bin/env node
// `npm run proto`: lints proto/ with buf and regenerates libs/proto/src/generated with ts-proto.
// `npm run proto:check` (CI): generates into a temporary folder and fails when the committed code
// differs from what this script produces.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const generatedDir = 'libs/proto/src/generated';
const buf = join(root, 'node_modules/.bin/buf');
const check = process.argv.includes('--check');

function run(args) {
  execFileSync(buf, args, { cwd: root, stdio: 'inherit' });
}

function listFiles(dir, base = dir, out = new Map()) {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) listFiles(full, base, out);
    else out.set(relative(base, full), readFileSync(full, 'utf8'));
  }
  return out;
}

run(['lint']);
if (!check) {
  run(['generate']);
  console.log(`proto: generated ${generatedDir}`);
  process.exit(0);
}

const tmp = mkdtempSync(join(tmpdir(), 'fw-proto-'));
try {
  run(['generate', '--output', tmp]);
  const fresh = listFiles(join(tmp, generatedDir));
  const committed = listFiles(join(root, generatedDir));
  const differing = [...new Set([...fresh.keys(), ...committed.keys()])].filter(
    (f) => fresh.get(f) !== committed.get(f),
  );
  if (differing.length) {
    console.error(`proto: ${generatedDir} is out of date; run \`npm run proto\` and commit. Differing: ${differing.join(', ')}`);
    process.exit(1);
  }
  console.log(`proto: ${committed.size} generated files match proto/`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
