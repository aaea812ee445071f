// Where a command's tail comes from, side by side: one round trip of the same small message over
// the pieces a command is made of, each in a child process on loopback. A grpc-js unary call with
// and without a deadline (timers), a grpc-js bidirectional stream carrying one message each way per
// round trip (no per-call setup, no HTTP/2 stream creation), both over TCP and over a Unix domain
// socket, and the unary call with ts-proto's codecs on a plain grpc.Server and on GrpcServerHost
// (its request-decoding interceptor and connection listener). GC pauses seen by the client during
// each case are summed (PerformanceObserver 'gc'). docs/commands.md "Latency" reads these figures.
// Run: npm run bench -- command-tail
import * as grpc from '@grpc/grpc-js';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { DEFAULT_RUNS, median, percentile, writeSection } from '@framewire/bench';
import { AckStatus, CommandRouterClient, CommandRouterService, SendCommandRequest, SendCommandResponse } from '@framewire/proto';
import { GrpcServerHost } from '@framewire/service-runtime';

const ROUND_TRIPS_PER_RUN = 2000;
const WARM_UP = 500;
const DEADLINE_MS = 5_000;
const REQUEST = Buffer.alloc(80, 0x61);
/** SendCommandResponse { ack { status: SUCCESS } } */
const REPLY = Buffer.from([0x0a, 0x02, 0x10, 0x01]);
const raw = (b: Buffer): Buffer => b;

const BARE = {
  unary: { path: '/bench.Bare/Unary', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
  echo: { path: '/bench.Bare/Echo', requestStream: true, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
};

const silent = { log: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined, verbose: () => undefined };

/** Child: every server of the comparison; prints `listening <bare tcp> <typed plain> <typed host> <unix path>`. */
async function runServers(): Promise<void> {
  const bare = new grpc.Server();
  bare.addService(BARE, {
    unary: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, REPLY),
    echo: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => call.on('data', () => call.write(REPLY)).on('end', () => call.end()),
  });
  const ack = { ack: { requestId: 'r', status: AckStatus.ACK_STATUS_SUCCESS, message: '', responder: '', latencyUs: 0 }, memberAcks: [] };
  const typed = {
    sendCommand: (_call: unknown, callback: grpc.sendUnaryData<SendCommandResponse>) => callback(null, ack),
    subscribeCommands: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
    acknowledgeCommand: (_call: unknown, callback: grpc.sendUnaryData<object>) => callback(null, {}),
  } as unknown as grpc.UntypedServiceImplementation;
  const plain = new grpc.Server();
  plain.addService(CommandRouterService, typed);
  const bind = (server: grpc.Server, address: string) =>
    new Promise<number>((resolve, reject) => server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
  const socketDir = mkdtempSync(join(tmpdir(), 'fw-bench-tail-'));
  const socketPath = join(socketDir, 'bare.sock');
  const bareTcp = await bind(bare, '127.0.0.1:0');
  await bind(bare, `unix:${socketPath}`);
  const plainPort = await bind(plain, '127.0.0.1:0');
  const host = new GrpcServerHost({ host: '127.0.0.1', port: 0, protoFiles: ['framewire/v1/gateway.proto'], logger: silent, services: [{ name: 'framewire.v1.CommandRouter', definition: CommandRouterService, implementation: typed }] });
  const hostPort = await host.start();
  process.on('exit', () => rmSync(socketDir, { recursive: true, force: true }));
  process.stdout.write(`listening ${bareTcp} ${plainPort} ${hostPort} ${socketPath}\n`);
}

async function spawnServers(): Promise<{ child: ChildProcess; bareTcp: number; plain: number; host: number; socketPath: string }> {
  const child = spawn(process.execPath, [__filename, 'servers'], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const m = /listening (\d+) (\d+) (\d+) (\S+)\n/.exec(text);
      if (m) resolve({ child, bareTcp: Number(m[1]), plain: Number(m[2]), host: Number(m[3]), socketPath: m[4] });
    });
    child.once('exit', (code) => reject(new Error(`servers exited with ${code}: ${text}`)));
  });
}

type RoundTrip = () => Promise<void>;

function bareUnary(client: grpc.Client, withDeadline: boolean): RoundTrip {
  return () =>
    new Promise<void>((resolve, reject) =>
      client.makeUnaryRequest(BARE.unary.path, raw, raw, REQUEST, withDeadline ? { deadline: Date.now() + DEADLINE_MS } : {}, (err) => (err ? reject(err) : resolve())),
    );
}

