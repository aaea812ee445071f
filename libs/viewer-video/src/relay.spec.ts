import { Frame, PixelFormat, ViewerMessage, VideoFrame } from '@framewire/proto';
import { encodeRelayedFrame, OpenFrameSource, RelayClientSocket, SourceFrame, VideoRelay, VideoRelayConfigError, VideoRelayRefusal } from './relay';

const FRAME_BYTES = 10_000;

function frame(sequence: number, streamId = 'cam-1'): Frame {
  return {
    streamId,
    sequence,
    captureTimeUs: 1_700_000_000_000_000 + sequence * 66_666,
    width: 640,
    height: 480,
    pixelFormat: PixelFormat.PIXEL_FORMAT_JPEG,
    sizeBytes: FRAME_BYTES,
    data: Buffer.alloc(FRAME_BYTES, sequence & 0xff),
    shmRef: undefined,
  } as Frame;
}

/** A source that answers every request at once with the next sequence (a supplier with a fast
 *  camera), counting requests and noticing when it is ended. */
function instantSource() {
  const state = { requests: 0, opened: 0, ended: 0, sequence: 0 };
  const open: OpenFrameSource = (streamId, signal) => {
    state.opened++;
    return (async function* () {
      try {
        while (!signal.aborted) {
          state.requests++;
          await new Promise((r) => setImmediate(r));
          yield { frame: frame(++state.sequence, streamId), droppedSinceLast: 0, receivedTimeUs: Date.now() * 1000 } satisfies SourceFrame;
        }
      } finally {
        state.ended++;
      }
    })();
  };
  return { open, state };
}

/** A source whose subscription the supplier refuses: the iteration fails at the first request. */
function refusedSource() {
  const state = { opened: 0 };
  const open: OpenFrameSource = (streamId) => {
    state.opened++;
    const frames: AsyncIterable<SourceFrame> = {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          await new Promise((r) => setImmediate(r));
          throw new Error(`RESOURCE_EXHAUSTED: worker "gateway-viewer:${streamId}" would exceed the limit of 3 workers`);
        },
      }),
    };
    return frames;
  };
  return { open, state };
}

/** A socket whose writes complete only when the test says so; `closed` holds why the relay ended it. */
function manualSocket() {
  const writes: { message: Uint8Array; done: (e?: Error) => void }[] = [];
  const closed: string[] = [];
  const socket: RelayClientSocket & { unsent: number } = {
    unsent: 0,
    get bufferedAmount() {
      return this.unsent;
    },
    send(message, written) {
      writes.push({ message, done: written });
    },
    close(reason) {
      closed.push(reason);
    },
  };
  return { socket, writes, closed };
}

const refusalOf = (promise: Promise<unknown>): Promise<VideoRelayRefusal> =>
  promise.then(
    () => {
      throw new Error('expected a refusal');
    },
    (error: unknown) => {
      if (!(error instanceof VideoRelayRefusal)) throw error;
      return error;
    },
  );

