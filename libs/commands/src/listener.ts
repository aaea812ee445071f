// A service's side of commands: keeps a command call to the gateway open (reconnecting with jittered
// backoff), applies each command with its handler, one at a time in arrival order, and acknowledges
// it on the same call (ListenCommands). A gateway without ListenCommands (UNIMPLEMENTED) gets
// SubscribeCommands and acks through AcknowledgeCommand, as before it.
import * as grpc from '@grpc/grpc-js';
import { Backoff, BackoffOptions, LONG_LIVED_CALL_CHANNEL_OPTIONS } from '@framewire/grpc-client';
import { AckStatus, Command, CommandAck, CommandRouterClient, ListenCommandsRequest, ListenCommandsResponse, SubscribeCommandsResponse } from '@framewire/proto';
import { DEFAULT_COMMAND_TIMEOUT_MS, MAX_COMMAND_TIMEOUT_MS, parseCommandPayload } from './catalog';
import { CommandAuditLog } from './command-audit';
import { CommandValidationError } from './errors';
import { commandBytes } from './router';

/** The listener's command call: ListenCommands (acks go back on it), or SubscribeCommands (acks
 *  through AcknowledgeCommand) when the gateway predates ListenCommands. */
type CommandCall = grpc.ClientDuplexStream<ListenCommandsRequest, ListenCommandsResponse> | grpc.ClientReadableStream<SubscribeCommandsResponse>;

/** Deadline of an AcknowledgeCommand call. */
export const ACK_DEADLINE_MS = 5_000;
/** Default reconnect delays: 200 ms doubling to 5 s, each 50-100% of its step (Backoff). */
export const DEFAULT_RECONNECT: Readonly<BackoffOptions> = Object.freeze({ initialMs: 200, maxMs: 5_000 });
/** Default bound on close() waiting for the command being applied and its ack. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 2_000;
/** How long the gateway may stay unreachable before the listener warns: services start before the
 *  gateway, and a gateway that stops or restarts ends every subscription; both are shorter. */
export const DEFAULT_UNAVAILABLE_GRACE_MS = 15_000;
/** Commands received and not yet applied, and their bytes (commandBytes); a command beyond them is
 *  answered ERROR at once, unapplied, so a flood cannot grow the service's memory. */
export const MAX_WAITING_COMMANDS = 64;
export const MAX_WAITING_COMMAND_BYTES = 1024 * 1024;

/** Applies one command; the returned string becomes the SUCCESS ack's message. Throw to answer ERROR. */
export type CommandHandler = (payload: any, command: Command) => Promise<string | void> | string | void; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The logger shape the listener writes to (NestJS's LoggerService fits). */
export interface CommandListenerLogger {
  log(message: Record<string, unknown>, context?: string): void;
  warn(message: Record<string, unknown>, context?: string): void;
  error(message: Record<string, unknown>, stack?: string, context?: string): void;
  debug?(message: Record<string, unknown>, context?: string): void;
}

export interface ListenForCommandsOptions {
  /** The gateway, host:port. */
  address: string;
  /** This service's id: commands whose target equals it are received. */
  serviceId: string;
  /** The pool this service is a member of (a worker's FW_WORKER_POOL): commands whose target is the
   *  pool id are received too, as by every other member. Absent or "": none. */
  poolId?: string;
  /** By command type (e.g. "capture.pause"); a type without a handler is answered UNKNOWN_TYPE. */
  handlers: Record<string, CommandHandler>;
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  /** Sent with every call (the bearer token: tokenMetadata in @framewire/service-runtime). */
  metadata?: grpc.Metadata;
  logger?: CommandListenerLogger;
  reconnect?: { initialMs: number; maxMs: number };
  /** Failures within this long of the subscription's loss (or of the start) are logged at debug
   *  level; one that lasts longer is warned about once (default DEFAULT_UNAVAILABLE_GRACE_MS). */
  unavailableGraceMs?: number;
  /** Applied commands are audited in batched info lines, each written at most this long after its
   *  first command (default AUDIT_FLUSH_MS), and at close. */
  auditFlushMs?: number;
  /** Aborting closes the listener. */
  signal?: AbortSignal;
}

export interface CommandListenerStats {
  received: number;
  succeeded: number;
  /** Answered anything but SUCCESS (invalid payload, unknown type, handler error, refused). */
  failed: number;
  /** Answered ERROR unapplied because MAX_WAITING_COMMANDS or MAX_WAITING_COMMAND_BYTES were reached. */
  refused: number;
  /** Subscriptions opened after the first one. */
  reconnects: number;
  /** Acks sent on the command call itself (ListenCommands), and through AcknowledgeCommand. */
  acksOnStream: number;
  acksUnary: number;
}

export interface CommandListener {
  /** Ends the subscription; waits up to timeoutMs (default DEFAULT_CLOSE_TIMEOUT_MS) for the command
   *  being applied and its ack. Commands still queued are not applied (the gateway times them out). */
  close(timeoutMs?: number): Promise<void>;
  /** Whether the gateway has accepted the subscription (it answered with headers) and it is still open. */
  readonly connected: boolean;
  readonly stats: CommandListenerStats;
}

/** Subscription errors that say the gateway refused this service (logged as errors, not retried quietly). */
const REFUSALS: ReadonlySet<grpc.status> = new Set([grpc.status.UNAUTHENTICATED, grpc.status.INVALID_ARGUMENT, grpc.status.FAILED_PRECONDITION, grpc.status.RESOURCE_EXHAUSTED]);

const silentLogger: CommandListenerLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };
const CONTEXT = 'CommandListener';

