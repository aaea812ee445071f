// Runs the real launcher (`npm start`, or `node tools/start.mjs` without npm) on free ports with its
// own archive folder and shared-memory ring, collects what it prints, and cleans up whatever it left:
// for the suites that test starting, supervising and stopping the whole pipeline.
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT, isProcessAlive } from './service-process';

/** The services `npm start` runs, in start order. */
export const LAUNCHER_SERVICES = ['supplier', 'gateway', 'capture', 'worker-1', 'worker-2'] as const;
/** Bound on the whole pipeline becoming ready (five processes, one after another, on a loaded machine). */
export const LAUNCHER_READY_TIMEOUT_MS = 90_000;
/** Ports the launcher uses from its base port on (capture, supplier, worker-1, gateway, worker-2). */
const LAUNCHER_PORT_BLOCK = 5;
const PORT_BLOCK_ATTEMPTS = 50;
/** Where random port blocks are looked for: above the defaults, below the ephemeral range. */
const PORT_BLOCK_RANGE = { from: 42_000, size: 8_000 } as const;
/** Lines kept (a chatty pipeline must not grow the test's memory). */
const MAX_LINES = 20_000;
const LINE_POLL_MS = 50;
/** Where POSIX shared memory objects live on Linux. */
const SHM_DIR = '/dev/shm';

/** Whether `pid` still runs: it exists and is not a zombie. A service whose launcher died is
 *  reparented to init, which may take a while to reap it; it has exited all the same. */
export function isProcessRunning(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // "pid (command) state ...": the command may hold spaces and parentheses, the state follows the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A base port with the `size - 1` after it free too. */
export async function findFreePortBlock(size: number): Promise<number> {
  for (let attempt = 0; attempt < PORT_BLOCK_ATTEMPTS; attempt++) {
    const base = PORT_BLOCK_RANGE.from + Math.floor(Math.random() * PORT_BLOCK_RANGE.size);
    let free = true;
    for (let p = base; p < base + size && free; p++) free = await isFree(p);
    if (free) return base;
  }
  throw new Error(`no block of ${size} free ports after ${PORT_BLOCK_ATTEMPTS} attempts`);
}

export interface LauncherProcess {
  /** `npm`, or node running tools/start.mjs. */
  child: ChildProcess;
  /** Everything it printed, stdout and stderr, one entry per line. */
  lines: string[];
  basePort: number;
  httpPort: number;
  /** The gRPC port of each service, by name. */
  grpcPorts: Record<string, number>;
  /** The pid of each service when all were ready. */
  pids: Record<string, number>;
  /** The pid of node running tools/start.mjs (the npm child when run by npm). */
  launcherPid: number;
  /** The frame ring's name; /dev/shm/<name> exists while capture runs. */
  shmRing: string;
  archiveDir: string;
  /** The first line from index `from` on that matches; rejects after `timeoutMs` or when the launcher exits. */
  line(pattern: RegExp, timeoutMs: number, from?: number): Promise<RegExpExecArray>;
  /** Every service pid the launcher reported starting, restarts included. */
  startedPids(): number[];
  /** Stops whatever is left (launcher, services, ring, archive folder); for afterAll. */
  cleanUp(): Promise<void>;
}

export interface LauncherOptions {
  /** Run `npm start` (npm -> node) rather than `node tools/start.mjs`. */
  viaNpm?: boolean;
  /** With viaNpm: `npm run <script>` instead of `npm start` (e.g. "demo", which ends in tools/start.mjs). */
  npmScript?: string;
  /** Added to the launcher's environment. */
  env?: Record<string, string>;
}

/** Starts the pipeline with the real launcher and resolves once every service is ready. */
export async function startLauncher(options: LauncherOptions = {}): Promise<LauncherProcess> {
  const basePort = await findFreePortBlock(LAUNCHER_PORT_BLOCK);
  const httpPort = await findFreePortBlock(1);
  const metricsPort = await findFreePortBlock(1);
  const archiveDir = mkdtempSync(join(tmpdir(), 'fw-launcher-'));
  const shmRing = `fw-launcher-${process.pid}-${basePort}`;
  const env = {
    PATH: process.env.PATH ?? '',
    ...(process.env.HOME === undefined ? {} : { HOME: process.env.HOME }),
    FW_START_BASE_PORT: String(basePort),
    FW_HTTP_PORT: String(httpPort),
    FW_METRICS_PORT: String(metricsPort),
    FW_CAPTURE_SHM_RING: shmRing,
    FW_ARCHIVE_DIR: archiveDir,
    ...options.env,
  };
  const [command, args] = options.viaNpm ? ['npm', options.npmScript === undefined ? ['start'] : ['run', options.npmScript]] : [process.execPath, [join(REPO_ROOT, 'tools/start.mjs')]];
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (l) => {
      if (lines.length < MAX_LINES) lines.push(l);
    });
  }

  const line = async (pattern: RegExp, timeoutMs: number, from = 0): Promise<RegExpExecArray> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const l of lines.slice(from)) {
        const m = pattern.exec(l);
        if (m) return m;
      }
      if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`no line matching ${pattern} within ${timeoutMs} ms; last output:\n${lines.slice(-60).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, LINE_POLL_MS));
    }
  };
  const startedPids = (): number[] =>
    lines.map((l) => /^framewire: \S+ started \(pid (\d+)\)$/.exec(l)).flatMap((m) => (m ? [Number(m[1])] : []));
  const cleanUp = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), LAUNCHER_READY_TIMEOUT_MS / 4);
      await exited;
      clearTimeout(killer);
    }
    // A launcher left behind (npm gone, or a launcher that outlives it) would restart what is killed next.
    if (launcher.launcherPid !== 0 && isProcessAlive(launcher.launcherPid)) process.kill(launcher.launcherPid, 'SIGKILL');
    for (const pid of startedPids()) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    const ring = join(SHM_DIR, shmRing);
    if (existsSync(ring)) unlinkSync(ring);
    rmSync(archiveDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  };

  const launcher: LauncherProcess = {
    child,
    lines,
    basePort,
    httpPort,
    grpcPorts: {},
    pids: {},
    launcherPid: 0,
    shmRing,
    archiveDir,
    line,
    startedPids,
    cleanUp,
  };
  try {
    const starting = await line(/^framewire: starting \(launcher pid (\d+)\): (.*)$/, LAUNCHER_READY_TIMEOUT_MS);
    launcher.launcherPid = Number(starting[1]);
    for (const m of starting[2].matchAll(/(\S+) \(gRPC [^:]+:(\d+)\)/g)) launcher.grpcPorts[m[1]] = Number(m[2]);
    const ready = (await line(/^framewire: all services ready: (.*)$/, LAUNCHER_READY_TIMEOUT_MS))[1];
    for (const entry of ready.split(', ')) {
      const m = /^(\S+) pid (\d+)$/.exec(entry);
      if (m) launcher.pids[m[1]] = Number(m[2]);
    }
  } catch (error) {
    await cleanUp();
    throw error;
  }
  return launcher;
}
