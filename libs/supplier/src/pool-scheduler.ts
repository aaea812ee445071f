// Worker pools at the supplier: members of a pool divide the frames of one or many streams among
// them, each frame delivered to at most one member, through one latest-frame slot per pool and stream.
// Pure and synchronous: the supplier's Pull handler drives it; it has no timers and no transport.
/*
 * Decisions (where issue 16 leaves the choice open):
 * - One scheduler holds every pool. A pool exists from its first member's join to its last
 *   member's leave; the first member sets its mode, a join asking another mode is refused
 *   (PoolMembershipError 'mode-conflict'). Member ids are unique across the scheduler (the
 *   supplier's worker ids are): grant and leave need no pool id.
 * - Streams of a pool: the union of its members' lists, plus every stream the scheduler knows
 *   (addStream) while the pool has a member of all streams. A listed stream needs no addStream (a
 *   worker may start before its camera). offer() of a stream no pool has costs one map lookup.
 *   A slot that leaves its pool (removeStream, or its last serving member left) takes its pending
 *   frame and its counters with it.
 * - Credits: grant(k) adds k (an integer >= 1) and keeps at most maxCreditsPerMember; the excess
 *   is ignored, as PullCredits does. A grant delivers at once, in one batch, up to `credits`
 *   pending frames of distinct streams (one slot per stream makes them distinct); credits left
 *   stay granted and each later frame is delivered as soon as it is offered, in a batch of one:
 *   latency beats completeness, so the scheduler never holds a frame back to fill a batch.
 * - Work conserving: when a public call returns, no member holds a credit while a frame it may
 *   take is pending. So a slot only drops a frame that no member could take.
 * - Order of streams (both modes): a member's batch takes the pending streams it may take in
 *   order of their last take by the pool (a stream never taken: of its first frame). A taken
 *   stream goes to the back, so a stream is passed over at most (streams - 1) times in a row.
 * - Order of members (shared): members holding credits wait in line; a frame goes to the first
 *   in line that serves its stream, which then goes to the back if it still holds credits. A
 *   member that grants more while waiting keeps its place.
 * - Sticky ownership: see balanceOwnership. Owners are (re)assigned synchronously in join,
 *   leave, addStream and removeStream, which return the changes (also counted per pool); a pending
 *   frame follows its stream to the new owner and is delivered at once if that owner holds a credit.
 * - Ages are now() - offer time in µs (the scheduler's clock), or what options.ageOf says (the
 *   supplier: take time - capture time). Percentiles come from the last ageWindowSamples takes of a pool stream.
 * - The deliver callback gets a batch array and records the scheduler reuses: copy what you keep.
 *   It must not call back into the scheduler (PoolSchedulerReenteredError); if it throws, the
 *   frames count as taken and the error reaches the caller of offer/grant/join/....
 */
import { AgeWindow, DEFAULT_AGE_WINDOW_SAMPLES } from './age-window';
import { InvalidRequestError, PoolMembershipError, PoolSchedulerReenteredError, SupplierLimitError } from './errors';
import { IntrusiveList } from './intrusive-list';
import { mayTake, POOL_MODES, PoolDelivery, PoolMember, PoolMode, PoolState, PoolStream, serves } from './pool-state';
import { balanceOwnership, OwnerLog, OwnershipChange, ownershipChanges, setOwner } from './sticky-ownership';
import { checkId } from './validation';

/** Credits a member may hold at once when nothing else is configured: a batch of up to 16 frames. */
export const DEFAULT_MAX_POOL_CREDITS = 16;

/** Receives a batch of frames for one member (see PoolDelivery: the records are reused). */
export type DeliverPoolFrames<F> = (memberId: string, batch: readonly PoolDelivery<F>[]) => void;

export interface PoolSchedulerOptions<F> {
  maxPools: number;
  maxMembersPerPool: number;
  maxStreamsPerPool: number;
  /** Streams the scheduler knows through addStream (the supplier passes its maxStreams). */
  maxStreams: number;
  maxCreditsPerMember?: number;
  /** Ages kept per pool stream for the percentiles. */
  ageWindowSamples?: number;
  /** Microseconds (tests pass a fake clock). */
  now: () => number;
  deliver: DeliverPoolFrames<F>;
  /** The age of `frame` taken at `takenAtUs`, for the percentiles (default: the time since it was
   *  offered; the supplier passes the time since capture). */
  ageOf?: (frame: F, takenAtUs: number, offeredAtUs: number) => number;
}

/** A member joining a pool (the pool fields of a subscription). */
export interface PoolJoin {
  poolId: string;
  mode: PoolMode;
  memberId: string;
  /** The streams it serves, or 'all' (including streams that appear later). */
  streams: readonly string[] | 'all';
}

