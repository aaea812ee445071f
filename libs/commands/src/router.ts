// The gateway's command router, without transport: services attach a delivery function (their live
// command subscription), callers send commands and get the service's acknowledgement or a timeout.
// Request ids make retries idempotent: a repeated id gets the first answer. What waits is bounded:
// pending commands by count and bytes, per target and in total; remembered answers by count.
import { createHash } from 'node:crypto';
import { AckStatus, Command, CommandAck } from '@framewire/proto';
import { DEFAULT_COMMAND_TIMEOUT_MS, MAX_COMMAND_TIMEOUT_MS, validateCommand } from './catalog';
import { CommandRouterBusyError, CommandValidationError } from './errors';

/** How long an answered request id is remembered (a retry within it gets the same ack). */
export const DEFAULT_REMEMBER_MS = 5 * 60_000;
/** Most request ids remembered; the oldest are forgotten first. */
export const DEFAULT_MAX_REMEMBERED = 10_000;

/** An ack's message is cut to this many characters (it is shown to operators, not stored). */
export const MAX_ACK_MESSAGE_LENGTH = 2_000;
/** Commands waiting for their ack, per target and in total, and their bytes (commandBytes) in total;
 *  beyond them send() rejects with CommandRouterBusyError. */
export const DEFAULT_MAX_PENDING_PER_TARGET = 256;
export const DEFAULT_MAX_PENDING = 4_096;
export const DEFAULT_MAX_PENDING_BYTES = 16 * 1024 * 1024;
/** What a command costs while it waits besides its strings: the router's objects and timer. */
const COMMAND_OVERHEAD_BYTES = 512;

/** The bytes a waiting command holds: its strings (UTF-8) and COMMAND_OVERHEAD_BYTES. */
export function commandBytes(c: Command): number {
  return Buffer.byteLength(c.requestId) + Buffer.byteLength(c.target) + Buffer.byteLength(c.type) + Buffer.byteLength(c.payloadJson) + COMMAND_OVERHEAD_BYTES;
}

/** Why a subscription was detached by the router. */
export type DetachReason = 'replaced' | 'closed';

export interface CommandRouterOptions {
  /** Notes worth an operator's attention (a replaced subscription, a late ack). */
  logger?: { log(message: string): void; warn(message: string): void };
  /** Waiting time of a command whose timeout_ms is 0 (default DEFAULT_COMMAND_TIMEOUT_MS). */
  defaultTimeoutMs?: number;
  /** Largest timeout_ms accepted (default MAX_COMMAND_TIMEOUT_MS). */
  maxTimeoutMs?: number;
  rememberMs?: number;
  maxRemembered?: number;
  maxPendingPerTarget?: number;
  maxPending?: number;
  maxPendingBytes?: number;
}

export interface CommandRouterStats {
  /** Commands delivered to a service. */
  sent: number;
  /** Acks that answered a pending command. */
  acknowledged: number;
  timeouts: number;
  unknownTarget: number;
  unknownType: number;
  /** Acks that matched no pending command (too late, unknown id, or from another service). */
  lateAcks: number;
  /** Commands waiting for their ack now, and their bytes (commandBytes). */
  pending: number;
  pendingBytes: number;
  /** Commands refused because too many waited (CommandRouterBusyError). */
  busy: number;
}

interface Pending {
  command: Command;
  bytes: number;
  remembered: Remembered;
  receivedAtMs: number;
  timer: NodeJS.Timeout;
  resolve: (ack: CommandAck) => void;
}

interface Remembered {
  /** A digest of target, type and payload: what makes two commands with one request id the same
   *  command (a digest, so that a remembered id does not keep a 64 KiB payload alive). */
  fingerprint: string;
  answer: Promise<CommandAck>;
  /** When the id may be forgotten; Infinity while the command is pending. */
  expiresAtMs: number;
}

interface Subscriber {
  deliver: (command: Command) => void;
  onDetach?: (reason: DetachReason) => void;
}

const ANSWERABLE = new Set([AckStatus.ACK_STATUS_SUCCESS, AckStatus.ACK_STATUS_ERROR, AckStatus.ACK_STATUS_UNKNOWN_TYPE]);

const fingerprintOf = (c: Command): string => createHash('sha256').update(JSON.stringify([c.target, c.type, c.payloadJson])).digest('base64');

export class CommandRouter {
  private readonly defaultTimeoutMs: number;
  private readonly maxTimeoutMs: number;
  private readonly rememberMs: number;
  private readonly maxRemembered: number;
  private readonly maxPendingPerTarget: number;
  private readonly maxPending: number;
  private readonly maxPendingBytes: number;
  private readonly pendingPerTarget = new Map<string, number>();
  private pendingBytes = 0;
  private readonly subscribers = new Map<string, Subscriber>();
  private readonly logger: CommandRouterOptions['logger'];
  private readonly pending = new Map<string, Pending>();
  /** In insertion order, so the oldest is first to go. */
  private readonly remembered = new Map<string, Remembered>();
  private readonly counters = { sent: 0, acknowledged: 0, timeouts: 0, unknownTarget: 0, unknownType: 0, lateAcks: 0, busy: 0 };
  private closed = false;

