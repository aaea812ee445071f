// docker/compose.yaml end to end: the real images and the real compose file under Testcontainers,
// one stack for the whole suite (starting it is the expensive part), tested from the host through
// the public doors only: gRPC (ResultHub, CommandRouter, the supplier's GetStats), REST and
// WebSocket. The scenarios run in order on that stack; each first waits for it to be healthy, and
// each that breaks something puts it back.
import * as grpc from '@grpc/grpc-js';
import { frameNumberAt, sceneAt } from '@framewire/capture';
import { createNetwork, describeWithDocker, dockerContainer, FramewireStack, startFramewireStack, startWorkerContainer } from '@framewire/containers';
import { AckStatus, CommandRouterClient, Result, ResultKind, VideoFrame, ViewerMessage } from '@framewire/proto';
import WebSocket from 'ws';
import { CALL_TIMEOUT_MS, http, kindOf, postCommand, replay, resultKey, subscribeResults, supplierStats, waitFor, watchResultsWebSocket } from '@framewire/testing';
import { ensureImages } from './support/clients';

/** The bounds this suite states (docs/deploy.md quotes them). */
const STACK_HEALTHY_BOUND_MS = 180_000;
/** A killed worker leaves the supplier's list at once; /api/health caches probes for 1 s. */
const WORKER_KILLED_503_BOUND_MS = 15_000;
/** From `docker start` of a killed worker to /api/health 200 again. */
const WORKER_RESTART_HEALTHY_BOUND_MS = 30_000;
/** From `docker start` of a stopped supplier (or gateway) to /api/health 200: capture and the
 *  workers back off up to 5 s between attempts. */
const SERVICE_RESTART_HEALTHY_BOUND_MS = 60_000;
const STREAM = 'cam-1';
const FPS = 15;
const SCENE = { width: 640, height: 480, fps: FPS, seed: 1 }; // compose's capture: the defaults
/** Detections match scene objects within this many frame pixels (analysis at 320 px from JPEG). */
const CENTRE_TOLERANCE_PX = 8;
/** The motion analyzer's background model needs about 45 frames to heal the ghosts of objects
 *  present when a worker started (libs/analysis/src/scene.spec.ts); scene checks use frames
 *  captured after each worker has taken this many, however slowly a busy machine runs it. */
const ANALYZER_WARM_UP_FRAMES = 60;
const WORKERS = 2;

interface WorkerContainer {
  index: number;
  id: string;
  containerId: string;
}

/** A container's facts that a crash or restart would change. */
async function lifeOf(containerId: string): Promise<{ running: boolean; startedAt: string; restartCount: number; exitCode: number }> {
  const info = await (await dockerContainer(containerId)).inspect();
  return { running: info.State.Running, startedAt: info.State.StartedAt, restartCount: info.RestartCount, exitCode: info.State.ExitCode };
}

function report(what: string, ms: number): void {
  process.stderr.write(`measured: ${what}: ${ms} ms\n`);
}

