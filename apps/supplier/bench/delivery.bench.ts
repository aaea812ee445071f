// gRPC delivery throughput of the supplier service: frames of 64 KiB and 1 MiB to 1 and 8 Pull
// workers, against a bare @grpc/grpc-js server-streaming loop writing the same message, each server
// in its own process and measured in the same run. The supplier process publishes in-process (one
// new frame per event-loop turn, so its workers always find a newer frame than the last one) so
// that what is measured is delivery, not the cost of receiving the frames over a second gRPC call.
// Goal (issue): at least 90 % of bare.
// Run: node tools/build.mjs && FW_BENCH_RUNS=3 node --expose-gc dist/apps/supplier/bench/delivery.bench.js
import * as grpc from '@grpc/grpc-js';
import { ConsoleLogger } from '@nestjs/common';
import { BenchResult, DEFAULT_MIN_RUN_MS, DEFAULT_RUNS, median, peakRssMiB, resultsTable, spawnBenchServer, writeSection } from '@framewire/bench';
import {
  FrameSupplierClient,
  FrameSupplierServer,
  FrameSupplierService,
  PullRequest,
  PullResponse,
  SubscribeResponse, SubscribeRequest } from '@framewire/proto';
import { startService } from '@framewire/service-runtime';
import { FrameSupplier } from '@framewire/supplier';
import { testFrame } from '@framewire/testing';
import { loadSupplierConfig } from '../src/config';
import { SUPPLIER_SERVICE } from '../src/supplier.module';

const GRPC_MAX_MESSAGE = 8 * 1024 * 1024;
const GRPC_OPTIONS = { 'grpc.max_receive_message_length': GRPC_MAX_MESSAGE, 'grpc.max_send_message_length': GRPC_MAX_MESSAGE };
/** Credits a bench Pull worker keeps granted (the supplier's cap). */
const EAGER_CREDITS = 4;
const STREAM_ID = 'bench';
const FRAME_SIZES = [64 * 1024, 1024 * 1024];
const WORKER_COUNTS = [1, 8];
const WARM_UP_MS = 300;

async function listen(implementation: FrameSupplierServer, definition: grpc.ServiceDefinition = FrameSupplierService): Promise<number> {
  const server = new grpc.Server(GRPC_OPTIONS);
  server.addService(definition, implementation);
  return new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))),
  );
}

/** Child mode: a bare grpc-js server whose Subscribe writes the same message as fast as the stream takes it. */
async function runBareServer(frameBytes: number): Promise<void> {
  const message: SubscribeResponse = {
    delivery: { frame: testFrame(STREAM_ID, 1, frameBytes), droppedSinceLast: 0, sentTimeUs: Date.now() * 1000, poolId: '', batchRemaining: 0 },
  };
  const unimplemented = (_call: unknown, callback: (err: Partial<grpc.StatusObject>) => void) =>
    callback({ code: grpc.status.UNIMPLEMENTED, details: 'bare' });
  const port = await listen({
    publish: unimplemented as FrameSupplierServer['publish'],
    getStats: unimplemented as FrameSupplierServer['getStats'],
    listRings: unimplemented as FrameSupplierServer['listRings'],
    pull: (call) => call.end(),
    subscribe: (call) => {
      let done = false;
      call.on('cancelled', () => (done = true));
      const pump = () => {
        while (!done) if (!call.write(message)) return void call.once('drain', pump);
      };
      pump();
    },
  });
  process.stdout.write(`listening ${port}\n`);
}

/** Child mode: the supplier service as it runs (its Nest application on the gRPC transport, with
 *  its hot-path delivery serializer), its FrameSupplier fed in-process. */
async function runSupplierServer(frameBytes: number): Promise<void> {
  const config = loadSupplierConfig({
    FW_GRPC_HOST: '127.0.0.1',
    FW_GRPC_PORT: '0',
    FW_METRICS_PORT: '0',
    FW_SUPPLIER_MAX_STREAMS: '4',
    FW_SUPPLIER_MAX_FRAME_BYTES: String(GRPC_MAX_MESSAGE),
  });
  const service = await startService(config, SUPPLIER_SERVICE, new ConsoleLogger('bench', { logLevels: ['error'] }));
  const port = service.grpcPort;
  const publisher = service.app.get(FrameSupplier).openPublisher();
  const base = testFrame(STREAM_ID, 1, frameBytes);
  let sequence = 0;
  const publishNext = () => {
    publisher.publish({ ...base, sequence: ++sequence, captureTimeUs: Date.now() * 1000 });
    setImmediate(publishNext);
  };
  publishNext();
  process.stdout.write(`listening ${port}\n`);
}

interface Receivers {
  close(): void;
}

