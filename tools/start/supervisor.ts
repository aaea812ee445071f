// The supervision behind `npm start`: services started one after another, each only once the
// previous one answers SERVING on grpc.health.v1; a crashed service restarted with exponential
// backoff (given up after repeated rapid crashes); everything stopped with TERM, then KILL.
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

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
  /** First wait before a restart, doubling per rapid crash up to maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A process that ran this long was healthy: its next crash starts the backoff again. */
  stableAfterMs: number;
  /** This many crashes in a row, each within stableAfterMs of its start, and the service is given up. */
  maxRapidCrashes: number;
}

export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicy> = Object.freeze({
  initialDelayMs: 500,
  maxDelayMs: 10_000,
  stableAfterMs: 30_000,
  maxRapidCrashes: 5,
});
/** Bound on one service becoming SERVING after it was spawned. */
export const DEFAULT_START_TIMEOUT_MS = 30_000;
/** Bound on the services exiting after TERM before they are killed. */
export const DEFAULT_STOP_TIMEOUT_MS = 12_000;
/** Pause between two health checks while a service starts. */
export const HEALTH_POLL_INTERVAL_MS = 200;
/** Deadline of one health check. */
const HEALTH_CHECK_DEADLINE_MS = 1_000;
const MIN_HEALTH_CHECK_DEADLINE_MS = 100;
/** Exit code of a service whose configuration is invalid (sysexits EX_CONFIG): restarting cannot help. */
export const EXIT_CONFIG_INVALID = 78;

export type RestartDecision = { restart: true; delayMs: number; attempt: number } | { restart: false; reason: string };

/** The restart decisions of one service: plain state, no timers, so that it can be tested alone. */
export class RestartTracker {
  /** Crashes in a row, each soon after its start. */
  private rapidCrashes = 0;

  constructor(private readonly policy: RestartPolicy = DEFAULT_RESTART_POLICY) {}

  /** What to do after the process exited on its own after `uptimeMs`. */
  onExit(uptimeMs: number, code: number | null, signal: string | null): RestartDecision {
    const how = code !== null ? `code ${code}` : `signal ${signal}`;
    if (code === EXIT_CONFIG_INVALID) return { restart: false, reason: `its configuration is invalid (exit ${how}); fix the variable it names` };
    if (uptimeMs >= this.policy.stableAfterMs) this.rapidCrashes = 0;
    this.rapidCrashes++;
    if (this.rapidCrashes >= this.policy.maxRapidCrashes) {
      return {
        restart: false,
        reason: `it exited ${this.rapidCrashes} times in a row within ${this.policy.stableAfterMs / 1000} s of starting (last: ${how})`,
      };
    }
    const delayMs = Math.min(this.policy.maxDelayMs, this.policy.initialDelayMs * 2 ** (this.rapidCrashes - 1));
    return { restart: true, delayMs, attempt: this.rapidCrashes };
  }
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

const HealthClient = grpc.makeClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'Health');

/** One grpc.health.v1 Check of the whole server: 'SERVING', 'NOT_SERVING', ... or the error's text. */
export function checkServing(address: string, deadlineMs: number = HEALTH_CHECK_DEADLINE_MS): Promise<string> {
  const client = new HealthClient(address, grpc.credentials.createInsecure());
  return new Promise<string>((resolve) => {
    (client as unknown as { Check: (...a: unknown[]) => void }).Check(
      { service: '' },
      { deadline: Date.now() + deadlineMs },
      (err: grpc.ServiceError | null, reply: { status: string | number }) => {
        client.close();
        if (err) resolve(`${grpc.status[err.code] ?? err.code}: ${err.details}`);
        else resolve(reply.status === 1 ? 'SERVING' : String(reply.status));
      },
    );
  });
}