/** The ack of one command: handler outcome, or why it was not applied. */
async function applyCommand(handlers: Record<string, CommandHandler>, serviceId: string, command: Command): Promise<Omit<CommandAck, 'requestId' | 'responder' | 'latencyUs'>> {
  const handler = Object.prototype.hasOwnProperty.call(handlers, command.type) ? handlers[command.type] : undefined;
  let payload: unknown;
  try {
    payload = parseCommandPayload(command.type, command.payloadJson);
  } catch (err) {
    if (!(err instanceof CommandValidationError)) throw err;
    if (err.code === 'UNKNOWN_TYPE') return { status: AckStatus.ACK_STATUS_UNKNOWN_TYPE, message: err.message };
    return { status: AckStatus.ACK_STATUS_ERROR, message: err.message };
  }
  if (handler === undefined) {
    return { status: AckStatus.ACK_STATUS_UNKNOWN_TYPE, message: `"${serviceId}" does not handle ${command.type}; it handles ${Object.keys(handlers).join(', ') || 'nothing'}` };
  }
  const failed = (err: unknown) => ({ status: AckStatus.ACK_STATUS_ERROR, message: err instanceof Error ? err.message : String(err) });
  const succeeded = (result: string | void) => ({ status: AckStatus.ACK_STATUS_SUCCESS, message: typeof result === 'string' ? result : '' });
  let returned: ReturnType<CommandHandler>;
  try {
    returned = handler(payload, command);
  } catch (err) {
    return failed(err);
  }
  // A handler that returned its answer has finished: only one still working needs the deadline timer.
  if (!isThenable(returned)) return succeeded(returned);
  // The handler may not run past the caller's deadline: the next command must not wait forever.
  const limitMs = Math.min(command.timeoutMs > 0 ? command.timeoutMs : DEFAULT_COMMAND_TIMEOUT_MS, MAX_COMMAND_TIMEOUT_MS);
  let timer: NodeJS.Timeout | undefined;
  const overdue = new Promise<'overdue'>((resolve) => (timer = setTimeout(() => resolve('overdue'), limitMs)));
  try {
    const result = await Promise.race([returned, overdue]);
    if (result === 'overdue') return { status: AckStatus.ACK_STATUS_ERROR, message: `${command.type} did not finish within ${limitMs} ms` };
    return succeeded(result);
  } catch (err) {
    return failed(err);
  } finally {
    clearTimeout(timer);
  }
}

const isThenable = (value: unknown): value is PromiseLike<unknown> => typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';

