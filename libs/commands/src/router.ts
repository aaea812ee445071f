// The gateway's command router, without transport: services attach a delivery function (their live
// command subscription), optionally as members of a pool; callers send commands and get the service's
// acknowledgement or a timeout, or for a pool target one per member and a summary. Request ids make
// retries idempotent: a repeated id gets the first answer. What waits is bounded: pending commands by
// count and bytes, per target and in total; pool members per pool; remembered answers by count.
import { createHash, hash } from 'node:crypto';
import { AckStatus, Command, CommandAck } from '@framewire/proto';
import { DEFAULT_COMMAND_TIMEOUT_MS, MAX_COMMAND_TIMEOUT_MS, validateCommand } from './catalog';
import { CommandRouterBusyError, CommandSubscriptionError, CommandValidationError } from './errors';

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
/** Members of one pool subscribed for commands. A pool command waits for an ack from each, as many
 *  as one target may have commands waiting; its answer (at most MAX_ACK_MESSAGE_LENGTH characters per
 *  member) stays far below gRPC's 4 MiB message limit. */
export const DEFAULT_MAX_POOL_MEMBERS = DEFAULT_MAX_PENDING_PER_TARGET;
/** What a command costs while it waits besides its strings: the router's objects and timer. */
const COMMAND_OVERHEAD_BYTES = 512;

/** The bytes a waiting command holds: its strings (UTF-8) and COMMAND_OVERHEAD_BYTES. */
export function commandBytes(c: Command): number {
  return Buffer.byteLength(c.requestId) + Buffer.byteLength(c.target) + Buffer.byteLength(c.type) + Buffer.byteLength(c.payloadJson) + COMMAND_OVERHEAD_BYTES;
}

/** Why a subscription was detached by the router. */
export type DetachReason = 'replaced' | 'closed';

/** What send() resolves with (the shape of SendCommandResponse): the ack, and for a pool target one
 *  ack per member in member id order (empty for a service target). */
export interface CommandAnswer {
  ack: CommandAck;
  memberAcks: CommandAck[];
}

export interface AttachOptions {
  /** The pool the service is a member of ("" or absent: none); commands to the pool reach it too.
   *  A pool named after the service itself (a worker of several streams without FW_WORKER_POOL is
   *  a pool of one so named at the supplier) is no pool here: the service's own id reaches it. */
  poolId?: string;
  /** Called when the router ends the subscription: replaced by a newer one, or closed. */
  onDetach?: (reason: DetachReason) => void;
}

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
  /** Most members of one pool (default DEFAULT_MAX_POOL_MEMBERS); attach() refuses one more. */
  maxPoolMembers?: number;
}

/** Counted per delivery: a pool command to k members counts k in sent, pending, acknowledged and
 *  timeouts (one per member that did not answer). */
export interface CommandRouterStats {
  /** Commands delivered to a service. */
  sent: number;
  /** Acks that answered a pending command; of them, those that came on the service's command call
   *  (ListenCommands) rather than an AcknowledgeCommand call. */
  acknowledged: number;
  acknowledgedOnStream: number;
  timeouts: number;
  unknownTarget: number;
  unknownType: number;
  /** Acks that matched no pending command (too late, unknown id, or from another service). */
  lateAcks: number;
  /** Acks waited for now, and the bytes of their commands (commandBytes, once per ack waited for). */
  pending: number;
  pendingBytes: number;
  /** Commands refused because too many waited (CommandRouterBusyError). */
  busy: number;
}

interface Pending {
  command: Command;
  /** Acks waited for: 1, or the pool's members when sent; and their bytes. */
  weight: number;
  bytes: number;
  remembered: Remembered;
  receivedAtMs: number;
  timer: NodeJS.Timeout;
  resolve: (answer: CommandAnswer) => void;
  /** A pool command: each member's ack, in member id order, undefined until it answers. */
  members?: Map<string, CommandAck | undefined>;
}

interface Remembered {
  /** A digest of target, type and payload: what makes two commands with one request id the same
   *  command (a digest, so that a remembered id does not keep a 64 KiB payload alive). */
  fingerprint: string;
  answer: Promise<CommandAnswer>;
  /** When the id may be forgotten; Infinity while the command is pending. */
  expiresAtMs: number;
}

interface Subscriber {
  deliver: (command: Command) => void;
  poolId: string;
  onDetach?: (reason: DetachReason) => void;
}

