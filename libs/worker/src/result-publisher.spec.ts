import * as grpc from '@grpc/grpc-js';
import { PublishResultsRequest, PublishResultsResponse, Result, ResultHubService } from '@framewire/proto';
import { tokenMetadata } from '@framewire/grpc-client';
import { secretText } from '@framewire/service-runtime';
import { ResultPublisher } from './result-publisher';

interface StubOptions {
  /** Read the call's messages (false: never read, so flow control fills up). */
  reads?: boolean;
  /** A result with this frame sequence ends the call with INVALID_ARGUMENT. */
  refuseSequence?: number;
}

/** A ResultHub on loopback whose PublishResults records calls, their metadata and the results. */
class RecordingGateway {
  readonly results: Result[] = [];
  readonly authorizations: (string | undefined)[] = [];
  readonly server = new grpc.Server();
  /** Calls whose reading was held back, to be resumed by the test. */
  readonly held: grpc.ServerReadableStream<PublishResultsRequest, PublishResultsResponse>[] = [];
  calls = 0;
  port = 0;

  constructor(private readonly options: StubOptions = {}) {
    this.server.addService(ResultHubService, {
      publishResults: (call: grpc.ServerReadableStream<PublishResultsRequest, PublishResultsResponse>, callback: grpc.sendUnaryData<PublishResultsResponse>) => {
        this.calls++;
        const auth = call.metadata.get('authorization')[0];
        this.authorizations.push(typeof auth === 'string' ? auth : undefined);
        let received = 0;
        let finished = false;
        call.on('error', () => undefined);
        const onData = (r: PublishResultsRequest) => {
          if (finished || !r.result) return;
          if (r.result.frameSequence === this.options.refuseSequence) {
            finished = true;
            call.pause();
            callback({ code: grpc.status.INVALID_ARGUMENT, details: `result ${received}: frame_sequence refused` });
            return;
          }
          received++;
          this.results.push(r.result);
        };
        call.on('end', () => {
          if (!finished) callback(null, { resultsReceived: received });
        });
        if (this.options.reads === false) this.held.push(call);
        else call.on('data', onData);
        // A held call starts reading when the test resumes it.
        (call as unknown as { startReading: () => void }).startReading = () => call.on('data', onData);
      },
      subscribeResults: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
      replay: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
    });
  }

