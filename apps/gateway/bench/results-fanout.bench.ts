// Results fan-out through the gateway's real gRPC ResultHub (ResultHub + resultHubGrpcService, in
// its own process, publishing in-process) to 1 and 16 SubscribeResults subscribers, against a bare
// @grpc/grpc-js server-streaming loop writing the same encoded messages to the same number of
// clients, measured side by side in one run. Two measures: throughput (the server publishes as fast
// as it can; results/s delivered per subscriber) and delivery latency p50/p99 at a paced 400
// results/s (subscriber receive time − publish time).
// Run: flock /tmp/fw-build.lock npm run build && FW_BENCH_RUNS=3 node --expose-gc dist/apps/gateway/bench/results-fanout.bench.js
import * as grpc from '@grpc/grpc-js';
import { ConsoleLogger } from '@nestjs/common';
import { BenchResult, DEFAULT_MIN_RUN_MS, DEFAULT_RUNS, median, percentile, resultsTable, spawnBenchServer, writeSection } from '@framewire/bench';
import { Result, ResultHubClient, ResultHubService, ResultKind, SubscribeResultsResponse } from '@framewire/proto';
import { exampleResult, nowMicros, ResultHub, resultHubGrpcService, resultHubServiceDefinition } from '@framewire/results';

const SUBSCRIBER_COUNTS = [1, 16];
const WARM_UP_MS = 300;
/** Throughput mode: results published per event-loop turn. */
const PUBLISH_BATCH = 8;
/** Latency mode: PACED_BATCH results every PACED_INTERVAL_MS (400 results/s). */
const PACED_INTERVAL_MS = 5;
const PACED_BATCH = 2;
const DETECTIONS_PER_RESULT = 20;
const RESULT_POOL_SIZE = 1024;
const CLIENT_OPTIONS = { 'grpc.use_local_subchannel_pool': 1 };

/** A detections result of about 600 bytes, stamped with `sequence` and the current time. */
function benchResult(sequence: number): Result {
  const r = exampleResult(ResultKind.RESULT_KIND_DETECTIONS, { streamId: 'bench', workerId: 'w1', frameSequence: sequence, captureTimeUs: nowMicros() });
  r.detections!.detections = Array.from({ length: DETECTIONS_PER_RESULT }, (_, i) => ({
    box: { x: i * 10, y: i * 5, width: 30, height: 40 },
    score: Math.fround(0.5 + i / 100),
    classId: i,
    label: 'blob',
  }));
  return r;
}

async function listen(definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): Promise<number> {
  const server = new grpc.Server();
  server.addService(definition, implementation);
  return new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))));
}

/** Child: a bare grpc-js server; SubscribeResults writes pre-encoded responses, respecting drain.
 *  Throughput: one encoded message written as fast as the stream takes it. Paced: a new message
 *  (fresh timestamp, encoded once) to every client every tick. */
async function runBare(paced: boolean): Promise<void> {
  const calls = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  const encode = (seq: number): Buffer => Buffer.from(SubscribeResultsResponse.encode({ result: benchResult(seq) }).finish());
  const fixed = encode(1);
  const unimplemented = (_call: unknown, callback: (err: Partial<grpc.StatusObject>) => void): void => callback({ code: grpc.status.UNIMPLEMENTED, details: 'bare' });
  const definition = { ...ResultHubService, subscribeResults: { ...ResultHubService.subscribeResults, responseSerialize: (b: Buffer) => b } };
  const port = await listen(definition as unknown as grpc.ServiceDefinition, {
    publishResults: unimplemented,
    replay: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
    subscribeResults: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      calls.add(call);
      call.on('cancelled', () => calls.delete(call));
      if (paced) return;
      const pump = (): void => {
        while (calls.has(call)) if (!call.write(fixed)) return void call.once('drain', pump);
      };
      pump();
    },
  });
  if (paced) {
    let seq = 0;
    setInterval(() => {
      for (let i = 0; i < PACED_BATCH; i++) {
        const message = encode(++seq);
        // A client that cannot take it loses it (as the hub's policy would, without a queue).
        for (const call of calls) if (!call.writableNeedDrain) call.write(message);
      }
    }, PACED_INTERVAL_MS);
  }
  process.stdout.write(`listening ${port}\n`);
}

/** Child: the gateway's ResultHub service, publishing in-process. */
async function runHub(paced: boolean): Promise<void> {
  const hub = new ResultHub();
  const logger = new ConsoleLogger('bench', { logLevels: ['error'] });
  const port = await listen(resultHubServiceDefinition as unknown as grpc.ServiceDefinition, resultHubGrpcService(hub, { archiveDirectory: '/nonexistent', logger }));
  let seq = 0;
  if (paced) {
    setInterval(() => {
      for (let i = 0; i < PACED_BATCH; i++) hub.publish(benchResult(++seq));
    }, PACED_INTERVAL_MS);
  } else {
    // Results built beforehand (a real gateway decodes them from PublishResults instead): what is
    // measured is validation, one encoding per result, and the fan-out.
    const pool = Array.from({ length: RESULT_POOL_SIZE }, (_, i) => benchResult(i + 1));
    const publishBatch = (): void => {
      if (hub.subscriberCount > 0) for (let i = 0; i < PUBLISH_BATCH; i++) hub.publish(pool[++seq % RESULT_POOL_SIZE]);
      setImmediate(publishBatch);
    };
    publishBatch();
  }
  process.stdout.write(`listening ${port}\n`);
}

