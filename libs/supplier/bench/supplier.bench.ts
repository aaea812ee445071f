// Frame supplier benchmarks. (a) In-process: publish latency and fan-out time to 1, 8 and 64
// workers, and heap growth per publish (the publish path allocates nothing). (b) gRPC delivery
// throughput to 1 and 8 Pull workers of 64 KiB and 1 MiB frames through the real supplier process,
// against a bare @grpc/grpc-js server-streaming loop of the same messages in the same run.
// Goals (issue): publish p50 <= 1 us, fan-out to 64 workers <= 50 us, gRPC >= 90 % of bare.
// Run: node tools/build.mjs && FW_BENCH_RUNS=3 node --expose-gc dist/libs/supplier/bench/supplier.bench.js
import * as grpc from '@grpc/grpc-js';
import { ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { BenchResult, DEFAULT_MIN_RUN_MS, DEFAULT_RUNS, formatNumber, median, resultsTable, writeSection } from '@framewire/bench';
import { Frame, FrameSupplierClient, FrameSupplierServer, FrameSupplierService, PublishRequest, PullRequest, PullResponse, SubscribeResponse } from '@framewire/proto';
import { FrameSupplier, testFrame } from '../src';

const LATENCY_ITERATIONS = 200_000;
const FAN_OUT_WORKERS = [0, 1, 8, 64];
const REPO_ROOT = resolve(__dirname, '../../../..');
const GRPC_MAX_MESSAGE = 8 * 1024 * 1024;
const CLIENT_OPTIONS = { 'grpc.max_receive_message_length': GRPC_MAX_MESSAGE, 'grpc.max_send_message_length': GRPC_MAX_MESSAGE };
/** Credits a bench Pull worker keeps granted (the supplier's cap). */
const EAGER_CREDITS = 4;

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** Nanoseconds per publish (with `workers` subscribed, none taking), measured one publish at a time. */
function publishLatencies(workers: number): { p50: number; p99: number; heapBytesPerPublish: number } {
  const supplier = new FrameSupplier({ maxWorkers: 128, maxStreams: 4, maxFrameBytes: 1 << 20 });
  for (let i = 0; i < workers; i++) supplier.subscribe({ workerId: `w${i}`, streamId: 'cam-1' });
  const publisher = supplier.openPublisher();
  const frames: Frame[] = Array.from({ length: 1024 }, (_, i) => testFrame('cam-1', i + 1, 1024));
  for (let i = 0; i < 50_000; i++) publisher.publish(frames[i & 1023]); // warm up (JIT)
  const samples = new Float64Array(LATENCY_ITERATIONS);
  for (let i = 0; i < LATENCY_ITERATIONS; i++) {
    const frame = frames[i & 1023];
    const t0 = process.hrtime.bigint();
    publisher.publish(frame);
    samples[i] = Number(process.hrtime.bigint() - t0);
  }
  samples.sort();
  // Heap growth over many publishes, between two full collections.
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const n = 1_000_000;
  for (let i = 0; i < n; i++) publisher.publish(frames[i & 1023]);
  const after = process.memoryUsage().heapUsed;
  gc?.();
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), heapBytesPerPublish: gc ? Math.max(0, after - before) / n : NaN };
}

/** The cost of the timer itself: an empty hrtime pair. */
function timerOverheadNs(): number {
  const samples = new Float64Array(100_000);
  for (let i = 0; i < samples.length; i++) {
    const t0 = process.hrtime.bigint();
    samples[i] = Number(process.hrtime.bigint() - t0);
  }
  return percentile(samples.sort(), 0.5);
}

// ---- gRPC ----

