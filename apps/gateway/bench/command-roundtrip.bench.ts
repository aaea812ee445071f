// Command round trip on loopback, every party a real process: a client sends a command to the
// gateway (gRPC StreamCommands, the streaming path; gRPC SendCommand; REST POST /api/commands; the
// Python example client's SendCommand), the gateway pushes it down the target worker's
// ListenCommands call, the worker applies it (worker.set_fps) and acknowledges it on that call, and
// the gateway answers the client. One command at a time, as an operator sends them. Measured side
// by side in the same run: a bare @grpc/grpc-js unary round trip and a bare grpc-js bidirectional
// stream round trip to a child process (the floors of one gRPC hop on this machine), and a bare
// node:http2 request/response (the transport under grpc-js, without it). Anchor: the shared-memory
// and named-pipe design framewire grew from, 1.25 ms per command; goals: p99 <= 2 ms over the
// streaming path, <= 3 ms over SendCommand. Where the tail comes from: each of the slowest 1% of
// commands is checked against the GC pauses of the client, the gateway and the worker (the services
// run with tools/bench/gc-watch.cjs preloaded), and two busy loops measure how long a thread waits
// for a CPU on this machine when both are taken.
// Run: npm run bench -- command-roundtrip
import * as grpc from '@grpc/grpc-js';
import { execFile, execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer, type ClientHttp2Session } from 'node:http2';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { join } from 'node:path';
import { DEFAULT_RUNS, median, percentile, spawnBenchServer, writeSection } from '@framewire/bench';
import { CommandStream, openCommandStream } from '@framewire/commands';
import { AckStatus, CommandRouterClient, SendCommandResponse } from '@framewire/proto';
import { peakResidentMiB, REPO_ROOT, ServiceProcess, startServiceProcess, stopServiceProcess } from '@framewire/testing';

/** The figure of the design this system grew from, per command. */
const ANCHOR_MS = 1.25;
const GOAL_STREAM_P99_MS = 2;
const GOAL_SEND_COMMAND_P99_MS = 3;
const PYTHON = '/usr/bin/python3';
const PYTHON_COMMANDS_PER_RUN = 500;
const GRPC_COMMANDS_PER_RUN = 1000;
const REST_COMMANDS_PER_RUN = 500;
const WARM_UP_COMMANDS = 200;
const TARGET = 'bench-worker';
/** A port nobody listens on: the worker keeps retrying the supplier, which costs it nothing here. */
const ABSENT_SUPPLIER = '127.0.0.1:9';
const DEADLINE_MS = 5_000;
/** Preloaded into the gateway and the worker: their GC pauses, written to FW_BENCH_GC_FILE. */
const GC_WATCH = join(REPO_ROOT, 'tools', 'bench', 'gc-watch.cjs');
/** How long each busy loop of the scheduler measurement runs, and the gap it counts as a wait. */
const BUSY_LOOP_MS = 3_000;
const BUSY_GAP_MS = 1;

/** [start, end] in milliseconds since the epoch: a command's round trip, or a GC pause. */
type Span = readonly [number, number];
const epochNow = (): number => performance.timeOrigin + performance.now();

