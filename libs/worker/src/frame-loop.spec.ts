// The frame loop: against a scripted subscription it never gives up on the supplier when its id is
// taken or it is refused, reports each state once, and serves again when frames flow; analyseFrame on
// frames read from a real shared-memory ring counts a frame whose slot the writer rewrote while it was
// decoded as a dropped (stale) frame, never as undecodable.
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import { StreamPipelines } from '@framewire/analysis';
import { FrameSubscription, FrameSubscriptionRefusedError, FrameSubscriptionReplacedError, ReceivedFrame } from '@framewire/frame-client';
import { Frame, PixelFormat } from '@framewire/proto';
import { FrameRingReader, FrameRingWriter } from '@framewire/shm';
import { analyseFrame, createFrameLoopStats, FrameLoopOptions, runFrameLoop, SubscriptionState } from './frame-loop';
import { FramePacer } from './frame-pacer';
import { servingStatusOf } from './run-worker';

const TARGET = { address: '127.0.0.1:1', workerId: 'worker-1', streamId: 'cam-1' };
const SIDE = 8;

function received(sequence: number): ReceivedFrame {
  const captureTimeUs = Date.now() * 1000;
  return {
    frame: { streamId: 'cam-1', sequence, captureTimeUs, width: SIDE, height: SIDE, pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8, sizeBytes: SIDE * SIDE, data: Buffer.alloc(SIDE * SIDE) },
    droppedSinceLast: 0,
    ageAtDeliveryMs: 1,
    transferMs: 1,
    receivedTimeUs: captureTimeUs,
    stillValid: () => true,
  };
}

/** A subscription whose next() fails with `error`, or, without one, yields frames until closed. */
function scripted(error: Error | undefined, onFrame: () => void): FrameSubscription {
  let sequence = 0;
  let closed = false;
  const subscription: FrameSubscription = {
    mode: 'pull',
    pool: undefined,
    stats: { frames: 0, drops: 0, reconnects: 0, lastAgeMs: Number.NaN, connected: true, sharedMemoryFrames: 0, sharedMemoryDrops: 0, ringsProven: 0, replacedHere: 0 },
    close: () => void (closed = true),
    next: async () => {
      if (error !== undefined) throw error;
      if (closed) return { done: true, value: undefined };
      onFrame();
      return { done: false, value: received(++sequence) };
    },
    nextBatch: async () => ({ done: true, value: undefined }),
    return: async () => ({ done: true, value: undefined }),
    [Symbol.asyncIterator]: () => subscription,
  };
  return subscription;
}

describe('runFrameLoop', () => {
  it('keeps subscribing after its id was taken or it was refused, reporting each state once, and serves again when frames flow', async () => {
    const failures = [
      new FrameSubscriptionReplacedError(grpc.status.ABORTED, 'worker "worker-1" was taken over by another instance', TARGET),
      new FrameSubscriptionRefusedError(grpc.status.ALREADY_EXISTS, 'worker_id "worker-1" is held by another live instance', TARGET),
      new FrameSubscriptionRefusedError(grpc.status.ALREADY_EXISTS, 'worker_id "worker-1" is held by another live instance', TARGET),
      new FrameSubscriptionRefusedError(grpc.status.RESOURCE_EXHAUSTED, 'worker "worker-1" would exceed the limit of 16 workers per caller', TARGET),
    ];
    const stop = new AbortController();
    const stats = createFrameLoopStats();
    const states: SubscriptionState[] = [];
    const errors: string[] = [];
    const logs: string[] = [];
    let subscriptions = 0;
    let frames = 0;
    await runFrameLoop({
      subscribe: () => scripted(failures[subscriptions++], () => {
        if (++frames === 3) stop.abort();
      }),
      pipelines: new StreamPipelines({ analyzers: ['motion'] }),
      pacer: new FramePacer(0),
      publish: () => undefined,
      workerId: 'worker-1',
      analysisWidth: SIDE,
      signal: stop.signal,
      logger: {
        log: (m) => logs.push((m as { message: string }).message),
        warn: () => undefined,
        error: (m) => errors.push((m as { message: string }).message),
      },
      stats,
      onSubscriptionState: (state) => states.push(state),
      resubscribeBackoff: { initialMs: 1, maxMs: 4 },
    });
    expect(subscriptions).toBe(5);
    expect(states).toEqual(['replaced', 'refused', 'receiving']);
    expect(states.map(servingStatusOf)).toEqual(['NOT_SERVING', 'NOT_SERVING', 'SERVING']);
    // The start of each episode is logged; its repetitions are counted.
    expect(errors).toEqual(['another instance took this worker id at the supplier; subscribing again', 'the supplier refused this worker; subscribing again']);
    expect(logs).toEqual(['frames flow again']);
    expect(stats).toMatchObject({ subscription: 'receiving', refusals: 4, lastRefusal: 'worker "worker-1" would exceed the limit of 16 workers per caller', frames: 3 });
  });
});

