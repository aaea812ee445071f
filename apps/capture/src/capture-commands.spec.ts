// Commands reaching real service processes: a gateway-side CommandRouter served by
// commandRouterGrpcService on loopback (in this test process, each call refused without the token as
// the gateway's guard does), the built capture service publishing to a recording FrameSupplier, and
// the built supplier service.
import * as grpc from '@grpc/grpc-js';
import { CommandRouter, commandRouterGrpcService } from '@framewire/commands';
import { AckStatus, Command, CommandAck, CommandRouterService, Frame, FrameSupplierServer, FrameSupplierService } from '@framewire/proto';
import { ServiceProcess, startServiceProcess, stopServiceProcess } from '@framewire/testing';
import { secretText, unauthenticatedError } from '@framewire/service-runtime';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

const TOKEN = 'capture-commands-test-token';
const quietLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** Each call of `service` refused UNAUTHENTICATED without `authorization: Bearer TOKEN`. */
function requiringToken(service: grpc.UntypedServiceImplementation): grpc.UntypedServiceImplementation {
  const guarded: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(service)) {
    guarded[name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback?: grpc.sendUnaryData<unknown>) => {
      const denied = unauthenticatedError(call.metadata, secretText(TOKEN));
      if (denied === undefined) (handler as (...args: unknown[]) => void)(call, callback);
      else if (callback) callback(denied);
      else call.emit('error', denied);
    }) as grpc.UntypedHandleCall;
  }
  return guarded;
}

async function until(condition: () => boolean, what: string, output: string[] = [], timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${output.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The typical spacing of capture times over frames, µs (the median, robust to a skipped slot). */
function medianSpacingUs(frames: readonly Frame[]): number {
  const gaps = frames.slice(1).map((f, i) => f.captureTimeUs - frames[i].captureTimeUs);
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)];
}