const waitUntil = async (what: string, condition: () => boolean, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('VideoRelay', () => {
  let relay: VideoRelay | undefined;
  afterEach(() => relay?.close());

  it('encodes each frame once as a ViewerMessage whose VideoFrame view is the archive record', () => {
    const encoded = encodeRelayedFrame({ frame: frame(7), droppedSinceLast: 3, receivedTimeUs: 42 }, 5);
    const message = ViewerMessage.decode(encoded.message);
    expect(message.frame).toMatchObject({ streamId: 'cam-1', sequence: 7, width: 640, height: 480, droppedBeforeRelay: 3, relayReceivedTimeUs: 42, relaySequence: 5 });
    expect(Buffer.from(message.frame!.jpeg).equals(Buffer.alloc(FRAME_BYTES, 7))).toBe(true);
    expect(VideoFrame.decode(encoded.videoFrame)).toEqual(message.frame);
  });

  it('refuses a display rate it cannot pace', () => {
    const { open } = instantSource();
    expect(() => new VideoRelay({ openFrames: open, displayFps: 0 })).toThrow(VideoRelayConfigError);
    expect(() => new VideoRelay({ openFrames: open, displayFps: 1000 })).toThrow(VideoRelayConfigError);
  });

  it('asks the source for frames no faster than the display rate, however fast it could deliver', async () => {
    const { open, state } = instantSource();
    relay = new VideoRelay({ openFrames: open, displayFps: 20 });
    const { socket, writes } = manualSocket();
    relay.watch('cam-1', socket);
    const started = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const elapsedS = (performance.now() - started) / 1000;
    // One request per display interval (plus the first); a slower machine only asks less.
    expect(state.requests).toBeLessThanOrEqual(Math.ceil(elapsedS * 20) + 2);
    expect(state.requests).toBeGreaterThan(0);
    expect(writes.length).toBeGreaterThan(0);
  });

  it('keeps one frame per slow client, the newest, and counts the ones it replaced', async () => {
    const { open } = instantSource();
    relay = new VideoRelay({ openFrames: open, displayFps: 60 });
    const { socket, writes } = manualSocket();
    relay.watch('cam-1', socket);
    // The first write never completes: the client is stuck.
    await waitUntil('20 frames relayed', () => relay!.stats().streams[0].framesRelayed >= 20);
    const stats = relay.stats();
    expect(writes).toHaveLength(1);
    const client = stats.clientDetails[0];
    expect(client.sent).toBe(1);
    expect(client.dropped).toBeGreaterThanOrEqual(18);
    // It holds at most one waiting frame (plus what its socket holds: nothing here).
    expect(client.maxHeldBytes).toBeLessThan(2 * (FRAME_BYTES + 100));
    // The write completes: the frame it gets next is the newest one.
    const newest = stats.streams[0].lastSequence;
    writes[0].done();
    expect(writes).toHaveLength(2);
    expect(ViewerMessage.decode(writes[1].message).frame!.sequence).toBeGreaterThanOrEqual(newest);
  });

  it('does not send while the socket holds more unsent bytes than the bound, and resumes when it drains', async () => {
    const { open } = instantSource();
    relay = new VideoRelay({ openFrames: open, displayFps: 60, clientMaxBufferedBytes: 1000 });
    const { socket, writes } = manualSocket();
    socket.unsent = 5000;
    relay.watch('cam-1', socket);
    await waitUntil('10 frames relayed', () => relay!.stats().streams[0].framesRelayed >= 10);
    expect(writes).toHaveLength(0);
    socket.unsent = 0;
    await waitUntil('a send after the socket drained', () => writes.length > 0, 5_000);
  });

  it('a slow client does not hold back a fast one', async () => {
    const { open } = instantSource();
    relay = new VideoRelay({ openFrames: open, displayFps: 60 });
    const slow = manualSocket();
    const fast = manualSocket();
    relay.watch('cam-1', slow.socket);
    relay.watch('cam-1', fast.socket);
    const pump = setInterval(() => fast.writes.forEach((w) => w.done()), 5);
    try {
      await waitUntil('10 frames at the fast client', () => fast.writes.length >= 10);
    } finally {
      clearInterval(pump);
    }
    expect(slow.writes).toHaveLength(1);
  });

  it('ends the supplier subscription when the last client leaves (after the idle delay) and on close', async () => {
    const { open, state } = instantSource();
    relay = new VideoRelay({ openFrames: open, displayFps: 30, idleUnsubscribeMs: 50 });
    const a = relay.watch('cam-1', manualSocket().socket);
    await waitUntil('a frame', () => relay!.stats().streams[0]?.framesRelayed > 0);
    a.close();
    await waitUntil('the subscription ended', () => state.ended === 1);
    expect(relay.subscribedStreams()).toEqual([]);

    relay.watch('cam-1', manualSocket().socket);
    relay.retain('cam-2');
    await waitUntil('two subscriptions', () => state.opened === 3);
    relay.close();
    await waitUntil('both ended', () => state.ended === 3);
  });

  it('gives a new client the newest frame at once and passes every frame to the tap', async () => {
    const { open } = instantSource();
    const tapped: number[] = [];
    relay = new VideoRelay({ openFrames: open, displayFps: 30, onFrame: (f) => tapped.push(f.sequence) });
    relay.retain('cam-1');
    await waitUntil('three frames tapped', () => tapped.length >= 3);
    const { socket, writes } = manualSocket();
    relay.watch('cam-1', socket);
    expect(writes).toHaveLength(1);
    expect(ViewerMessage.decode(writes[0].message).frame!.sequence).toBe(tapped[tapped.length - 1]);
  });

  it('skips frames that are not JPEG and counts them', async () => {
    const open: OpenFrameSource = (streamId, signal) =>
      (async function* () {
        let n = 0;
        while (!signal.aborted) {
          await new Promise((r) => setImmediate(r));
          yield { frame: { ...frame(++n), pixelFormat: PixelFormat.PIXEL_FORMAT_UNSPECIFIED }, droppedSinceLast: 0, receivedTimeUs: 0 };
        }
      })();
    relay = new VideoRelay({ openFrames: open, displayFps: 60 });
    const { socket, writes } = manualSocket();
    relay.watch('cam-1', socket);
    await waitUntil('skips', () => relay!.stats().streams[0].framesSkipped >= 3);
    expect(writes).toHaveLength(0);
  });

  describe('bookkeeping of streams (what viewers can make the relay hold)', () => {
    it('forgets a stream whose subscription failed and closes its clients, however often it happens', async () => {
      const { open, state } = refusedSource();
      relay = new VideoRelay({ openFrames: open, displayFps: 30 });
      for (let cycle = 0; cycle < 300; cycle++) {
        const { socket, closed } = manualSocket();
        relay.watch(`cam-${cycle}`, socket);
        await waitUntil(`cycle ${cycle}: the client closed`, () => closed.length > 0);
        expect(closed).toEqual([expect.stringContaining('failed')]);
      }
      const stats = relay.stats();
      expect({ streams: stats.streams, clients: stats.clients, subscribed: relay.subscribedStreams() }).toEqual({ streams: [], clients: 0, subscribed: [] });
      expect(stats.sourceErrors).toBe(300);
      // A new client of a failed stream gets a new subscription, not the dead one.
      relay.watch('cam-0', manualSocket().socket);
      expect(state.opened).toBe(301);
    });

    it('forgets a stream whose source ended by itself, and closes its clients', async () => {
      const open: OpenFrameSource = () => ({ [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true, value: undefined }) }) });
      relay = new VideoRelay({ openFrames: open, displayFps: 30 });
      const { socket, closed } = manualSocket();
      relay.watch('cam-1', socket);
      await waitUntil('the client closed', () => closed.length > 0);
      expect(relay.stats().streams).toEqual([]);
    });

    it('admits only streams the source lists, and creates nothing for another', async () => {
      const { open, state } = instantSource();
      relay = new VideoRelay({ openFrames: open, displayFps: 30, listStreams: async () => ['cam-1'] });
      const refusal = await refusalOf(relay.admit('ghost'));
      expect(refusal).toMatchObject({ code: 'UNKNOWN_STREAM', message: expect.stringContaining('"ghost"') });
      expect({ opened: state.opened, streams: relay.stats().streams }).toEqual({ opened: 0, streams: [] });
      await relay.admit('cam-1');
    });

    it('refuses to admit when the source cannot list its streams, naming why', async () => {
      const { open } = instantSource();
      relay = new VideoRelay({
        openFrames: open,
        listStreams: async () => {
          throw new Error('supplier 127.0.0.1:1 UNAVAILABLE');
        },
      });
      expect(await refusalOf(relay.admit('cam-1'))).toMatchObject({ code: 'SOURCE_UNAVAILABLE', message: expect.stringContaining('UNAVAILABLE') });
    });

    it('bounds the streams clients can make it subscribe to, idle ones included until let go; retained streams do not count', async () => {
      const { open } = instantSource();
      relay = new VideoRelay({ openFrames: open, displayFps: 30, maxWatchedStreams: 2, idleUnsubscribeMs: 50 });
      const a = relay.watch('cam-a', manualSocket().socket);
      relay.watch('cam-b', manualSocket().socket);
      // Another client of a stream already watched is fine.
      relay.watch('cam-b', manualSocket().socket);
      expect(() => relay!.watch('cam-c', manualSocket().socket)).toThrow(expect.objectContaining({ code: 'TOO_MANY_STREAMS' }));
      expect((await refusalOf(relay.admit('cam-c'))).message).toContain('2 streams');
      relay.retain('recorded');
      expect(relay.subscribedStreams().sort()).toEqual(['cam-a', 'cam-b', 'recorded']);
      a.close();
      // Still held while idle, let go after the delay.
      expect(() => relay!.watch('cam-c', manualSocket().socket)).toThrow(VideoRelayRefusal);
      await waitUntil('cam-a let go', () => !relay!.subscribedStreams().includes('cam-a'));
      relay.watch('cam-c', manualSocket().socket);
      expect(relay.stats().streams.map((s) => s.streamId).sort()).toEqual(['cam-b', 'cam-c', 'recorded']);
    });

    it('leaves nothing behind for retain(false) of a stream it never had', () => {
      const { open } = instantSource();
      relay = new VideoRelay({ openFrames: open });
      relay.retain('never-watched', false);
      expect(relay.stats().streams).toEqual([]);
    });

    it('refuses every client once closed', async () => {
      const { open } = instantSource();
      relay = new VideoRelay({ openFrames: open });
      relay.close();
      expect(() => relay!.watch('cam-1', manualSocket().socket)).toThrow(expect.objectContaining({ code: 'RELAY_CLOSED' }));
      expect(await refusalOf(relay.admit('cam-1'))).toMatchObject({ code: 'RELAY_CLOSED' });
    });
  });
});