const WIDTH = 64;
const HEIGHT = 48;

describe('analyseFrame', () => {
  const warnings: unknown[] = [];
  const logger = { log: () => undefined, warn: (m: unknown) => void warnings.push(m), error: () => undefined, debug: () => undefined };
  const options: FrameLoopOptions = {
    subscribe: () => {
      throw new Error('not used by analyseFrame');
    },
    pipelines: new StreamPipelines({ analyzers: ['motion'] }),
    pacer: new FramePacer(0),
    publish: () => undefined,
    workerId: 'worker-1',
    analysisWidth: WIDTH,
    signal: new AbortController().signal,
    logger,
  };
  let writer: FrameRingWriter;
  let reader: FrameRingReader;

  beforeEach(() => {
    warnings.length = 0;
    writer = FrameRingWriter.create({ name: `fw-frame-loop-spec-${process.pid}`, slotCount: 2, slotBytes: 64 * 1024 });
    reader = FrameRingReader.open(writer.name);
  });

  afterEach(() => {
    reader.close();
    writer.close();
  });

  const meta = (sequence: number) => ({ streamId: 'cam-1', sequence, captureTimeUs: Date.now() * 1000, width: WIDTH, height: HEIGHT, pixelFormat: PixelFormat.PIXEL_FORMAT_JPEG });

  /** Frame `sequence` as a worker receives it with sharedMemoryAccess 'view': the bytes in place. */
  function receivedView(sequence: number, bytes: Uint8Array): ReceivedFrame {
    const ref = writer.write(meta(sequence), bytes);
    const borrowed = reader.borrow(ref);
    if (!borrowed.ok) throw new Error(`borrow failed: ${borrowed.reason}`);
    const frame: Frame = { ...meta(sequence), sizeBytes: bytes.length, data: borrowed.data };
    return { frame, droppedSinceLast: 0, ageAtDeliveryMs: 0, transferMs: 0, receivedTimeUs: Date.now() * 1000, stillValid: borrowed.stillValid };
  }

  it('counts a frame whose slot was rewritten under the decoder as stale, without a warning', async () => {
    const jpeg = await sharp({ create: { width: WIDTH, height: HEIGHT, channels: 3, background: '#808080' } }).jpeg().toBuffer();
    const received = receivedView(1, jpeg);
    // The writer laps the ring: the view now holds other bytes (here not even a JPEG).
    writer.write(meta(2), Buffer.alloc(jpeg.length, 0x11));
    writer.write(meta(3), Buffer.alloc(jpeg.length, 0x22));
    const stats = createFrameLoopStats();
    expect(await analyseFrame(received, options, stats)).toBeUndefined();
    expect(stats).toMatchObject({ staleFrames: 1, decodeErrors: 0 });
    expect(warnings).toEqual([]);
  });

  it('still reports bytes that do not decode while the slot holds them as undecodable, with one warning', async () => {
    const received = receivedView(1, Buffer.alloc(2048, 0x33));
    const stats = createFrameLoopStats();
    expect(await analyseFrame(received, options, stats)).toBeUndefined();
    expect(stats).toMatchObject({ staleFrames: 0, decodeErrors: 1 });
    expect(warnings).toEqual([expect.objectContaining({ message: 'frame skipped: cannot decode (further ones are counted)', sequence: 1 })]);
  });
});
