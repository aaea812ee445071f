// A worker's side of the frame path: receives the freshest frame of a stream from the supplier,
// asking for each one (Pull, one credit per next()) so no frame waits in a transport buffer; or, as a
// member of a worker pool, the frames of several streams that the pool gives it, one at a time or in
// batches of distinct streams (nextBatch). On the supplier's host it can receive shared-memory
// references instead of bytes and resolves them here, so the consumer always gets a frame with its
// bytes (a copy, or with sharedMemoryAccess 'view' the bytes in place, checked afterwards with
// stillValid()).
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Backoff, DEFAULT_BACKOFF, LONG_LIVED_CALL_CHANNEL_OPTIONS } from '@framewire/grpc-client';
import { Delivery, Frame, FrameSupplierClient, PoolMode as PoolModeMessage, PullRequest, PullResponse, SubscribeResponse, SubscribeRequest } from '@framewire/proto';
import { FrameRingReader } from '@framewire/shm';

/** Default bound on one received message; frames larger than this fail the call (RESOURCE_EXHAUSTED). */
export const DEFAULT_MAX_RECEIVE_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Default reconnect backoff: 100 ms doubling to 5 s, each wait 50-100 % of its step (Backoff's jitter,
 *  so many workers do not reconnect in step). */
export const DEFAULT_RECONNECT = DEFAULT_BACKOFF;
/** Bound on the ListRings call made before each subscription that prefers shared memory. */
export const LIST_RINGS_TIMEOUT_MS = 2_000;
/** Random bytes of a generated instance id (shown as twice as many hex digits). */
const INSTANCE_ID_BYTES = 16;
/** Default bound on nextBatch(k): the supplier's default FW_SUPPLIER_MAX_POOL_CREDITS, the credits a
 *  pool member may hold. A grant beyond the supplier's bound ends the call (INVALID_ARGUMENT naming
 *  credits, thrown as FrameSubscriptionError), so keep maxBatchFrames at or under it. */
export const DEFAULT_MAX_BATCH_FRAMES = 16;
/** Ring tokens a subscription may present (the supplier refuses more). */
const MAX_RING_TOKENS = 64;

/** A new random instance id: what a worker process picks once at start (SubscribeRequest.instance_id). */
export function newInstanceId(): string {
  return randomBytes(INSTANCE_ID_BYTES).toString('hex');
}

/** Status codes after which a new subscription may succeed (the supplier restarted, the network blinked). */
const RETRYABLE_CODES: ReadonlySet<grpc.status> = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.CANCELLED, // cancelled by the server or a proxy; our own cancellation never reaches here
  grpc.status.OK, // the supplier ended the stream (graceful shutdown)
]);

export type FrameSubscriptionMode = 'pull' | 'stream';

/** How a pool divides frames among its members: `shared` (any member with a credit takes the newest
 *  untaken frame) or `sticky` (each stream has one owner, for analyzers that keep state per stream). */
export type PoolMode = 'shared' | 'sticky';

/** A worker pool to join: its members divide the frames of their streams, each frame delivered to at
 *  most one member (docs/supplier.md, "Worker pools"). */
export interface PoolMembershipOptions {
  /** The pool's id, e.g. "analysis" (1-64 of A-Z a-z 0-9 . _ : -); the first member creates it. */
  id: string;
  /** Default `shared`; the first member sets the pool's mode, a member asking another is refused. */
  mode?: PoolMode;
  /** The streams this member serves: a list, or `all` (every stream of the supplier, including
   *  streams that appear later). */
  streams: readonly string[] | 'all';
}

/** How a frame received by shared-memory reference reaches the consumer: `copy` (a Buffer of its own,
 *  validated before it is handed over) or `view` (the bytes in place in the ring, no copy; see
 *  ReceivedFrame.stillValid). */
export type SharedMemoryAccess = 'copy' | 'view';