/** Polls `address` until it reports SERVING; ReadinessTimeoutError after `timeoutMs`, or when aborted. */
export async function waitUntilServing(
  address: string,
  options: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'not asked yet';
  for (;;) {
    if (options.signal?.aborted) throw new ReadinessTimeoutError(address, options.timeoutMs, `aborted (${last})`);
    last = await checkServing(address, Math.max(MIN_HEALTH_CHECK_DEADLINE_MS, Math.min(HEALTH_CHECK_DEADLINE_MS, deadline - Date.now())));
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
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  /** Program run with each spec's args (default: this Node). */
  command?: string;
  /** A line the service wrote (stdout or stderr). */
  onOutput: (service: string, line: string) => void;
  /** What the supervisor does and why (start-up, restarts, stop). */
  onEvent: (message: string) => void;
  /** A service was given up: the caller stops everything. */
  onFatal: (message: string) => void;
}

interface Supervised {
  spec: ServiceSpec;
  child: ChildProcess | undefined;
  startedAt: number;
  tracker: RestartTracker;
  restartTimer: NodeJS.Timeout | undefined;
  ready: boolean;
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

  constructor(
    specs: readonly ServiceSpec[],
    private readonly options: SupervisorOptions,
  ) {
    this.services = specs.map((spec) => ({
      spec,
      child: undefined,
      startedAt: 0,
      tracker: new RestartTracker(options.restart ?? DEFAULT_RESTART_POLICY),
      restartTimer: undefined,
      ready: false,
    }));
  }

  /** The pid of each running service. */
  pids(): Record<string, number | undefined> {
    return Object.fromEntries(this.services.map((s) => [s.spec.name, s.child?.pid]));
  }

  /** Starts the services in order, each once the previous is SERVING. Rejects with StartupError
   *  (after stopping what was started) when one exits or does not become ready in time. */
  async start(): Promise<void> {
    const timeoutMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    for (const s of this.services) {
      if (this.stopping) return;
      this.spawn(s);
      const exited = new Promise<string>((resolve) => s.child?.once('exit', (code, signal) => resolve(`exited (${code ?? signal}) while starting`)));
      const ready = waitUntilServing(s.spec.healthAddress, { timeoutMs, signal: this.startAbort.signal }).then(
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
      s.ready = true;
      this.options.onEvent(`${s.spec.name} ready (pid ${s.child?.pid}, gRPC ${s.spec.healthAddress})`);
    }
  }

  /** TERM to every running service (in reverse start order), KILL to those still running after the bound. */
  stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.startAbort.abort();
      this.options.onEvent(`stopping (${reason})`);
      for (const s of this.services) clearTimeout(s.restartTimer);
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
    // Own process group: Ctrl-C in a terminal signals the whole foreground group, and a service that
    // got SIGINT from the terminal and then SIGTERM from stop() would take it as a second signal and
    // exit at once instead of gracefully. The supervisor alone decides when services stop.
    const child = spawn(this.options.command ?? process.execPath, s.spec.args, { env: { ...s.spec.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    s.child = child;
    s.startedAt = Date.now();
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => this.options.onOutput(s.spec.name, line));
    }
    child.on('error', (err) => this.options.onEvent(`${s.spec.name}: cannot run: ${err.message}`));
    child.on('exit', (code, signal) => this.onExit(s, child, code, signal));
    this.options.onEvent(`${s.spec.name} started (pid ${child.pid})`);
  }

  private onExit(s: Supervised, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping) {
      this.options.onEvent(`${s.spec.name} exited (${code ?? signal})`);
      return;
    }
    // During start-up, start() reports the exit; afterwards it is a crash to handle here.
    if (!s.ready || s.child !== child) return;
    const decision = s.tracker.onExit(Date.now() - s.startedAt, code, signal);
    if (!decision.restart) {
      this.options.onFatal(`${s.spec.name} exited (${code ?? signal}) and is not restarted: ${decision.reason}`);
      return;
    }
    this.options.onEvent(`${s.spec.name} exited (${code ?? signal}); restarting in ${decision.delayMs} ms (attempt ${decision.attempt})`);
    s.restartTimer = setTimeout(() => {
      s.restartTimer = undefined;
      if (!this.stopping) this.spawn(s);
    }, decision.delayMs);
  }
}
