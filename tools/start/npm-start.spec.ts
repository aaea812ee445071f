// `npm start` for real: npm runs tools/start.mjs, which runs the five processes, says where the
// gateway is and restarts a killed worker; a signal to npm or to the launcher stops everything
// cleanly (exit 0, no process left, the shared-memory ring removed), and a healthy start and stop
// log no warning.
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAUNCHER_SERVICES, LauncherProcess, REPO_ROOT, isProcessRunning, startLauncher, waitFor } from '@framewire/testing';
import { checkServing, waitUntilServing } from './supervisor';

/** Bound on the pipeline stopping after a signal: the services' own bound (10 s) and the kill after it. */
const STOP_BOUND_MS = 30_000;

/** Sends `signal` to `pid` and resolves with the exit code of the launcher's top process. */
async function stopWith(launcher: LauncherProcess, pid: number, signal: NodeJS.Signals): Promise<number | null> {
  const exited = once(launcher.child, 'exit');
  process.kill(pid, signal);
  const [code] = (await exited) as [number | null];
  return code;
}

/** What a clean stop leaves: no service process, no ring in /dev/shm. */
async function expectNothingLeft(launcher: LauncherProcess): Promise<void> {
  const pids = launcher.startedPids();
  expect(pids.length).toBeGreaterThanOrEqual(LAUNCHER_SERVICES.length);
  await waitFor('every service process to exit', () => pids.every((pid) => !isProcessRunning(pid)), STOP_BOUND_MS);
  expect(existsSync(`/dev/shm/${launcher.shmRing}`)).toBe(false);
}

/** Service log lines at warning level or above (text format: `WARN [Context] ...`, `ERROR [...]`). */
function warnings(launcher: LauncherProcess): string[] {
  return launcher.lines.filter((l) => /^\S+\s+\| .*\b(WARN|ERROR)\b \[/.test(l));
}

describe('npm start', () => {
  jest.setTimeout(180_000);
  let launcher: LauncherProcess | undefined;

  afterEach(async () => {
    await launcher?.cleanUp();
    launcher = undefined;
  });

  it('starts every service health-gated, restarts a killed worker, and stops all on SIGINT to the launcher', async () => {
    launcher = await startLauncher({ viaNpm: true });
    const { pids, grpcPorts, httpPort } = launcher;
    expect(launcher.lines.find((l) => l.startsWith('framewire: gateway http'))).toBe(
      `framewire: gateway http://127.0.0.1:${httpPort} (viewer /, REST /api, WebSocket /ws, metrics /metrics); gRPC 127.0.0.1:${grpcPorts.gateway}. Ctrl-C stops all.`,
    );
    expect(Object.keys(pids)).toEqual([...LAUNCHER_SERVICES]);
    for (const name of LAUNCHER_SERVICES) expect({ name, status: await checkServing(`127.0.0.1:${grpcPorts[name]}`) }).toEqual({ name, status: 'SERVING' });
    // The gateway serves the viewer page and its script.
    const page = await fetch(`http://127.0.0.1:${httpPort}/`, { signal: AbortSignal.timeout(10_000) });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('<script src="viewer.js">');
    const script = await fetch(`http://127.0.0.1:${httpPort}/viewer.js`, { signal: AbortSignal.timeout(10_000) });
    expect(script.status).toBe(200);
    expect((await script.text()).length).toBeGreaterThan(1000);
    // Every service's lines carry its name.
    for (const name of LAUNCHER_SERVICES) expect(launcher.lines.some((l) => l.startsWith(`${name.padEnd(8)} | `))).toBe(true);
    // A healthy start warns about nothing (services that start before the gateway used to warn that
    // their command subscription was unavailable).
    expect(warnings(launcher)).toEqual([]);

    const killedAt = launcher.lines.length;
    process.kill(pids['worker-1'], 'SIGKILL');
    await launcher.line(/^framewire: worker-1 exited \(SIGKILL\); restarting in \d+ ms \(attempt 1\)$/, 10_000, killedAt);
    const restarted = Number((await launcher.line(/^framewire: worker-1 started \(pid (\d+)\)$/, 10_000, killedAt))[1]);
    expect(restarted).not.toBe(pids['worker-1']);
    await waitUntilServing(`127.0.0.1:${grpcPorts['worker-1']}`, { timeoutMs: 20_000 });
    await launcher.line(/^framewire: worker-1 ready again \(pid \d+, gRPC [^)]+\) after 1 restart, down [\d.]+ s$/, 20_000, killedAt);

    const stoppingAt = launcher.lines.length;
    expect(await stopWith(launcher, launcher.launcherPid, 'SIGINT')).toBe(0);
    await expectNothingLeft(launcher);
    // Stopped gracefully: every service stopped on the one SIGTERM, and none warned while stopping
    // (the gateway ending the command subscriptions used to be one).
    for (const name of LAUNCHER_SERVICES) expect(launcher.lines.slice(stoppingAt)).toContain(`framewire: ${name} exited (0)`);
    expect(launcher.lines.filter((l) => l.includes('second signal'))).toEqual([]);
    expect(warnings(launcher)).toEqual([]);
  });

  it('stops everything cleanly on SIGTERM to the npm process (what a process manager or docker stop sends)', async () => {
    launcher = await startLauncher({ viaNpm: true });
    expect(launcher.child.pid).not.toBe(launcher.launcherPid);
    expect(await stopWith(launcher, launcher.child.pid!, 'SIGTERM')).toBe(0);
    expect(launcher.lines).toContain('framewire: stopping (SIGTERM)');
    for (const name of LAUNCHER_SERVICES) expect(launcher.lines).toContain(`framewire: ${name} exited (0)`);
    await expectNothingLeft(launcher);
    expect(isProcessRunning(launcher.launcherPid)).toBe(false);
  });

  it('runs with TLS and a token everywhere, as docs/security.md shows, and stops cleanly', async () => {
    const fixtures = join(REPO_ROOT, 'libs/service-runtime/test-fixtures');
    const cert = join(fixtures, 'localhost.crt');
    launcher = await startLauncher({
      viaNpm: true,
      env: { FW_TLS_CERT: cert, FW_TLS_KEY: join(fixtures, 'localhost.key'), FW_TLS_CA: cert, FW_AUTH_TOKEN: 'npm-start-tls-token-0123456789' },
    });
    const trusted = readFileSync(cert);
    for (const name of LAUNCHER_SERVICES) {
      expect({ name, status: await checkServing(`127.0.0.1:${launcher.grpcPorts[name]}`, 5_000, trusted) }).toEqual({ name, status: 'SERVING' });
    }
    expect(await stopWith(launcher, launcher.launcherPid, 'SIGTERM')).toBe(0);
    await expectNothingLeft(launcher);
  });

  it('takes Ctrl-C under npm (SIGINT to npm and to the launcher at once) as one signal and stops cleanly', async () => {
    launcher = await startLauncher({ viaNpm: true });
    const exited = once(launcher.child, 'exit');
    // What a terminal does: the foreground group (npm and the launcher) gets SIGINT, and npm forwards it.
    process.kill(launcher.child.pid!, 'SIGINT');
    process.kill(launcher.launcherPid, 'SIGINT');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    expect(launcher.lines.filter((l) => l.includes('second SIGINT'))).toEqual([]);
    for (const name of LAUNCHER_SERVICES) expect(launcher.lines).toContain(`framewire: ${name} exited (0)`);
    await expectNothingLeft(launcher);
  });
});