/** This process's (the client's) GC pauses while the benchmark runs. */
const clientPauses: Span[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) clientPauses.push([performance.timeOrigin + e.startTime, performance.timeOrigin + e.startTime + e.duration]);
}).observe({ entryTypes: ['gc'] });

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
  const raw = (b: Buffer) => b;
  const definition = {
    sendCommand: { path: '/bench.Bare/SendCommand', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
    echo: { path: '/bench.Bare/Echo', requestStream: true, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
  };
  const reply = Buffer.from([0x0a, 0x02, 0x10, 0x01]); // SendCommandResponse { ack { status: SUCCESS } }
  server.addService(definition, {
    sendCommand: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, reply),
    echo: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => call.on('data', () => call.write(reply)).on('end', () => call.end()),
  });
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

/** Round trips of one message each way on one long-lived bare bidirectional call. */
async function bareStreamRoundTrips(port: number, count: number): Promise<number[]> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest('/bench.Bare/Echo', (b: Buffer) => b, (b: Buffer) => b);
  const request = Buffer.alloc(80, 0x61);
  const samples: number[] = [];
  let answered: (() => void) | undefined;
  call.on('data', () => answered?.());
  call.on('error', () => undefined);
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        answered = resolve;
        call.write(request);
      });
      samples.push(performance.now() - t0);
    }
  } finally {
    call.cancel();
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

/** A path's round trips: the client's milliseconds, the gateway's own (ack.latencyUs), and when. */
interface RoundTrips {
  client: number[];
  gateway: number[];
  spans: Span[];
}

/** The round trips at or above their run's p99, over every run. */
function slowest(runs: readonly Span[][]): Span[] {
  return runs.flatMap((spans) => {
    const p99 = percentile(spans.map(([a, b]) => b - a).sort((x, y) => x - y), 0.99);
    return spans.filter(([a, b]) => b - a >= p99);
  });
}

const overlaps = (span: Span, pauses: readonly Span[]): boolean => pauses.some(([start, end]) => start < span[1] && end > span[0]);

/** Of the slowest round trips, how many a GC pause of each process overlapped, and how many none did. */
function tailCauses(slow: readonly Span[], pauses: Record<string, readonly Span[]>): string {
  const parts = Object.entries(pauses).map(([who, list]) => `${slow.filter((s) => overlaps(s, list)).length} during a GC pause of the ${who}`);
  const none = slow.filter((s) => Object.values(pauses).every((list) => !overlaps(s, list))).length;
  return `${parts.join(', ')}; ${none} during none`;
}

/** Child: spins for BUSY_LOOP_MS and prints the gaps over BUSY_GAP_MS in its own running (time it
 *  was not on a CPU), as JSON. */
function runBusyLoop(): void {
  const gaps: number[] = [];
  const end = performance.now() + BUSY_LOOP_MS;
  let last = performance.now();
  for (let now = last; now < end; now = performance.now()) {
    if (now - last > BUSY_GAP_MS) gaps.push(now - last);
    last = now;
  }
  process.stdout.write(JSON.stringify(gaps));
}

/** Two busy loops at once, one per core of this 2-core machine: how often, and for how long, a
 *  thread that wants a CPU waits for one while both are taken (the other processes, the kernel). */
async function schedulerWaits(): Promise<{ perSecond: number; medianMs: number; maxMs: number }> {
  const loop = () =>
    new Promise<number[]>((resolve, reject) =>
      execFile(process.execPath, [__filename, 'busy'], { timeout: BUSY_LOOP_MS + 10_000 }, (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout) as number[]))),
    );
  const gaps = (await Promise.all([loop(), loop()])).flat().sort((a, b) => a - b);
  return { perSecond: gaps.length / 2 / (BUSY_LOOP_MS / 1000), medianMs: percentile(gaps, 0.5), maxMs: gaps.length > 0 ? gaps[gaps.length - 1] : NaN };
}

function readPauses(file: string): Span[] {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Span[]) : [];
}

/** Round trips over gRPC SendCommand; also the gateway's own latency (ack.latencyUs). */
async function grpcRoundTrips(client: CommandRouterClient, count: number): Promise<RoundTrips> {
  const samples: RoundTrips = { client: [], gateway: [], spans: [] };
  for (let i = 0; i < count; i++) {
    const t0 = epochNow();
    const response = await new Promise<SendCommandResponse>((resolve, reject) =>
      client.sendCommand({ command: nextCommand() }, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS }, (err, r) => (err ? reject(err) : resolve(r))),
    );
    const t1 = epochNow();
    samples.client.push(t1 - t0);
    samples.spans.push([t0, t1]);
    if (response.ack?.status !== AckStatus.ACK_STATUS_SUCCESS) throw new Error(`command not acknowledged: ${JSON.stringify(response.ack)}`);
    samples.gateway.push(response.ack.latencyUs / 1000);
  }
  return samples;
}

/** Round trips over one long-lived StreamCommands call; also the gateway's own latency. */
async function streamRoundTrips(stream: CommandStream, count: number): Promise<RoundTrips> {
  const samples: RoundTrips = { client: [], gateway: [], spans: [] };
  for (let i = 0; i < count; i++) {
    const t0 = epochNow();
    const response = await stream.send(nextCommand());
    const t1 = epochNow();
    samples.client.push(t1 - t0);
    samples.spans.push([t0, t1]);
    if (response.ack?.status !== AckStatus.ACK_STATUS_SUCCESS) throw new Error(`command not acknowledged: ${JSON.stringify(response.ack)}`);
    samples.gateway.push(response.ack.latencyUs / 1000);
  }
  return samples;
}