/** Child mode: a bare grpc-js server whose Subscribe writes the same message as fast as the stream takes it. */
async function runBareServer(frameBytes: number): Promise<void> {
  const message: SubscribeResponse = {
    delivery: { frame: testFrame('bare', 1, frameBytes), droppedSinceLast: 0, sentTimeUs: Date.now() * 1000 },
  };
  const unimplemented = (_call: unknown, callback: (err: grpc.ServiceError) => void) =>
    callback({ code: grpc.status.UNIMPLEMENTED, details: 'bare', name: 'bare', message: 'bare', metadata: new grpc.Metadata() });
  const implementation: FrameSupplierServer = {
    publish: unimplemented as FrameSupplierServer['publish'],
    getStats: unimplemented as FrameSupplierServer['getStats'],
    pull: (call) => call.end(),
    subscribe: (call) => {
      let done = false;
      call.on('cancelled', () => (done = true));
      const pump = () => {
        while (!done) if (!call.write(message)) return void call.once('drain', pump);
      };
      pump();
    },
  };
  const server = new grpc.Server(CLIENT_OPTIONS);
  server.addService(FrameSupplierService, implementation);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))),
  );
  process.stdout.write(`bare listening ${port}\n`);
}

async function spawnAndWaitForPort(args: string[], env: Record<string, string>, pattern: RegExp): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((res, rej) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const m = pattern.exec(text);
      if (m) res(Number(m[1]));
    });
    child.once('exit', (code) => rej(new Error(`${args.join(' ')} exited with ${code}: ${text}`)));
  });
  child.stdout?.resume();
  return { child, port };
}

interface Receivers {
  received: number;
  close(): void;
}

/** `workers` Subscribe clients of the bare server, each counting what it receives. */
function bareReceivers(port: number, workers: number, counter: { n: number; onData: () => void }): Receivers {
  const clients: FrameSupplierClient[] = [];
  const calls: grpc.ClientReadableStream<SubscribeResponse>[] = [];
  for (let i = 0; i < workers; i++) {
    const client = new FrameSupplierClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CLIENT_OPTIONS);
    const call = client.subscribe({ workerId: `b${i}`, streamId: 'bare', preferSharedMemory: false });
    call.on('data', counter.onData);
    call.on('error', () => undefined);
    clients.push(client);
    calls.push(call);
  }
  return {
    received: 0,
    close: () => {
      for (const c of calls) c.cancel();
      for (const c of clients) c.close();
    },
  };
}

/** A publisher writing frames of `frameBytes` as fast as the stream takes them, and `workers`
 *  Pull clients granting credits eagerly. */
function supplierReceivers(port: number, workers: number, frameBytes: number, tag: string, counter: { n: number; onData: () => void }): Receivers {
  const streamId = `bench-${tag}`;
  const publisherClient = new FrameSupplierClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CLIENT_OPTIONS);
  const publish = publisherClient.publish(() => undefined) as grpc.ClientWritableStream<PublishRequest>;
  const frame = testFrame(streamId, 1, frameBytes);
  let publishing = true;
  let sequence = 0;
  const pump = () => {
    while (publishing) {
      frame.sequence = ++sequence;
      frame.captureTimeUs = Date.now() * 1000;
      if (!publish.write({ frame })) return void publish.once('drain', pump);
    }
  };
  pump();
  const clients: FrameSupplierClient[] = [];
  const calls: grpc.ClientDuplexStream<PullRequest, PullResponse>[] = [];
  for (let i = 0; i < workers; i++) {
    const client = new FrameSupplierClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CLIENT_OPTIONS);
    const call = client.pull();
    call.on('data', () => {
      counter.onData();
      call.write({ credits: 1 });
    });
    call.on('error', () => undefined);
    call.write({ subscribe: { workerId: `${tag}-w${i}`, streamId, preferSharedMemory: false } });
    call.write({ credits: EAGER_CREDITS });
    clients.push(client);
    calls.push(call);
  }
  return {
    received: 0,
    close: () => {
      publishing = false;
      publish.cancel();
      for (const c of calls) c.cancel();
      for (const c of [publisherClient, ...clients]) c.close();
    },
  };
}

/** Messages per second received by all receivers together over `ms`, after a warm-up. */
async function measureRate(start: (counter: { n: number; onData: () => void }) => Receivers, ms: number): Promise<number> {
  const counter = { n: 0, onData: () => void counter.n++ };
  const receivers = start(counter);
  await new Promise((r) => setTimeout(r, 300));
  const n0 = counter.n;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const rate = ((counter.n - n0) * 1000) / (performance.now() - t0);
  receivers.close();
  await new Promise((r) => setTimeout(r, 100));
  return rate;
}