export interface SubscribeFramesOptions {
  /** host:port of the supplier. */
  address: string;
  /** The worker's name, e.g. "motion-1"; one subscription per worker id at the supplier. */
  workerId: string;
  /** The stream to receive every frame of (broadcast). Leave it out with `pool`. */
  streamId?: string;
  /** Join a worker pool instead of receiving every frame of one stream: the pool's members share
   *  its streams' frames, each frame going to one member (Pull only). */
  pool?: PoolMembershipOptions;
  /** Pool members: the largest k nextBatch(k) accepts (default 16). Must not exceed the supplier's
   *  FW_SUPPLIER_MAX_POOL_CREDITS, which ignores credits beyond it. */
  maxBatchFrames?: number;
  /** This worker process's private key (SubscribeRequest.instance_id; never logged): a subscription
   *  with the same key replaces this process's older one at once, another must wait until the
   *  holder falls silent. A process that subscribes more than once (e.g. after a refusal) passes the
   *  same key each time; default: a random key per subscribeFrames call (newInstanceId). */
  instanceId?: string;
  /** `pull` (default): one credit per next(), the frame is the newest when it is sent. `stream`:
   *  server streaming; frames may wait in transport buffers (see docs/frame-path.md). */
  mode?: FrameSubscriptionMode;
  /** Pull only: credits granted ahead of the consumer (0 or 1, default 0). With 1, the next frame is
   *  already on its way while the worker processes the current one (lower latency per frame), but it
   *  was the newest when it was sent, not when the worker asks: up to one processing time older. */
  prefetch?: 0 | 1;
  /** On the supplier's host: open the stream's shared-memory rings (ListRings), prove them to the
   *  supplier with their tokens, and receive references instead of bytes; each is read from the ring
   *  here, so frames reach the consumer with `data` set as always. Rings that cannot be opened (another
   *  host, permissions) are simply not proven, and their frames come as bytes. */
  preferSharedMemory?: boolean;
  /** Check each frame read from a ring against its CRC-32 (default true). With `view` the CRC is
   *  computed over the bytes in place, before the frame is handed over. */
  verifySharedMemoryChecksum?: boolean;
  /** `copy` (default): each frame read from a ring is copied out, so its `data` stays the frame's for
   *  good. `view`: `data` is a view into the ring (no copy, the cost no longer grows with the frame
   *  size). The view is valid only until the consumer asks for the next frame, and even before that
   *  the writer may rewrite the slot: after using the bytes, call `stillValid()` and discard the result
   *  when it returns false (the frame then counts as a drop). Never keep the view; copy what must outlive
   *  the frame. */
  sharedMemoryAccess?: SharedMemoryAccess;
  /** Aborting ends the iteration (done, no error), cancels the call and closes the channel. */
  signal?: AbortSignal;
  credentials?: grpc.ChannelCredentials;
  /** Sent with every call (e.g. an authorization token). */
  metadata?: grpc.Metadata;
  /** Backoff between reconnect attempts; `false` turns reconnecting off (a failure ends the iteration with an error). */
  reconnect?: { initialMs: number; maxMs: number } | false;
  maxReceiveMessageBytes?: number;
  channelOptions?: grpc.ChannelOptions;
}

/** One frame as the worker received it. */
export interface ReceivedFrame {
  frame: Frame;
  /** Frames the worker missed since its previous delivery (overwritten in its mailbox at the supplier). */
  droppedSinceLast: number;
  /** Receive time − capture time: how old the frame was when the worker got it. */
  ageAtDeliveryMs: number;
  /** Receive time − the supplier's send time: time in the transport, and for a prefetched frame the
   *  time it was held here (includes clock skew across hosts). */
  transferMs: number;
  /** Wall-clock time the consumer got the frame from next(), microseconds since the Unix epoch. */
  receivedTimeUs: number;
  /** Whether `frame.data` still holds this frame's bytes. Always true for bytes received inline and for
   *  copies out of a ring. For a shared-memory view (`sharedMemoryAccess: 'view'`) it re-checks the
   *  ring slot: call it after using the bytes and discard what was computed from them when it returns
   *  false; the first false counts the frame in `stats.drops`, `stats.sharedMemoryDrops` and the next
   *  frame's droppedSinceLast. */
  stillValid(): boolean;
}

