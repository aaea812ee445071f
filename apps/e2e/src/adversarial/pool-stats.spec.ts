// Hostile use of worker pools against the statistics surfaces, on a real supplier process over
// loopback: a client that churns through pool ids, or fills every pool slot and asks for more, must
// not grow /metrics (each pool's series go with it) nor leave pools behind in GetStats. Bounded:
// 5 rounds of 8 Pull calls and 8 small frames each.
import * as grpc from '@grpc/grpc-js';
import { FrameSupplierClient } from '@framewire/proto';
import { openPull, PullClient, ServiceProcess, startServiceProcess, stopServiceProcess, supplierStats, testFrame, waitFor } from '@framewire/testing';

const MAX_POOLS = 8;
const ROUNDS = 5;
const STREAM = 'cam-churn';
/** A bound on waiting for what must happen (not a speed). */
const WAIT_MS = 10_000;

describe('adversarial: pool statistics (real supplier)', () => {
  let supplier: ServiceProcess;
  const address = () => `127.0.0.1:${supplier.port}`;
  const held: PullClient[] = [];

  /** The sample lines of the pool metrics, and the pool ids they name. */
  async function poolSeries(): Promise<{ lines: string[]; pools: Set<string> }> {
    const text = await (await fetch(`http://127.0.0.1:${supplier.ports.metrics}/metrics`)).text();
    const lines = text.split('\n').filter((l) => l.startsWith('framewire_pool_'));
    return { lines, pools: new Set(lines.map((l) => /pool="([^"]*)"/.exec(l)?.[1] ?? '')) };
  }

  beforeAll(async () => {
    supplier = await startServiceProcess(
      'supplier',
      { FW_SUPPLIER_MAX_POOLS: String(MAX_POOLS), FW_SUPPLIER_MAX_WORKERS: '32', FW_SUPPLIER_MAX_WORKERS_PER_CALLER: '32' },
      { listeners: ['gRPC', 'metrics'] },
    );
  });

  afterEach(() => {
    for (const pull of held.splice(0)) pull.close();
  });

  afterAll(async () => {
    if (supplier) expect((await stopServiceProcess(supplier)).code).toBe(0);
  });

  it('keeps /metrics bounded while a client churns through pool ids, and leaves no series of a pool that went away', async () => {
    const client = new FrameSupplierClient(address(), grpc.credentials.createInsecure());
    const publisher = client.publish(() => undefined);
    let perRound = 0;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const ids = Array.from({ length: MAX_POOLS }, (_, i) => `churn-${round}-${i}`);
        for (const id of ids) held.push(openPull(address(), { workerId: `${id}-m`, streamId: STREAM, poolId: id }, { keepTaking: true }));
        await waitFor(`the ${MAX_POOLS} pools of round ${round}`, async () => (await supplierStats(address())).pools.length === MAX_POOLS, WAIT_MS);
        publisher.write({ frame: testFrame(STREAM, round + 1) });
        await waitFor(`round ${round}'s frame to be offered to every pool`, async () => (await supplierStats(address())).pools.every((p) => p.streams[0]?.published === 1), WAIT_MS);
        const series = await poolSeries();
        expect([...series.pools].sort()).toEqual([...ids].sort());
        // Every round has the same pools' worth of series: the count does not grow with the rounds.
        if (round === 0) perRound = series.lines.length;
        expect(series.lines.length).toBe(perRound);
        for (const pull of held.splice(0)) pull.close();
        await waitFor(`round ${round}'s pools to go`, async () => (await supplierStats(address())).pools.length === 0, WAIT_MS);
        expect((await poolSeries()).lines).toEqual([]);
      }
      expect(perRound).toBeGreaterThan(0);
    } finally {
      publisher.cancel();
      client.close();
    }
  });

  it(`refuses a pool beyond ${MAX_POOLS}, which never shows in /metrics`, async () => {
    for (let i = 0; i < MAX_POOLS; i++) held.push(openPull(address(), { workerId: `full-${i}`, streamId: STREAM, poolId: `full-${i}` }));
    await waitFor(`${MAX_POOLS} pools`, async () => (await supplierStats(address())).pools.length === MAX_POOLS, WAIT_MS);
    const extra = openPull(address(), { workerId: 'one-too-many', streamId: STREAM, poolId: 'one-too-many' });
    held.push(extra);
    expect(await extra.ended).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    const series = await poolSeries();
    expect(series.pools.size).toBe(MAX_POOLS);
    expect(series.pools.has('one-too-many')).toBe(false);
    expect((await supplierStats(address())).pools.map((p) => p.poolId)).not.toContain('one-too-many');
  });
});
