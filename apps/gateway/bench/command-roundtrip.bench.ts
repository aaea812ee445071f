// Command round trip on loopback, every party a real process: a client sends a command to the
// gateway (gRPC SendCommand, and REST POST /api/commands), the gateway pushes it down the target
// worker's SubscribeCommands stream, the worker applies it (worker.set_fps) and acknowledges it with
// AcknowledgeCommand, and the gateway answers the client. One command at a time, as an operator
// sends them. Measured side by side in the same run: a bare @grpc/grpc-js unary round trip to a
// child process (the floor of one gRPC hop on this machine), and a bare node:http2 request/response
// (the transport under grpc-js, without it: the floor of any HTTP/2 hop here). Anchor: the shared-memory and
// named-pipe design framewire grew from, 1.25 ms per command; goal p99 <= 2 ms.
// Run: npm run bench -- command-roundtrip
import * as grpc from '@grpc/grpc-js';
import type { ChildProcess } from 'node:child_process';
import { connect, createServer, type ClientHttp2Session } from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RUNS, median, percentile, spawnBenchServer, writeSection } from '@framewire/bench';
import { AckStatus, CommandRouterClient, SendCommandResponse } from '@framewire/proto';
import { peakResidentMiB, ServiceProcess, startServiceProcess, stopServiceProcess } from '@framewire/testing';

/** The figure of the design this system grew from, per command. */
const ANCHOR_MS = 1.25;
const GOAL_P99_MS = 2;
const GRPC_COMMANDS_PER_RUN = 1000;
const REST_COMMANDS_PER_RUN = 500;
const WARM_UP_COMMANDS = 200;
const TARGET = 'bench-worker';
/** A port nobody listens on: the worker keeps retrying the supplier, which costs it nothing here. */
const ABSENT_SUPPLIER = '127.0.0.1:9';
const DEADLINE_MS = 5_000;

interface Percentiles {
  p50: number;
  p99: number;
  max: number;
}

function percentiles(samplesMs: readonly number[]): Percentiles {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] };
}

/** Child: a bare grpc-js server whose SendCommand answers at once with an empty ack. */
function runBareServer(): void {
  const server = new grpc.Server();
  const definition = {
    sendCommand: {
      path: '/bench.Bare/SendCommand',
      requestStream: false,
      responseStream: false,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    },
  };
  const reply = Buffer.from([0x0a, 0x02, 0x10, 0x01]); // SendCommandResponse { ack { status: SUCCESS } }
  server.addService(definition, { sendCommand: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, reply) });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    process.stdout.write(`listening ${port}\n`);
  });
}

/** Round trips of a bare unary call carrying the same request bytes as SendCommand. */
async function bareRoundTrips(port: number, count: number): Promise<number[]> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const request = Buffer.alloc(80, 0x61);
  const samples: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) =>
        client.makeUnaryRequest('/bench.Bare/SendCommand', (b: Buffer) => b, (b: Buffer) => b, request, { deadline: Date.now() + DEADLINE_MS }, (err) => (err ? reject(err) : resolve())),
      );
      samples.push(performance.now() - t0);
    }
  } finally {
    client.close();
  }
  return samples;
}