export interface FrameSubscriptionStats {
  frames: number;
  /** Sum of droppedSinceLast over every delivery. */
  drops: number;
  /** Calls started after a failed one. */
  reconnects: number;
  /** Age at delivery of the last frame, ms (NaN before the first). */
  lastAgeMs: number;
  connected: boolean;
  /** Frames whose bytes were read from a shared-memory ring here. */
  sharedMemoryFrames: number;
  /** References whose bytes could not be read (overwritten before they were read, checksum, unknown
   *  ring): skipped, and counted in `drops` too. With `view` access this includes frames handed over
   *  whose stillValid() then returned false. */
  sharedMemoryDrops: number;
  /** Rings proven to the supplier in the current call. */
  ringsProven: number;
  /** The last failure that led to a reconnect, if any. */
  lastError?: FrameSubscriptionError;
  /** Pool members: frames of a stream replaced here by a newer frame of the same stream before the
   *  consumer asked (credits left from a batch bring frames while the consumer works); counted in
   *  `drops` and the newer frame's droppedSinceLast too. */
  replacedHere: number;
}

/** What a subscription asked the supplier for, as errors name it. */
export interface FrameSubscriptionTarget {
  address: string;
  workerId: string;
  /** The broadcast stream ('' for a pool member). */
  streamId: string;
  pool?: PoolMembershipOptions;
}

/** "stream "cam-1"" or "pool "analysis" (streams cam-1, cam-2)". */
function describeTarget(target: FrameSubscriptionTarget): string {
  const { pool } = target;
  if (pool === undefined) return `stream "${target.streamId}"`;
  return `pool "${pool.id}" (${pool.streams === 'all' ? 'all streams' : `streams ${pool.streams.join(', ')}`})`;
}

/** A subscription failed in a way the caller must act on; `code` is the gRPC status. */
export class FrameSubscriptionError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
    readonly target: FrameSubscriptionTarget,
  ) {
    super(
      `frame subscription of worker "${target.workerId}" to ${describeTarget(target)} at ${target.address} failed: ` +
        `${grpc.status[code] ?? code}: ${details}`,
    );
    this.name = new.target.name;
  }
}

/** The supplier ended this subscription because another one took the same worker id (ABORTED). */
export class FrameSubscriptionReplacedError extends FrameSubscriptionError {}

/** The supplier refused the subscription: another live instance holds the worker id
 *  (ALREADY_EXISTS) or a limit is reached (RESOURCE_EXHAUSTED). A later attempt may succeed. */
export class FrameSubscriptionRefusedError extends FrameSubscriptionError {}

/** An async iterable of received frames with live statistics. */
export interface FrameSubscription extends AsyncIterableIterator<ReceivedFrame> {
  readonly stats: Readonly<FrameSubscriptionStats>;
  readonly mode: FrameSubscriptionMode;
  /** The pool this subscription is a member of (undefined: broadcast). */
  readonly pool: Readonly<PoolMembershipOptions> | undefined;
  /**
   * Pool members: up to `maxFrames` frames of distinct streams at once, for batched inference. Keeps
   * `maxFrames` credits granted (less the frames held here) and resolves with the frames held when a
   * batch is complete (Delivery.batch_remaining 0): as many as the pool had waiting, at least one.
   * Credits it did not use stay granted, so frames that come while the consumer works are held here,
   * the newest per stream, and start its next batch. Resolves done when the subscription ends.
   */
  nextBatch(maxFrames: number): Promise<IteratorResult<ReceivedFrame[], undefined>>;
  /** Cancels the call and closes the channel; a pending next() resolves done. Idempotent. */
  close(): void;
}

/** A delivery ready for the consumer; `stillValid` is set when its bytes are a view into a ring. */
type DeliveryWithFrame = Delivery & { frame: Frame; stillValid?: () => boolean };

const ALWAYS_VALID = (): boolean => true;

type AnyCall = grpc.ClientDuplexStream<PullRequest, PullResponse> | grpc.ClientReadableStream<SubscribeResponse>;

/** A consumer waiting in next() (maxFrames 1, batch false) or nextBatch(maxFrames). */
interface Waiter {
  resolve: (r: IteratorResult<ReceivedFrame[] | ReceivedFrame>) => void;
  reject: (e: unknown) => void;
  maxFrames: number;
  batch: boolean;
}