export interface PoolStreamStats {
  streamId: string;
  /** Frames offered to this pool's slot. */
  published: number;
  /** Frames a member took. */
  taken: number;
  /** Frames replaced untaken. published = taken + dropped + (pending ? 1 : 0). */
  dropped: number;
  pending: boolean;
  /** taken / published (0 before the first frame). */
  coverage: number;
  ageP50Us: number;
  ageP99Us: number;
  ageSamples: number;
  /** Members serving it. */
  members: number;
  /** Its owner (sticky pools; '' in shared pools). */
  owner: string;
}

export interface PoolMemberStats {
  memberId: string;
  allStreams: boolean;
  /** The streams it listed (empty when allStreams). */
  streamIds: string[];
  creditsOutstanding: number;
  framesTaken: number;
  /** Streams it owns (0 in shared pools). */
  ownedStreams: number;
}

export interface PoolStats {
  poolId: string;
  mode: PoolMode;
  members: PoolMemberStats[];
  streams: PoolStreamStats[];
  ownershipChanges: number;
}

/** The pools of one supplier; see the decisions at the top of this file. */
export class PoolScheduler<F> {
  readonly maxPools: number;
  readonly maxMembersPerPool: number;
  readonly maxStreamsPerPool: number;
  readonly maxStreams: number;
  readonly maxCreditsPerMember: number;
  private readonly ageWindowSamples: number;
  private readonly now: () => number;
  private readonly deliverSink: DeliverPoolFrames<F>;
  private readonly ageOf: (frame: F, takenAtUs: number, offeredAtUs: number) => number;
  private readonly pools = new Map<string, PoolState<F>>();
  private readonly members = new Map<string, PoolMember<F>>();
  /** Streams added by addStream. */
  private readonly knownStreams = new Set<string>();
  /** Per stream, the slots of the pools that have it: what offer() walks. */
  private readonly routes = new Map<string, PoolStream<F>[]>();
  private delivering = false;

  constructor(options: PoolSchedulerOptions<F>) {
    this.maxPools = positiveInteger('maxPools', options.maxPools);
    this.maxMembersPerPool = positiveInteger('maxMembersPerPool', options.maxMembersPerPool);
    this.maxStreamsPerPool = positiveInteger('maxStreamsPerPool', options.maxStreamsPerPool);
    this.maxStreams = positiveInteger('maxStreams', options.maxStreams);
    this.maxCreditsPerMember = positiveInteger('maxCreditsPerMember', options.maxCreditsPerMember ?? DEFAULT_MAX_POOL_CREDITS);
    this.ageWindowSamples = positiveInteger('ageWindowSamples', options.ageWindowSamples ?? DEFAULT_AGE_WINDOW_SAMPLES);
    this.now = options.now;
    this.deliverSink = options.deliver;
    this.ageOf = options.ageOf ?? ((_frame, takenAtUs, offeredAtUs) => takenAtUs - offeredAtUs);
  }

  /** Whether any pool exists (the supplier skips offer() when none does). */
  get hasPools(): boolean {
    return this.pools.size > 0;
  }

  /**
   * Offers the newest frame of `streamId` to every pool that has the stream: it replaces the
   * untaken frame of each pool's slot (a counted drop), or goes at once to a member that may take
   * it and holds a credit. Returns the number of pools it was offered to. Allocates nothing.
   */
  offer(streamId: string, frame: F): number {
    const slots = this.routes.get(streamId);
    if (slots === undefined) return 0;
    this.enter('offer');
    try {
      const nowUs = this.now();
      for (let i = 0; i < slots.length; i++) this.offerTo(slots[i], frame, nowUs);
      return slots.length;
    } finally {
      this.delivering = false;
    }
  }

  /**
   * Grants `credits` more to `memberId` (at most maxCreditsPerMember held) and delivers at once, in
   * one batch, the pending frames it may take, up to its credits. Returns the credits it still
   * holds. Throws InvalidRequestError (credits) or PoolMembershipError (unknown-member).
   */
  grant(memberId: string, credits: number): number {
    if (!Number.isInteger(credits) || credits < 1) {
      throw new InvalidRequestError('credits', `credits must be a whole number of at least 1 (got ${String(credits)})`);
    }
    const member = this.members.get(memberId);
    if (member === undefined) {
      throw new PoolMembershipError('unknown-member', 'worker_id', `worker "${memberId}" is not a member of any pool`);
    }
    this.enter('grant');
    try {
      member.credits = Math.min(this.maxCreditsPerMember, member.credits + credits);
      this.fill(member, this.now());
      return member.credits;
    } finally {
      this.delivering = false;
    }
  }

