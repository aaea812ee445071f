// Connections that stop reading, against a real gateway process with short bounds: a /ws client
// whose socket is paused answers no ping and is terminated by the WebSocket keepalive, while one
// that answers stays; a SubscribeResults call that reads nothing while a result waits for it ends
// with RESOURCE_EXHAUSTED after the stall timeout, without any memory pressure. The memory side of
// stalled subscribers is gateway-memory.spec.ts.
import * as grpc from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { ResultKind } from '@framewire/proto';
import { exampleResult } from '@framewire/results';
import { http, publishResults, ServiceProcess, stalledSubscribeResults, stalledWebSocket, startServiceProcess, stopServiceProcess, waitFor } from '@framewire/testing';

const KEEPALIVE_MS = 500;
const STALL_TIMEOUT_MS = 2_000;
/** RST_STREAM ENHANCE_YOUR_CALM, which gRPC clients report as RESOURCE_EXHAUSTED. */
const NGHTTP2_ENHANCE_YOUR_CALM = 11;
const WAIT_MS = 30_000;

describe('gateway connections that stop reading', () => {
  jest.setTimeout(120_000);
  let gateway: ServiceProcess;
  let httpUrl: string;

  beforeAll(async () => {
    gateway = await startServiceProcess(
      'gateway',
      {
        FW_ARCHIVE: 'off',
        FW_KEEPALIVE_MS: String(KEEPALIVE_MS),
        FW_RESULTS_STALL_TIMEOUT_MS: String(STALL_TIMEOUT_MS),
        FW_CAPTURE_ADDRESSES: '127.0.0.1:1',
        FW_SUPPLIER_ADDRESS: '127.0.0.1:1',
      },
      { listeners: ['gRPC', 'HTTP'] },
    );
    httpUrl = `http://127.0.0.1:${gateway.ports.HTTP}`;
  }, 60_000);

  afterAll(async () => {
    if (gateway) await stopServiceProcess(gateway, 'SIGTERM', 20_000);
  }, 60_000);

  it('terminates a WebSocket client that answers no ping, and keeps one that answers', async () => {
    const frozen = stalledWebSocket(`ws://127.0.0.1:${gateway.ports.HTTP}/ws`);
    const live = new WebSocket(`ws://127.0.0.1:${gateway.ports.HTTP}/ws`);
    live.on('error', () => undefined);
    await Promise.all([frozen.opened, new Promise((resolve) => live.once('open', resolve))]);
    await waitFor('the frozen client to be terminated', async () => (await http(`${httpUrl}/api/stats`)).body.keepalive.terminated >= 1, WAIT_MS, 100);
    // The live one (the ws library answers pings by itself, as browsers do) outlives many pings.
    await sleep(4 * KEEPALIVE_MS);
    expect(live.readyState).toBe(WebSocket.OPEN);
    const stats = (await http(`${httpUrl}/api/stats`)).body;
    expect(stats.keepalive.terminated).toBe(1);
    expect(stats.keepalive.pingsSent).toBeGreaterThan(2);
    expect(stats.websocket.clients).toBe(1);
    const metrics = (await http(`${httpUrl}/metrics`)).body as string;
    expect(metrics).toMatch(/^framewire_gateway_websocket_keepalive_terminated_total 1$/m);
    frozen.resume();
    expect((await frozen.ended).code).toBe(1006);
    live.terminate();
  });

  it('ends a SubscribeResults call that reads nothing for the stall timeout with RESOURCE_EXHAUSTED, counted and logged', async () => {
    const address = `127.0.0.1:${gateway.port}`;
    const before = (await http(`${httpUrl}/api/stats`)).body.results.stallDisconnects as number;
    const stalled = stalledSubscribeResults(address);
    await waitFor('the subscriber', async () => (await http(`${httpUrl}/api/stats`)).body.results.subscribers === 1, WAIT_MS, 50);
    // A result larger than HTTP/2's window: the transport holds it and hands nothing on.
    const large = exampleResult(ResultKind.RESULT_KIND_SEGMENTATION, { streamId: 'cam-stall' });
    large.segmentation!.instances[0].points = Array.from({ length: 200_000 }, (_, i) => i % 60);
    await publishResults(address, [large]);
    await waitFor('the stall disconnection', async () => (await http(`${httpUrl}/api/stats`)).body.results.stallDisconnects > before, WAIT_MS, 50);
    // Read again: the status that waited behind the result arrives (or, past the grace, the reset).
    stalled.resume();
    const end = await stalled.ended;
    if (end.grpcStatus !== undefined) {
      expect(end.grpcStatus).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(end.grpcMessage).toMatch(/^subscriber read nothing for [\d.]+ s while holding \d+ bytes; results dropped$/);
    } else {
      expect(end.rstCode).toBe(NGHTTP2_ENHANCE_YOUR_CALM);
    }
    expect(gateway.output.some((line) => /SubscribeResults from [^ ]+ disconnected: subscriber read nothing for [\d.]+ s while holding \d+ bytes; results dropped/.test(line))).toBe(true);
    const metrics = (await http(`${httpUrl}/metrics`)).body as string;
    expect(metrics).toMatch(/^framewire_gateway_subscriber_stall_disconnects_total\{reason="timeout"\} [1-9]/m);
    expect((await http(`${httpUrl}/api/stats`)).body.results).toMatchObject({ subscribers: 0, transportBytes: 0 });
    stalled.close();
  });
});
