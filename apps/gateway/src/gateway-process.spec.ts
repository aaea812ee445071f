// The built gateway as a real process: HTTP and gRPC listeners, health and metrics over HTTP, and a
// bounded stop on SIGTERM that closes WebSocket clients with 1001.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { checkHealth, ServiceProcess, startServiceProcess, stopServiceProcess } from '@framewire/testing';

const STOP_BOUND_MS = 5_000;

describe('gateway process', () => {
  let dir: string;
  let gateway: ServiceProcess | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fw-gateway-process-'));
  });

  afterEach(async () => {
    if (gateway && gateway.child.exitCode === null && gateway.child.signalCode === null) gateway.child.kill('SIGKILL');
    gateway = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('serves gRPC health, /api/health (503 with nothing else running) and /metrics, then stops within the bound', async () => {
    gateway = await startServiceProcess(
      'gateway',
      { FW_ARCHIVE_DIR: dir, FW_CAPTURE_ADDRESSES: '127.0.0.1:1', FW_SUPPLIER_ADDRESS: '127.0.0.1:1' },
      { listeners: ['gRPC', 'HTTP'] },
    );
    const base = `http://127.0.0.1:${gateway.ports.HTTP}`;
    expect(await checkHealth(gateway.port)).toBe('SERVING');
    const health = await fetch(`${base}/api/health`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { checks: { name: string; ok: boolean }[] }).checks.filter((c) => !c.ok).map((c) => c.name)).toEqual([
      'capture',
      'supplier',
      'frames',
      'workers',
    ]);
    expect((await fetch(`${base}/metrics`)).status).toBe(200);

    const ws = new WebSocket(`ws://127.0.0.1:${gateway.ports.HTTP}/ws`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const closeCode = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    const { code, ms } = await stopServiceProcess(gateway);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(STOP_BOUND_MS);
    expect(await closeCode).toBe(1001);
  });
});
