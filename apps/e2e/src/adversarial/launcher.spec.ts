// Hostile faults against the real launcher (`node tools/start.mjs`) and the pipeline it runs: one
// service crash-looping must not take the others down (they keep their processes and the pipeline
// recovers), and killing the launcher outright (SIGKILL, no chance to clean up) must not leave any
// service running or any shared memory behind.
import { existsSync } from 'node:fs';
import { LAUNCHER_SERVICES, LauncherProcess, checkHealth, isProcessRunning, startLauncher, waitFor, waitForHealth } from '@framewire/testing';

/** The launcher's default restart policy: 500 ms doubling per crash in a row, capped at 10 s. */
const EXPECTED_RESTART_DELAYS_MS = [500, 1_000, 2_000, 4_000, 8_000, 10_000];
/** Crashes in a row: one more than the five after which the launcher used to stop everything. */
const CRASHES = EXPECTED_RESTART_DELAYS_MS.length;
/** Bound on one restart being reported: the longest backoff and a loaded machine's spawn. */
const RESTART_BOUND_MS = 30_000;
/** Bound on the pipeline recovering once the crashes stop. */
const RECOVERY_BOUND_MS = 60_000;
/** Bound on every service being gone after the launcher is killed: the services' own stop bound
 *  (10 s), and the link's kill 12 s after the launcher went, with room for a loaded machine. */
const ORPHAN_BOUND_MS = 30_000;

describe('adversarial: the launcher', () => {
  jest.setTimeout(240_000);
  let launcher: LauncherProcess;

  beforeAll(async () => {
    launcher = await startLauncher();
  });

  afterAll(async () => {
    await launcher?.cleanUp();
  });

  it('keeps restarting a crash-looping worker with capped backoff while every other service keeps running', async () => {
    const others = LAUNCHER_SERVICES.filter((name) => name !== 'worker-1');
    let pid = launcher.pids['worker-1'];
    const delays: number[] = [];
    for (let attempt = 1; attempt <= CRASHES; attempt++) {
      const from = launcher.lines.length;
      // Killed again as soon as it is spawned: each crash comes right after a start.
      process.kill(pid, 'SIGKILL');
      const restart = await launcher.line(new RegExp(`^framewire: worker-1 exited \\(SIGKILL\\); restarting in (\\d+) ms \\(attempt ${attempt}\\)$`), RESTART_BOUND_MS, from);
      delays.push(Number(restart[1]));
      pid = Number((await launcher.line(/^framewire: worker-1 started \(pid (\d+)\)$/, RESTART_BOUND_MS, from))[1]);
    }
    expect(delays).toEqual(EXPECTED_RESTART_DELAYS_MS);
    // Nothing else was stopped or restarted.
    expect(launcher.lines.filter((l) => l.startsWith('framewire: stopping'))).toEqual([]);
    for (const name of others) {
      expect({ name, alive: isProcessRunning(launcher.pids[name]) }).toEqual({ name, alive: true });
      expect(launcher.lines.filter((l) => l.startsWith(`framewire: ${name} started`))).toHaveLength(1);
      expect({ name, status: await checkHealth(launcher.grpcPorts[name]) }).toEqual({ name, status: 'SERVING' });
    }
    // The last restart sticks, and the whole pipeline is healthy again.
    await launcher.line(new RegExp(`^framewire: worker-1 ready again \\(pid ${pid}, gRPC [^)]+\\) after ${CRASHES} restarts, down [\\d.]+ s$`), RECOVERY_BOUND_MS);
    await waitForHealth(`http://127.0.0.1:${launcher.httpPort}`, 200, RECOVERY_BOUND_MS);
  });

  it('leaves no service running and no shared memory behind when the launcher is SIGKILLed', async () => {
    const pids = launcher.startedPids();
    expect(pids.filter(isProcessRunning)).toHaveLength(LAUNCHER_SERVICES.length);
    expect(existsSync(`/dev/shm/${launcher.shmRing}`)).toBe(true);
    process.kill(launcher.launcherPid, 'SIGKILL');
    await waitFor('every service to stop after its launcher was killed', () => pids.every((pid) => !isProcessRunning(pid)), ORPHAN_BOUND_MS);
    // Capture removes its ring only when it stops cleanly: the services stopped, they were not killed.
    expect(existsSync(`/dev/shm/${launcher.shmRing}`)).toBe(false);
  });
});