  constructor(options: CommandRouterOptions = {}) {
    this.maxTimeoutMs = options.maxTimeoutMs ?? MAX_COMMAND_TIMEOUT_MS;
    this.defaultTimeoutMs = Math.min(options.defaultTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, this.maxTimeoutMs);
    this.rememberMs = options.rememberMs ?? DEFAULT_REMEMBER_MS;
    this.maxRemembered = Math.max(1, options.maxRemembered ?? DEFAULT_MAX_REMEMBERED);
    this.maxPendingPerTarget = Math.max(1, options.maxPendingPerTarget ?? DEFAULT_MAX_PENDING_PER_TARGET);
    this.maxPending = Math.max(1, options.maxPending ?? DEFAULT_MAX_PENDING);
    this.maxPendingBytes = Math.max(1, options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES);
    this.logger = options.logger;
  }

  /**
   * A service's live command subscription: commands for `serviceId` go to `deliver` (which must not
   * block; it may throw to refuse one, and the caller then gets an ERROR ack). Attaching an id that
   * is attached replaces the old subscription. Returns the detach function (a no-op once replaced).
   * `onDetach` is called when the router ends the subscription: replaced by a newer one, or closed.
   */
  attach(serviceId: string, deliver: (command: Command) => void, onDetach?: (reason: DetachReason) => void): () => void {
    if (this.closed) throw new Error('command router is closed');
    const subscriber: Subscriber = { deliver, onDetach };
    const previous = this.subscribers.get(serviceId);
    this.subscribers.set(serviceId, subscriber);
    if (previous !== undefined) {
      this.logger?.warn(`command subscription of "${serviceId}" replaced by a newer one (a reconnect, or two services with one id)`);
      previous.onDetach?.('replaced');
    }
    return () => {
      if (this.subscribers.get(serviceId) === subscriber) this.subscribers.delete(serviceId);
    };
  }

  attachedServices(): string[] {
    return [...this.subscribers.keys()].sort();
  }

  /**
   * Sends `command` to its target and resolves with the target's ack, or a TIMEOUT ack at the
   * deadline. Rejects with CommandValidationError for an invalid command, or a request id reused
   * for a different command, and with CommandRouterBusyError when too many commands wait for acks
   * (nothing delivered, nothing remembered). Unknown types and targets resolve UNKNOWN_TYPE /
   * UNKNOWN_TARGET acks (not remembered: nothing was delivered, so a retry may go through once the
   * service is there).
   */
  async send(command: Command): Promise<CommandAck> {
    const receivedAtMs = performance.now();
    try {
      validateCommand(command, this.maxTimeoutMs);
    } catch (err) {
      if (err instanceof CommandValidationError && err.code === 'UNKNOWN_TYPE') {
        this.counters.unknownType++;
        return this.ack(command, AckStatus.ACK_STATUS_UNKNOWN_TYPE, err.message, '', receivedAtMs);
      }
      throw err;
    }
    this.forgetExpired(receivedAtMs);
    // A pending command is found even after its remembered entry was pushed out.
    const earlier = this.remembered.get(command.requestId) ?? this.pending.get(command.requestId)?.remembered;
    if (earlier !== undefined) {
      if (earlier.fingerprint !== fingerprintOf(command)) {
        throw new CommandValidationError(
          'request_id',
          `request_id ${JSON.stringify(command.requestId)} was already used for a different command; use a new request id`,
        );
      }
      return earlier.answer;
    }
    if (this.closed) return this.ack(command, AckStatus.ACK_STATUS_ERROR, 'the gateway is shutting down', '', receivedAtMs);
    const subscriber = this.subscribers.get(command.target);
    if (subscriber === undefined) {
      this.counters.unknownTarget++;
      const attached = this.attachedServices();
      return this.ack(
        command,
        AckStatus.ACK_STATUS_UNKNOWN_TARGET,
        `no service "${command.target}" is subscribed for commands; subscribed: ${attached.length === 0 ? 'none' : attached.join(', ')}`,
        '',
        receivedAtMs,
      );
    }
    const bytes = commandBytes(command);
    this.refuseWhenBusy(command.target, bytes);
    const timeoutMs = command.timeoutMs === 0 ? this.defaultTimeoutMs : command.timeoutMs;
    const entry: Remembered = { fingerprint: fingerprintOf(command), answer: undefined as unknown as Promise<CommandAck>, expiresAtMs: Infinity };
    const answer = new Promise<CommandAck>((resolve) => {
      const timer = setTimeout(() => {
        this.counters.timeouts++;
        this.settle(command.requestId, AckStatus.ACK_STATUS_TIMEOUT, `no acknowledgement from "${command.target}" within ${timeoutMs} ms`, '');
      }, timeoutMs);
      this.pending.set(command.requestId, { command, bytes, remembered: entry, receivedAtMs, timer, resolve });
      this.pendingPerTarget.set(command.target, (this.pendingPerTarget.get(command.target) ?? 0) + 1);
      this.pendingBytes += bytes;
    });
    entry.answer = answer;
    this.remember(command.requestId, entry);
    void answer.then(() => (entry.expiresAtMs = performance.now() + this.rememberMs));
    try {
      // The service learns the effective timeout, to bound its own work.
      subscriber.deliver({ ...command, timeoutMs });
      this.counters.sent++;
    } catch (err) {
      this.settle(command.requestId, AckStatus.ACK_STATUS_ERROR, `could not deliver to "${command.target}": ${(err as Error).message}`, '');
    }
    return answer;
  }

