// Hostile viewers of the gateway's video relay (/ws/video) against real processes (supplier,
// gateway, capture; issue 14 defect 6). Viewers of made-up streams must not create streams at the
// supplier (15 of them once filled its stream limit and a real camera was refused); many viewers of
// one stream share one supplier subscription; the streams viewers can make the relay subscribe to
// are bounded; a relay subscription that fails is forgotten and its viewers are told to retry.
// Bounded in time and traffic: small frames at 10 fps, loopback only.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { subscribeFrames, FrameSubscription } from '@framewire/frame-client';
import { ViewerMessage } from '@framewire/proto';
import { http, ServiceProcess, startServiceProcess, stopServiceProcess, supplierStats, tryWebSocket, UpgradeOutcome, waitFor } from '@framewire/testing';
import { Pipeline, startPipeline } from '../support/pipeline';

const STREAM = 'cam-real';
const SECOND_STREAM = 'cam-second';
const FPS = 10;
/** The supplier's limits, small so that a few hostile viewers would reach them. */
const SUPPLIER_MAX_STREAMS = 4;
const SUPPLIER_MAX_WORKERS = 3;
/** Viewers of streams that do not exist, three times what would fill the supplier's stream limit. */
const GHOST_VIEWERS = 3 * SUPPLIER_MAX_STREAMS;
/** Viewers of one stream at once. */
const SHARED_VIEWERS = 10;
/** The gateway's bound on streams the relay subscribes to for viewers. */
const VIEWER_MAX_STREAMS = 1;
/** Viewers refused because the relay's subscription failed, one after another. */
const FAILED_CYCLES = 20;
/** RFC 6455 1013 "try again later": the relay's source failed. */
const WS_CLOSE_TRY_AGAIN_LATER = 1013;
/** Bounds on waiting (generous: the machine is shared). */
const WAIT_MS = 20_000;
const VIEWER_PREFIX = 'gateway-viewer:';

interface RelayStats {
  clients: number;
  streams: { streamId: string; clients: number; subscribed: boolean }[];
  sourceErrors: number;
}