  /**
   * Adds a member to its pool (creating the pool) and returns the ownership changes (sticky).
   * Throws InvalidRequestError (a bad id or mode), PoolMembershipError (member-exists,
   * mode-conflict) or SupplierLimitError (pools, poolMembers, poolStreams); nothing changes then.
   */
  join(request: PoolJoin): OwnershipChange[] {
    const { poolId, memberId, mode } = request;
    checkId('pool_id', poolId);
    checkId('worker_id', memberId);
    if (!POOL_MODES.includes(mode)) throw new InvalidRequestError('pool_mode', `pool_mode ${JSON.stringify(mode)} is not one of ${POOL_MODES.join(', ')}`);
    const allStreams = request.streams === 'all';
    const listed = new Set(allStreams ? [] : request.streams);
    if (!allStreams && listed.size === 0) throw new InvalidRequestError('stream_ids', 'stream_ids is empty: list the streams to serve, or ask for all streams');
    for (const streamId of listed) checkId('stream_ids', streamId);
    if (this.members.has(memberId)) {
      throw new PoolMembershipError('member-exists', 'worker_id', `worker "${memberId}" is already a member of pool "${this.members.get(memberId)?.pool.poolId}"`);
    }
    let pool = this.pools.get(poolId);
    if (pool !== undefined && pool.mode !== mode) {
      throw new PoolMembershipError('mode-conflict', 'pool_mode', `pool_mode conflicts: pool "${poolId}" runs in ${pool.mode} mode; worker "${memberId}" asked for ${mode}`);
    }
    if (pool === undefined && this.pools.size >= this.maxPools) {
      throw new SupplierLimitError('pools', this.pools.size + 1, this.maxPools, `pool "${poolId}" would exceed the limit of ${this.maxPools} pools`);
    }
    const memberCount = pool?.members.length ?? 0;
    if (memberCount >= this.maxMembersPerPool) {
      throw new SupplierLimitError('poolMembers', memberCount + 1, this.maxMembersPerPool, `worker "${memberId}" would exceed the limit of ${this.maxMembersPerPool} members of pool "${poolId}"`);
    }
    const newStreams = [...listed].filter((s) => pool?.streams.has(s) !== true);
    if (allStreams && (pool?.allMembers ?? 0) === 0) {
      for (const s of this.knownStreams) if (pool?.streams.has(s) !== true && !listed.has(s)) newStreams.push(s);
    }
    this.checkPoolStreams(poolId, pool?.streams.size ?? 0, newStreams.length, newStreams[0]);
    this.enter('join');
    try {
      pool ??= this.createPool(poolId, mode);
      const member: PoolMember<F> = {
        memberId,
        pool,
        allStreams,
        listed,
        credits: 0,
        framesTaken: 0,
        owned: 0,
        batch: [],
        prev: undefined,
        next: undefined,
        linked: false,
      };
      pool.members.push(member);
      this.members.set(memberId, member);
      if (allStreams) pool.allMembers++;
      for (const streamId of newStreams) this.createSlot(pool, streamId);
      for (const streamId of listed) (pool.streams.get(streamId) as PoolStream<F>).listedBy++;
      return this.rebalance(pool, new Map());
    } finally {
      this.delivering = false;
    }
  }

  /**
   * Removes a member (idempotent) and returns the ownership changes: its streams go to the others
   * (sticky); streams no remaining member serves leave the pool; the last member's leave removes
   * the pool.
   */
  leave(memberId: string): OwnershipChange[] {
    const member = this.members.get(memberId);
    if (member === undefined) return [];
    this.enter('leave');
    try {
      const pool = member.pool;
      this.members.delete(memberId);
      pool.members.splice(pool.members.indexOf(member), 1);
      pool.waiting.remove(member);
      if (member.allStreams) pool.allMembers--;
      const log: OwnerLog<F> = new Map();
      for (const stream of pool.streams.values()) {
        if (member.listed.has(stream.streamId)) stream.listedBy--;
        if (stream.owner === member) setOwner(stream, undefined, log);
        if (!this.poolKeeps(pool, stream)) this.removeSlot(stream, log);
      }
      member.credits = 0;
      if (pool.members.length === 0) {
        this.pools.delete(pool.poolId);
        return ownershipChanges(log);
      }
      return this.rebalance(pool, log);
    } finally {
      this.delivering = false;
    }
  }

