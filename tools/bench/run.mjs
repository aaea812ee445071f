#!/usr/bin/env node
// `npm run bench`: builds, runs every *.bench.ts (compiled to dist/) in its own process, one after
// the other so they do not compete for the 2 cores, then writes docs/benchmarks.md with the machine
// description. `npm run bench -- framing` runs only the benchmarks whose path contains "framing".
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, release, platform } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const resultsDir = join(root, 'bench-results');
const filter = process.argv[2];

function findBenches(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) findBenches(full, out);
    else if (entry.name.endsWith('.bench.js')) out.push(full);
  }
  return out;
}

execFileSync(process.execPath, [join(root, 'tools/build.mjs')], { stdio: 'inherit', cwd: root });
rmSync(resultsDir, { recursive: true, force: true });
mkdirSync(resultsDir, { recursive: true });

const benches = findBenches(join(root, 'dist')).filter((f) => !filter || f.includes(filter)).sort();
if (benches.length === 0) {
  console.error(`bench: no benchmark matches ${filter ?? '(all)'}`);
  process.exit(1);
}
let failed = 0;
for (const bench of benches) {
  console.log(`\n=== ${relative(join(root, 'dist'), bench)} ===`);
  const r = spawnSync(process.execPath, ['--expose-gc', bench], {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, FW_BENCH_RESULTS_DIR: resultsDir },
  });
  if (r.status !== 0) {
    failed++;
    console.error(`bench: ${bench} exited with ${r.status ?? r.signal}`);
  }
}

const sections = readdirSync(resultsDir)
  .filter((f) => f.endsWith('.md'))
  .sort()
  .map((f) => readFileSync(join(resultsDir, f), 'utf8'));
const cpu = cpus();
const machine = [
  `- Date: ${new Date().toISOString()}`,
  `- CPU: ${cpu[0]?.model ?? 'unknown'} × ${cpu.length} cores`,
  `- Memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
  `- OS: ${platform()} ${release()}`,
  `- Node.js: ${process.version}`,
].join('\n');
const doc = `# Benchmarks

Written by \`npm run bench\` (tools/bench/run.mjs); do not edit by hand. Every figure is the median
of several runs; each anchor is measured in the same process, interleaved with the case it is compared
with, so the ratios are more trustworthy than the absolute numbers on a noisy shared machine.

## Machine

${machine}

${sections.join('\n')}`;
if (!filter) writeFileSync(join(root, 'docs/benchmarks.md'), doc);
else writeFileSync(join(resultsDir, 'benchmarks.partial.md'), doc);
console.log(`\nbench: ${benches.length - failed} of ${benches.length} benchmarks ran; ${filter ? 'partial results in bench-results/' : 'docs/benchmarks.md written'}`);
process.exit(failed ? 1 : 0);