/** `count` subscribers, each on its own connection; onData gets each received result. */
function subscribers(port: number, count: number, onData: (r: SubscribeResultsResponse) => void): () => void {
  const clients = Array.from({ length: count }, () => new ResultHubClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CLIENT_OPTIONS));
  const calls = clients.map((client) => {
    const call = client.subscribeResults({ streamId: '', workerId: '', kinds: [] });
    call.on('data', onData);
    call.on('error', () => undefined);
    return call;
  });
  return () => {
    for (const c of calls) c.cancel();
    for (const c of clients) c.close();
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Results per second per subscriber over `ms`, after a warm-up. */
async function measureRate(port: number, count: number, ms: number): Promise<number> {
  let n = 0;
  const close = subscribers(port, count, () => void n++);
  await sleep(WARM_UP_MS);
  const n0 = n;
  const t0 = performance.now();
  await sleep(ms);
  const rate = ((n - n0) * 1000) / (performance.now() - t0) / count;
  close();
  await sleep(100);
  return rate;
}

/** Delivery latency samples (µs) over `ms`, after a warm-up. */
async function measureLatency(port: number, count: number, ms: number): Promise<number[]> {
  const samples: number[] = [];
  let recording = false;
  const close = subscribers(port, count, (m) => {
    if (recording && m.result) samples.push(nowMicros() - m.result.captureTimeUs);
  });
  await sleep(WARM_UP_MS);
  recording = true;
  await sleep(ms);
  recording = false;
  close();
  await sleep(100);
  return samples;
}

async function main(): Promise<void> {
  const [mode] = process.argv.slice(2);
  if (mode === 'bare') return runBare(false);
  if (mode === 'bare-paced') return runBare(true);
  if (mode === 'hub') return runHub(false);
  if (mode === 'hub-paced') return runHub(true);

  const runs = DEFAULT_RUNS;
  const minMs = Math.max(DEFAULT_MIN_RUN_MS, 1000);
  const servers = { bare: await spawnBenchServer(__filename, ['bare']), hub: await spawnBenchServer(__filename, ['hub']), barePaced: await spawnBenchServer(__filename, ['bare-paced']), hubPaced: await spawnBenchServer(__filename, ['hub-paced']) };
  const tables: string[] = [];
  const latencyRows: string[] = ['| subscribers | server | p50 µs | p99 µs | samples |', '|---:|---|---:|---:|---:|'];
  const ratios: string[] = [];
  try {
    for (const count of SUBSCRIBER_COUNTS) {
      const bareRuns: number[] = [];
      const hubRuns: number[] = [];
      const bareLatency: number[] = [];
      const hubLatency: number[] = [];
      for (let r = 0; r < runs; r++) {
        bareRuns.push(await measureRate(servers.bare.port, count, minMs));
        hubRuns.push(await measureRate(servers.hub.port, count, minMs));
        bareLatency.push(...(await measureLatency(servers.barePaced.port, count, minMs)));
        hubLatency.push(...(await measureLatency(servers.hubPaced.port, count, minMs)));
      }
      const result = (name: string, samples: number[]): BenchResult => ({ name, opsPerSec: median(samples), runs: samples });
      const anchor = 'bare grpc-js server streaming';
      tables.push(`**${count} subscriber${count > 1 ? 's' : ''}** (results/s per subscriber)\n\n${resultsTable([result(anchor, bareRuns), result('gateway ResultHub', hubRuns)], anchor)}`);
      ratios.push(`${count} subscriber${count > 1 ? 's' : ''}: ${(median(hubRuns) / median(bareRuns)).toFixed(2)}`);
      for (const [name, samples] of [['bare', bareLatency], ['ResultHub', hubLatency]] as const) {
        const sorted = [...samples].sort((a, b) => a - b);
        latencyRows.push(`| ${count} | ${name} | ${Math.round(percentile(sorted, 0.5))} | ${Math.round(percentile(sorted, 0.99))} | ${sorted.length} |`);
      }
    }
  } finally {
    for (const s of Object.values(servers)) s.child.kill('SIGKILL');
  }
  writeSection(
    '50-gateway-results-fanout',
    'Gateway: results fan-out to SubscribeResults subscribers',
    [
      `The gateway's gRPC ResultHub (ResultHub + resultHubGrpcService with its pre-encoded responses, in its own process, publishing detection results of about 600 bytes in-process from a pool of ${RESULT_POOL_SIZE} pre-built ones, ${PUBLISH_BATCH} per event-loop turn, each validated and encoded once) against a bare @grpc/grpc-js server whose SubscribeResults writes the same encoded message as fast as each stream takes it. Subscribers run in the benchmark process, each on its own connection. ${runs} interleaved runs of ${minMs} ms after a ${WARM_UP_MS} ms warm-up.`,
      '',
      tables.join('\n\n'),
      '',
      `Ratio ResultHub / bare (median): ${ratios.join('; ')}.`,
      '',
      `Delivery latency (subscriber receive time − publish time, wall clocks of two processes on one host) at a paced ${(PACED_BATCH * 1000) / PACED_INTERVAL_MS} results/s, all runs pooled:`,
      '',
      latencyRows.join('\n'),
      '',
      'Peak RSS above is the benchmark (client) process.',
    ].join('\n'),
  );
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
