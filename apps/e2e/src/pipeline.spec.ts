// The whole pipeline end to end, every service a real process: synthetic capture → supplier → two
// workers → gateway → a gRPC subscriber, a WebSocket client, the archive and Replay; commands over
// REST to a worker and back; health as workers die and return; bad input at every door.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { frameNumberAt, objectCentroid, sceneAt } from '@framewire/capture';
import WebSocket from 'ws';
import { CommandRouterClient, Detection, ReplayResponse, Result, ResultHubClient, ResultKind, ViewerMessage } from '@framewire/proto';
import { http, kindOf, postCommand, subscribeResults, waitFor, waitForHealth, watchResultsWebSocket } from '@framewire/testing';
import { tokenMetadata } from '@framewire/grpc-client';
import { secretText } from '@framewire/service-runtime';
import { Pipeline, sleep, startPipeline } from './support/pipeline';

const STREAM = 'cam-e2e';
const FPS = 15;
const WIDTH = 640;
const HEIGHT = 480;
const SEED = 1; // capture's default FW_CAPTURE_SEED
const TOKEN = 'e2e-token-0123456789abcdef';
/** A detection matches a scene object when their centres are this close (frame pixels): the
 *  analysis runs on a 320-wide image (2 px per analysis pixel) from a JPEG, plus polygon rounding. */
const CENTRE_TOLERANCE_PX = 8;
/** Box sides within this fraction of the object's drawn box. */
const SIZE_TOLERANCE = 0.25;
/** Results collected this long for the scene checks. */
const COLLECT_MS = 4_000;
/** The motion analyzer's background model needs about 3 s (45 frames at 15 fps, as in
 *  libs/analysis/src/scene.spec.ts) to heal the ghosts of objects present when it started; the
 *  scene checks start after it. */
const ANALYZER_WARM_UP_MS = 3_500;