const ANSWERABLE = new Set([AckStatus.ACK_STATUS_SUCCESS, AckStatus.ACK_STATUS_ERROR, AckStatus.ACK_STATUS_UNKNOWN_TYPE]);

const membersOf = (n: number): string => `${n} ${n === 1 ? 'member' : 'members'}`;

/** "TIMEOUT" for ACK_STATUS_TIMEOUT. */
const statusName = (status: AckStatus): string => (AckStatus[status] ?? String(status)).replace(/^ACK_STATUS_/, '');

/** SHA-256, base64. crypto.hash (Node 20.12 and later) is the one-shot form: about 6 times cheaper
 *  than a Hash object for a command's few bytes, and a command pays it on the way to its target. */
const sha256 = typeof hash === 'function' ? (text: string) => hash('sha256', text, 'base64') : (text: string) => createHash('sha256').update(text).digest('base64');

const fingerprintOf = (c: Command): string => sha256(JSON.stringify([c.target, c.type, c.payloadJson]));

export class CommandRouter {
  private readonly defaultTimeoutMs: number;
  private readonly maxTimeoutMs: number;
  private readonly rememberMs: number;
  private readonly maxRemembered: number;
  private readonly maxPendingPerTarget: number;
  private readonly maxPending: number;
  private readonly maxPendingBytes: number;
  private readonly maxPoolMembers: number;
  private readonly pendingPerTarget = new Map<string, number>();
  /** Acks waited for (the sum of the pending commands' weights), and their bytes. */
  private pendingAcks = 0;
  private pendingBytes = 0;
  private readonly subscribers = new Map<string, Subscriber>();
  /** Pool id → the service ids of its members; a pool exists while it has members. */
  private readonly pools = new Map<string, Set<string>>();
  private readonly logger: CommandRouterOptions['logger'];
  private readonly pending = new Map<string, Pending>();
  /** In insertion order, so the oldest is first to go. */
  private readonly remembered = new Map<string, Remembered>();
  private readonly counters = { sent: 0, acknowledged: 0, acknowledgedOnStream: 0, timeouts: 0, unknownTarget: 0, unknownType: 0, lateAcks: 0, busy: 0 };
  private closed = false;

  constructor(options: CommandRouterOptions = {}) {
    this.maxTimeoutMs = options.maxTimeoutMs ?? MAX_COMMAND_TIMEOUT_MS;
    this.defaultTimeoutMs = Math.min(options.defaultTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, this.maxTimeoutMs);
    this.rememberMs = options.rememberMs ?? DEFAULT_REMEMBER_MS;
    this.maxRemembered = Math.max(1, options.maxRemembered ?? DEFAULT_MAX_REMEMBERED);
    this.maxPendingPerTarget = Math.max(1, options.maxPendingPerTarget ?? DEFAULT_MAX_PENDING_PER_TARGET);
    this.maxPending = Math.max(1, options.maxPending ?? DEFAULT_MAX_PENDING);
    this.maxPendingBytes = Math.max(1, options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES);
    this.maxPoolMembers = Math.max(1, options.maxPoolMembers ?? DEFAULT_MAX_POOL_MEMBERS);
    this.logger = options.logger;
  }

  /**
   * A service's live command subscription: commands for `serviceId`, and with `options.poolId` those
   * for that pool, go to `deliver` (which must not block; it may throw to refuse one, and the caller
   * then gets an ERROR ack). Attaching an id that is attached replaces the old subscription (and its
   * pool membership). Returns the detach function (a no-op once replaced). Throws
   * CommandSubscriptionError when a target would name both a service and a pool (TARGET_CONFLICT) or
   * the pool has maxPoolMembers other members (POOL_FULL); nothing changes then.
   */
  attach(serviceId: string, deliver: (command: Command) => void, options: AttachOptions = {}): () => void {
    if (this.closed) throw new Error('command router is closed');
    const poolId = options.poolId === serviceId ? '' : (options.poolId ?? '');
    this.refuseAmbiguousTarget(serviceId, poolId);
    const subscriber: Subscriber = { deliver, poolId, onDetach: options.onDetach };
    const previous = this.subscribers.get(serviceId);
    if (previous !== undefined) this.leavePool(serviceId, previous);
    this.subscribers.set(serviceId, subscriber);
    if (poolId !== '') {
      const members = this.pools.get(poolId) ?? new Set<string>();
      members.add(serviceId);
      this.pools.set(poolId, members);
    }
    if (previous !== undefined) {
      this.logger?.warn(`command subscription of "${serviceId}" replaced by a newer one (a reconnect, or two services with one id)`);
      previous.onDetach?.('replaced');
    }
    return () => {
      if (this.subscribers.get(serviceId) !== subscriber) return;
      this.subscribers.delete(serviceId);
      this.leavePool(serviceId, subscriber);
    };
  }