  async start(port = 0): Promise<number> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    return this.port;
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

function resultOf(sequence: number, stageBytes = 0): Result {
  const base = {
    streamId: 'cam-1',
    frameSequence: sequence,
    captureTimeUs: 1_700_000_000_000_000 + sequence,
    workerId: 'worker-test',
    processingUs: 100,
    publishedTimeUs: 1_700_000_000_000_500 + sequence,
  };
  return stageBytes > 0 ? { ...base, stage: Buffer.alloc(stageBytes, sequence & 0xff) } : { ...base, detections: { detections: [] } };
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sequences = (results: Result[]) => results.map((r) => r.frameSequence);

describe('ResultPublisher', () => {
  const gateways: RecordingGateway[] = [];
  let publisher: ResultPublisher | undefined;

  afterEach(async () => {
    await publisher?.close(300);
    publisher = undefined;
    for (const g of gateways.splice(0)) g.stop();
  });

  async function gateway(options: StubOptions = {}, port = 0): Promise<RecordingGateway> {
    const g = new RecordingGateway(options);
    gateways.push(g);
    await g.start(port);
    return g;
  }

  it('writes results in order on one call and sends the bearer token in the metadata', async () => {
    const g = await gateway();
    publisher = new ResultPublisher({ address: `127.0.0.1:${g.port}`, metadata: tokenMetadata(secretText('a-token-of-sixteen-chars')) });
    publisher.start();
    for (let i = 1; i <= 50; i++) publisher.publish(resultOf(i));
    await until(() => g.results.length === 50, 5_000, '50 results');
    expect(sequences(g.results)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(g.calls).toBe(1);
    expect(g.authorizations).toEqual(['Bearer a-token-of-sixteen-chars']);
    await publisher.close(1_000);
    expect(publisher.stats).toMatchObject({ accepted: 50, written: 50, dropped: 0, acknowledged: 50, connected: false });
  });

  it('holds results while the gateway is away and delivers them once it starts', async () => {
    const probe = await gateway();
    const port = probe.port;
    probe.stop();
    gateways.length = 0;
    publisher = new ResultPublisher({ address: `127.0.0.1:${port}`, backoff: { initialMs: 20, maxMs: 100 }, connectTimeoutMs: 200 });
    publisher.start();
    for (let i = 1; i <= 5; i++) publisher.publish(resultOf(i));
    await new Promise((r) => setTimeout(r, 300));
    expect(publisher.stats.queued).toBe(5);
    const g = await gateway({}, port);
    await until(() => g.results.length === 5, 5_000, 'the held results');
    expect(sequences(g.results)).toEqual([1, 2, 3, 4, 5]);
  });

  it('reconnects after the gateway restarts and goes on publishing on a new call', async () => {
    const first = await gateway();
    const port = first.port;
    publisher = new ResultPublisher({ address: `127.0.0.1:${port}`, backoff: { initialMs: 20, maxMs: 200 }, connectTimeoutMs: 300 });
    publisher.start();
    for (let i = 1; i <= 10; i++) publisher.publish(resultOf(i));
    await until(() => first.results.length === 10, 5_000, 'results before the restart');
    first.stop();
    await until(() => !publisher!.stats.connected, 5_000, 'the call to end');  
    const second = await gateway({}, port);
    await until(() => publisher!.stats.connected, 10_000, 'a new call');  
    for (let i = 11; i <= 20; i++) publisher.publish(resultOf(i));
    await until(() => second.results.length >= 10, 5_000, 'results after the restart');
    expect(sequences(second.results)).toEqual(Array.from({ length: 10 }, (_, i) => i + 11));
    expect(second.calls).toBe(1);
    expect(publisher.stats.reconnects).toBeGreaterThanOrEqual(1);
  });

  it('drops the oldest results, never blocking, when the gateway does not read', async () => {
    const g = await gateway({ reads: false });
    const maxQueued = 32;
    publisher = new ResultPublisher({ address: `127.0.0.1:${g.port}`, maxQueued });
    publisher.start();
    await until(() => publisher!.stats.connected && g.held.length === 1, 5_000, 'the call');  
    // 64 KiB results: a few fill HTTP/2's flow-control windows, the rest must wait or be dropped.
    const count = 400;
    for (let i = 1; i <= count; i++) {
      publisher.publish(resultOf(i, 64 * 1024));
      expect(publisher.stats.queued).toBeLessThanOrEqual(maxQueued);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const stats = publisher.stats;
    expect(stats.dropped).toBeGreaterThan(count / 2);
    expect(stats.written + stats.dropped + stats.queued).toBe(count);
    // Once the gateway reads again, what it gets ends with the newest results, and the oldest
    // that did not fit anywhere are gone.
    (g.held[0] as unknown as { startReading: () => void }).startReading();
    await until(() => g.results.length > 0 && g.results[g.results.length - 1].frameSequence === count, 10_000, 'the newest result');
    const got = sequences(g.results);
    expect(got.length).toBeLessThan(count);
    for (let i = 1; i < got.length; i++) expect(got[i]).toBeGreaterThan(got[i - 1]);
    expect(got).toEqual(expect.arrayContaining(Array.from({ length: maxQueued }, (_, i) => count - maxQueued + 1 + i)));
  });

  it('bounds the queue in bytes too: large results drop the oldest by size, and a result larger than the bound waits alone', async () => {
    const g = await gateway({ reads: false });
    const maxQueuedBytes = 4 * 1024 * 1024;
    publisher = new ResultPublisher({ address: `127.0.0.1:${g.port}`, maxQueuedBytes });
    publisher.start();
    await until(() => publisher!.stats.connected && g.held.length === 1, 5_000, 'the call');
    // 1 MiB results: 256 would fit the count bound, four fit the byte bound.
    const count = 64;
    for (let i = 1; i <= count; i++) {
      publisher.publish(resultOf(i, 1024 * 1024));
      expect(publisher.stats.queuedBytes).toBeLessThanOrEqual(maxQueuedBytes);
      if (i % 8 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const stats = publisher.stats;
    expect(stats.queued).toBeLessThanOrEqual(3);
    expect(stats.queuedBytes).toBeGreaterThan(2 * 1024 * 1024);
    expect(stats.written + stats.dropped + stats.queued).toBe(count);
    expect(stats.dropped).toBeGreaterThan(count / 2);
    publisher.publish(resultOf(count + 1, 5 * 1024 * 1024));
    expect(publisher.stats).toMatchObject({ queued: 1, dropped: stats.dropped + stats.queued });
    expect(publisher.stats.queuedBytes).toBeGreaterThan(maxQueuedBytes);
  });

  it('opens a new call when the gateway refuses a result with INVALID_ARGUMENT', async () => {
    const g = await gateway({ refuseSequence: 3 });
    const errors: unknown[] = [];
    publisher = new ResultPublisher({
      address: `127.0.0.1:${g.port}`,
      logger: { log: () => undefined, warn: () => undefined, error: (m) => errors.push(m) },
    });
    publisher.start();
    for (let i = 1; i <= 3; i++) publisher.publish(resultOf(i));
    await until(() => publisher!.stats.refusedCalls === 1, 5_000, 'the refusal');  
    await until(() => g.calls === 2 && publisher!.stats.connected, 5_000, 'a new call');  
    for (let i = 4; i <= 6; i++) publisher.publish(resultOf(i));
    await until(() => g.results.some((r) => r.frameSequence === 6), 5_000, 'results on the new call');
    expect(sequences(g.results)).toEqual([1, 2, 4, 5, 6]);
    expect(errors).toEqual([expect.objectContaining({ details: 'result 2: frame_sequence refused' })]);
  });
});