describe('the pipeline, end to end (real processes)', () => {
  let archiveDir: string;
  let pipeline: Pipeline;

  beforeAll(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'fw-e2e-archive-'));
    pipeline = await startPipeline({
      streamId: STREAM,
      fps: FPS,
      width: WIDTH,
      height: HEIGHT,
      archiveDir,
      token: TOKEN,
      workers: ['worker-1', 'worker-2'],
    });
  }, 90_000);

  afterAll(async () => {
    await pipeline?.stop();
    rmSync(archiveDir, { recursive: true, force: true });
  }, 60_000);

  it('reports healthy once frames and results flow', async () => {
    const reply = await waitForHealth(pipeline.httpUrl, 200, 30_000);
    expect(reply.body.status).toBe('ok');
    expect(reply.body.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
  }, 40_000);

  describe('results', () => {
    let grpcResults: Result[];
    let wsResults: Result[];

    beforeAll(async () => {
      await waitForHealth(pipeline.httpUrl, 200, 30_000);
      await sleep(ANALYZER_WARM_UP_MS);
      // The token guards every read of results too (docs/security.md).
      const subscriber = subscribeResults(pipeline.gatewayAddress, { streamId: STREAM, workerId: 'worker-1' }, tokenMetadata(secretText(TOKEN)));
      const ws = watchResultsWebSocket(pipeline.httpUrl, `?stream=${STREAM}&worker=worker-1&kind=detections`, TOKEN);
      await ws.opened;
      await sleep(COLLECT_MS);
      subscriber.close();
      ws.close();
      expect(subscriber.error).toBeUndefined();
      grpcResults = subscriber.results;
      wsResults = ws.results;
    }, 60_000);

    it('reach a gRPC subscriber with the envelope every result must carry', () => {
      expect(grpcResults.length).toBeGreaterThan(0);
      const kinds = new Set(grpcResults.map(kindOf));
      for (const k of [ResultKind.RESULT_KIND_SEGMENTATION, ResultKind.RESULT_KIND_DETECTIONS, ResultKind.RESULT_KIND_TRACKS, ResultKind.RESULT_KIND_KEYPOINTS]) {
        expect(kinds).toContain(k);
      }
      for (const r of grpcResults) {
        expect(r.streamId).toBe(STREAM);
        expect(r.workerId).toBe('worker-1');
        expect(r.frameSequence).toBeGreaterThan(0);
        expect(r.captureTimeUs).toBeGreaterThan(0);
        expect(r.publishedTimeUs).toBeGreaterThanOrEqual(r.captureTimeUs);
        expect(r.processingUs).toBeGreaterThan(0);
      }
      // Frames are analysed in order: sequences never go back for one kind.
      const detections = grpcResults.filter((r) => r.detections);
      for (let i = 1; i < detections.length; i++) expect(detections[i].frameSequence).toBeGreaterThan(detections[i - 1].frameSequence);
      // How many frames a second the worker keeps up with is measured by `npm run bench -- pipeline-latency`.
      expect(detections.length).toBeGreaterThan(1);
    });

    it('match the synthetic scene: every object detected where it is, nothing else', () => {
      const detections = grpcResults.filter((r) => r.detections);
      for (const r of detections) {
        const scene = sceneAt(frameNumberAt(r.captureTimeUs, FPS), { width: WIDTH, height: HEIGHT, fps: FPS, seed: SEED });
        const found = r.detections!.detections;
        const describe = () => `frame ${r.frameSequence}: objects ${JSON.stringify(scene.objects.map((o) => o.box))}, detections ${JSON.stringify(found.map((d) => d.box))}`;
        expect({ count: found.length, frame: describe() }).toEqual({ count: scene.objects.length, frame: describe() });
        for (const o of scene.objects) {
          const near = found.find((d: Detection) => {
            const b = d.box!;
            return Math.hypot(b.x + b.width / 2 - (o.box.x + o.box.width / 2), b.y + b.height / 2 - (o.box.y + o.box.height / 2)) <= CENTRE_TOLERANCE_PX;
          });
          expect({ object: o.id, matched: near !== undefined, frame: describe() }).toEqual({ object: o.id, matched: true, frame: describe() });
          expect(Math.abs(near!.box!.width - o.box.width)).toBeLessThanOrEqual(o.box.width * SIZE_TOLERANCE);
          expect(Math.abs(near!.box!.height - o.box.height)).toBeLessThanOrEqual(o.box.height * SIZE_TOLERANCE);
          expect(near!.score).toBeGreaterThan(0);
          expect(near!.score).toBeLessThanOrEqual(1);
        }
      }
    });

    it('keep one track per object with its id, and keypoints at the object centres', () => {
      const tracks = grpcResults.filter((r) => r.tracks && r.tracks.tracks.length === 3);
      expect(tracks.length).toBeGreaterThan(0);
      const ids = new Set(tracks.flatMap((r) => r.tracks!.tracks.map((t) => t.trackId)));
      // Three objects, three ids over the whole window: ids are stable.
      expect(ids.size).toBe(3);
      const keypoints = grpcResults.filter((r) => r.keypoints && r.keypoints.points.length > 0);
      expect(keypoints.length).toBeGreaterThan(0);
      for (const r of keypoints) {
        const scene = sceneAt(frameNumberAt(r.captureTimeUs, FPS), { width: WIDTH, height: HEIGHT, fps: FPS, seed: SEED });
        const names = Object.entries(r.keypoints!.pointNames);
        const centroids = names.filter(([name]) => name.endsWith('.centroid')).map(([, id]) => r.keypoints!.points.find((p) => p.id === id)!);
        expect(centroids.length).toBeGreaterThan(0);
        for (const c of centroids) {
          const nearest = Math.min(...scene.objects.map((o) => Math.hypot(c.x - objectCentroid(o).x, c.y - objectCentroid(o).y)));
          expect(nearest).toBeLessThanOrEqual(CENTRE_TOLERANCE_PX);
        }
      }
    });

    it('reach a WebSocket client, filtered, one Result per binary message, identical to gRPC', () => {
      expect(wsResults.length).toBeGreaterThan(0);
      const bySequence = new Map(grpcResults.filter((r) => r.detections).map((r) => [r.frameSequence, r]));
      let common = 0;
      for (const r of wsResults) {
        expect(r.streamId).toBe(STREAM);
        expect(r.workerId).toBe('worker-1');
        expect(kindOf(r)).toBe(ResultKind.RESULT_KIND_DETECTIONS);
        const twin = bySequence.get(r.frameSequence);
        if (twin) {
          expect(r).toEqual(twin);
          common++;
        }
      }
      // Both watched the same window; they may differ only at its edges.
      expect(common).toBeGreaterThan(wsResults.length - 4);
    });

    it('are archived and replay identically (gRPC Replay over a sequence range)', async () => {
      const sequences = grpcResults.map((r) => r.frameSequence);
      // Inside the window, away from its edges, so every result of the range was seen live.
      const from = sequences[Math.floor(sequences.length * 0.25)];
      const to = sequences[Math.floor(sequences.length * 0.75)];
      const expected = grpcResults.filter((r) => r.frameSequence >= from && r.frameSequence <= to);
      const client = new ResultHubClient(pipeline.gatewayAddress, grpc.credentials.createInsecure());
      const replayed: Result[] = [];
      try {
        await new Promise<void>((resolve, reject) => {
          const call = client.replay(
            { streamId: STREAM, kinds: [], fromSequence: from, toSequence: to, fromTimeUs: 0, toTimeUs: 0, recordedPace: false },
            tokenMetadata(secretText(TOKEN)),
            { deadline: Date.now() + 20_000 },
          );
          call.on('data', (r: ReplayResponse) => r.result && r.result.workerId === 'worker-1' && replayed.push(r.result));
          call.on('error', reject);
          call.on('end', resolve);
        });
      } finally {
        client.close();
      }
      const key = (r: Result) => `${r.frameSequence}:${kindOf(r)}`;
      const sort = (rs: Result[]) => [...rs].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
      expect(expected.length).toBeGreaterThan(0);
      expect(sort(replayed)).toEqual(sort(expected));
    }, 30_000);
  });

  describe('commands', () => {
    it('reach a worker, change its behaviour and are acknowledged', async () => {
      await waitForHealth(pipeline.httpUrl, 200, 30_000);
      const subscriber = subscribeResults(pipeline.gatewayAddress, { streamId: STREAM, kinds: [ResultKind.RESULT_KIND_KEYPOINTS] }, tokenMetadata(secretText(TOKEN)));
      try {
        const off = await postCommand(
          pipeline.httpUrl,
          { requestId: 'e2e-keypoints-off', target: 'worker-1', type: 'worker.set_analyzer', payload: { analyzer: 'keypoints', enabled: false } },
          TOKEN,
        );
        expect(off.status).toBe(200);
        expect(off.body).toMatchObject({ requestId: 'e2e-keypoints-off', status: 'success', responder: 'worker-1' });
        const offAtUs = Date.now() * 1000;
        // A retry with the same request id gets the first answer.
        const retry = await postCommand(
          pipeline.httpUrl,
          { requestId: 'e2e-keypoints-off', target: 'worker-1', type: 'worker.set_analyzer', payload: { analyzer: 'keypoints', enabled: false } },
          TOKEN,
        );
        expect(retry.body).toEqual(off.body);
        await sleep(1_500);
        // Results published after the ack (plus a frame in flight): none from worker-1, worker-2 goes on.
        const after = subscriber.results.filter((r) => r.publishedTimeUs > offAtUs + 300_000);
        expect(after.filter((r) => r.workerId === 'worker-2').length).toBeGreaterThan(0);
        expect(after.filter((r) => r.workerId === 'worker-1')).toEqual([]);

        const on = await postCommand(
          pipeline.httpUrl,
          { requestId: 'e2e-keypoints-on', target: 'worker-1', type: 'worker.set_analyzer', payload: { analyzer: 'keypoints', enabled: true } },
          TOKEN,
        );
        expect(on.body.status).toBe('success');
        await waitFor('keypoints from worker-1 again', () => subscriber.results.some((r) => r.workerId === 'worker-1' && r.publishedTimeUs > Date.now() * 1000 - 1_000_000), 10_000);
      } finally {
        subscriber.close();
      }
    }, 40_000);

    it('answer bad settings with an error naming the setting', async () => {
      const reply = await postCommand(
        pipeline.httpUrl,
        { requestId: 'e2e-bad-setting', target: 'worker-2', type: 'worker.set_analyzer', payload: { analyzer: 'motion', settings: { threshold: -5 } } },
        TOKEN,
      );
      expect(reply.status).toBe(422);
      expect(reply.body.status).toBe('error');
      expect(reply.body.message).toMatch(/threshold/);
    });

    it('answer unknown types and targets, oversized payloads and missing or wrong tokens with clear errors', async () => {
      const port = pipeline.httpUrl;
      const unknownType = await postCommand(port, { requestId: 'e2e-u1', target: 'worker-1', type: 'worker.explode' }, TOKEN);
      expect(unknownType.status).toBe(400);
      expect(JSON.stringify(unknownType.body)).toMatch(/worker\.explode/);
      const unknownTarget = await postCommand(port, { requestId: 'e2e-u2', target: 'worker-9', type: 'worker.set_fps', payload: { fps: 5 } }, TOKEN);
      expect(unknownTarget.status).toBe(404);
      expect(unknownTarget.body.status).toBe('unknown_target');
      const oversized = await postCommand(port, { requestId: 'e2e-u3', target: 'worker-1', type: 'worker.set_analyzer', payload: { analyzer: 'motion', settings: { pad: 'x'.repeat(100_000) } } }, TOKEN);
      expect([400, 413]).toContain(oversized.status);
      expect(typeof oversized.body).toBe('object');
      const noToken = await postCommand(port, { requestId: 'e2e-u4', target: 'worker-1', type: 'worker.set_fps', payload: { fps: 5 } });
      expect(noToken.status).toBe(401);
      expect(noToken.body.error).toMatch(/missing bearer token/);
      const wrongToken = await postCommand(port, { requestId: 'e2e-u5', target: 'worker-1', type: 'worker.set_fps', payload: { fps: 5 } }, 'not-the-token-0123456789');
      expect(wrongToken.status).toBe(401);
      // Health and metrics stay open without a token.
      expect((await http(`${port}/api/health`)).status).toBe(200);
      const metrics = await http(`${port}/metrics`);
      expect(metrics.status).toBe(200);
      expect(String(metrics.body)).toMatch(/^# HELP /m);

      const commands = new CommandRouterClient(pipeline.gatewayAddress, grpc.credentials.createInsecure());
      try {
        const code = await new Promise<grpc.status>((resolve) =>
          commands.sendCommand(
            { command: { requestId: 'e2e-g1', target: 'worker-1', type: 'worker.set_fps', payloadJson: '{"fps":5}', timeoutMs: 0 } },
            tokenMetadata(secretText('wrong-token-0123456789abcdef')),
            { deadline: Date.now() + 5_000 },
            (err) => resolve(err ? err.code : grpc.status.OK),
          ),
        );
        expect(code).toBe(grpc.status.UNAUTHENTICATED);
      } finally {
        commands.close();
      }
    });

    it('refuses malformed results from a worker with an error naming the field, and the other streams go on', async () => {
      const subscriber = subscribeResults(pipeline.gatewayAddress, { streamId: STREAM, workerId: 'worker-2' }, tokenMetadata(secretText(TOKEN)));
      const hub = new ResultHubClient(pipeline.gatewayAddress, grpc.credentials.createInsecure());
      try {
        const publish = (token: string, results: Result[]) =>
          new Promise<grpc.ServiceError | null>((resolve) => {
            const call = hub.publishResults(tokenMetadata(secretText(token)), { deadline: Date.now() + 5_000 }, (err) => resolve(err));
            for (const result of results) call.write({ result });
            call.end();
          });
        const good: Result = { streamId: 'cam-rogue', frameSequence: 1, captureTimeUs: Date.now() * 1000, workerId: 'rogue-1', processingUs: 10, publishedTimeUs: Date.now() * 1000, detections: { detections: [] } };
        const noPayload: Result = { ...good, frameSequence: 2, detections: undefined };
        const err = await publish(TOKEN, [good, noPayload]);
        expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
        expect(err?.details).toMatch(/payload/);
        const unauthenticated = await publish('wrong-token-0123456789abcdef', [good]);
        expect(unauthenticated?.code).toBe(grpc.status.UNAUTHENTICATED);
        // The first, valid result was accepted and kept.
        const latest = await http(`${pipeline.httpUrl}/api/results/latest?stream=cam-rogue&kind=detections`, { headers: { authorization: `Bearer ${TOKEN}` } });
        expect(latest.status).toBe(200);
        expect(latest.body.result.workerId).toBe('rogue-1');
        const before = subscriber.results.length;
        await waitFor('worker-2 results after the malformed ones', () => subscriber.results.length > before + 3, 10_000);
      } finally {
        hub.close();
        subscriber.close();
      }
    }, 30_000);
  });

  describe('frames, which the token guards at the supplier', () => {
    it("reach the gateway's video relay, which subscribes with the token, and its WebSocket clients", async () => {
      // (The workers' results above prove capture's and the workers' tokens; this proves the relay's.)
      const ws = new WebSocket(`ws://127.0.0.1:${pipeline.ports.http}/ws/video?stream=${STREAM}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      try {
        const frame = await new Promise<ViewerMessage>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no video frame within 15 s')), 15_000);
          ws.on('error', reject);
          ws.on('message', (data: Buffer) => {
            const m = ViewerMessage.decode(data);
            if (m.frame) {
              clearTimeout(timer);
              resolve(m);
            }
          });
        });
        expect(frame.frame).toMatchObject({ streamId: STREAM });
        expect(frame.frame!.jpeg!.length).toBeGreaterThan(1000);
      } finally {
        ws.close();
      }
    }, 30_000);
  });

  describe('health', () => {
    it('turns 503 naming the workers when they are killed, and 200 when one is back', async () => {
      await waitForHealth(pipeline.httpUrl, 200, 30_000);
      await pipeline.stopService('worker-1', 'SIGKILL');
      await pipeline.stopService('worker-2', 'SIGKILL');
      const failing = await waitForHealth(pipeline.httpUrl, 503, 15_000);
      expect(failing.body.status).toBe('failing');
      const failed = failing.body.checks.filter((c: { ok: boolean }) => !c.ok).map((c: { name: string }) => c.name);
      expect(failed.join(' ')).toMatch(/worker/);
      await pipeline.startWorker('worker-1');
      await waitForHealth(pipeline.httpUrl, 200, 30_000);
    }, 90_000);
  });
});