describe('adversarial: /ws/video against the supplier (real supplier, gateway and capture)', () => {
  jest.setTimeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'fw-adv-video-'));
  let pipeline: Pipeline;
  let secondCamera: ServiceProcess | undefined;
  const open: WebSocket[] = [];

  const videoUrl = (stream: string) => `ws://127.0.0.1:${pipeline.ports.http}/ws/video?stream=${encodeURIComponent(stream)}`;
  const relayStats = async (): Promise<RelayStats> => (await http(`${pipeline.httpUrl}/api/stats`)).body.viewer.relay;
  const watch = async (stream: string): Promise<UpgradeOutcome> => {
    const outcome = await tryWebSocket(videoUrl(stream));
    if (outcome.opened) open.push(outcome.socket);
    return outcome;
  };
  const firstFrame = (socket: WebSocket) =>
    new Promise<ViewerMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no frame within ${WAIT_MS} ms`)), WAIT_MS);
      socket.on('message', (data: Buffer) => {
        clearTimeout(timer);
        resolve(ViewerMessage.decode(data));
      });
      socket.once('close', (code) => reject(new Error(`closed with ${code} before a frame`)));
    });
  const closeAll = () => {
    for (const s of open.splice(0)) s.terminate();
  };

  beforeAll(async () => {
    pipeline = await startPipeline({
      streamId: STREAM,
      fps: FPS,
      width: 320,
      height: 240,
      archiveDir: join(dir, 'archive'),
      workers: [],
      appEnv: {
        supplier: { FW_SUPPLIER_MAX_STREAMS: String(SUPPLIER_MAX_STREAMS), FW_SUPPLIER_MAX_WORKERS: String(SUPPLIER_MAX_WORKERS) },
        gateway: { FW_ARCHIVE: 'off', FW_VIEWER_MAX_STREAMS: String(VIEWER_MAX_STREAMS) },
      },
    });
    await waitFor('the camera at the supplier', async () => (await supplierStats(pipeline.supplierAddress)).streams.some((s) => s.streamId === STREAM && s.framesPublished > 0), WAIT_MS);
  }, 90_000);

  afterEach(closeAll);

  afterAll(async () => {
    closeAll();
    if (secondCamera) await stopServiceProcess(secondCamera);
    await pipeline?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('refuses viewers of streams the supplier does not have (404 naming the stream) without creating them there, so a real camera still gets in', async () => {
    const outcomes: UpgradeOutcome[] = [];
    for (let i = 0; i < GHOST_VIEWERS; i++) outcomes.push(await watch(`ghost-${i}`));
    // Whatever the gateway did with them, a second real camera must be able to publish.
    secondCamera = await startServiceProcess('capture', {
      FW_SUPPLIER_ADDRESS: pipeline.supplierAddress,
      FW_STREAM_ID: SECOND_STREAM,
      FW_CAPTURE_FPS: String(FPS),
      FW_CAPTURE_WIDTH: '320',
      FW_CAPTURE_HEIGHT: '240',
      FW_SHUTDOWN_TIMEOUT_MS: '5000',
    });
    await waitFor(
      `${SECOND_STREAM} publishing at the supplier`,
      async () => (await supplierStats(pipeline.supplierAddress)).streams.some((s) => s.streamId === SECOND_STREAM && s.framesPublished > 0),
      WAIT_MS,
    );
    const refusals = outcomes.map((o) => (o.opened ? 'opened' : { status: o.status, field: o.body.field }));
    expect(refusals).toEqual(outcomes.map(() => ({ status: 404, field: 'stream' })));
    const stats = await supplierStats(pipeline.supplierAddress);
    expect(stats.streams.map((s) => s.streamId).sort()).toEqual([STREAM, SECOND_STREAM].sort());
    expect(stats.workers.filter((w) => w.workerId.startsWith(VIEWER_PREFIX))).toEqual([]);
    // Nothing of them is left in the relay either.
    expect((await relayStats()).streams.filter((s) => s.streamId.startsWith('ghost-'))).toEqual([]);
  });

  it('serves many viewers of one stream from one supplier subscription', async () => {
    const sockets: WebSocket[] = [];
    for (let i = 0; i < SHARED_VIEWERS; i++) {
      const outcome = await watch(STREAM);
      if (!outcome.opened) throw new Error(`viewer ${i} refused: ${outcome.status} ${JSON.stringify(outcome.body)}`);
      sockets.push(outcome.socket);
    }
    const frames = await Promise.all(sockets.map(firstFrame));
    expect(frames.map((m) => m.frame?.streamId)).toEqual(sockets.map(() => STREAM));
    const relayWorkers = (await supplierStats(pipeline.supplierAddress)).workers.filter((w) => w.workerId.startsWith(VIEWER_PREFIX)).map((w) => w.workerId);
    expect(relayWorkers).toEqual([`${VIEWER_PREFIX}${STREAM}`]);
    expect((await relayStats()).streams.find((s) => s.streamId === STREAM)).toMatchObject({ clients: SHARED_VIEWERS, subscribed: true });
  });

  it('bounds the streams viewers can make the relay subscribe to (503 beyond FW_VIEWER_MAX_STREAMS)', async () => {
    const first = await watch(STREAM);
    expect(first.opened).toBe(true);
    const beyond = await watch(SECOND_STREAM);
    expect(beyond).toMatchObject({ opened: false, status: 503, body: { error: expect.stringContaining(`${VIEWER_MAX_STREAMS}`) } });
    closeAll();
    // Once the first stream is let go (after the relay's idle delay), the other can be watched.
    await waitFor('the relay to let the first stream go', async () => (await relayStats()).streams.length === 0, WAIT_MS, 250);
    const later = await watch(SECOND_STREAM);
    expect(later.opened).toBe(true);
  });

  it('forgets a relay subscription the supplier refused, closes its viewers with 1013, and serves the stream once the supplier has room', async () => {
    await waitFor('the relay to hold no subscription', async () => (await relayStats()).streams.length === 0, WAIT_MS, 250);
    // Other workers take every worker slot of the supplier: the relay's subscription is refused.
    const hogs: FrameSubscription[] = [];
    try {
      for (let i = 0; i < SUPPLIER_MAX_WORKERS; i++) {
        const hog = subscribeFrames({ address: pipeline.supplierAddress, workerId: `hog-${i}`, streamId: STREAM, reconnect: false });
        hogs.push(hog);
        await hog.next();
      }
      const errorsBefore = (await relayStats()).sourceErrors;
      for (let cycle = 0; cycle < FAILED_CYCLES; cycle++) {
        const outcome = await watch(STREAM);
        if (!outcome.opened) throw new Error(`cycle ${cycle}: refused with ${outcome.status} ${JSON.stringify(outcome.body)}`);
        const code = await new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`cycle ${cycle}: the viewer of a failed subscription was not closed within ${WAIT_MS} ms`)), WAIT_MS);
          outcome.socket.once('close', (c) => {
            clearTimeout(timer);
            resolve(c);
          });
        });
        expect(code).toBe(WS_CLOSE_TRY_AGAIN_LATER);
      }
      const stats = await relayStats();
      expect(stats.sourceErrors - errorsBefore).toBe(FAILED_CYCLES);
      expect({ clients: stats.clients, streams: stats.streams }).toEqual({ clients: 0, streams: [] });
    } finally {
      for (const hog of hogs) hog.close();
    }
    await waitFor('the supplier to free the slots', async () => (await supplierStats(pipeline.supplierAddress)).workers.length === 0, WAIT_MS);
    const outcome = await watch(STREAM);
    if (!outcome.opened) throw new Error(`refused with ${outcome.status}`);
    expect((await firstFrame(outcome.socket)).frame?.streamId).toBe(STREAM);
  });
});
