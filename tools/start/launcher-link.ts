// Ties a service's life to its launcher's. The launcher (Supervisor) gives each service one end of a
// socket pair as file descriptor LAUNCHER_LINK_FD and keeps the other; `npm start` loads this module
// into every service (`node --require`, see launcher-link-preload.ts). When the launcher ends in any
// way — exit, crash, SIGKILL — the kernel closes its end, this end reads end-of-file, and the service
// stops itself as if the launcher had sent SIGTERM (then SIGKILL after the launcher's own bound).
import { fstatSync } from 'node:fs';
import { Socket } from 'node:net';

/** The descriptor the launcher passes the link on (stdio[3]; 0-2 are stdin, stdout, stderr). */
export const LAUNCHER_LINK_FD = 3;
/** Set by the launcher in each service's environment to the link's descriptor. */
export const LAUNCHER_LINK_ENV = 'FW_LAUNCHER_LINK_FD';
/** A service still running this long after its launcher is gone is killed; the launcher itself
 *  waits as long between SIGTERM and SIGKILL (DEFAULT_STOP_TIMEOUT_MS in supervisor.ts). */
export const ORPHAN_KILL_AFTER_MS = 12_000;

const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/** Watches the launcher link named by `env[LAUNCHER_LINK_ENV]`; nothing to do when it is unset (the
 *  service was not started by the launcher). */
export function watchLauncherLink(env: NodeJS.ProcessEnv = process.env, killAfterMs: number = ORPHAN_KILL_AFTER_MS): void {
  const raw = env[LAUNCHER_LINK_ENV];
  if (raw === undefined || raw === '') return;
  const fd = Number(raw);
  let isSocket = false;
  try {
    isSocket = Number.isInteger(fd) && fstatSync(fd).isSocket();
  } catch {
    // A closed descriptor: reported below like any other that is not a socket.
  }
  if (!isSocket) {
    process.stderr.write(`launcher link: ${LAUNCHER_LINK_ENV}=${raw} is not an open socket; this service will not stop with its launcher\n`);
    return;
  }

  // Whether a stop signal already came (from the launcher, the terminal, a process manager): the
  // service is then stopping, and another SIGTERM would make it exit at once instead of cleanly.
  let stopping = false;
  const noteSignal = (signal: NodeJS.Signals): void => {
    stopping = true;
    // Only this listener: the service has not installed its handlers yet, so keep the default action.
    if (process.listenerCount(signal) === 1) {
      process.removeListener(signal, noteSignal);
      process.kill(process.pid, signal);
    }
  };
  for (const signal of STOP_SIGNALS) process.on(signal, noteSignal);
  // Once the launcher is gone nobody reads the service's output: a log line must not kill it (EPIPE)
  // in the middle of its clean stop.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

  let gone = false;
  const onLauncherGone = (): void => {
    if (gone) return;
    gone = true;
    if (!stopping) process.kill(process.pid, 'SIGTERM');
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), killAfterMs).unref();
  };
  const link = new Socket({ fd, readable: true, writable: false });
  link.on('end', onLauncherGone);
  link.on('close', onLauncherGone);
  link.on('error', onLauncherGone);
  link.resume();
  // The link never keeps a service alive: it exits when its own work is done.
  link.unref();
}