  /**
   * The supplier has a new stream: pools with a member of all streams get a slot for it. Returns
   * the ownership changes. Throws InvalidRequestError (stream_id) or SupplierLimitError (streams,
   * poolStreams) and changes nothing then. Idempotent.
   */
  addStream(streamId: string): OwnershipChange[] {
    checkId('stream_id', streamId);
    if (this.knownStreams.has(streamId)) return [];
    if (this.knownStreams.size >= this.maxStreams) {
      throw new SupplierLimitError('streams', this.knownStreams.size + 1, this.maxStreams, `stream "${streamId}" would exceed the limit of ${this.maxStreams} streams`);
    }
    const gaining = [...this.pools.values()].filter((p) => p.allMembers > 0 && !p.streams.has(streamId));
    for (const pool of gaining) this.checkPoolStreams(pool.poolId, pool.streams.size, 1, streamId);
    this.enter('addStream');
    try {
      this.knownStreams.add(streamId);
      const changes: OwnershipChange[] = [];
      for (const pool of gaining) {
        this.createSlot(pool, streamId);
        changes.push(...this.rebalance(pool, new Map()));
      }
      return changes;
    } finally {
      this.delivering = false;
    }
  }

  /** The supplier dropped a stream: slots kept only for it leave their pools (with their pending
   *  frame and counters); slots a member lists by name stay. Returns the ownership changes. */
  removeStream(streamId: string): OwnershipChange[] {
    if (!this.knownStreams.delete(streamId)) return [];
    this.enter('removeStream');
    try {
      const changes: OwnershipChange[] = [];
      for (const stream of [...(this.routes.get(streamId) ?? [])]) {
        if (this.poolKeeps(stream.pool, stream)) continue;
        const log: OwnerLog<F> = new Map();
        this.removeSlot(stream, log);
        changes.push(...this.rebalance(stream.pool, log));
      }
      return changes;
    } finally {
      this.delivering = false;
    }
  }

  /** The owner of `streamId` in sticky pool `poolId`, if it has one. */
  ownerOf(poolId: string, streamId: string): string | undefined {
    return this.pools.get(poolId)?.streams.get(streamId)?.owner?.memberId;
  }

  /** The pool `memberId` belongs to, if any. */
  poolOf(memberId: string): string | undefined {
    return this.members.get(memberId)?.pool.poolId;
  }

  stats(): PoolStats[] {
    const pools: PoolStats[] = [];
    for (const pool of this.pools.values()) {
      const streams: PoolStreamStats[] = [];
      for (const s of pool.streams.values()) {
        const ages = s.ages.percentiles();
        streams.push({
          streamId: s.streamId,
          published: s.published,
          taken: s.taken,
          dropped: s.dropped,
          pending: s.pending,
          coverage: s.published === 0 ? 0 : s.taken / s.published,
          ageP50Us: ages.p50Us,
          ageP99Us: ages.p99Us,
          ageSamples: ages.samples,
          members: pool.members.reduce((n, m) => n + (serves(m, s.streamId) ? 1 : 0), 0),
          owner: s.owner?.memberId ?? '',
        });
      }
      const members = pool.members.map((m) => ({
        memberId: m.memberId,
        allStreams: m.allStreams,
        streamIds: [...m.listed],
        creditsOutstanding: m.credits,
        framesTaken: m.framesTaken,
        ownedStreams: m.owned,
      }));
      pools.push({ poolId: pool.poolId, mode: pool.mode, members, streams, ownershipChanges: pool.ownershipChanges });
    }
    return pools;
  }

  private offerTo(stream: PoolStream<F>, frame: F, nowUs: number): void {
    stream.published++;
    stream.frame = frame;
    stream.offeredAtUs = nowUs;
    if (stream.pending) {
      // Work conserving: nobody could take the frame it replaces.
      stream.dropped++;
      stream.droppedSinceTake++;
      return;
    }
    stream.pending = true;
    const pool = stream.pool;
    if (!stream.linked) pool.streamOrder.append(stream);
    let taker: PoolMember<F> | undefined;
    if (pool.mode === 'sticky') {
      if (stream.owner !== undefined && stream.owner.credits > 0) taker = stream.owner;
    } else {
      for (let m = pool.waiting.head; m !== undefined; m = m.next) {
        if (serves(m, stream.streamId)) {
          taker = m;
          break;
        }
      }
    }
    if (taker === undefined) return;
    this.take(taker, stream, nowUs);
    this.send(taker);
  }

  /** Delivers to `member` what it may take, up to its credits, longest-waiting streams first. */
  private fill(member: PoolMember<F>, nowUs: number): void {
    for (let s = member.pool.streamOrder.head; s !== undefined && member.credits > 0; ) {
      const next = s.next; // take() moves s to the back
      if (s.pending && mayTake(member, s)) this.take(member, s, nowUs);
      s = next;
    }
    if (member.batch.length > 0) this.send(member);
    else if (member.pool.mode === 'shared' && member.credits > 0 && !member.linked) member.pool.waiting.append(member);
  }