/** The Python example client (examples/python, Consumer.send_command: SendCommand) in a process of
 *  its own, timing `count` commands after `warmUp`; undefined with the reason when Python's grpcio
 *  or protoc is missing. */
function pythonRoundTrips(stubs: string | undefined, grpcPort: number, count: number, warmUp: number): number[] | string {
  if (stubs === undefined) return 'not measured: /usr/bin/python3 with grpcio, protoc and grpc_python_plugin are needed';
  const script = [
    'import json, sys, time',
    `sys.path.insert(0, ${JSON.stringify(join(REPO_ROOT, 'examples/python'))})`,
    'import framewire_client as fw',
    `c = fw.Consumer("127.0.0.1:${grpcPort}")`,
    'samples = []',
    `for i in range(${warmUp + count}):`,
    '    t0 = time.perf_counter()',
    `    ack = c.send_command(${JSON.stringify(TARGET)}, "worker.set_fps", {"fps": 1 + i % 30}, timeout_ms=${DEADLINE_MS})`,
    '    dt = (time.perf_counter() - t0) * 1000',
    '    if ack.status != 1: raise SystemExit("not acknowledged: %s" % ack)',
    `    if i >= ${warmUp}: samples.append(dt)`,
    'print(json.dumps(samples))',
  ].join('\n');
  const run = spawnSync(PYTHON, ['-c', script], { env: { PATH: process.env.PATH ?? '', FW_PYTHON_STUBS: stubs }, encoding: 'utf8', timeout: 120_000 });
  if (run.status !== 0) throw new Error(`the Python client failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as number[];
}

/** Python stubs generated from proto/ into `dir`, or undefined when the tools are missing. */
function pythonStubs(dir: string): string | undefined {
  try {
    execFileSync(PYTHON, ['-c', 'import grpc'], { stdio: 'ignore' });
    execFileSync('bash', [join(REPO_ROOT, 'examples/python/generate.sh'), dir], { stdio: 'ignore' });
    return dir;
  } catch {
    return undefined;
  }
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
  if (process.argv[2] === 'busy') return runBusyLoop();
  const runs = DEFAULT_RUNS;
  const archiveDir = mkdtempSync(join(tmpdir(), 'fw-bench-commands-'));
  let gateway: ServiceProcess | undefined;
  let worker: ServiceProcess | undefined;
  let bare: { child: ChildProcess; port: number } | undefined;
  let http2: { child: ChildProcess; port: number } | undefined;
  let http2Session: ClientHttp2Session | undefined;
  let client: CommandRouterClient | undefined;
  let stream: CommandStream | undefined;
  const perRun = {
    http2: [] as Percentiles[],
    bare: [] as Percentiles[],
    bareStream: [] as Percentiles[],
    stream: [] as Percentiles[],
    streamGatewayOnly: [] as Percentiles[],
    grpc: [] as Percentiles[],
    gatewayOnly: [] as Percentiles[],
    rest: [] as Percentiles[],
    python: [] as Percentiles[],
  };
  const spans = { grpc: [] as Span[][], stream: [] as Span[][] };
  const gcFile = (service: string) => join(archiveDir, `gc-${service}.json`);
  const gcWatch = (service: string) => ({ NODE_OPTIONS: `--require "${GC_WATCH}"`, FW_BENCH_GC_FILE: gcFile(service) });
  let servicePauses: Record<string, Span[]> = {};
  let scheduler: { perSecond: number; medianMs: number; maxMs: number } | undefined;
  let pythonProblem: string | undefined;
  const stubs = pythonStubs(join(archiveDir, 'python-stubs'));
  const rss = { gateway: NaN, worker: NaN };
  try {
    gateway = await startServiceProcess('gateway', { FW_ARCHIVE_DIR: archiveDir, ...gcWatch('gateway') }, { listeners: ['gRPC', 'HTTP'] });
    worker = await startServiceProcess('worker', { FW_WORKER_ID: TARGET, FW_GATEWAY_ADDRESS: `127.0.0.1:${gateway.port}`, FW_SUPPLIER_ADDRESS: ABSENT_SUPPLIER, ...gcWatch('worker') });
    bare = await spawnBenchServer(__filename, ['bare']);
    http2 = await spawnBenchServer(__filename, ['http2']);
    http2Session = connect(`http://127.0.0.1:${http2.port}`);
    client = new CommandRouterClient(`127.0.0.1:${gateway.port}`, grpc.credentials.createInsecure());
    await waitForSubscription(client);
    stream = openCommandStream(client);
    await streamRoundTrips(stream, WARM_UP_COMMANDS);
    await grpcRoundTrips(client, WARM_UP_COMMANDS);
    await bareStreamRoundTrips(bare.port, WARM_UP_COMMANDS);
    await restRoundTrips(gateway.ports.HTTP, WARM_UP_COMMANDS);
    await bareRoundTrips(bare.port, WARM_UP_COMMANDS);
    await http2RoundTrips(http2Session, WARM_UP_COMMANDS);
    scheduler = await schedulerWaits();
    for (let r = 0; r < runs; r++) {
      perRun.http2.push(percentiles(await http2RoundTrips(http2Session, GRPC_COMMANDS_PER_RUN)));
      perRun.bare.push(percentiles(await bareRoundTrips(bare.port, GRPC_COMMANDS_PER_RUN)));
      perRun.bareStream.push(percentiles(await bareStreamRoundTrips(bare.port, GRPC_COMMANDS_PER_RUN)));
      const s = await streamRoundTrips(stream, GRPC_COMMANDS_PER_RUN);
      perRun.stream.push(percentiles(s.client));
      perRun.streamGatewayOnly.push(percentiles(s.gateway));
      spans.stream.push(s.spans);
      const g = await grpcRoundTrips(client, GRPC_COMMANDS_PER_RUN);
      perRun.grpc.push(percentiles(g.client));
      perRun.gatewayOnly.push(percentiles(g.gateway));
      spans.grpc.push(g.spans);
      perRun.rest.push(percentiles(await restRoundTrips(gateway.ports.HTTP, REST_COMMANDS_PER_RUN)));
      const py = pythonRoundTrips(stubs, gateway.port, PYTHON_COMMANDS_PER_RUN, r === 0 ? WARM_UP_COMMANDS : 50);
      if (typeof py === 'string') pythonProblem = py;
      else perRun.python.push(percentiles(py));
    }
    rss.gateway = peakResidentMiB(gateway.child.pid!);
    rss.worker = peakResidentMiB(worker.child.pid!);
  } finally {
    stream?.cancel();
    client?.close();
    http2Session?.close();
    http2?.child.kill('SIGKILL');
    bare?.child.kill('SIGKILL');
    if (worker) await stopServiceProcess(worker);
    if (gateway) await stopServiceProcess(gateway);
    // Written at exit too: complete once the services have stopped.
    servicePauses = { gateway: readPauses(gcFile('gateway')), worker: readPauses(gcFile('worker')) };
    rmSync(archiveDir, { recursive: true, force: true });
  }

  const med = (xs: Percentiles[], key: keyof Percentiles) => median(xs.map((x) => x[key]));
  const row = (name: string, xs: Percentiles[], commands: number) => {
    const p50 = med(xs, 'p50');
    const p99 = med(xs, 'p99');
    return `| ${name} | ${p50.toFixed(3)} | ${p99.toFixed(3)} | ${med(xs, 'max').toFixed(2)} | ${(p99 / ANCHOR_MS).toFixed(2)} | ${(p99 / med(perRun.bare, 'p99')).toFixed(2)} | ${runs} × ${commands} |`;
  };
  const grpcP99 = med(perRun.grpc, 'p99');
  const pauses = { client: clientPauses, ...servicePauses };
  const slowGrpc = slowest(spans.grpc);
  const slowStream = slowest(spans.stream);
  const streamP99 = med(perRun.stream, 'p99');
  writeSection(
    '55-gateway-command-roundtrip',
    'Gateway: command round trip',
    [
      `One command at a time, on loopback, every party its own process: the benchmark's client → gateway → the worker's ListenCommands call → the worker applies \`worker.set_fps\` → its ack on the same call → gateway → client. Anchor: ${ANCHOR_MS} ms per command, the shared-memory and named-pipe design framewire grew from (a figure, not re-measured here); goals: p99 ≤ ${GOAL_STREAM_P99_MS} ms over the streaming path (StreamCommands), ≤ ${GOAL_SEND_COMMAND_P99_MS} ms over SendCommand. Side by side in the same run: a bare @grpc/grpc-js unary round trip to a child process (one gRPC hop with a call's setup), a bare grpc-js bidirectional stream round trip (one message each way on a long-lived call: the floor of the streaming path, where a command makes two such hops), and a bare node:http2 POST echoed by a child process. The Python row is examples/python's client (SendCommand, grpcio) in a process of its own. Medians over ${runs} runs of each run's percentiles, after ${WARM_UP_COMMANDS} warm-up commands per path.`,
      '',
      `| path | p50 ms | p99 ms | max ms | p99 ÷ anchor (${ANCHOR_MS} ms) | p99 × bare unary | commands |`,
      '|---|---:|---:|---:|---:|---:|---|',
      row('bare node:http2 request/response (one hop, no gRPC)', perRun.http2, GRPC_COMMANDS_PER_RUN),
      row('bare grpc-js unary round trip (one hop)', perRun.bare, GRPC_COMMANDS_PER_RUN),
      row('bare grpc-js bidi stream round trip (one hop, long-lived call)', perRun.bareStream, GRPC_COMMANDS_PER_RUN),
      row('command over gRPC StreamCommands (the streaming path)', perRun.stream, GRPC_COMMANDS_PER_RUN),
      row('  of which inside the gateway (ack.latencyUs: push → ack)', perRun.streamGatewayOnly, GRPC_COMMANDS_PER_RUN),
      row('command over gRPC SendCommand', perRun.grpc, GRPC_COMMANDS_PER_RUN),
      row('  of which inside the gateway (ack.latencyUs: push → ack)', perRun.gatewayOnly, GRPC_COMMANDS_PER_RUN),
      row('command over REST POST /api/commands', perRun.rest, REST_COMMANDS_PER_RUN),
      perRun.python.length > 0 ? row('command from the Python client (SendCommand, grpcio)', perRun.python, PYTHON_COMMANDS_PER_RUN) : `| command from the Python client | ${pythonProblem ?? 'not measured'} | | | | | |`,
      '',
      `Goal p99 ≤ ${GOAL_STREAM_P99_MS} ms over the streaming path: ${streamP99 <= GOAL_STREAM_P99_MS ? 'met' : 'not met'} (${streamP99.toFixed(3)} ms). Goal p99 ≤ ${GOAL_SEND_COMMAND_P99_MS} ms over SendCommand: ${grpcP99 <= GOAL_SEND_COMMAND_P99_MS ? 'met' : 'not met'} (${grpcP99.toFixed(3)} ms). Peak RSS: gateway ${rss.gateway.toFixed(0)} MiB, worker ${rss.worker.toFixed(0)} MiB.`,
      '',
      `Where the tail comes from. The slowest 1% of each run (round trips at or above the run's p99), over the ${runs} runs, against the GC pauses of each process (the client's observed here, the gateway's and the worker's by tools/bench/gc-watch.cjs): SendCommand, ${slowGrpc.length} commands: ${tailCauses(slowGrpc, pauses)}. StreamCommands, ${slowStream.length} commands: ${tailCauses(slowStream, pauses)}.` +
        (scheduler && scheduler.perSecond === 0 ? ` Two busy loops at once (one per core) for ${BUSY_LOOP_MS / 1000} s were never off their CPU for over ${BUSY_GAP_MS} ms.` : '') +
        (scheduler && scheduler.perSecond > 0
          ? ` A thread waiting for a CPU: two busy loops at once (one per core) for ${BUSY_LOOP_MS / 1000} s, before the runs, were each off their CPU for over ${BUSY_GAP_MS} ms ${scheduler.perSecond.toFixed(1)} times a second, median ${scheduler.medianMs.toFixed(2)} ms, longest ${scheduler.maxMs.toFixed(2)} ms.`
          : ''),
    ].join('\n'),
  );
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