/** Child: a bare node:http2 server answering every request with its own body. */
function runHttp2Server(): void {
  const server = createServer();
  server.on('stream', (stream) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.end(Buffer.concat(chunks));
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`));
}

/** Round trips of a bare HTTP/2 POST with the same request bytes, on one session. */
async function http2RoundTrips(session: ClientHttp2Session, count: number): Promise<number[]> {
  const request = Buffer.alloc(80, 0x61);
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': '/bench' });
      stream.setTimeout(DEADLINE_MS, () => {
        reject(new Error(`http2 round trip took over ${DEADLINE_MS} ms`));
        stream.close();
      });
      stream.on('data', () => undefined);
      stream.on('end', resolve);
      stream.on('error', reject);
      stream.end(request);
    });
    samples.push(performance.now() - t0);
  }
  return samples;
}

let sequence = 0;
/** A fresh command each time (a repeated request id would be answered from the gateway's memory). */
function nextCommand() {
  sequence++;
  return { requestId: `bench-${process.pid}-${sequence}`, target: TARGET, type: 'worker.set_fps', payloadJson: JSON.stringify({ fps: 1 + (sequence % 30) }), timeoutMs: 0 };
}

/** Round trips over gRPC SendCommand; also the gateway's own latency (ack.latencyUs). */
async function grpcRoundTrips(client: CommandRouterClient, count: number): Promise<{ client: number[]; gateway: number[] }> {
  const samples = { client: [] as number[], gateway: [] as number[] };
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const response = await new Promise<SendCommandResponse>((resolve, reject) =>
      client.sendCommand({ command: nextCommand() }, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS }, (err, r) => (err ? reject(err) : resolve(r))),
    );
    samples.client.push(performance.now() - t0);
    if (response.ack?.status !== AckStatus.ACK_STATUS_SUCCESS) throw new Error(`command not acknowledged: ${JSON.stringify(response.ack)}`);
    samples.gateway.push(response.ack.latencyUs / 1000);
  }
  return samples;
}

/** Round trips over REST (fetch keeps the connection alive between requests). */
async function restRoundTrips(httpPort: number, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const c = nextCommand();
    const body = JSON.stringify({ requestId: c.requestId, target: c.target, type: c.type, payload: JSON.parse(c.payloadJson) });
    const t0 = performance.now();
    const response = await fetch(`http://127.0.0.1:${httpPort}/api/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(DEADLINE_MS) });
    const ack = (await response.json()) as { status: string };
    samples.push(performance.now() - t0);
    if (response.status !== 200 || ack.status !== 'success') throw new Error(`command not acknowledged: ${response.status} ${JSON.stringify(ack)}`);
  }
  return samples;
}