  private take(member: PoolMember<F>, stream: PoolStream<F>, nowUs: number): void {
    const delivery = stream.delivery;
    delivery.frame = stream.frame as F;
    delivery.offeredAtUs = stream.offeredAtUs;
    delivery.takenAtUs = nowUs;
    delivery.droppedSinceLast = stream.droppedSinceTake;
    stream.pending = false;
    stream.frame = undefined;
    stream.taken++;
    stream.droppedSinceTake = 0;
    stream.ages.record(this.ageOf(delivery.frame, nowUs, stream.offeredAtUs));
    stream.pool.streamOrder.moveToTail(stream);
    member.credits--;
    member.framesTaken++;
    member.batch.push(delivery);
  }

  /** Hands `member` its batch and puts it back in line (shared) if it still holds credits. */
  private send(member: PoolMember<F>): void {
    const waiting = member.pool.waiting;
    if (member.pool.mode === 'shared') {
      if (member.credits > 0) waiting.moveToTail(member);
      else waiting.remove(member);
    }
    try {
      this.deliverSink(member.memberId, member.batch);
    } finally {
      member.batch.length = 0;
    }
  }

  /** Sticky pools: balances owners and delivers pending frames to new owners holding credits. */
  private rebalance(pool: PoolState<F>, log: OwnerLog<F>): OwnershipChange[] {
    if (pool.mode === 'sticky') balanceOwnership(pool, log);
    const changes = ownershipChanges(log);
    if (changes.length > 0) {
      const nowUs = this.now();
      for (const member of pool.members) if (member.credits > 0) this.fill(member, nowUs);
    }
    return changes;
  }

  /** Whether `stream` still belongs to `pool`: a member lists it, or the scheduler knows it and a
   *  member serves all streams. */
  private poolKeeps(pool: PoolState<F>, stream: PoolStream<F>): boolean {
    return stream.listedBy > 0 || (pool.allMembers > 0 && this.knownStreams.has(stream.streamId));
  }

  private checkPoolStreams(poolId: string, held: number, adding: number, firstNew: string | undefined): void {
    if (held + adding <= this.maxStreamsPerPool) return;
    throw new SupplierLimitError(
      'poolStreams',
      held + adding,
      this.maxStreamsPerPool,
      `pool "${poolId}" would serve ${held + adding} streams (stream "${firstNew}" among them), over the limit of ${this.maxStreamsPerPool} streams per pool`,
    );
  }

  private createPool(poolId: string, mode: PoolMode): PoolState<F> {
    const pool: PoolState<F> = {
      poolId,
      mode,
      members: [],
      streams: new Map(),
      allMembers: 0,
      streamOrder: new IntrusiveList(),
      waiting: new IntrusiveList(),
      ownershipChanges: 0,
    };
    this.pools.set(poolId, pool);
    return pool;
  }

  private createSlot(pool: PoolState<F>, streamId: string): void {
    const stream: PoolStream<F> = {
      streamId,
      pool,
      pending: false,
      frame: undefined,
      offeredAtUs: 0,
      published: 0,
      taken: 0,
      dropped: 0,
      droppedSinceTake: 0,
      listedBy: 0,
      owner: undefined,
      ages: new AgeWindow(this.ageWindowSamples),
      delivery: { poolId: pool.poolId, streamId, frame: undefined as F, offeredAtUs: 0, takenAtUs: 0, droppedSinceLast: 0 },
      prev: undefined,
      next: undefined,
      linked: false,
    };
    pool.streams.set(streamId, stream);
    const slots = this.routes.get(streamId);
    if (slots === undefined) this.routes.set(streamId, [stream]);
    else slots.push(stream);
  }

  private removeSlot(stream: PoolStream<F>, log: OwnerLog<F>): void {
    const pool = stream.pool;
    if (stream.owner !== undefined) setOwner(stream, undefined, log);
    pool.streams.delete(stream.streamId);
    pool.streamOrder.remove(stream);
    stream.frame = undefined;
    const slots = this.routes.get(stream.streamId) as PoolStream<F>[];
    slots.splice(slots.indexOf(stream), 1);
    if (slots.length === 0) this.routes.delete(stream.streamId);
  }

  private enter(method: string): void {
    if (this.delivering) throw new PoolSchedulerReenteredError(method);
    this.delivering = true;
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a whole number of at least 1 (got ${String(value)})`);
  return value;
}