interface SubscriptionState {
  readonly options: Required<
    Pick<SubscribeFramesOptions, 'address' | 'workerId' | 'instanceId' | 'preferSharedMemory' | 'verifySharedMemoryChecksum' | 'sharedMemoryAccess' | 'maxBatchFrames'>
  > & {
    /** The broadcast stream ('' for a pool member). */
    streamId: string;
    pool?: PoolMembershipOptions;
    mode: FrameSubscriptionMode;
    prefetch: number;
    metadata?: grpc.Metadata;
  };
  readonly client: FrameSupplierClient;
  call: AnyCall | null;
  /** Pull: credits granted on the current call and not yet answered by a delivery. */
  creditsOutstanding: number;
  /** Deliveries received and not yet handed to the consumer, at most one per stream (at most 1 +
   *  prefetch in pull mode, or the credits of a batch; 1 in stream mode). */
  received: Array<DeliveryWithFrame>;
  waiter: Waiter | null;
  failure: FrameSubscriptionError | null;
  closed: boolean;
  /** Waits between reconnects; its attempts are the failed calls since the last delivery (null: no reconnecting). */
  readonly backoff: Backoff | null;
  reconnectTimer: NodeJS.Timeout | null;
  stats: FrameSubscriptionStats;
  /** The shared-memory rings this subscription opened, by name; closed with it. */
  readonly rings: Map<string, FrameRingReader>;
  /** Drops not yet reported in a frame's droppedSinceLast (references that could not be read). */
  pendingDrops: number;
  /** Pool members: the last delivery said more of its batch follow (batch_remaining > 0). */
  batchOpen: boolean;
  onAbort: (() => void) | null;
  signal?: AbortSignal;
}

function nowUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

function validate(options: SubscribeFramesOptions): void {
  for (const key of ['address', 'workerId'] as const) {
    if (typeof options[key] !== 'string' || options[key].length === 0) {
      throw new TypeError(`subscribeFrames: ${key} must be a non-empty string (got ${JSON.stringify(options[key])})`);
    }
  }
  const { pool } = options;
  if (pool === undefined) {
    if (typeof options.streamId !== 'string' || options.streamId.length === 0) {
      throw new TypeError(`subscribeFrames: streamId must be a non-empty string, or join a pool (got ${JSON.stringify(options.streamId)})`);
    }
  } else {
    if (options.streamId !== undefined) throw new TypeError('subscribeFrames: give streamId or pool, not both (a pool member lists its streams in pool.streams)');
    if (typeof pool.id !== 'string' || pool.id.length === 0) throw new TypeError(`subscribeFrames: pool.id must be a non-empty string (got ${JSON.stringify(pool.id)})`);
    if (pool.mode !== undefined && pool.mode !== 'shared' && pool.mode !== 'sticky') {
      throw new TypeError(`subscribeFrames: pool.mode must be "shared" or "sticky" (got ${JSON.stringify(pool.mode)})`);
    }
    if (pool.streams !== 'all' && (!Array.isArray(pool.streams) || pool.streams.length === 0 || pool.streams.some((id) => typeof id !== 'string' || id.length === 0))) {
      throw new TypeError(`subscribeFrames: pool.streams must be "all" or a non-empty list of stream ids (got ${JSON.stringify(pool.streams)})`);
    }
    if (options.mode === 'stream') throw new TypeError('subscribeFrames: a pool works through Pull only (mode "pull"): it needs credits to know which member can take a frame');
  }
  const maxBatch = options.maxBatchFrames;
  if (maxBatch !== undefined && !(Number.isInteger(maxBatch) && maxBatch >= 1)) {
    throw new RangeError(`subscribeFrames: maxBatchFrames must be an integer >= 1 (got ${String(maxBatch)})`);
  }
  if (options.mode !== undefined && options.mode !== 'pull' && options.mode !== 'stream') {
    throw new TypeError(`subscribeFrames: mode must be "pull" or "stream" (got ${JSON.stringify(options.mode)})`);
  }
  if (options.prefetch !== undefined && options.prefetch !== 0 && options.prefetch !== 1) {
    throw new RangeError(`subscribeFrames: prefetch must be 0 or 1 (got ${String(options.prefetch)})`);
  }
  if (options.sharedMemoryAccess !== undefined && options.sharedMemoryAccess !== 'copy' && options.sharedMemoryAccess !== 'view') {
    throw new TypeError(`subscribeFrames: sharedMemoryAccess must be "copy" or "view" (got ${JSON.stringify(options.sharedMemoryAccess)})`);
  }
  const r = options.reconnect;
  if (r && !(r.initialMs > 0 && r.maxMs >= r.initialMs)) {
    throw new RangeError(`subscribeFrames: reconnect needs 0 < initialMs <= maxMs (got ${r.initialMs}, ${r.maxMs})`);
  }
}