let subscriptionRound = 0;
/** `workers` Subscribe (server-streaming) clients, each counting what it receives. */
function subscribeReceivers(port: number, workers: number, onData: () => void): Receivers {
  const round = ++subscriptionRound;
  const clients = Array.from({ length: workers }, () => new FrameSupplierClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), GRPC_OPTIONS));
  const calls = clients.map((client, i) => {
    const call = client.subscribe(SubscribeRequest.fromPartial({ workerId: `s${round}-w${i}`, streamId: STREAM_ID }));
    call.on('data', onData);
    call.on('error', () => undefined);
    return call;
  });
  return {
    close: () => {
      for (const c of calls) c.cancel();
      for (const c of clients) c.close();
    },
  };
}

function pullReceivers(port: number, workers: number, onData: () => void): Receivers {
  const round = ++subscriptionRound;
  const clients = Array.from({ length: workers }, () => new FrameSupplierClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), GRPC_OPTIONS));
  const calls = clients.map((client, i) => {
    const call: grpc.ClientDuplexStream<PullRequest, PullResponse> = client.pull();
    call.on('data', () => {
      onData();
      call.write({ credits: 1 });
    });
    call.on('error', () => undefined);
    call.write({ subscribe: SubscribeRequest.fromPartial({ workerId: `r${round}-w${i}`, streamId: STREAM_ID }) });
    call.write({ credits: EAGER_CREDITS });
    return call;
  });
  return {
    close: () => {
      for (const c of calls) c.cancel();
      for (const c of clients) c.close();
    },
  };
}

/** Messages per second received by all receivers together over `ms`, after a warm-up. */
async function measureRate(start: (onData: () => void) => Receivers, ms: number): Promise<number> {
  let n = 0;
  const receivers = start(() => void n++);
  await new Promise((r) => setTimeout(r, WARM_UP_MS));
  const n0 = n;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const rate = ((n - n0) * 1000) / (performance.now() - t0);
  receivers.close();
  await new Promise((r) => setTimeout(r, 100));
  return rate;
}

async function main(): Promise<void> {
  const [mode, size] = process.argv.slice(2);
  if (mode === 'bare') return runBareServer(Number(size));
  if (mode === 'supplier') return runSupplierServer(Number(size));

  const runs = DEFAULT_RUNS;
  const minMs = Math.max(DEFAULT_MIN_RUN_MS, 1000);
  const tables: string[] = [];
  const ratios: string[] = [];
  for (const frameBytes of FRAME_SIZES) {
    const bare = await spawnBenchServer(__filename, ['bare', String(frameBytes)]);
    const supplier = await spawnBenchServer(__filename, ['supplier', String(frameBytes)]);
    try {
      for (const workers of WORKER_COUNTS) {
        const label = `${frameBytes / 1024} KiB → ${workers} worker${workers > 1 ? 's' : ''}`;
        const bareRuns: number[] = [];
        const pullRuns: number[] = [];
        const subscribeRuns: number[] = [];
        for (let r = 0; r < runs; r++) {
          bareRuns.push(await measureRate((onData) => subscribeReceivers(bare.port, workers, onData), minMs));
          pullRuns.push(await measureRate((onData) => pullReceivers(supplier.port, workers, onData), minMs));
          subscribeRuns.push(await measureRate((onData) => subscribeReceivers(supplier.port, workers, onData), minMs));
        }
        const result = (name: string, samples: number[]): BenchResult => ({
          name,
          opsPerSec: median(samples),
          mbPerSec: (median(samples) * frameBytes) / 1e6,
          runs: samples,
        });
        const anchor = 'bare grpc-js server streaming';
        tables.push(`**${label}** (messages/s summed over workers)\n\n${resultsTable([result(anchor, bareRuns), result('supplier Pull', pullRuns), result('supplier Subscribe', subscribeRuns)], anchor)}`);
        ratios.push(`${label}: Pull ${(median(pullRuns) / median(bareRuns)).toFixed(2)}, Subscribe ${(median(subscribeRuns) / median(bareRuns)).toFixed(2)}`);
      }
    } finally {
      bare.child.kill('SIGKILL');
      supplier.child.kill('SIGKILL');
    }
  }
  writeSection(
    '41-supplier-delivery',
    'Frame supplier: gRPC delivery throughput',
    [
      `The supplier service as it runs (its Nest application on GrpcTransport over GrpcServerHost, with connection limits and request decoding; its FrameSupplier publishing a new frame every event-loop turn in-process) against a bare @grpc/grpc-js server whose Subscribe writes one pre-built message as fast as the stream takes it. Each server runs in its own process; the workers (Pull with ${EAGER_CREDITS} credits up front and one per frame; Subscribe for bare) run in the benchmark process. ${runs} interleaved runs of ${minMs} ms after a ${WARM_UP_MS} ms warm-up. Goal: at least 0.90 of bare.`,
      '',
      tables.join('\n\n'),
      '',
      `Ratios to bare (median): ${ratios.join('; ')}. Peak RSS above is the benchmark (client) process.`,
    ].join('\n'),
  );
  void peakRssMiB;
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