/** One message out and its answer back on a long-lived bidirectional call. */
function bareStream(client: grpc.Client): { roundTrip: RoundTrip; close: () => void } {
  const call = client.makeBidiStreamRequest(BARE.echo.path, raw, raw);
  let waiting: (() => void) | undefined;
  call.on('data', () => {
    const w = waiting;
    waiting = undefined;
    w?.();
  });
  call.on('error', () => undefined);
  return {
    roundTrip: () =>
      new Promise<void>((resolve) => {
        waiting = resolve;
        call.write(REQUEST);
      }),
    close: () => call.cancel(),
  };
}

function typedUnary(client: CommandRouterClient): RoundTrip {
  const request: SendCommandRequest = { command: { requestId: 'bench-1', target: 'bench-worker', type: 'worker.set_fps', payloadJson: '{"fps":10}', timeoutMs: 0 } };
  return () =>
    new Promise<void>((resolve, reject) => client.sendCommand(request, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS }, (err) => (err ? reject(err) : resolve())));
}

interface CaseResult {
  p50: number;
  p99: number;
  max: number;
  gcMsPer1000: number;
}

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });

async function measure(roundTrip: RoundTrip, count: number): Promise<CaseResult> {
  const samples: number[] = [];
  const gcBefore = gcMs;
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await roundTrip();
    samples.push(performance.now() - t0);
  }
  // Let the observer deliver this case's GC entries.
  await new Promise((r) => setImmediate(r));
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), max: samples[samples.length - 1], gcMsPer1000: ((gcMs - gcBefore) / count) * 1000 };
}

async function main(): Promise<void> {
  if (process.argv[2] === 'servers') return runServers();
  const servers = await spawnServers();
  const insecure = grpc.credentials.createInsecure();
  const tcp = new grpc.Client(`127.0.0.1:${servers.bareTcp}`, insecure);
  const unix = new grpc.Client(`unix:${servers.socketPath}`, insecure);
  const plain = new CommandRouterClient(`127.0.0.1:${servers.plain}`, insecure);
  const hosted = new CommandRouterClient(`127.0.0.1:${servers.host}`, insecure);
  const tcpStream = bareStream(tcp);
  const unixStream = bareStream(unix);
  const cases: [string, RoundTrip][] = [
    ['bare grpc-js unary, TCP, deadline set', bareUnary(tcp, true)],
    ['bare grpc-js unary, TCP, no deadline', bareUnary(tcp, false)],
    ['bare grpc-js bidi stream, TCP: one message each way', tcpStream.roundTrip],
    ['bare grpc-js unary, Unix socket, deadline set', bareUnary(unix, true)],
    ['bare grpc-js bidi stream, Unix socket', unixStream.roundTrip],
    ['SendCommand codecs (ts-proto), plain grpc.Server', typedUnary(plain)],
    ['SendCommand codecs (ts-proto), GrpcServerHost (decoding interceptor, listener)', typedUnary(hosted)],
  ];
  const perCase = new Map<string, CaseResult[]>(cases.map(([name]) => [name, []]));
  try {
    for (const [, roundTrip] of cases) await measure(roundTrip, WARM_UP);
    for (let r = 0; r < DEFAULT_RUNS; r++) {
      for (const [name, roundTrip] of cases) perCase.get(name)?.push(await measure(roundTrip, ROUND_TRIPS_PER_RUN));
    }
  } finally {
    tcpStream.close();
    unixStream.close();
    for (const c of [tcp, unix, plain, hosted]) c.close();
    servers.child.kill('SIGTERM');
  }
  const med = (xs: CaseResult[], key: keyof CaseResult) => median(xs.map((x) => x[key]));
  const rows = cases.map(([name]) => {
    const xs = perCase.get(name) as CaseResult[];
    return `| ${name} | ${med(xs, 'p50').toFixed(3)} | ${med(xs, 'p99').toFixed(3)} | ${med(xs, 'max').toFixed(2)} | ${med(xs, 'gcMsPer1000').toFixed(1)} |`;
  });
  writeSection(
    '56-gateway-command-tail',
    'Gateway: where a command round trip spends its tail',
    [
      `One small message each way per round trip (an 80-byte request, a 4-byte answer; the SendCommand rows a real SendCommandRequest and ack), one at a time, client in this process, servers in one child process. Medians over ${DEFAULT_RUNS} runs of each run's percentiles, ${ROUND_TRIPS_PER_RUN} round trips per case and run, cases interleaved, after ${WARM_UP} warm-up round trips each. GC: milliseconds of GC pauses in the client per 1,000 round trips.`,
      '',
      '| round trip | p50 ms | p99 ms | max ms | client GC ms / 1000 |',
      '|---|---:|---:|---:|---:|',
      ...rows,
    ].join('\n'),
  );
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