/**
 * Subscribes a worker to a stream. Iterate the result; each next() in pull mode grants the supplier
 * one credit, so the worker is sent a frame only when it is ready, and that frame is the newest.
 * Reconnects with backoff on transport failures and resumes at the newest frame.
 */
export function subscribeFrames(options: SubscribeFramesOptions): FrameSubscription {
  validate(options);
  const client = new FrameSupplierClient(options.address, options.credentials ?? grpc.credentials.createInsecure(), {
    ...LONG_LIVED_CALL_CHANNEL_OPTIONS,
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? DEFAULT_MAX_RECEIVE_MESSAGE_BYTES,
    ...options.channelOptions,
  });
  const s: SubscriptionState = {
    options: {
      address: options.address,
      workerId: options.workerId,
      streamId: options.streamId ?? '',
      pool: options.pool === undefined ? undefined : { ...options.pool, streams: options.pool.streams === 'all' ? 'all' : [...options.pool.streams] },
      maxBatchFrames: options.maxBatchFrames ?? DEFAULT_MAX_BATCH_FRAMES,
      instanceId: options.instanceId ?? newInstanceId(),
      preferSharedMemory: options.preferSharedMemory ?? false,
      verifySharedMemoryChecksum: options.verifySharedMemoryChecksum ?? true,
      sharedMemoryAccess: options.sharedMemoryAccess ?? 'copy',
      mode: options.mode ?? 'pull',
      prefetch: options.mode === 'stream' ? 0 : (options.prefetch ?? 0),
      metadata: options.metadata,
    },
    client,
    call: null,
    creditsOutstanding: 0,
    received: [],
    waiter: null,
    failure: null,
    closed: false,
    backoff: options.reconnect === false ? null : new Backoff(options.reconnect ?? DEFAULT_RECONNECT),
    reconnectTimer: null,
    stats: { frames: 0, drops: 0, reconnects: 0, lastAgeMs: Number.NaN, connected: false, sharedMemoryFrames: 0, sharedMemoryDrops: 0, ringsProven: 0, replacedHere: 0 },
    rings: new Map(),
    pendingDrops: 0,
    batchOpen: false,
    onAbort: null,
    signal: options.signal,
  };
  if (options.signal) {
    if (options.signal.aborted) {
      s.closed = true;
      client.close();
    } else {
      s.onAbort = () => closeSubscription(s);
      options.signal.addEventListener('abort', s.onAbort, { once: true });
    }
  }
  if (!s.closed) startCall(s);

  const subscription: FrameSubscription = {
    mode: s.options.mode,
    pool: s.options.pool,
    get stats() {
      return s.stats;
    },
    close: () => closeSubscription(s),
    next: () => nextFrame(s, 1, false) as Promise<IteratorResult<ReceivedFrame>>,
    nextBatch: (maxFrames) => {
      if (s.options.pool === undefined) return Promise.reject(new TypeError('subscribeFrames: nextBatch needs a pool (a broadcast subscription receives one stream, one frame at a time)'));
      if (!Number.isInteger(maxFrames) || maxFrames < 1 || maxFrames > s.options.maxBatchFrames) {
        return Promise.reject(new RangeError(`subscribeFrames: nextBatch(maxFrames) needs an integer 1..${s.options.maxBatchFrames} (maxBatchFrames), got ${String(maxFrames)}`));
      }
      return nextFrame(s, maxFrames, true) as Promise<IteratorResult<ReceivedFrame[], undefined>>;
    },
    return: async () => {
      closeSubscription(s);
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return subscription;
    },
  };
  return subscription;
}

/** Starts a call; one that prefers shared memory first lists and proves the rings of its stream or
 *  its pool's streams (again on every reconnect, so a ring recreated by a restarted capture is proven
 *  anew; a stream that appears later, for a member of all streams, comes as bytes until then). */
