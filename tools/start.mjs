#!/usr/bin/env node
// `npm start`: runs the whole pipeline on this machine without Docker — supplier, gateway, capture
// (synthetic source, frames through shared memory) and two workers, each its own process, started in
// order once the previous answers SERVING on grpc.health.v1; a crashed service is restarted with
// capped backoff while the others keep running; SIGINT (Ctrl-C), SIGTERM or SIGHUP stops them all
// (TERM, then KILL after a bound), and no service outlives this process however it ends (the
// launcher link, tools/start/launcher-link.ts). npm runs this with `exec`, so a signal to npm reaches
// it. The supervision lives in tools/start/*.ts (compiled to dist/ with everything else, and tested).
// Knobs: FW_START_BASE_PORT (50051), FW_HTTP_PORT (8080), FW_METRICS_PORT (9102), FW_CAPTURE_SHM_RING,
// FW_WORKER_POOL ("analysis"; empty: no pool) and FW_WORKER_POOL_MODE (sticky);
// every other FW_* variable is passed to every service.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

const needed = [
  join(root, 'dist/tools/start/supervisor.js'),
  join(root, 'dist/tools/start/launcher-link-preload.js'),
  ...['supplier', 'gateway', 'capture', 'worker'].map((app) => join(root, 'dist/apps', app, 'src/main.js')),
];
for (const file of needed) {
  if (!existsSync(file)) {
    console.error(`start: ${file} is missing; run \`npm install\` (or \`npm run build\`) first`);
    process.exit(1);
  }
}

const { Supervisor } = require(join(root, 'dist/tools/start/supervisor.js'));
const { gatewayLine, pipelinePlan, planOptionsFrom, poolLine } = require(join(root, 'dist/tools/start/plan.js'));
const { tlsRootCertsFrom } = require(join(root, 'dist/tools/health-probe/health-probe.js'));

let options;
let tlsRootCerts;
try {
  options = planOptionsFrom(root, process.env);
  // With FW_TLS_CERT every service serves TLS, and its health is asked over TLS too.
  tlsRootCerts = tlsRootCertsFrom(process.env);
} catch (err) {
  console.error(`start: ${err.message}`);
  process.exit(1);
}
const plan = pipelinePlan(options);
const width = Math.max(...plan.map((s) => s.name.length));
const say = (message) => console.log(`framewire: ${message}`);
// A closed terminal or a reader that went away (SIGHUP, a pipe) must not end the launcher halfway
// through stopping the services.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

const supervisor = new Supervisor(plan, {
  tlsRootCerts,
  onOutput: (name, line) => console.log(`${name.padEnd(width)} | ${line}`),
  onEvent: say,
  onAlert: (message) => console.error(`framewire: ${message}`),
});

// Ctrl-C under npm arrives twice, from the terminal and forwarded by npm: a repeat within this window
// is that same signal. A later one means "do not wait": exit now (the services, already stopping,
// finish on their own within their bound).
const SAME_SIGNAL_WINDOW_MS = 1_000;
let firstSignalAt;
const onSignal = (signal) => {
  if (firstSignalAt !== undefined) {
    if (Date.now() - firstSignalAt < SAME_SIGNAL_WINDOW_MS) return;
    say(`second ${signal}: exiting now`);
    process.exit(1);
  }
  firstSignalAt = Date.now();
  void supervisor.stop(signal).then(() => process.exit(0));
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, onSignal);

say(`starting (launcher pid ${process.pid}): ${plan.map((s) => `${s.name} (gRPC ${s.healthAddress})`).join(', ')}`);
try {
  await supervisor.start();
} catch (err) {
  console.error(`framewire: ${err.message}`);
  process.exit(1);
}
if (firstSignalAt === undefined) {
  say(`all services ready: ${Object.entries(supervisor.pids()).map(([name, pid]) => `${name} pid ${pid}`).join(', ')}`);
  const pool = poolLine(options);
  if (pool !== undefined) console.log(pool);
  console.log(gatewayLine(options));
}