async function main(): Promise<void> {
  if (process.argv[2] === 'bare-server') return runBareServer(Number(process.argv[3]));

  // (a) In-process.
  const overhead = timerOverheadNs();
  const latencyRows = FAN_OUT_WORKERS.map((workers) => ({ workers, ...publishLatencies(workers) }));
  const latencyTable = [
    '| workers subscribed | publish p50 | publish p99 | p50 minus timer | heap growth per publish |',
    '|---:|---:|---:|---:|---:|',
    ...latencyRows.map(
      (r) =>
        `| ${r.workers} | ${(r.p50 / 1000).toFixed(2)} µs | ${(r.p99 / 1000).toFixed(2)} µs | ${(Math.max(0, r.p50 - overhead) / 1000).toFixed(2)} µs | ${formatNumber(r.heapBytesPerPublish)} B |`,
    ),
  ].join('\n');

  // (b) gRPC, servers in their own processes, clients here.
  const runs = DEFAULT_RUNS;
  const minMs = Math.max(DEFAULT_MIN_RUN_MS, 1000);
  const supplier = await spawnAndWaitForPort(
    [join(REPO_ROOT, 'dist/apps/supplier/src/main.js')],
    { FW_GRPC_PORT: '0', FW_METRICS_PORT: '0', FW_GRPC_HOST: '127.0.0.1', FW_LOG_FORMAT: 'json', FW_SUPPLIER_MAX_FRAME_BYTES: String(4 * 1024 * 1024) },
    /"gRPC listening","address":"[^"]*:(\d+)"/,
  );
  const tables: string[] = [];
  try {
    for (const frameBytes of [64 * 1024, 1024 * 1024]) {
      const bare = await spawnAndWaitForPort([__filename, 'bare-server', String(frameBytes)], {}, /bare listening (\d+)/);
      try {
        for (const workers of [1, 8]) {
          const label = `${frameBytes / 1024} KiB → ${workers} worker${workers > 1 ? 's' : ''}`;
          const bareRuns: number[] = [];
          const pullRuns: number[] = [];
          for (let r = 0; r < runs; r++) {
            bareRuns.push(await measureRate((c) => bareReceivers(bare.port, workers, c), minMs));
            pullRuns.push(await measureRate((c) => supplierReceivers(supplier.port, workers, frameBytes, `${frameBytes}-${workers}-${r}`, c), minMs));
          }
          const result = (name: string, samples: number[]): BenchResult => ({
            name,
            opsPerSec: median(samples),
            mbPerSec: (median(samples) * frameBytes) / 1e6,
            runs: samples,
          });
          tables.push(`**${label}** (messages/s summed over workers)\n\n${resultsTable([result('bare grpc-js server streaming', bareRuns), result('supplier Pull (eager credits)', pullRuns)], 'bare grpc-js server streaming')}`);
        }
      } finally {
        bare.child.kill('SIGKILL');
      }
    }
  } finally {
    supplier.child.kill('SIGTERM');
  }

  writeSection(
    '40-supplier',
    'Frame supplier',
    [
      `In-process publish through \`Publisher.publish\` (validation, inbox, synchronous fan-out to every subscribed worker's mailbox), ${LATENCY_ITERATIONS.toLocaleString('en-US')} single publishes timed with \`process.hrtime.bigint()\`; the timer pair alone costs ${(overhead / 1000).toFixed(2)} µs (p50). Heap growth measured over 1,000,000 publishes between two full GCs.`,
      '',
      latencyTable,
      '',
      'Reference (quoted, not measured here: Go is not installed on this machine): the Go frame supplier this design comes from publishes in about 1 µs and fans out to 64 workers in about 100 µs. Goals: publish p50 ≤ 1 µs, fan-out to 64 workers ≤ 50 µs.',
      '',
      `gRPC delivery on loopback: the supplier process (its Publish fed as fast as it takes frames by this process; ${'Pull'} workers granting ${EAGER_CREDITS} credits up front and one per frame) against a bare @grpc/grpc-js server-streaming loop writing the same message size, each server in its own process, ${runs} interleaved runs of ${minMs} ms.`,
      '',
      tables.join('\n\n'),
    ].join('\n'),
  );
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