function startCall(s: SubscriptionState): void {
  if (!s.options.preferSharedMemory) {
    openCall(s, []);
    return;
  }
  void proveRings(s).then((tokens) => {
    if (!s.closed && s.call === null) openCall(s, tokens);
  });
}

/** The tokens of the rings of its streams this worker can open (none when ListRings fails: bytes then). */
async function proveRings(s: SubscriptionState): Promise<string[]> {
  const { options, client } = s;
  const streams = options.pool?.streams;
  let names: string[];
  try {
    // One call: the stream's rings, or every stream's for a pool member (kept when it serves them).
    const reply = await new Promise<{ rings: { ringName: string; streamId: string }[] }>((resolve, reject) =>
      client.listRings({ streamId: options.streamId }, options.metadata ?? new grpc.Metadata(), { deadline: Date.now() + LIST_RINGS_TIMEOUT_MS }, (err, r) =>
        err ? reject(err) : resolve(r),
      ),
    );
    names = reply.rings.filter((r) => streams === undefined || streams === 'all' || streams.includes(r.streamId)).map((r) => r.ringName);
  } catch {
    names = [];
  }
  if (s.closed) return [];
  const tokens: string[] = [];
  for (const name of new Set(names)) {
    if (tokens.length === MAX_RING_TOKENS) break;
    const reader = openRing(s, name);
    if (reader !== undefined) tokens.push(reader.token);
  }
  s.stats.ringsProven = tokens.length;
  return tokens;
}

/** The reader of ring `name`, opened or (writer restarted) reattached; undefined if it cannot be. */
function openRing(s: SubscriptionState, name: string): FrameRingReader | undefined {
  const open = s.rings.get(name);
  try {
    if (open === undefined) {
      const reader = FrameRingReader.open(name, { verifyChecksum: s.options.verifySharedMemoryChecksum });
      s.rings.set(name, reader);
      return reader;
    }
    if (open.writerStatus() === 'replaced') open.reattach();
    return open;
  } catch {
    // Not on the supplier's host, no permission, or the ring is gone: its frames come as bytes.
    open?.close();
    s.rings.delete(name);
    return undefined;
  }
}

/** `delivery` with the bytes of its shared-memory reference read from the ring (copied, or lent in
 *  place with `view`); false when they cannot be read (the frame is then a drop). */
function resolveReference(s: SubscriptionState, delivery: DeliveryWithFrame): boolean {
  const frame = delivery.frame;
  const ref = frame.shmRef;
  if (ref === undefined || frame.data !== undefined) return true;
  const reader = s.rings.get(ref.ringName);
  const ringRef = { ...ref, length: frame.sizeBytes };
  const result = s.options.sharedMemoryAccess === 'view' ? reader?.borrow(ringRef) : reader?.read(ringRef);
  if (result === undefined || !result.ok) {
    s.stats.sharedMemoryDrops++;
    s.stats.drops++;
    s.pendingDrops += 1 + delivery.droppedSinceLast;
    s.stats.drops += delivery.droppedSinceLast;
    return false;
  }
  const bytes = result.data;
  const data = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  delivery.frame = { ...frame, shmRef: undefined, data };
  if ('stillValid' in result) delivery.stillValid = result.stillValid;
  s.stats.sharedMemoryFrames++;
  return true;
}

function openCall(s: SubscriptionState, shmRingTokens: string[]): void {
  const { options, client } = s;
  const metadata = options.metadata ?? new grpc.Metadata();
  const { pool } = options;
  // The same request on every call, so a reconnect re-joins the pool with the same instance id.
  const request = SubscribeRequest.fromPartial({
    workerId: options.workerId,
    streamId: options.streamId,
    preferSharedMemory: options.preferSharedMemory,
    shmRingTokens,
    instanceId: options.instanceId,
    ...(pool === undefined
      ? {}
      : {
          poolId: pool.id,
          poolMode: pool.mode === 'sticky' ? PoolModeMessage.POOL_MODE_STICKY : PoolModeMessage.POOL_MODE_SHARED,
          streamIds: pool.streams === 'all' ? [] : [...pool.streams],
          allStreams: pool.streams === 'all',
        }),
  });
  s.creditsOutstanding = 0;
  s.batchOpen = false;
  let call: AnyCall;
  if (options.mode === 'pull') {
    const duplex = client.pull(metadata);
    duplex.write({ subscribe: request });
    call = duplex;
  } else {
    call = client.subscribe(request, metadata);
  }
  s.call = call;
  s.stats.connected = true;
  call.on('data', (message: PullResponse | SubscribeResponse) => {
    if (s.call === call) onDelivery(s, message.delivery);
  });
  // 'status' comes once, after the call ended for whatever reason ('error' too, for non-OK).
  call.on('error', () => undefined);
  call.on('status', (status: grpc.StatusObject) => {
    if (s.call === call) onCallEnded(s, status);
  });
  // Credits lost with a failed call are granted again for a consumer already waiting.
  topUpCredits(s);
}