  attachedServices(): string[] {
    return [...this.subscribers.keys()].sort();
  }

  /** Each pool with members, and its members' service ids, sorted. */
  attachedPools(): Record<string, string[]> {
    const pools: Record<string, string[]> = {};
    for (const poolId of [...this.pools.keys()].sort()) pools[poolId] = [...(this.pools.get(poolId) as Set<string>)].sort();
    return pools;
  }

  /**
   * Sends `command` to its target and resolves with the target's ack, or a TIMEOUT ack at the
   * deadline. A target that is a pool gets the command delivered to every member subscribed now; the
   * answer holds each member's ack (TIMEOUT for those that did not answer by the deadline) and a
   * summary ack: SUCCESS when all succeeded, else the first failure in member order. Rejects with
   * CommandValidationError for an invalid command, or a request id reused for a different command,
   * and with CommandRouterBusyError when too many commands wait for acks (nothing delivered, nothing
   * remembered). Unknown types and targets resolve UNKNOWN_TYPE / UNKNOWN_TARGET acks (not
   * remembered: nothing was delivered, so a retry may go through once the service is there).
   */
  async send(command: Command): Promise<CommandAnswer> {
    const receivedAtMs = performance.now();
    try {
      validateCommand(command, this.maxTimeoutMs);
    } catch (err) {
      if (err instanceof CommandValidationError && err.code === 'UNKNOWN_TYPE') {
        this.counters.unknownType++;
        return this.single(command, AckStatus.ACK_STATUS_UNKNOWN_TYPE, err.message, '', receivedAtMs);
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
    if (this.closed) return this.single(command, AckStatus.ACK_STATUS_ERROR, 'the gateway is shutting down', '', receivedAtMs);
    const subscriber = this.subscribers.get(command.target);
    const poolMembers = subscriber === undefined ? this.pools.get(command.target) : undefined;
    if (subscriber === undefined && poolMembers === undefined) {
      this.counters.unknownTarget++;
      return this.single(command, AckStatus.ACK_STATUS_UNKNOWN_TARGET, this.unknownTargetMessage(command.target), '', receivedAtMs);
    }
    // Taken now: a delivery that detaches or replaces a subscription changes nothing of this command.
    const recipients: [string, Subscriber][] =
      poolMembers === undefined ? [[command.target, subscriber as Subscriber]] : [...poolMembers].sort().map((id) => [id, this.subscribers.get(id) as Subscriber]);
    const weight = recipients.length;
    const bytes = commandBytes(command) * weight;
    this.refuseWhenBusy(command.target, weight, bytes);
    const timeoutMs = command.timeoutMs === 0 ? this.defaultTimeoutMs : command.timeoutMs;
    const entry: Remembered = { fingerprint: fingerprintOf(command), answer: undefined as unknown as Promise<CommandAnswer>, expiresAtMs: Infinity };
    const members = poolMembers === undefined ? undefined : new Map<string, CommandAck | undefined>(recipients.map(([id]) => [id, undefined]));
    const answer = new Promise<CommandAnswer>((resolve) => {
      const timer = setTimeout(() => {
        this.counters.timeouts += members === undefined ? 1 : [...members.values()].filter((a) => a === undefined).length;
        this.settle(command.requestId, AckStatus.ACK_STATUS_TIMEOUT, (id) => `no acknowledgement from "${id}" within ${timeoutMs} ms`);
      }, timeoutMs);
      this.pending.set(command.requestId, { command, weight, bytes, remembered: entry, receivedAtMs, timer, resolve, members });
      this.pendingPerTarget.set(command.target, (this.pendingPerTarget.get(command.target) ?? 0) + 1);
      this.pendingAcks += weight;
      this.pendingBytes += bytes;
    });
    entry.answer = answer;
    this.remember(command.requestId, entry);
    // The service learns the effective timeout, to bound its own work.
    const delivered = { ...command, timeoutMs };
    for (const [id, recipient] of recipients) {
      try {
        recipient.deliver(delivered);
        this.counters.sent++;
      } catch (err) {
        const why = `could not deliver to "${id}": ${(err as Error).message}`;
        if (members === undefined) this.settle(command.requestId, AckStatus.ACK_STATUS_ERROR, () => why);
        else this.answerMember(command.requestId, id, AckStatus.ACK_STATUS_ERROR, why);
      }
    }
    return answer;
  }

  /**
   * A service's ack for a command it received. Returns false (and counts it in lateAcks) when no
   * command of that request id is pending for `responder` (the target, or a pool member that has not
   * answered yet): too late, unknown, or not its command. `onStream`: it came on the service's
   * command call (counted in acknowledgedOnStream).
   */
  acknowledge(ack: CommandAck, responder: string, onStream = false): boolean {
    const pending = this.pending.get(ack.requestId);
    const expected = pending?.members === undefined ? pending?.command.target === responder : pending.members.get(responder) === undefined && pending.members.has(responder);
    if (pending === undefined || !expected) {
      this.counters.lateAcks++;
      this.logger?.log(`ack of request ${JSON.stringify(ack.requestId)} from "${responder}" matches no pending command (late or unknown)`);
      return false;
    }
    // A service may only answer SUCCESS, ERROR or UNKNOWN_TYPE; anything else reads as ERROR.
    const status = ANSWERABLE.has(ack.status) ? ack.status : AckStatus.ACK_STATUS_ERROR;
    const message = String(ack.message ?? '').slice(0, MAX_ACK_MESSAGE_LENGTH);
    this.counters.acknowledged++;
    if (onStream) this.counters.acknowledgedOnStream++;
    if (pending.members === undefined) this.settle(ack.requestId, status, () => message, responder);
    else this.answerMember(ack.requestId, responder, status, message);
    return true;
  }

  stats(): CommandRouterStats {
    return { ...this.counters, pending: this.pendingAcks, pendingBytes: this.pendingBytes };
  }

  /** Detaches every service and answers every pending command at once (ERROR: shutting down). */
  close(): void {
    this.closed = true;
    const subscribers = [...this.subscribers.values()];
    this.subscribers.clear();
    this.pools.clear();
    for (const s of subscribers) s.onDetach?.('closed');
    for (const requestId of [...this.pending.keys()]) {
      this.settle(requestId, AckStatus.ACK_STATUS_ERROR, () => 'the gateway shut down before the service acknowledged');
    }
  }

  /** One member's ack of a pool command; the last one settles the command. */
  private answerMember(requestId: string, member: string, status: AckStatus, message: string): void {
    const pending = this.pending.get(requestId);
    const members = pending?.members;
    if (pending === undefined || members === undefined) return;
    members.set(member, this.ack(pending.command, status, message, member, pending.receivedAtMs));
    for (const ack of members.values()) if (ack === undefined) return;
    this.settle(requestId, status, () => message);
  }

  /**
   * Ends a pending command: frees its place and answers it. A service target's ack gets `status`,
   * `describe(target)` and `responder`; a pool command's members that have not answered get `status`
   * and `describe(member)`, and the answer sums them up (poolAnswer).
   */
  private settle(requestId: string, status: AckStatus, describe: (serviceId: string) => string, responder = ''): void {
    const pending = this.pending.get(requestId);
    if (pending === undefined) return;
    this.pending.delete(requestId);
    const { command, members, receivedAtMs } = pending;
    const target = command.target;
    const left = (this.pendingPerTarget.get(target) ?? 1) - 1;
    if (left === 0) this.pendingPerTarget.delete(target);
    else this.pendingPerTarget.set(target, left);
    this.pendingAcks -= pending.weight;
    this.pendingBytes -= pending.bytes;
    clearTimeout(pending.timer);
    // Answered: remembered from now on for rememberMs.
    pending.remembered.expiresAtMs = performance.now() + this.rememberMs;
    if (members === undefined) {
      pending.resolve(this.single(command, status, describe(target), responder, receivedAtMs));
      return;
    }
    for (const [member, ack] of members) {
      if (ack === undefined) members.set(member, this.ack(command, status, describe(member), member, receivedAtMs));
    }
    pending.resolve(this.poolAnswer(command, [...members.values()] as CommandAck[], receivedAtMs));
  }

  /** A pool command's answer: SUCCESS when every member succeeded, else the status of the first
   *  member ack that did not, with a message counting the successes and quoting that member. */
  private poolAnswer(command: Command, memberAcks: CommandAck[], receivedAtMs: number): CommandAnswer {
    const failure = memberAcks.find((a) => a.status !== AckStatus.ACK_STATUS_SUCCESS);
    const succeeded = memberAcks.filter((a) => a.status === AckStatus.ACK_STATUS_SUCCESS).length;
    const summary = `${succeeded} of ${membersOf(memberAcks.length)} of pool "${command.target}" succeeded`;
    const message = failure === undefined ? summary : `${summary}; ${failure.responder} ${statusName(failure.status)}: ${failure.message}`;
    const status = failure?.status ?? AckStatus.ACK_STATUS_SUCCESS;
    return { ack: this.ack(command, status, message.slice(0, MAX_ACK_MESSAGE_LENGTH), command.target, receivedAtMs), memberAcks };
  }

  private single(command: Command, status: AckStatus, message: string, responder: string, receivedAtMs: number): CommandAnswer {
    return { ack: this.ack(command, status, message, responder, receivedAtMs), memberAcks: [] };
  }

  private ack(command: Command, status: AckStatus, message: string, responder: string, receivedAtMs: number): CommandAck {
    const latencyUs = Math.min(0xffff_ffff, Math.max(0, Math.round((performance.now() - receivedAtMs) * 1000)));
    return { requestId: typeof command?.requestId === 'string' ? command.requestId : '', status, message, responder, latencyUs };
  }

  private unknownTargetMessage(target: string): string {
    const services = this.attachedServices();
    const pools = Object.entries(this.attachedPools()).map(([id, members]) => `${id} (${membersOf(members.length)})`);
    return (
      `no service or pool "${target}" is subscribed for commands; services: ${services.length === 0 ? 'none' : services.join(', ')}` +
      (pools.length === 0 ? '' : `; pools: ${pools.join(', ')}`)
    );
  }

  /** A target names a service or a pool, never both; and a pool holds at most maxPoolMembers. */
  private refuseAmbiguousTarget(serviceId: string, poolId: string): void {
    const asPool = this.pools.get(serviceId);
    if (asPool !== undefined) {
      throw new CommandSubscriptionError(
        'service_id',
        'TARGET_CONFLICT',
        `service_id "${serviceId}" is the id of a pool with ${membersOf(asPool.size)} subscribed for commands; give the service or the pool another id`,
      );
    }
    if (poolId === '') return;
    if (this.subscribers.has(poolId)) {
      throw new CommandSubscriptionError('pool_id', 'TARGET_CONFLICT', `pool_id "${poolId}" is the id of a service subscribed for commands; give the pool or the service another id`);
    }
    const members = this.pools.get(poolId);
    if (members !== undefined && !members.has(serviceId) && members.size >= this.maxPoolMembers) {
      throw new CommandSubscriptionError('pool_id', 'POOL_FULL', `pool "${poolId}" has ${membersOf(members.size)} subscribed for commands (limit ${this.maxPoolMembers})`);
    }
  }

  private leavePool(serviceId: string, subscriber: Subscriber): void {
    const members = this.pools.get(subscriber.poolId);
    if (members === undefined) return;
    members.delete(serviceId);
    if (members.size === 0) this.pools.delete(subscriber.poolId);
  }

  private refuseWhenBusy(target: string, weight: number, bytes: number): void {
    const forTarget = this.pendingPerTarget.get(target) ?? 0;
    let why: string | undefined;
    if (forTarget >= this.maxPendingPerTarget) why = `${forTarget} commands for "${target}" wait for their acknowledgement (limit ${this.maxPendingPerTarget})`;
    else if (this.pendingAcks + weight > this.maxPending) {
      why =
        weight === 1
          ? `${this.pendingAcks} commands wait for their acknowledgement (limit ${this.maxPending})`
          : `${this.pendingAcks} acknowledgements are awaited; the ${weight} members of pool "${target}" exceed the limit of ${this.maxPending}`;
    } else if (this.pendingBytes + bytes > this.maxPendingBytes) {
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
