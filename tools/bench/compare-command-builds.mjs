#!/usr/bin/env node
// Two builds' command paths side by side in one session: each build's gateway and worker run as
// processes (started from its own dist/), and blocks of StreamCommands round trips (worker.set_fps,
// one at a time) alternate between them, so that a machine loaded by others slows both alike.
// Prints per build the medians over blocks of each block's p50 and p99, the gateway's push → ack
// (ack.latencyUs), the CPU time its gateway and worker used per command (/proc/<pid>/stat), and
// the per-block ratio of the second build to the first.
// Run: npm run build, then
//   node tools/bench/compare-command-builds.mjs <other checkout with dist/> [blocks] [commands per block]
// FW_COMPARE_PROFILE_DIR=<dir> also CPU-profiles each gateway and worker during the measured blocks
// (the inspector's Profiler, loaded with --require: NODE_OPTIONS refuses --cpu-prof), written as
// <dir>/<build>-<service>.cpuprofile when they stop.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEFAULT_BLOCKS = 10;
const DEFAULT_COMMANDS_PER_BLOCK = 1000;
const WARM_UP_COMMANDS = 500;
const TARGET = 'compare-worker';
/** A port nobody listens on: the worker keeps retrying the supplier, which costs it nothing here. */
const ABSENT_SUPPLIER = '127.0.0.1:9';
const SUBSCRIBE_TIMEOUT_MS = 15_000;
const PROFILER_SAMPLING_US = 100;

const [otherRoot, blocksArg, perBlockArg] = process.argv.slice(2);
if (otherRoot === undefined || !existsSync(join(resolve(otherRoot), 'dist'))) {
  console.error('usage: node tools/bench/compare-command-builds.mjs <other checkout with dist/> [blocks] [commands per block]');
  process.exit(2);
}
const blocks = Number(blocksArg ?? DEFAULT_BLOCKS);
const perBlock = Number(perBlockArg ?? DEFAULT_COMMANDS_PER_BLOCK);
const profileDir = process.env.FW_COMPARE_PROFILE_DIR;
const work = join(tmpdir(), `fw-compare-${process.pid}`);
mkdirSync(work, { recursive: true });

/** Loaded into each service with --require when profiling: starts on SIGUSR2, writes at exit. */
const PROFILER = `const inspector = require('node:inspector'); const fs = require('node:fs');
const session = new inspector.Session(); session.connect(); session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: ${PROFILER_SAMPLING_US} });
let started = false;
process.on('SIGUSR2', () => { if (!started) { started = true; session.post('Profiler.start'); } });
process.on('exit', () => { if (started) session.post('Profiler.stop', (err, r) => { if (!err) fs.writeFileSync(process.env.FW_PROFILE_FILE, JSON.stringify(r.profile)); }); });
`;

/** CPU time a process has used, ms (utime + stime of /proc/<pid>/stat, in clock ticks of 10 ms). */
const CLOCK_TICK_MS = 10;
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * CLOCK_TICK_MS;
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const median = (xs) => percentile([...xs].sort((a, b) => a - b), 0.5);
let sequence = 0;
const nextCommand = () => {
  sequence++;
  return { requestId: `compare-${process.pid}-${sequence}`, target: TARGET, type: 'worker.set_fps', payloadJson: JSON.stringify({ fps: 1 + (sequence % 30) }), timeoutMs: 0 };
};

