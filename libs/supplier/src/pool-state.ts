// The pool scheduler's explicit state: pools, their members and their per-stream latest-frame
// slots, as plain records that PoolScheduler and the sticky-ownership functions share.
import { AgeWindow } from './age-window';
import { IntrusiveList, Linked } from './intrusive-list';

/** How a pool divides a stream's frames: any member of the stream with a credit (`shared`), or
 *  the stream's one owner (`sticky`, for stateful analyzers such as the tracker). */
export type PoolMode = 'shared' | 'sticky';

export const POOL_MODES: readonly PoolMode[] = ['shared', 'sticky'];

/**
 * One frame handed to a member. The scheduler reuses this record for the next take of the same
 * pool stream: read it inside the deliver callback and copy what must outlive it.
 */
export interface PoolDelivery<F> {
  poolId: string;
  streamId: string;
  frame: F;
  /** When the frame was offered (scheduler clock, µs). */
  offeredAtUs: number;
  /** When it was taken (µs); takenAtUs - offeredAtUs is its age at delivery. */
  takenAtUs: number;
  /** Frames of this pool stream replaced untaken since the stream's previous take (by any member). */
  droppedSinceLast: number;
}

/** One member of one pool. */
export interface PoolMember<F> extends Linked<PoolMember<F>> {
  readonly memberId: string;
  readonly pool: PoolState<F>;
  /** Serves every stream of the pool, including streams that appear later. */
  readonly allStreams: boolean;
  /** The streams it listed (empty when allStreams). */
  readonly listed: ReadonlySet<string>;
  /** Credits granted and not yet used. */
  credits: number;
  framesTaken: number;
  /** Streams it owns (sticky pools). */
  owned: number;
  /** The batch passed to the deliver callback, reused. */
  readonly batch: PoolDelivery<F>[];
}

/** One pool's latest-frame slot for one stream, with its counters. */
export interface PoolStream<F> extends Linked<PoolStream<F>> {
  readonly streamId: string;
  readonly pool: PoolState<F>;
  pending: boolean;
  frame: F | undefined;
  offeredAtUs: number;
  published: number;
  taken: number;
  dropped: number;
  droppedSinceTake: number;
  /** Members that list it by name: the slot lives while one does, or while the scheduler knows
   *  the stream and the pool has a member of all streams. */
  listedBy: number;
  /** Its owner (sticky pools; always set there once the call that created the slot returns). */
  owner: PoolMember<F> | undefined;
  readonly ages: AgeWindow;
  readonly delivery: PoolDelivery<F>;
}

export interface PoolState<F> {
  readonly poolId: string;
  readonly mode: PoolMode;
  /** In join order (ties in sticky assignment go to the earliest). */
  readonly members: PoolMember<F>[];
  readonly streams: Map<string, PoolStream<F>>;
  /** Members serving all streams. */
  allMembers: number;
  /** Streams that have had a frame, longest waiting first: a take sends a stream to the back; a
   *  stream joins at the back with its first frame. */
  readonly streamOrder: IntrusiveList<PoolStream<F>>;
  /** Shared pools: members holding credits, longest waiting first. */
  readonly waiting: IntrusiveList<PoolMember<F>>;
  /** Stream owner changes so far (sticky). */
  ownershipChanges: number;
}

/** Whether `member` serves `streamId` (not whether it may take its frame now: see mayTake). */
export function serves<F>(member: PoolMember<F>, streamId: string): boolean {
  return member.allStreams || member.listed.has(streamId);
}

/** Whether `member` may take the frame of `stream` (a credit aside). */
export function mayTake<F>(member: PoolMember<F>, stream: PoolStream<F>): boolean {
  return member.pool.mode === 'sticky' ? stream.owner === member : serves(member, stream.streamId);
}