describe('capture and supplier obey commands from the gateway', () => {
  const frames: Frame[] = [];
  let router: CommandRouter;
  let gateway: grpc.Server;
  let recorder: grpc.Server;
  let capture: ServiceProcess;
  let supplier: ServiceProcess;
  let folder: string;
  let requestCount = 0;

  const send = (target: string, type: string, payload: object | '' = '', timeoutMs = 0): Promise<CommandAck> => {
    const command: Command = { requestId: `req-${++requestCount}`, target, type, payloadJson: payload === '' ? '' : JSON.stringify(payload), timeoutMs };
    return router.send(command).then((answer) => answer.ack);
  };

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'fw-capture-commands-'));
    for (const name of ['a.jpg', 'b.jpg']) {
      await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 10, b: 10 } } }).jpeg().toFile(join(folder, name));
    }
    router = new CommandRouter();
    gateway = new grpc.Server();
    gateway.addService(CommandRouterService, requiringToken(commandRouterGrpcService(router, quietLogger) as unknown as grpc.UntypedServiceImplementation));
    const gatewayPort = await new Promise<number>((res, rej) =>
      gateway.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? rej(err) : res(port))),
    );
    recorder = new grpc.Server();
    const recording: FrameSupplierServer = {
      publish: (call, callback) => {
        call.on('data', (r: { frame?: Frame }) => r.frame && frames.push(r.frame));
        call.on('end', () => callback(null, { framesReceived: frames.length, inboxDrops: 0 }));
        call.on('error', () => undefined);
      },
      subscribe: (call) => call.end(),
      pull: (call) => call.end(),
      getStats: (_call, callback) => callback(null, { stats: { streams: [], workers: [], refused: [], pools: [] } }),
      listRings: (_call, callback) => callback(null, { rings: [] }),
    };
    recorder.addService(FrameSupplierService, recording);
    const supplierPort = await new Promise<number>((res, rej) =>
      recorder.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? rej(err) : res(port))),
    );
    const common = { FW_GATEWAY_ADDRESS: `127.0.0.1:${gatewayPort}`, FW_AUTH_TOKEN: TOKEN };
    [capture, supplier] = await Promise.all([
      startServiceProcess('capture', {
        ...common,
        FW_SUPPLIER_ADDRESS: `127.0.0.1:${supplierPort}`,
        FW_CAPTURE_FPS: '10',
        FW_CAPTURE_WIDTH: '160',
        FW_CAPTURE_HEIGHT: '120',
      }),
      startServiceProcess('supplier', common),
    ]);
    await until(() => router.attachedServices().includes('capture') && router.attachedServices().includes('supplier'), 'both command subscriptions', [
      ...capture.output,
      ...supplier.output,
    ]);
    await until(() => frames.length >= 3, 'the first frames', capture.output);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([capture && stopServiceProcess(capture), supplier && stopServiceProcess(supplier)]);
    router?.close();
    gateway?.forceShutdown();
    recorder?.forceShutdown();
    rmSync(folder, { recursive: true, force: true });
  });

  it('pause stops the frames and resume brings them back', async () => {
    const paused = await send('capture', 'capture.pause');
    expect(paused).toMatchObject({ status: AckStatus.ACK_STATUS_SUCCESS, message: 'paused', responder: 'capture' });
    // A frame already on its way may still land.
    await sleep(300);
    const atPause = frames.length;
    await sleep(800);
    expect(frames.length - atPause).toBeLessThanOrEqual(1);
    expect((await send('capture', 'capture.pause')).message).toBe('already paused');
    expect(await send('capture', 'capture.resume')).toMatchObject({ status: AckStatus.ACK_STATUS_SUCCESS, message: 'resumed' });
    await until(() => frames.length >= atPause + 4, 'frames after resume', capture.output);
  }, 20_000);

  it('set_fps changes the frame rate of the running source', async () => {
    const before = frames.length;
    await until(() => frames.length >= before + 6, 'frames at 10 fps', capture.output);
    expect(medianSpacingUs(frames.slice(before))).toBeCloseTo(100_000, -1);
    const ack = await send('capture', 'capture.set_fps', { fps: 25 });
    expect(ack.status).toBe(AckStatus.ACK_STATUS_SUCCESS);
    expect(ack.message).toContain('@25');
    await sleep(200);
    const after = frames.length;
    await until(() => frames.length >= after + 10, 'frames at 25 fps', capture.output);
    const fast = frames.slice(after);
    expect(medianSpacingUs(fast)).toBeCloseTo(40_000, -1);
    // Synthetic frame n is due at n / fps since the epoch: every capture time sits on a 25 fps slot.
    for (const f of fast) expect(f.captureTimeUs % 40_000).toBe(0);
    for (let i = 1; i < frames.length; i++) expect(frames[i].captureTimeUs).toBeGreaterThan(frames[i - 1].captureTimeUs);
  }, 20_000);

  it('a bad payload is answered ERROR naming the field', async () => {
    const ack = await send('capture', 'capture.set_fps', { fps: 0 });
    expect(ack.status).toBe(AckStatus.ACK_STATUS_ERROR);
    expect(ack.message).toContain('payload.fps');
    expect(ack.message).toContain('(got 0)');
    expect((await send('capture', 'supplier.set_limits', { maxWorkers: 2 })).status).toBe(AckStatus.ACK_STATUS_UNKNOWN_TYPE);
  });

  it('switch_source replaces the source; a bad source is refused and the old one runs on', async () => {
    const refused = await send('capture', 'capture.switch_source', { source: `images:${join(folder, 'missing')}` });
    expect(refused.status).toBe(AckStatus.ACK_STATUS_ERROR);
    expect(refused.message).toContain('cannot switch to images:');
    const before = frames.length;
    await until(() => frames.length >= before + 3, 'frames from the old source', capture.output);
    expect(frames[frames.length - 1].width).toBe(160);

    const switched = await send('capture', 'capture.switch_source', { source: `images:${folder}` });
    expect(switched.status).toBe(AckStatus.ACK_STATUS_SUCCESS);
    const afterSwitch = frames.length;
    await until(() => frames.slice(afterSwitch).filter((f) => f.width === 64).length >= 1, 'frames from the image folder', capture.output);

    expect((await send('capture', 'capture.switch_source', { source: 'synthetic' })).status).toBe(AckStatus.ACK_STATUS_SUCCESS);
    const back = frames.length;
    await until(() => frames.slice(back).some((f) => f.width === 160), 'synthetic frames again', capture.output);
  }, 30_000);

  it('supplier.set_limits changes the supplier limits', async () => {
    const ack = await send('supplier', 'supplier.set_limits', { maxWorkers: 2, idleAfterMs: 5_000 });
    expect(ack).toMatchObject({ status: AckStatus.ACK_STATUS_SUCCESS, responder: 'supplier' });
    expect(ack.message).toContain('maxWorkers 2');
    expect(ack.message).toContain('idleAfterMs 5000');
    const empty = await send('supplier', 'supplier.set_limits', {});
    expect(empty.status).toBe(AckStatus.ACK_STATUS_ERROR);
    expect(empty.message).toContain('at least one of maxWorkers');
  });
});
