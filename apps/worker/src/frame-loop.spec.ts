// analyseFrame on frames read from a real shared-memory ring: a frame whose slot the writer rewrote
// while it was decoded is a dropped (stale) frame, never reported as undecodable.
import sharp from 'sharp';
import { AnalysisPipeline, createAnalyzers } from '@framewire/analysis';
import { ReceivedFrame } from '@framewire/frame-client';
import { Frame, PixelFormat } from '@framewire/proto';
import { FrameRingReader, FrameRingWriter } from '@framewire/shm';
import { analyseFrame, createFrameLoopStats, FrameLoopOptions } from './frame-loop';
import { FramePacer } from './frame-pacer';

const WIDTH = 64;
const HEIGHT = 48;

describe('analyseFrame', () => {
  const warnings: unknown[] = [];
  const logger = { log: () => undefined, warn: (m: unknown) => void warnings.push(m), error: () => undefined, debug: () => undefined };
  const options: FrameLoopOptions = {
    subscribe: () => {
      throw new Error('not used by analyseFrame');
    },
    pipeline: new AnalysisPipeline(createAnalyzers(['motion'])),
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