async function start(label, root) {
  const require = createRequire(join(root, 'package.json'));
  const grpc = require('@grpc/grpc-js');
  const testing = require(join(root, 'dist/libs/testing/src/index.js'));
  const { openCommandStream } = require(join(root, 'dist/libs/commands/src/index.js'));
  const { CommandRouterClient, AckStatus } = require(join(root, 'dist/libs/proto/src/index.js'));
  const profiled = (service) => {
    if (profileDir === undefined) return {};
    const script = join(work, 'profiler.cjs');
    writeFileSync(script, PROFILER);
    return { NODE_OPTIONS: `--require ${script}`, FW_PROFILE_FILE: join(resolve(profileDir), `${label}-${service}.cpuprofile`) };
  };
  const side = { label, root, testing, success: AckStatus.ACK_STATUS_SUCCESS, p50: [], p99: [], gatewayP50: [], gatewayP99: [] };
  // In `sides` from the start, so that a failure below still stops what was started.
  sides.push(side);
  side.gateway = await testing.startServiceProcess('gateway', { FW_ARCHIVE_DIR: join(work, `archive-${label}`), ...profiled('gateway') }, { listeners: ['gRPC', 'HTTP'] });
  side.worker = await testing.startServiceProcess('worker', { FW_WORKER_ID: TARGET, FW_GATEWAY_ADDRESS: `127.0.0.1:${side.gateway.port}`, FW_SUPPLIER_ADDRESS: ABSENT_SUPPLIER, ...profiled('worker') });
  side.client = new CommandRouterClient(`127.0.0.1:${side.gateway.port}`, grpc.credentials.createInsecure());
  side.stream = openCommandStream(side.client);
  const started = Date.now();
  // Until the worker has subscribed, the gateway answers UNKNOWN_TARGET.
  for (;;) {
    const { ack } = await side.stream.send(nextCommand());
    if (ack.status === AckStatus.ACK_STATUS_SUCCESS) break;
    if (Date.now() - started > SUBSCRIBE_TIMEOUT_MS) throw new Error(`${label}: the worker never subscribed for commands: ${ack.message}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await block(side, WARM_UP_COMMANDS);
}

async function block(side, count) {
  const client = [];
  const gateway = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const { ack } = await side.stream.send(nextCommand());
    client.push(performance.now() - t0);
    if (ack.status !== side.success) throw new Error(`${side.label}: command not acknowledged: ${JSON.stringify(ack)}`);
    gateway.push(ack.latencyUs / 1000);
  }
  side.all?.push(...client);
  client.sort((a, b) => a - b);
  gateway.sort((a, b) => a - b);
  return { p50: percentile(client, 0.5), p99: percentile(client, 0.99), gatewayP50: percentile(gateway, 0.5), gatewayP99: percentile(gateway, 0.99) };
}

const sides = [];
const loads = [];
try {
  await start(basename(resolve(otherRoot)), resolve(otherRoot));
  await start(basename(here) === sides[0].label ? `${basename(here)}-this` : basename(here), here);
  if (profileDir !== undefined) {
    mkdirSync(profileDir, { recursive: true });
    for (const side of sides) for (const p of [side.gateway, side.worker]) p.child.kill('SIGUSR2');
  }
  for (const side of sides) side.all = [];
  for (const side of sides) side.cpuAtStart = { gateway: cpuMs(side.gateway.child.pid), worker: cpuMs(side.worker.child.pid) };
  for (let b = 0; b < blocks; b++) {
    for (const side of b % 2 === 0 ? sides : [...sides].reverse()) {
      const r = await block(side, perBlock);
      for (const key of ['p50', 'p99', 'gatewayP50', 'gatewayP99']) side[key].push(r[key]);
    }
    loads.push(execFileSync('cat', ['/proc/loadavg']).toString().split(' ')[0]);
  }
  // Each pair is idle while the other is measured, so its CPU time is that of its own blocks.
  for (const side of sides) side.cpuPerCommandMs = { gateway: (cpuMs(side.gateway.child.pid) - side.cpuAtStart.gateway) / (blocks * perBlock), worker: (cpuMs(side.worker.child.pid) - side.cpuAtStart.worker) / (blocks * perBlock) };
} finally {
  for (const side of sides) {
    side.stream?.cancel();
    side.client?.close();
    if (side.worker) await side.testing.stopServiceProcess(side.worker);
    if (side.gateway) await side.testing.stopServiceProcess(side.gateway);
  }
  rmSync(work, { recursive: true, force: true });
}

const f = (x, digits = 3) => x.toFixed(digits);
console.log(`StreamCommands round trips, ${blocks} blocks × ${perBlock} per build, alternating; 1-minute load average after each pair: ${loads.join(' ')}`);
console.log('| build | p50 ms | p99 ms | gateway push → ack p50 ms | p99 ms | gateway CPU µs per command | worker CPU µs per command |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const s of sides) {
  const cpu = `${f(s.cpuPerCommandMs.gateway * 1000, 0)} | ${f(s.cpuPerCommandMs.worker * 1000, 0)}`;
  console.log(`| ${s.label} | ${f(median(s.p50))} | ${f(median(s.p99))} | ${f(median(s.gatewayP50))} | ${f(median(s.gatewayP99))} | ${cpu} |`);
}
console.log('Every measured round trip of a build pooled (the blocks alternate, so both pools saw the same machine):');
for (const s of sides) {
  const all = s.all.sort((x, y) => x - y);
  console.log(`  ${s.label}: p50 ${f(percentile(all, 0.5))} ms, p90 ${f(percentile(all, 0.9))} ms, p99 ${f(percentile(all, 0.99))} ms, p99.9 ${f(percentile(all, 0.999))} ms (${all.length} round trips)`);
}
const [a, b] = sides;
const ratios = (key) => b[key].map((x, i) => x / a[key][i]);
for (const key of ['p50', 'p99', 'gatewayP50', 'gatewayP99']) {
  console.log(`${b.label} ÷ ${a.label}, ${key}: median ${f(median(ratios(key)), 2)} (blocks: ${ratios(key).map((x) => f(x, 2)).join(' ')})`);
}