function waitForSubscription(client: CommandRouterClient): Promise<void> {
  // Until the worker has subscribed, the gateway answers UNKNOWN_TARGET.
  const started = Date.now();
  return new Promise<void>((resolve, reject) => {
    const attempt = (): void => {
      client.sendCommand({ command: nextCommand() }, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS }, (err, r) => {
        if (!err && r.ack?.status === AckStatus.ACK_STATUS_SUCCESS) return resolve();
        if (Date.now() - started > 15_000) return reject(new Error(`the worker never subscribed for commands: ${err?.message ?? JSON.stringify(r.ack)}`));
        setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === 'bare') return runBareServer();
  if (process.argv[2] === 'http2') return runHttp2Server();
  const runs = DEFAULT_RUNS;
  const archiveDir = mkdtempSync(join(tmpdir(), 'fw-bench-commands-'));
  let gateway: ServiceProcess | undefined;
  let worker: ServiceProcess | undefined;
  let bare: { child: ChildProcess; port: number } | undefined;
  let http2: { child: ChildProcess; port: number } | undefined;
  let http2Session: ClientHttp2Session | undefined;
  let client: CommandRouterClient | undefined;
  const perRun = { http2: [] as Percentiles[], bare: [] as Percentiles[], grpc: [] as Percentiles[], gatewayOnly: [] as Percentiles[], rest: [] as Percentiles[] };
  const rss = { gateway: NaN, worker: NaN };
  try {
    gateway = await startServiceProcess('gateway', { FW_ARCHIVE_DIR: archiveDir }, { listeners: ['gRPC', 'HTTP'] });
    worker = await startServiceProcess('worker', { FW_WORKER_ID: TARGET, FW_GATEWAY_ADDRESS: `127.0.0.1:${gateway.port}`, FW_SUPPLIER_ADDRESS: ABSENT_SUPPLIER });
    bare = await spawnBenchServer(__filename, ['bare']);
    http2 = await spawnBenchServer(__filename, ['http2']);
    http2Session = connect(`http://127.0.0.1:${http2.port}`);
    client = new CommandRouterClient(`127.0.0.1:${gateway.port}`, grpc.credentials.createInsecure());
    await waitForSubscription(client);
    await grpcRoundTrips(client, WARM_UP_COMMANDS);
    await restRoundTrips(gateway.ports.HTTP, WARM_UP_COMMANDS);
    await bareRoundTrips(bare.port, WARM_UP_COMMANDS);
    await http2RoundTrips(http2Session, WARM_UP_COMMANDS);
    for (let r = 0; r < runs; r++) {
      perRun.http2.push(percentiles(await http2RoundTrips(http2Session, GRPC_COMMANDS_PER_RUN)));
      perRun.bare.push(percentiles(await bareRoundTrips(bare.port, GRPC_COMMANDS_PER_RUN)));
      const g = await grpcRoundTrips(client, GRPC_COMMANDS_PER_RUN);
      perRun.grpc.push(percentiles(g.client));
      perRun.gatewayOnly.push(percentiles(g.gateway));
      perRun.rest.push(percentiles(await restRoundTrips(gateway.ports.HTTP, REST_COMMANDS_PER_RUN)));
    }
    rss.gateway = peakResidentMiB(gateway.child.pid!);
    rss.worker = peakResidentMiB(worker.child.pid!);
  } finally {
    client?.close();
    http2Session?.close();
    http2?.child.kill('SIGKILL');
    bare?.child.kill('SIGKILL');
    if (worker) await stopServiceProcess(worker);
    if (gateway) await stopServiceProcess(gateway);
    rmSync(archiveDir, { recursive: true, force: true });
  }

  const med = (xs: Percentiles[], key: keyof Percentiles) => median(xs.map((x) => x[key]));
  const row = (name: string, xs: Percentiles[], commands: number) => {
    const p50 = med(xs, 'p50');
    const p99 = med(xs, 'p99');
    return `| ${name} | ${p50.toFixed(3)} | ${p99.toFixed(3)} | ${med(xs, 'max').toFixed(2)} | ${(p99 / ANCHOR_MS).toFixed(2)} | ${(p99 / med(perRun.bare, 'p99')).toFixed(2)} | ${runs} × ${commands} |`;
  };
  const grpcP99 = med(perRun.grpc, 'p99');
  writeSection(
    '55-gateway-command-roundtrip',
    'Gateway: command round trip',
    [
      `One command at a time, on loopback, every party its own process: the benchmark's client → gateway → the worker's SubscribeCommands stream → the worker applies \`worker.set_fps\` → AcknowledgeCommand → gateway → client. Anchor: ${ANCHOR_MS} ms per command, the shared-memory and named-pipe design framewire grew from (a figure, not re-measured here); goal: p99 ≤ ${GOAL_P99_MS} ms. Side by side in the same run, a bare @grpc/grpc-js unary round trip to a child process: one gRPC hop, where a command makes two (SendCommand, and the worker's AcknowledgeCommand) plus a stream push; and a bare node:http2 POST echoed by a child process, the transport under grpc-js without it. Medians over ${runs} runs of each run's percentiles, after ${WARM_UP_COMMANDS} warm-up commands per path.`,
      '',
      `| path | p50 ms | p99 ms | max ms | p99 ÷ anchor (${ANCHOR_MS} ms) | p99 × bare unary | commands |`,
      '|---|---:|---:|---:|---:|---:|---|',
      row('bare node:http2 request/response (one hop, no gRPC)', perRun.http2, GRPC_COMMANDS_PER_RUN),
      row('bare grpc-js unary round trip (one hop)', perRun.bare, GRPC_COMMANDS_PER_RUN),
      row('command over gRPC SendCommand', perRun.grpc, GRPC_COMMANDS_PER_RUN),
      row('  of which inside the gateway (ack.latencyUs: push → ack)', perRun.gatewayOnly, GRPC_COMMANDS_PER_RUN),
      row('command over REST POST /api/commands', perRun.rest, REST_COMMANDS_PER_RUN),
      '',
      `Goal p99 ≤ ${GOAL_P99_MS} ms over gRPC: ${grpcP99 <= GOAL_P99_MS ? 'met' : 'not met'} (${grpcP99.toFixed(3)} ms; two hops at the bare grpc-js hop's p99 of ${med(perRun.bare, 'p99').toFixed(3)} ms would be ${(2 * med(perRun.bare, 'p99')).toFixed(3)} ms). Peak RSS: gateway ${rss.gateway.toFixed(0)} MiB, worker ${rss.worker.toFixed(0)} MiB.`,
    ].join('\n'),
  );
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