function onDelivery(s: SubscriptionState, delivery: Delivery | undefined): void {
  if (s.options.mode === 'pull') s.creditsOutstanding = Math.max(0, s.creditsOutstanding - 1);
  s.batchOpen = (delivery?.batchRemaining ?? 0) > 0;
  // A delivery without a frame, or whose reference could not be read, answers a credit: ask again
  // if someone waits.
  if (!delivery?.frame || !resolveReference(s, delivery as DeliveryWithFrame)) {
    if (!serveWaiter(s)) topUpCredits(s);
    return;
  }
  s.backoff?.reset();
  hold(s, delivery as DeliveryWithFrame);
  // Stream mode: hold at most one frame here; the rest waits in grpc-js and HTTP/2 (the hidden queue
  // this mode is there to show), never in an unbounded array.
  if (!serveWaiter(s) && s.options.mode === 'stream') s.call?.pause();
}

/** Keeps `delivery` for the consumer. A pool member holds one frame per stream: a newer frame of a
 *  stream replaces the held one, which becomes a drop reported with the newer frame. */
function hold(s: SubscriptionState, delivery: DeliveryWithFrame): void {
  if (s.options.pool !== undefined) {
    const index = s.received.findIndex((held) => held.frame.streamId === delivery.frame.streamId);
    if (index >= 0) {
      const [older] = s.received.splice(index, 1);
      delivery.droppedSinceLast += 1 + older.droppedSinceLast;
      s.stats.replacedHere++;
    }
  }
  s.received.push(delivery);
}

/** Hands the waiting consumer what it asked for, if it is here: one frame for next(), for
 *  nextBatch(k) up to k frames once the batch being received is complete. */
function serveWaiter(s: SubscriptionState): boolean {
  const waiter = s.waiter;
  if (waiter === null || s.received.length === 0 || (waiter.batch && s.batchOpen)) return false;
  s.waiter = null;
  if (waiter.batch) waiter.resolve({ done: false, value: s.received.splice(0, waiter.maxFrames).map((d) => handOver(s, d)) });
  else waiter.resolve({ done: false, value: handOver(s, s.received.shift() as DeliveryWithFrame) });
  return true;
}

/** Times a frame at the moment the consumer gets it (a held, prefetched frame has aged meanwhile). */
function handOver(s: SubscriptionState, delivery: DeliveryWithFrame): ReceivedFrame {
  const receivedTimeUs = nowUs();
  const checkView = delivery.stillValid;
  let counted = false;
  const stillValid =
    checkView === undefined
      ? ALWAYS_VALID
      : (): boolean => {
          const valid = checkView();
          // The worker discards this frame: a drop, counted once however often it asks.
          if (!valid && !counted) {
            counted = true;
            s.stats.sharedMemoryDrops++;
            s.stats.drops++;
            s.pendingDrops++;
          }
          return valid;
        };
  const received: ReceivedFrame = {
    frame: delivery.frame,
    droppedSinceLast: delivery.droppedSinceLast + s.pendingDrops,
    ageAtDeliveryMs: (receivedTimeUs - delivery.frame.captureTimeUs) / 1000,
    transferMs: delivery.sentTimeUs > 0 ? (receivedTimeUs - delivery.sentTimeUs) / 1000 : Number.NaN,
    receivedTimeUs,
    stillValid,
  };
  s.stats.frames++;
  s.stats.drops += delivery.droppedSinceLast;
  s.pendingDrops = 0;
  s.stats.lastAgeMs = received.ageAtDeliveryMs;
  return received;
}

