#!/usr/bin/env node
// `npm start`: runs the whole pipeline on this machine without Docker — each service as its own
// process with its own port, logs prefixed by service, Ctrl-C stops them all within a bound.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** How long the services get to stop after Ctrl-C before they are killed. */
const STOP_TIMEOUT_MS = 12_000;

const services = [
  { name: 'supplier', env: { FW_GRPC_PORT: '50052' } },
  { name: 'gateway', env: { FW_GRPC_PORT: '50054' } },
  { name: 'worker', env: { FW_GRPC_PORT: '50053', FW_WORKER_ID: 'worker-1' } },
  // Co-located services pass frames through shared memory (docs/shm.md); remote workers get bytes.
  { name: 'capture', env: { FW_GRPC_PORT: '50051', FW_CAPTURE_SOURCE: 'synthetic', FW_CAPTURE_SHM_RING: 'framewire-cam-1' } },
];

for (const s of services) {
  const main = join(root, 'dist/apps', s.name, 'src/main.js');
  if (!existsSync(main)) {
    console.error(`start: ${main} is missing; run \`npm install\` (or \`npm run build\`) first`);
    process.exit(1);
  }
}

const width = Math.max(...services.map((s) => s.name.length));
const children = services.map((s) => {
  const child = spawn(process.execPath, ['--enable-source-maps', join(root, 'dist/apps', s.name, 'src/main.js')], {
    cwd: root,
    env: { FW_GRPC_HOST: '127.0.0.1', FW_LOG_FORMAT: 'text', ...process.env, ...s.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = `${s.name.padEnd(width)} |`;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => console.log(`${prefix} ${line}`));
  }
  child.on('exit', (code, signal) => {
    console.log(`${prefix} exited (${code ?? signal})`);
    if (!stopping) stopAll(`${s.name} exited`, 1);
  });
  return child;
});

console.log(
  `framewire: ${services.map((s) => `${s.name} on 127.0.0.1:${s.env.FW_GRPC_PORT}`).join(', ')}. Ctrl-C stops all.`,
);

let stopping = false;
function stopAll(reason, exitCode) {
  if (stopping) return;
  stopping = true;
  console.log(`framewire: stopping (${reason})`);
  const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
  const killTimer = setTimeout(() => {
    for (const c of running) c.kill('SIGKILL');
  }, STOP_TIMEOUT_MS);
  Promise.all(running.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', r))))).then(
    () => {
      clearTimeout(killTimer);
      process.exit(exitCode);
    },
  );
  for (const c of running) c.kill('SIGTERM');
}
process.on('SIGINT', () => stopAll('SIGINT', 0));
process.on('SIGTERM', () => stopAll('SIGTERM', 0));