/** Starts listening for the commands addressed to `options.serviceId` (and to `options.poolId`). */
export function listenForCommands(options: ListenForCommandsOptions): CommandListener {
  const logger = options.logger ?? silentLogger;
  const backoff = new Backoff(options.reconnect ?? DEFAULT_RECONNECT);
  const unavailableGraceMs = options.unavailableGraceMs ?? DEFAULT_UNAVAILABLE_GRACE_MS;
  const metadata = options.metadata ?? new grpc.Metadata();
  const client = new CommandRouterClient(options.address, options.credentials ?? grpc.credentials.createInsecure(), {
    ...LONG_LIVED_CALL_CHANNEL_OPTIONS,
    ...options.channelOptions,
  });
  const stats: CommandListenerStats = { received: 0, succeeded: 0, failed: 0, refused: 0, reconnects: 0, acksOnStream: 0, acksUnary: 0 };
  const state = {
    connected: false,
    closed: false,
    call: undefined as CommandCall | undefined,
    /** Whether the current call is ListenCommands (acks go back on it). */
    acksOnCall: false,
    /** Set when the gateway answered ListenCommands UNIMPLEMENTED; tried again after the next outage. */
    listenUnsupported: false,
    retryTimer: undefined as NodeJS.Timeout | undefined,
    /** When the current outage began (performance.now()), and whether it was warned about. */
    unavailableSince: undefined as number | undefined,
    unavailableWarned: false,
    opened: 0,
    /** The chain that applies commands one at a time, in arrival order. */
    queue: Promise.resolve(),
    /** Commands on the chain not yet applied, and their bytes. */
    waiting: 0,
    waitingBytes: 0,
    /** Refusals are logged once per burst: until the waiting commands have all been applied. */
    refusalLogged: false,
  };

  const audit = new CommandAuditLog((entry) => logger.log(entry, CONTEXT), options.auditFlushMs);

  const acknowledge = (command: Command, outcome: Omit<CommandAck, 'requestId' | 'responder' | 'latencyUs'>, startedMs: number, via: CommandCall): Promise<void> => {
    const ack: CommandAck = {
      requestId: command.requestId,
      ...outcome,
      responder: options.serviceId,
      latencyUs: Math.round((performance.now() - startedMs) * 1000),
    };
    // On the call the command came on while it is open; otherwise (a unary subscription, or the call
    // ended meanwhile) through AcknowledgeCommand, which the gateway takes from any call.
    if (state.acksOnCall && state.call === via) {
      stats.acksOnStream++;
      (via as grpc.ClientDuplexStream<ListenCommandsRequest, ListenCommandsResponse>).write({ ack });
      return Promise.resolve();
    }
    stats.acksUnary++;
    return new Promise<void>((resolve) => {
      client.acknowledgeCommand({ ack }, metadata, { deadline: Date.now() + ACK_DEADLINE_MS }, (err) => {
        // The gateway answers the caller TIMEOUT anyway; nothing to retry.
        if (err) logger.warn({ message: 'could not acknowledge command', requestId: command.requestId, type: command.type, error: err.message }, CONTEXT);
        resolve();
      });
    });
  };

  const receive = (command: Command, via: CommandCall): void => {
    stats.received++;
    const bytes = commandBytes(command);
    if (state.waiting >= MAX_WAITING_COMMANDS || (state.waiting > 0 && state.waitingBytes + bytes > MAX_WAITING_COMMAND_BYTES)) {
      stats.failed++;
      stats.refused++;
      const message = `"${options.serviceId}" has ${state.waiting} commands (${state.waitingBytes} bytes) waiting to be applied; ${command.type} was not applied`;
      if (!state.refusalLogged) {
        state.refusalLogged = true;
        logger.warn({ message: 'commands refused: too many waiting to be applied', requestId: command.requestId, type: command.type, waiting: state.waiting }, CONTEXT);
      }
      void acknowledge(command, { status: AckStatus.ACK_STATUS_ERROR, message }, performance.now(), via);
      return;
    }
    state.waiting++;
    state.waitingBytes += bytes;
    state.queue = state.queue.then(async () => {
      state.waiting--;
      state.waitingBytes -= bytes;
      if (state.waiting === 0) state.refusalLogged = false;
      if (state.closed) return;
      const startedMs = performance.now();
      const outcome = await applyCommand(options.handlers, options.serviceId, command);
      if (outcome.status === AckStatus.ACK_STATUS_SUCCESS) stats.succeeded++;
      else stats.failed++;
      // The ack first; the audit line is batched (CommandAuditLog), so it costs the ack nothing.
      const acknowledged = acknowledge(command, outcome, startedMs, via);
      audit.record({ requestId: command.requestId, type: command.type, status: AckStatus[outcome.status], detail: outcome.message });
      await acknowledged;
    });
  };

  const scheduleReconnect = (reason: string): void => {
    state.connected = false;
    state.call = undefined;
    // A gateway may have been upgraded during the outage.
    state.listenUnsupported = false;
    if (state.closed || state.retryTimer !== undefined) return;
    const delayMs = backoff.next();
    // The gateway being absent for a moment is normal (start-up order, its stop or restart): only an
    // outage that outlasts the grace period is a warning, once.
    state.unavailableSince ??= performance.now();
    const unavailableForMs = Math.round(performance.now() - state.unavailableSince);
    const entry = { message: 'command subscription unavailable; retrying', address: options.address, reason, delayMs, unavailableForMs };
    if (!state.unavailableWarned && unavailableForMs >= unavailableGraceMs) {
      state.unavailableWarned = true;
      logger.warn(entry, CONTEXT);
    } else logger.debug?.(entry, CONTEXT);
    state.retryTimer = setTimeout(() => {
      state.retryTimer = undefined;
      subscribe();
    }, delayMs);
  };

  const subscribe = (): void => {
    if (state.closed) return;
    if (state.opened++ > 0) stats.reconnects++;
    const subscription = { serviceId: options.serviceId, poolId: options.poolId ?? '' };
    let call: CommandCall;
    if (state.listenUnsupported) call = client.subscribeCommands(subscription, metadata);
    else {
      const duplex = client.listenCommands(metadata);
      duplex.write({ subscribe: subscription });
      call = duplex;
    }
    state.call = call;
    state.acksOnCall = !state.listenUnsupported;
    call.on('metadata', () => {
      if (state.call !== call) return;
      state.connected = true;
      backoff.reset();
      const entry: Record<string, unknown> = { message: 'subscribed for commands', address: options.address, serviceId: options.serviceId };
      if (options.poolId) entry.poolId = options.poolId;
      if (state.unavailableSince !== undefined) entry.unavailableForMs = Math.round(performance.now() - state.unavailableSince);
      state.unavailableSince = undefined;
      state.unavailableWarned = false;
      logger.log(entry, CONTEXT);
    });
    call.on('data', (response: SubscribeCommandsResponse) => {
      if (response.command !== undefined) receive(response.command, call);
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (state.call !== call) return;
      if (err.code === grpc.status.UNIMPLEMENTED && state.acksOnCall) {
        // A gateway from before ListenCommands: subscribe as it expects, at once.
        logger.debug?.({ message: 'the gateway has no ListenCommands; subscribing with SubscribeCommands', address: options.address }, CONTEXT);
        state.listenUnsupported = true;
        state.opened--;
        subscribe();
        return;
      }
      if (REFUSALS.has(err.code)) {
        // Retrying cannot fix a wrong token or id, nor a pool id that is taken or full until someone
        // else leaves, but the gateway's state may change: keep trying, loudly.
        logger.error({ message: 'gateway refused the command subscription', code: grpc.status[err.code], error: err.details }, undefined, CONTEXT);
      }
      scheduleReconnect(err.details || err.message);
    });
    call.on('end', () => {
      if (state.call === call) scheduleReconnect('the gateway ended the subscription');
    });
  };

  const close = async (timeoutMs: number = DEFAULT_CLOSE_TIMEOUT_MS): Promise<void> => {
    if (state.closed) return;
    state.closed = true;
    state.connected = false;
    clearTimeout(state.retryTimer);
    const call = state.call;
    state.call = undefined;
    call?.cancel();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([state.queue, bound]);
    clearTimeout(timer);
    audit.flush();
    client.close();
  };

  if (options.signal?.aborted === true) void close();
  else {
    options.signal?.addEventListener('abort', () => void close(), { once: true });
    subscribe();
  }

  return {
    close,
    get connected() {
      return state.connected;
    },
    stats,
  };
}