describeWithDocker('the compose stack (docker/compose.yaml, real images)', () => {
  let stack: FramewireStack;
  let workers: WorkerContainer[];

  beforeAll(async () => {
    ensureImages();
    const started = Date.now();
    stack = await startFramewireStack({
      workers: WORKERS,
      // A worker on another Docker network reaches the stack through the host (see below).
      publishAddress: '0.0.0.0',
      // Every worker counts: one that dies turns /api/health 503.
      variables: { FW_HEALTH_MIN_WORKERS: String(WORKERS) },
      startTimeoutMs: STACK_HEALTHY_BOUND_MS,
    });
    report('compose up to /api/health 200', Date.now() - started);
    workers = [];
    for (let index = 1; index <= WORKERS; index++) {
      const containerId = stack.containerId('worker', index);
      const info = await (await dockerContainer(containerId)).inspect();
      // compose.yaml: FW_WORKER_ID=worker-{hostname}
      workers.push({ index, containerId, id: `worker-${info.Config.Hostname}` });
    }
  }, STACK_HEALTHY_BOUND_MS + 120_000);

  afterAll(async () => {
    await stack?.stop();
  }, 120_000);

  it('runs every service as the non-root user of the image, sharing /dev/shm only between co-located ones', async () => {
    for (const service of ['capture', 'supplier', 'gateway'] as const) {
      const r = await stack.container(service).exec(['node', '-e', 'process.stdout.write(String(process.getuid()))']);
      expect({ service, uid: r.output.trim() }).toEqual({ service, uid: '1000' });
    }
    const info = await (await dockerContainer(workers[0].containerId)).inspect();
    expect(info.Mounts.find((m) => m.Destination === '/dev/shm')).toMatchObject({ Type: 'volume', Name: `${stack.projectName}_shm` });
  });

  it('delivers results of the synthetic scene over gRPC, WebSocket and REST, from both workers', async () => {
    await waitFor(
      `${ANALYZER_WARM_UP_FRAMES} frames taken by each worker`,
      async () => {
        const delivered = new Map((await supplierStats(stack.supplierAddress)).workers.map((w) => [w.workerId, w.framesDelivered]));
        return workers.every((w) => (delivered.get(w.id) ?? 0) >= ANALYZER_WARM_UP_FRAMES);
      },
      60_000,
      250,
    );
    const warmFromUs = Date.now() * 1000;
    const grpcResults = subscribeResults(stack.gatewayAddress, { streamId: STREAM, kinds: [ResultKind.RESULT_KIND_DETECTIONS] });
    const ws = watchResultsWebSocket(stack.httpUrl, `?stream=${STREAM}&kind=detections`);
    try {
      await ws.opened;
      const warm = (r: Result) => r.captureTimeUs > warmFromUs;
      const enough = (results: Result[], id: string) => results.filter((r) => r.workerId === id && warm(r)).length >= 15;
      await waitFor(
        '15 detections results after the warm-up from each worker, over gRPC and WebSocket',
        () => workers.every((w) => enough(grpcResults.results, w.id) && enough(ws.results, w.id)),
        60_000,
      );
      expect(grpcResults.error).toBeUndefined();
      for (const r of grpcResults.results.filter(warm)) {
        const scene = sceneAt(frameNumberAt(r.captureTimeUs, FPS), SCENE);
        const found = r.detections!.detections;
        const where = `frame ${r.frameSequence} of ${r.workerId}: objects ${JSON.stringify(scene.objects.map((o) => o.box))}, detections ${JSON.stringify(found.map((d) => d.box))}`;
        expect({ count: found.length, where }).toEqual({ count: scene.objects.length, where });
        for (const o of scene.objects) {
          const near = found.some((d) => Math.hypot(d.box!.x + d.box!.width / 2 - (o.box.x + o.box.width / 2), d.box!.y + d.box!.height / 2 - (o.box.y + o.box.height / 2)) <= CENTRE_TOLERANCE_PX);
          expect({ object: o.id, near, where }).toEqual({ object: o.id, near: true, where });
        }
      }
      // The WebSocket carries the very same results (one protobuf Result per binary message).
      const byKey = new Map(grpcResults.results.map((r) => [resultKey(r), r]));
      const twins = ws.results.filter((r) => byKey.has(resultKey(r)));
      expect(twins.length).toBeGreaterThan(ws.results.length / 2);
      for (const r of twins) expect(r).toEqual(byKey.get(resultKey(r)));
    } finally {
      grpcResults.close();
      ws.close();
    }
    const latest = await http(`${stack.httpUrl}/api/results/latest?stream=${STREAM}&kind=tracks`);
    expect(latest.status).toBe(200);
    expect(workers.map((w) => w.id)).toContain(latest.body.result.workerId);
    expect(latest.body.result.tracks.tracks).toHaveLength(3);
    const stats = await http(`${stack.httpUrl}/api/stats`);
    expect(stats.body.workers.map((w: { workerId: string }) => w.workerId).sort()).toEqual(workers.map((w) => w.id).sort());
    expect(stats.body.archive).toMatchObject({ errors: 0, dropped: 0 });
  }, 90_000);

  it('serves the live viewer from the gateway container and relays the camera to it as JPEG frames', async () => {
    const page = await http(`${stack.httpUrl}/`);
    expect(page.status).toBe(200);
    expect(String(page.body)).toContain('viewer.js');
    const script = await fetch(`${stack.httpUrl}/viewer.js`, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
    expect(script.status).toBe(200);
    expect((await script.text()).length).toBeGreaterThan(10_000);
    const socket = new WebSocket(`${stack.httpUrl.replace(/^http/, 'ws')}/ws/video?stream=${STREAM}`);
    const frames: VideoFrame[] = [];
    socket.on('message', (data: Buffer) => {
      const { frame } = ViewerMessage.decode(data);
      if (frame) frames.push(frame);
    });
    try {
      await waitFor('3 relayed frames on /ws/video', () => frames.length >= 3, 30_000);
    } finally {
      socket.close();
    }
    for (const f of frames) {
      expect(f.streamId).toBe(STREAM);
      expect([f.width, f.height]).toEqual([SCENE.width, SCENE.height]);
      // A JPEG: start-of-image marker.
      expect([f.jpeg[0], f.jpeg[1]]).toEqual([0xff, 0xd8]);
    }
    expect(frames[2].sequence).toBeGreaterThan(frames[0].sequence);
  }, 60_000);

  it('acknowledges commands over REST and gRPC, and answers unknown targets', async () => {
    const toWorker = await postCommand(stack.httpUrl, { requestId: 'c-w1', target: workers[0].id, type: 'worker.set_fps', payload: { fps: 10 } });
    expect(toWorker).toMatchObject({ status: 200, body: { requestId: 'c-w1', status: 'success', responder: workers[0].id, message: 'fps: 10' } });
    const toCapture = await postCommand(stack.httpUrl, { requestId: 'c-cap', target: 'capture', type: 'capture.set_fps', payload: { fps: FPS } });
    expect(toCapture).toMatchObject({ status: 200, body: { status: 'success', responder: 'capture' } });
    const nobody = await postCommand(stack.httpUrl, { requestId: 'c-none', target: 'worker-nobody', type: 'worker.set_fps', payload: { fps: 5 } });
    expect(nobody).toMatchObject({ status: 404, body: { status: 'unknown_target' } });
    const router = new CommandRouterClient(stack.gatewayAddress, grpc.credentials.createInsecure());
    try {
      const ack = await new Promise<{ status: AckStatus | undefined; responder: string }>((resolve, reject) =>
        router.sendCommand(
          { command: { requestId: 'c-w1-back', target: workers[0].id, type: 'worker.set_fps', payloadJson: '{"fps":0}', timeoutMs: 5_000 } },
          new grpc.Metadata(),
          { deadline: Date.now() + 10_000 },
          (err, r) => (err ? reject(err) : resolve({ status: r.ack?.status, responder: r.ack?.responder ?? '' })),
        ),
      );
      expect(ack).toEqual({ status: AckStatus.ACK_STATUS_SUCCESS, responder: workers[0].id });
    } finally {
      router.close();
    }
  }, 30_000);

  it('gives co-located workers frames through shared memory and a worker on another Docker network bytes over TCP', async () => {
    const network = await createNetwork();
    const remote = await startWorkerContainer(stack, { workerId: 'remote-1', networkName: network.name });
    try {
      // Its only network is its own: the stack's services are reachable through the host's ports only.
      const info = await (await dockerContainer(remote.getId())).inspect();
      expect(Object.keys(info.NetworkSettings.Networks)).toEqual([network.name]);
      expect(info.Mounts.find((m) => m.Destination === '/dev/shm')).toBeUndefined();
      const delivered = new Map<string, number>();
      await waitFor(
        'frames delivered to the remote worker and to both co-located workers',
        async () => {
          const stats = await supplierStats(stack.supplierAddress);
          for (const w of stats.workers) delivered.set(w.workerId, w.framesDelivered);
          return ['remote-1', ...workers.map((w) => w.id)].every((id) => (delivered.get(id) ?? 0) >= 10);
        },
        60_000,
        500,
      );
      const stats = await supplierStats(stack.supplierAddress);
      const byId = new Map(stats.workers.map((w) => [w.workerId, w]));
      expect(byId.get('remote-1')?.sharedMemory).toBe(false);
      for (const w of workers) expect({ worker: w.id, sharedMemory: byId.get(w.id)?.sharedMemory }).toEqual({ worker: w.id, sharedMemory: true });
      // The gateway's view says the same, and the remote worker's results arrive.
      const viaGateway = await http(`${stack.httpUrl}/api/stats`);
      expect(viaGateway.body.supplier.workers.find((w: { workerId: string }) => w.workerId === 'remote-1')).toMatchObject({ sharedMemory: false });
      const fromRemote = subscribeResults(stack.gatewayAddress, { workerId: 'remote-1' });
      try {
        await waitFor('results from the remote worker', () => fromRemote.results.length >= 5, 30_000);
      } finally {
        fromRemote.close();
      }
    } finally {
      await remote.stop({ timeout: 15_000 });
      await network.remove();
    }
    // Gone from the supplier, so that the next scenarios count the two co-located workers only.
    await waitFor('remote-1 unsubscribed', async () => !(await supplierStats(stack.supplierAddress)).workers.some((w) => w.workerId === 'remote-1'), 15_000, 250);
  }, 150_000);

  it('turns /api/health 503 when a worker container is killed, the other unaffected, and healthy again once it is restarted', async () => {
    await stack.waitForHealth(200, SERVICE_RESTART_HEALTHY_BOUND_MS);
    const [killed, other] = workers;
    const otherLife = await lifeOf(other.containerId);
    const otherResults = subscribeResults(stack.gatewayAddress, { workerId: other.id, kinds: [ResultKind.RESULT_KIND_DETECTIONS] });
    try {
      const container = await dockerContainer(killed.containerId);
      const killedAt = Date.now();
      await container.kill({ signal: 'SIGKILL' });
      const failing = await stack.waitForHealth(503, WORKER_KILLED_503_BOUND_MS);
      report('worker killed to /api/health 503', Date.now() - killedAt);
      expect(failing.body.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['workers']);
      const workersCheck = failing.body.checks.find((c) => c.name === 'workers')!;
      expect(workersCheck.detail).toContain(`1 healthy, at least ${WORKERS} required`);
      expect(workersCheck.detail).toContain(other.id);
      expect(workersCheck.detail).not.toContain(killed.id);
      // The other worker goes on at its pace meanwhile (the analysis runs well above 5 fps here).
      const before = otherResults.results.length;
      await waitFor('10 more results from the other worker while one is down', () => otherResults.results.length >= before + 10, 15_000);
      expect(await lifeOf(other.containerId)).toEqual(otherLife);
      // `docker kill` counts as stopped by the operator: the restart policy leaves it down.
      expect((await lifeOf(killed.containerId)).running).toBe(false);

      const restartedAt = Date.now();
      await container.start();
      await stack.waitForHealth(200, WORKER_RESTART_HEALTHY_BOUND_MS);
      report('worker docker start to /api/health 200', Date.now() - restartedAt);
      // Back with the same id (its host name) and on shared memory again.
      await waitFor(
        `${killed.id} taking frames through shared memory again`,
        async () => (await supplierStats(stack.supplierAddress)).workers.some((w) => w.workerId === killed.id && w.sharedMemory && w.framesDelivered > 0),
        WORKER_RESTART_HEALTHY_BOUND_MS,
        250,
      );
    } finally {
      otherResults.close();
    }
  }, WORKER_KILLED_503_BOUND_MS + WORKER_RESTART_HEALTHY_BOUND_MS * 2 + 60_000);

  it('survives the supplier being stopped and started: capture and workers reconnect, nothing crashes, nothing is lost from the archive', async () => {
    await stack.waitForHealth(200, SERVICE_RESTART_HEALTHY_BOUND_MS);
    const others = [stack.containerId('capture'), stack.containerId('gateway'), ...workers.map((w) => w.containerId)];
    const lives = await Promise.all(others.map(lifeOf));
    const live = subscribeResults(stack.gatewayAddress, { streamId: STREAM });
    try {
      await waitFor('results before the outage', () => live.results.length >= 40, 20_000);
      const supplier = await dockerContainer(stack.containerId('supplier'));
      await supplier.stop({ t: 15 });
      expect((await lifeOf(stack.containerId('supplier'))).exitCode).toBe(0); // a graceful stop
      const lastBefore = Math.max(...live.results.map((r) => r.frameSequence));
      const down = await stack.waitForHealth(503, WORKER_KILLED_503_BOUND_MS);
      expect(down.body.checks.find((c) => c.name === 'supplier')?.ok).toBe(false);

      const startedAt = Date.now();
      await supplier.start();
      await stack.waitForHealth(200, SERVICE_RESTART_HEALTHY_BOUND_MS);
      report('supplier docker start to /api/health 200', Date.now() - startedAt);
      // Capture reconnected (its sequence goes on) and each worker analyses the new frames.
      await waitFor(
        'results of frames published after the restart, from every worker',
        () => workers.every((w) => live.results.some((r) => r.workerId === w.id && r.frameSequence > lastBefore + FPS)),
        SERVICE_RESTART_HEALTHY_BOUND_MS,
      );
      expect(live.error).toBeUndefined();
      expect(await Promise.all(others.map(lifeOf))).toEqual(lives);
      // Frames flow again by shared memory or, for a worker that re-subscribed before capture
      // published into the new supplier, by bytes (docs/deploy.md); either way they are counted.
      const after = await supplierStats(stack.supplierAddress);
      process.stderr.write(`measured: after the supplier restart, workers on shared memory: ${after.workers.filter((w) => w.sharedMemory).length} of ${after.workers.length}\n`);
    } finally {
      live.close();
    }
    // Everything the gateway handed out live around the outage is in the archive.
    const seen = live.results;
    const from = Math.min(...seen.map((r) => r.frameSequence));
    const to = Math.max(...seen.map((r) => r.frameSequence));
    let replayed: Set<string> = new Set();
    await waitFor(
      'the live results replayed from the archive',
      async () => {
        replayed = new Set((await replay(stack.gatewayAddress, { streamId: STREAM, fromSequence: from, toSequence: to })).map(resultKey));
        return seen.every((r) => replayed.has(resultKey(r)));
      },
      15_000,
      1_000,
    ).catch((err) => {
      const missing = seen.filter((r) => !replayed.has(resultKey(r))).map(resultKey);
      throw new Error(`${(err as Error).message}: ${missing.length} of ${seen.length} missing, e.g. ${missing.slice(0, 5).join(', ')}`);
    });
    expect((await http(`${stack.httpUrl}/api/stats`)).body.archive).toMatchObject({ errors: 0, dropped: 0 });
  }, SERVICE_RESTART_HEALTHY_BOUND_MS * 3 + 60_000);

  it('keeps the archive intact and replayable across a gateway restart', async () => {
    await stack.waitForHealth(200, SERVICE_RESTART_HEALTHY_BOUND_MS);
    const live = subscribeResults(stack.gatewayAddress, { streamId: STREAM });
    try {
      await waitFor('results before the restart', () => live.results.length >= 60, 20_000);
    } finally {
      live.close();
    }
    const seen = [...live.results];
    const gateway = await dockerContainer(stack.containerId('gateway'));
    await gateway.stop({ t: 15 });
    // SIGTERM: the recorder flushed and closed its archives within the bound (exit 0, not 1).
    expect((await lifeOf(stack.containerId('gateway'))).exitCode).toBe(0);
    const startedAt = Date.now();
    await gateway.start();
    await stack.waitForHealth(200, SERVICE_RESTART_HEALTHY_BOUND_MS);
    report('gateway docker start to /api/health 200', Date.now() - startedAt);

    const from = Math.min(...seen.map((r) => r.frameSequence));
    const to = Math.max(...seen.map((r) => r.frameSequence));
    const replayed = await replay(stack.gatewayAddress, { streamId: STREAM, fromSequence: from, toSequence: to });
    const byKey = new Map(replayed.map((r) => [resultKey(r), r]));
    const missing = seen.filter((r) => !byKey.has(resultKey(r)));
    expect({ missing: missing.length, of: seen.length }).toEqual({ missing: 0, of: seen.length });
    // Replayed byte for byte as they were handed out live, every kind.
    for (const r of seen) expect(byKey.get(resultKey(r))).toEqual(r);
    expect(new Set(seen.map(kindOf)).size).toBeGreaterThanOrEqual(4);
    // And recording goes on after the restart, into the same archive.
    const after = subscribeResults(stack.gatewayAddress, { streamId: STREAM });
    try {
      await waitFor('results after the restart', () => after.results.length >= 20, 30_000);
    } finally {
      after.close();
    }
    const newest = Math.max(...after.results.map((r) => r.frameSequence));
    await waitFor(
      'results recorded after the restart replayed with those from before',
      async () => {
        const all = await replay(stack.gatewayAddress, { streamId: STREAM, fromSequence: from, toSequence: newest });
        const keys = new Set(all.map(resultKey));
        return seen.every((r) => keys.has(resultKey(r))) && after.results.some((r) => keys.has(resultKey(r)));
      },
      15_000,
      1_000,
    );
  }, SERVICE_RESTART_HEALTHY_BOUND_MS * 2 + 90_000);
});
