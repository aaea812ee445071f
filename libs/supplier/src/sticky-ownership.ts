// Sticky pools: which member owns which stream. Every stream gets an owner among the members that
// serve it, counts stay balanced, and a change moves as few streams as it can.
import type { PoolMember, PoolState, PoolStream } from './pool-state';
import { serves } from './pool-state';

/** A stream that changed owner in one call; `from` is undefined for a new stream, `to` for a
 *  stream that left the pool. */
export interface OwnershipChange {
  poolId: string;
  streamId: string;
  from: string | undefined;
  to: string | undefined;
}

/** The owner each stream had when a call began, for the streams the call touched. */
export type OwnerLog<F> = Map<PoolStream<F>, string | undefined>;

/** Hands `stream` to `owner` (undefined: to nobody), recording its first owner in `log`. */
export function setOwner<F>(stream: PoolStream<F>, owner: PoolMember<F> | undefined, log: OwnerLog<F>): void {
  if (!log.has(stream)) log.set(stream, stream.owner?.memberId);
  if (stream.owner !== undefined) stream.owner.owned--;
  stream.owner = owner;
  if (owner !== undefined) owner.owned++;
}

/** The member serving `stream` that owns the fewest streams (the earliest joined on a tie). */
function leastLoaded<F>(pool: PoolState<F>, stream: PoolStream<F>): PoolMember<F> | undefined {
  let best: PoolMember<F> | undefined;
  for (const member of pool.members) {
    if (serves(member, stream.streamId) && (best === undefined || member.owned < best.owned)) best = member;
  }
  return best;
}

/**
 * Gives each stream without an owner to the least loaded member serving it, then moves a stream
 * from its owner to a member serving it that owns at least two fewer, until none can move.
 *
 * Each move lowers the sum of squared counts, so it ends; at the end, for every stream, every
 * member that serves it owns at least (owner's count - 1) streams. When all members serve the
 * same streams that is "counts differ by at most one", and a member joining or leaving moves
 * exactly the streams the new balance needs (none between the members that stayed). Members that
 * serve different lists can be unbalanced only where their lists force it. Runs on membership and
 * stream changes only: O(streams × members) per pass.
 */
export function balanceOwnership<F>(pool: PoolState<F>, log: OwnerLog<F>): void {
  for (const stream of pool.streams.values()) {
    if (stream.owner === undefined) setOwner(stream, leastLoaded(pool, stream), log);
  }
  for (let moved = true; moved; ) {
    moved = false;
    for (const stream of pool.streams.values()) {
      const owner = stream.owner as PoolMember<F>;
      const candidate = leastLoaded(pool, stream) as PoolMember<F>;
      if (candidate.owned <= owner.owned - 2) {
        setOwner(stream, candidate, log);
        moved = true;
      }
    }
  }
}

/** The changes `log` recorded, as reported to the caller (streams whose owner ended where it began
 *  are left out); counts them in the pool. */
export function ownershipChanges<F>(log: OwnerLog<F>): OwnershipChange[] {
  const changes: OwnershipChange[] = [];
  for (const [stream, from] of log) {
    const to = stream.pool.streams.get(stream.streamId) === stream ? stream.owner?.memberId : undefined;
    if (from === to) continue;
    changes.push({ poolId: stream.pool.poolId, streamId: stream.streamId, from, to });
    stream.pool.ownershipChanges++;
  }
  return changes;
}