  /**
   * A service's ack for a command it received. Returns false (and counts it in lateAcks) when no
   * command of that request id is pending for `responder`: too late, unknown, or not its command.
   */
  acknowledge(ack: CommandAck, responder: string): boolean {
    const pending = this.pending.get(ack.requestId);
    if (pending === undefined || pending.command.target !== responder) {
      this.counters.lateAcks++;
      this.logger?.log(`ack of request ${JSON.stringify(ack.requestId)} from "${responder}" matches no pending command (late or unknown)`);
      return false;
    }
    // A service may only answer SUCCESS, ERROR or UNKNOWN_TYPE; anything else reads as ERROR.
    const status = ANSWERABLE.has(ack.status) ? ack.status : AckStatus.ACK_STATUS_ERROR;
    this.counters.acknowledged++;
    this.settle(ack.requestId, status, String(ack.message ?? '').slice(0, MAX_ACK_MESSAGE_LENGTH), responder);
    return true;
  }

  stats(): CommandRouterStats {
    return { ...this.counters, pending: this.pending.size, pendingBytes: this.pendingBytes };
  }

  /** Detaches every service and answers every pending command at once (ERROR: shutting down). */
  close(): void {
    this.closed = true;
    const subscribers = [...this.subscribers.values()];
    this.subscribers.clear();
    for (const s of subscribers) s.onDetach?.('closed');
    for (const requestId of [...this.pending.keys()]) {
      this.settle(requestId, AckStatus.ACK_STATUS_ERROR, 'the gateway shut down before the service acknowledged', '');
    }
  }

  private settle(requestId: string, status: AckStatus, message: string, responder: string): void {
    const pending = this.pending.get(requestId);
    if (pending === undefined) return;
    this.pending.delete(requestId);
    const target = pending.command.target;
    const left = (this.pendingPerTarget.get(target) ?? 1) - 1;
    if (left === 0) this.pendingPerTarget.delete(target);
    else this.pendingPerTarget.set(target, left);
    this.pendingBytes -= pending.bytes;
    clearTimeout(pending.timer);
    pending.resolve(this.ack(pending.command, status, message, responder, pending.receivedAtMs));
  }

  private ack(command: Command, status: AckStatus, message: string, responder: string, receivedAtMs: number): CommandAck {
    const latencyUs = Math.min(0xffff_ffff, Math.max(0, Math.round((performance.now() - receivedAtMs) * 1000)));
    return { requestId: typeof command?.requestId === 'string' ? command.requestId : '', status, message, responder, latencyUs };
  }

  private refuseWhenBusy(target: string, bytes: number): void {
    const forTarget = this.pendingPerTarget.get(target) ?? 0;
    let why: string | undefined;
    if (forTarget >= this.maxPendingPerTarget) why = `${forTarget} commands for "${target}" wait for their acknowledgement (limit ${this.maxPendingPerTarget})`;
    else if (this.pending.size >= this.maxPending) why = `${this.pending.size} commands wait for their acknowledgement (limit ${this.maxPending})`;
    else if (this.pendingBytes + bytes > this.maxPendingBytes) {
      why = `commands waiting for their acknowledgement hold ${this.pendingBytes} bytes; ${bytes} more exceed the limit of ${this.maxPendingBytes}`;
    }
    if (why === undefined) return;
    this.counters.busy++;
    throw new CommandRouterBusyError(target, `the gateway is busy: ${why}; retry later`);
  }

  private remember(requestId: string, entry: Remembered): void {
    this.remembered.set(requestId, entry);
    // Map order is insertion order: the first entries are the oldest.
    for (const key of this.remembered.keys()) {
      if (this.remembered.size <= this.maxRemembered) break;
      this.remembered.delete(key);
    }
  }

  private forgetExpired(nowMs: number): void {
    for (const [key, entry] of this.remembered) {
      if (entry.expiresAtMs > nowMs) {
        // Entries expire roughly in insertion order; a pending one stops the sweep early.
        if (entry.expiresAtMs !== Infinity) break;
        continue;
      }
      this.remembered.delete(key);
    }
  }
}