function onCallEnded(s: SubscriptionState, status: grpc.StatusObject): void {
  s.call = null;
  s.stats.connected = false;
  if (s.closed) return;
  const error = errorOf(s, status.code, status.details);
  if (status.code === grpc.status.ABORTED || !RETRYABLE_CODES.has(status.code) || s.backoff === null) {
    fail(s, error);
    return;
  }
  s.stats.lastError = error;
  const delay = s.backoff.next();
  s.reconnectTimer = setTimeout(() => {
    s.reconnectTimer = null;
    if (s.closed) return;
    s.stats.reconnects++;
    startCall(s);
  }, delay);
}

function errorOf(s: SubscriptionState, code: grpc.status, details: string): FrameSubscriptionError {
  const target: FrameSubscriptionTarget = { address: s.options.address, workerId: s.options.workerId, streamId: s.options.streamId, pool: s.options.pool };
  if (code === grpc.status.ABORTED) return new FrameSubscriptionReplacedError(code, details, target);
  if (code === grpc.status.ALREADY_EXISTS || code === grpc.status.RESOURCE_EXHAUSTED) return new FrameSubscriptionRefusedError(code, details, target);
  return new FrameSubscriptionError(code, details, target);
}

function fail(s: SubscriptionState, error: FrameSubscriptionError): void {
  s.failure = error;
  releaseResources(s);
  if (s.waiter) {
    const { reject } = s.waiter;
    s.waiter = null;
    reject(error);
  }
}

/** Pull: keeps (credits on the wire + frames held) at what the waiting consumer asked for (1 +
 *  prefetch for next(), k for nextBatch(k)); never grants a credit the consumer did not ask for
 *  beyond the prefetch. */
function topUpCredits(s: SubscriptionState): void {
  const call = s.call;
  const waiter = s.waiter;
  if (s.options.mode !== 'pull' || !call || !waiter) return;
  const wanted = waiter.batch ? waiter.maxFrames : 1 + s.options.prefetch;
  const missing = wanted - s.creditsOutstanding - s.received.length;
  if (missing > 0) {
    s.creditsOutstanding += missing;
    (call as grpc.ClientDuplexStream<PullRequest, PullResponse>).write({ credits: missing });
  }
}

function nextFrame(s: SubscriptionState, maxFrames: number, batch: boolean): Promise<IteratorResult<ReceivedFrame | ReceivedFrame[]>> {
  if (s.failure) return Promise.reject(s.failure);
  if (s.closed) return Promise.resolve({ done: true, value: undefined });
  if (s.waiter) return Promise.reject(new Error('subscribeFrames: next() called while a previous next() is pending'));
  return new Promise((resolve, reject) => {
    s.waiter = { resolve, reject, maxFrames, batch };
    if (serveWaiter(s)) {
      // The consumer took held frames: in stream mode let the next one come; in pull mode replace a
      // prefetched frame's credit so one stays in flight.
      if (s.options.mode === 'stream') {
        s.call?.resume();
      } else if (s.call && !batch) {
        const missing = s.options.prefetch - s.creditsOutstanding - s.received.length;
        if (missing > 0) {
          s.creditsOutstanding += missing;
          (s.call as grpc.ClientDuplexStream<PullRequest, PullResponse>).write({ credits: missing });
        }
      }
      return;
    }
    if (s.options.mode === 'stream') s.call?.resume();
    else topUpCredits(s);
  });
}

function releaseResources(s: SubscriptionState): void {
  s.closed = true;
  if (s.reconnectTimer) clearTimeout(s.reconnectTimer);
  s.reconnectTimer = null;
  const call = s.call;
  s.call = null;
  s.stats.connected = false;
  call?.cancel();
  s.client.close();
  s.received.length = 0;
  for (const reader of s.rings.values()) reader.close();
  s.rings.clear();
  if (s.onAbort && s.signal) s.signal.removeEventListener('abort', s.onAbort);
  s.onAbort = null;
}

function closeSubscription(s: SubscriptionState): void {
  if (s.closed) return;
  releaseResources(s);
  if (s.waiter) {
    const { resolve } = s.waiter;
    s.waiter = null;
    resolve({ done: true, value: undefined });
  }
}
