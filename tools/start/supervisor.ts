// The supervision behind `npm start`: services started one after another, each only once the
// previous one answers SERVING on grpc.health.v1; a crashed service restarted with capped
// exponential backoff for as long as it keeps crashing (never given up, except on exit code 78,
// invalid configuration), the others left running; outages reported loudly; everything stopped with
// TERM, then KILL. Each service also holds a link to the supervisor (launcher-link.ts) so that none
// outlives it.
import { Backoff } from '@framewire/grpc-client';
import { ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { probeHealth } from '../health-probe/health-probe';
import { LAUNCHER_LINK_ENV, LAUNCHER_LINK_FD, ORPHAN_KILL_AFTER_MS } from './launcher-link';

/** A service process to supervise. */
export interface ServiceSpec {
  name: string;
  /** Node script (compiled main.js) and its arguments. */
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  /** host:port of its gRPC server (grpc.health.v1 is asked there). */
  healthAddress: string;
}

export interface RestartPolicy {
  /** First wait before a restart, doubling per crash in a row up to maxDelayMs. */
  initialDelayMs: number;
  /** The cap: a service that keeps crashing is tried again this often, for as long as it takes. */
  maxDelayMs: number;
  /** A process that ran this long was healthy: its next crash starts the backoff again. */
  stableAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicy> = Object.freeze({
  initialDelayMs: 500,
  maxDelayMs: 10_000,
  stableAfterMs: 30_000,
});
/** While a service is down, a summary line this often. */
export const DEFAULT_OUTAGE_REPORT_INTERVAL_MS = 30_000;
/** Bound on one service becoming SERVING after it was spawned. */
export const DEFAULT_START_TIMEOUT_MS = 30_000;
/** Bound on the services exiting after TERM before they are killed: the same whether the launcher
 *  stops them or they stop themselves because it is gone. */
export const DEFAULT_STOP_TIMEOUT_MS = ORPHAN_KILL_AFTER_MS;
/** Pause between two health checks while a service starts. */
export const HEALTH_POLL_INTERVAL_MS = 200;
/** Deadline of one health check. */
const HEALTH_CHECK_DEADLINE_MS = 1_000;
const MIN_HEALTH_CHECK_DEADLINE_MS = 100;
/** Exit code of a service whose configuration is invalid (sysexits EX_CONFIG): restarting cannot help. */
export const EXIT_CONFIG_INVALID = 78;

export type RestartDecision = { restart: true; delayMs: number; attempt: number } | { restart: false; reason: string };

/** A service that is down: since when, how often it was restarted, what happens next. */
export interface Outage {
  downForMs: number;
  /** Restarts since it went down. */
  restarts: number;
  /** How its last process ended: `code 3`, `signal SIGKILL`. */
  lastExit: string;
  /** Until the next restart; undefined while a restarted process starts, or when it is not restarted. */
  nextRestartInMs: number | undefined;
  /** Why it is not restarted (exit code 78); undefined when it is. */
  notRestarted: string | undefined;
}

/**
 * The restart decisions and the outage of one service: plain state and an injected clock, no timers,
 * so that it can be tested alone. A service is down from a crash until a restarted process reports
 * SERVING (`ready`).
 */
export class RestartTracker {
  private startedAt = 0;
  /** Its attempts are the crashes in a row, each soon after its start. No jitter: the launcher
   *  restarts its own processes, nothing needs spreading out, and the delay it prints is the delay. */
  private readonly backoff: Backoff;
  private downSince: number | undefined;
  private restarts = 0;
  private lastExit = '';
  private nextRestartAt: number | undefined;
  private notRestarted: string | undefined;

  constructor(
    private readonly policy: RestartPolicy = DEFAULT_RESTART_POLICY,
    private readonly now: () => number = Date.now,
  ) {
    this.backoff = new Backoff({ initialMs: policy.initialDelayMs, maxMs: policy.maxDelayMs, jitter: false });
  }

  /** A process of the service was spawned. */
  started(): void {
    this.startedAt = this.now();
    this.nextRestartAt = undefined;
  }

  /** The process exited on its own: restart it (after the returned delay) or not (exit code 78 only). */
  exited(code: number | null, signal: string | null): RestartDecision {
    const now = this.now();
    this.lastExit = code !== null ? `code ${code}` : `signal ${signal}`;
    this.downSince ??= now;
    if (code === EXIT_CONFIG_INVALID) {
      this.notRestarted = `its configuration is invalid (exit ${this.lastExit}); fix the variable it names and start again`;
      return { restart: false, reason: this.notRestarted };
    }
    if (now - this.startedAt >= this.policy.stableAfterMs) this.backoff.reset();
    const delayMs = this.backoff.next();
    this.restarts++;
    this.nextRestartAt = now + delayMs;
    return { restart: true, delayMs, attempt: this.backoff.attempts };
  }

  /** A restarted process reports SERVING: the outage it ends (undefined when there was none). */
  ready(): Outage | undefined {
    const outage = this.outage();
    this.downSince = undefined;
    this.restarts = 0;
    return outage;
  }

  /** The current outage, or undefined while the service is up. */
  outage(): Outage | undefined {
    if (this.downSince === undefined) return undefined;
    const now = this.now();
    return {
      downForMs: now - this.downSince,
      restarts: this.restarts,
      lastExit: this.lastExit,
      nextRestartInMs: this.nextRestartAt === undefined ? undefined : Math.max(0, this.nextRestartAt - now),
      notRestarted: this.notRestarted,
    };
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

/** The periodic line about a service that is down. */
export function describeOutage(service: string, o: Outage): string {
  const head = `${service} is down (${seconds(o.downForMs)}, last exit ${o.lastExit})`;
  if (o.notRestarted !== undefined) return `${head}: not restarted, ${o.notRestarted}; the other services keep running`;
  const next = o.nextRestartInMs === undefined ? 'a restarted process is starting' : `next restart in ${seconds(o.nextRestartInMs)}`;
  return `${head}: ${o.restarts} restart${o.restarts === 1 ? '' : 's'} so far, ${next}; the other services keep running`;
}

/** The service did not answer SERVING in time. */
export class ReadinessTimeoutError extends Error {
  readonly code = 'READINESS_TIMEOUT';
  constructor(
    readonly address: string,
    readonly timeoutMs: number,
    readonly lastStatus: string,
  ) {
    super(`${address} did not report SERVING within ${timeoutMs} ms (last: ${lastStatus})`);
    this.name = 'ReadinessTimeoutError';
  }
}

/** One grpc.health.v1 Check of the whole server: 'SERVING', 'NOT_SERVING', ... or the error's text.
 *  With `tlsRootCerts` it speaks TLS trusting them (the services serve TLS when FW_TLS_CERT is set). */
export async function checkServing(address: string, deadlineMs: number = HEALTH_CHECK_DEADLINE_MS, tlsRootCerts?: Buffer): Promise<string> {
  return (await probeHealth({ address, service: '', deadlineMs, tlsRootCerts })).status;
}

/** Polls `address` until it reports SERVING; ReadinessTimeoutError after `timeoutMs`, or when aborted. */
export async function waitUntilServing(
  address: string,
  options: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal; tlsRootCerts?: Buffer },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'not asked yet';
  for (;;) {
    if (options.signal?.aborted) throw new ReadinessTimeoutError(address, options.timeoutMs, `aborted (${last})`);
    const deadlineMs = Math.max(MIN_HEALTH_CHECK_DEADLINE_MS, Math.min(HEALTH_CHECK_DEADLINE_MS, deadline - Date.now()));
    last = await checkServing(address, deadlineMs, options.tlsRootCerts);
    if (last === 'SERVING') return;
    // No check with less time than a connection needs: its "deadline exceeded" would hide the real answer.
    if (Date.now() + (options.intervalMs ?? HEALTH_POLL_INTERVAL_MS) + MIN_HEALTH_CHECK_DEADLINE_MS >= deadline) {
      throw new ReadinessTimeoutError(address, options.timeoutMs, last);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? HEALTH_POLL_INTERVAL_MS));
  }
}

export interface SupervisorOptions {
  restart?: RestartPolicy;
  /** While a service is down, describeOutage() this often (through onAlert). */
  outageReportIntervalMs?: number;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  /** Program run with each spec's args (default: this Node). */
  command?: string;
  /** The services serve TLS: health checks trust these certificates (tlsRootCertsFrom). */
  tlsRootCerts?: Buffer;
  /** The clock of the restart decisions and outages (default Date.now). */
  now?: () => number;
  /** A line the service wrote (stdout or stderr). */
  onOutput: (service: string, line: string) => void;
  /** What the supervisor does and why (start-up, ready, stop). */
  onEvent: (message: string) => void;
  /** What an operator must notice: a crash and its restart, a service down, one not restarted. */
  onAlert: (message: string) => void;
}

interface Supervised {
  spec: ServiceSpec;
  child: ChildProcess | undefined;
  tracker: RestartTracker;
  restartTimer: NodeJS.Timeout | undefined;
  /** Aborts the readiness wait of a restarted process (it exited, or everything stops). */
  readiness: AbortController | undefined;
  /** Set once start() has seen it SERVING: from then on an exit is a crash to restart. */
  started: boolean;
}

/** Thrown by start() when a service does not become ready; everything started is stopped first. */
export class StartupError extends Error {
  readonly code = 'STARTUP_FAILED';
  constructor(
    readonly service: string,
    message: string,
  ) {
    super(message);
    this.name = 'StartupError';
  }
}

export class Supervisor {
  private readonly services: Supervised[];
  private stopping: Promise<void> | undefined;
  private readonly startAbort = new AbortController();
  private outageTimer: NodeJS.Timeout | undefined;

  constructor(
    specs: readonly ServiceSpec[],
    private readonly options: SupervisorOptions,
  ) {
    this.services = specs.map((spec) => ({
      spec,
      child: undefined,
      tracker: new RestartTracker(options.restart ?? DEFAULT_RESTART_POLICY, options.now ?? Date.now),
      restartTimer: undefined,
      readiness: undefined,
      started: false,
    }));
  }

  /** The pid of each service's latest process. */
  pids(): Record<string, number | undefined> {
    return Object.fromEntries(this.services.map((s) => [s.spec.name, s.child?.pid]));
  }

  /** The services that are down now, by name. */
  outages(): Record<string, Outage> {
    const down: Record<string, Outage> = {};
    for (const s of this.services) {
      const outage = s.tracker.outage();
      if (outage !== undefined) down[s.spec.name] = outage;
    }
    return down;
  }

  /** Starts the services in order, each once the previous is SERVING. Rejects with StartupError
   *  (after stopping what was started) when one exits or does not become ready in time: a service
   *  that cannot start once is a set-up problem to show at once, not an outage to ride out. */
  async start(): Promise<void> {
    const timeoutMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    for (const s of this.services) {
      if (this.stopping) return;
      this.spawn(s);
      const exited = new Promise<string>((resolve) => s.child?.once('exit', (code, signal) => resolve(`exited (${code ?? signal}) while starting`)));
      const ready = waitUntilServing(s.spec.healthAddress, { timeoutMs, signal: this.startAbort.signal, tlsRootCerts: this.options.tlsRootCerts }).then(
        () => undefined,
        (err: Error) => err.message,
      );
      const problem = await Promise.race([ready, exited]);
      if (this.stopping) return;
      if (problem !== undefined) {
        const message = `${s.spec.name} ${problem}; stopping everything`;
        await this.stop(`${s.spec.name} failed to start`);
        throw new StartupError(s.spec.name, message);
      }
      s.started = true;
      this.options.onEvent(`${s.spec.name} ready (pid ${s.child?.pid}, gRPC ${s.spec.healthAddress})`);
    }
    this.outageTimer = setInterval(() => {
      for (const [name, outage] of Object.entries(this.outages())) this.options.onAlert(describeOutage(name, outage));
    }, this.options.outageReportIntervalMs ?? DEFAULT_OUTAGE_REPORT_INTERVAL_MS);
  }

  /** TERM to every running service (in reverse start order), KILL to those still running after the bound. */
  stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.startAbort.abort();
      clearInterval(this.outageTimer);
      this.options.onEvent(`stopping (${reason})`);
      for (const s of this.services) {
        clearTimeout(s.restartTimer);
        s.readiness?.abort();
      }
      const running = this.services.filter((s) => s.child !== undefined && s.child.exitCode === null && s.child.signalCode === null);
      const exits = running.map((s) => new Promise<void>((resolve) => s.child?.once('exit', () => resolve())));
      for (const s of [...running].reverse()) s.child?.kill('SIGTERM');
      const timeoutMs = this.options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
      if ((await Promise.race([Promise.all(exits), timedOut])) === 'timeout') {
        for (const s of running) {
          if (s.child && s.child.exitCode === null && s.child.signalCode === null) {
            this.options.onEvent(`${s.spec.name} still running ${timeoutMs} ms after SIGTERM; killing it`);
            s.child.kill('SIGKILL');
          }
        }
        await Promise.all(exits);
      }
      clearTimeout(timer);
    })();
    return this.stopping;
  }

  private spawn(s: Supervised): void {
    // Own process group and session: Ctrl-C in a terminal signals the whole foreground group, and a
    // service that got SIGINT from the terminal and then SIGTERM from stop() would take it as a second
    // signal and exit at once instead of gracefully. The supervisor alone decides when services stop.
    // Descriptor LAUNCHER_LINK_FD is the launcher link: it closes when this process ends, however.
    const child = spawn(this.options.command ?? process.execPath, s.spec.args, {
      env: { ...s.spec.env, [LAUNCHER_LINK_ENV]: String(LAUNCHER_LINK_FD) },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    s.child = child;
    s.tracker.started();
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => this.options.onOutput(s.spec.name, line));
    }
    child.on('error', (err) => this.options.onAlert(`${s.spec.name}: cannot run: ${err.message}`));
    child.on('exit', (code, signal) => {
      // Our end of the link: nothing more to say to this process.
      child.stdio[LAUNCHER_LINK_FD]?.destroy();
      this.onExit(s, child, code, signal);
    });
    this.options.onEvent(`${s.spec.name} started (pid ${child.pid})`);
  }

  private onExit(s: Supervised, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping) {
      this.options.onEvent(`${s.spec.name} exited (${code ?? signal})`);
      return;
    }
    // During start-up, start() reports the exit; afterwards it is a crash to handle here.
    if (!s.started || s.child !== child) return;
    s.readiness?.abort();
    const decision = s.tracker.exited(code, signal);
    if (!decision.restart) {
      this.options.onAlert(`${s.spec.name} exited (${code ?? signal}) and is not restarted: ${decision.reason}; the other services keep running`);
      return;
    }
    this.options.onAlert(`${s.spec.name} exited (${code ?? signal}); restarting in ${decision.delayMs} ms (attempt ${decision.attempt})`);
    s.restartTimer = setTimeout(() => {
      s.restartTimer = undefined;
      if (this.stopping) return;
      this.spawn(s);
      void this.reportReadyAgain(s, s.child as ChildProcess);
    }, decision.delayMs);
  }

  /** Waits for a restarted process to report SERVING and says so, with the outage it ends. */
  private async reportReadyAgain(s: Supervised, child: ChildProcess): Promise<void> {
    const readiness = new AbortController();
    s.readiness = readiness;
    const timeoutMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    while (!readiness.signal.aborted) {
      try {
        await waitUntilServing(s.spec.healthAddress, { timeoutMs, signal: readiness.signal, tlsRootCerts: this.options.tlsRootCerts });
      } catch (err) {
        if (!readiness.signal.aborted) this.options.onAlert(`${s.spec.name} (pid ${child.pid}) is running but not SERVING: ${(err as Error).message}`);
        continue;
      }
      const outage = s.tracker.ready();
      const after = outage === undefined ? '' : ` after ${outage.restarts} restart${outage.restarts === 1 ? '' : 's'}, down ${seconds(outage.downForMs)}`;
      this.options.onEvent(`${s.spec.name} ready again (pid ${child.pid}, gRPC ${s.spec.healthAddress})${after}`);
      return;
    }
  }
}
