// Starts a built framewire service (dist/, rebuilt by Jest's global setup) as a real child process
// and talks to it over real gRPC: for integration tests, end-to-end suites and benchmarks.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { checkHealth as checkHealthAt, HealthClient, HealthStatus, WHOLE_SERVER } from '@framewire/grpc-client';
import { PROTO_FILES, PROTO_ROOT } from '@framewire/proto';

/** The repository root, found from this file whether it runs from source or from dist/. */
function findRepoRoot(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'nx.json'))) return dir;
  }
  throw new Error(`no nx.json above ${__dirname}`);
}

export const REPO_ROOT = findRepoRoot();
/** Bound on a service's start-up in tests. */
export const START_TIMEOUT_MS = 15_000;
/** Bound on a graceful stop before the process is killed. */
export const STOP_KILL_AFTER_MS = 10_000;
/** Lines of output kept per service (a chatty service must not grow the test's memory). */
const MAX_OUTPUT_LINES = 2000;

export interface ServiceProcess {
  child: ChildProcess;
  /** The gRPC port. */
  port: number;
  /** Every listener the test waited for, by name: `gRPC`, `metrics`, ... */
  ports: Record<string, number>;
  /** The first lines the service wrote to stdout and stderr. */
  output: string[];
}

export interface StartOptions {
  /** Listeners to wait for: a service logs `{"message":"<name> listening","address":"host:port"}`. */
  listeners?: readonly string[];
}

export function mainOf(app: string): string {
  return join(REPO_ROOT, 'dist/apps', app, 'src/main.js');
}

/** Spawns `app` on free ports (FW_GRPC_PORT=0, FW_METRICS_PORT=0, FW_HTTP_PORT=0 unless `env` says otherwise)
 *  and resolves when it has logged the address of every listener of `options.listeners`. */
export async function startServiceProcess(
  app: string,
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<ServiceProcess> {
  const listeners = options.listeners ?? ['gRPC'];
  const child = spawn(process.execPath, [mainOf(app)], {
    env: { PATH: process.env.PATH ?? '', FW_GRPC_PORT: '0', FW_METRICS_PORT: '0', FW_HTTP_PORT: '0', FW_GRPC_HOST: '127.0.0.1', FW_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const ports: Record<string, number> = {};
  await new Promise<void>((ready, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${app} did not start within ${START_TIMEOUT_MS} ms:\n${output.join('\n')}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        if (output.length < MAX_OUTPUT_LINES) output.push(line);
        const m = /"message":"(\w+) listening","address":"[^"]*:(\d+)"/.exec(line);
        if (m && listeners.includes(m[1]) && ports[m[1]] === undefined) {
          ports[m[1]] = Number(m[2]);
          if (listeners.every((l) => ports[l] !== undefined)) {
            clearTimeout(timer);
            ready();
          }
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${app} exited (${code ?? signal}) before listening:\n${output.join('\n')}`));
    });
  });
  return { child, port: ports.gRPC, ports, output };
}

/** Sends `signal` and resolves with the exit code and how long the exit took; a service still
 *  running after `killAfterMs` is killed (its code is then null). */
export async function stopServiceProcess(
  service: ServiceProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  killAfterMs: number = STOP_KILL_AFTER_MS,
): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  if (service.child.exitCode !== null || service.child.signalCode !== null) return { code: service.child.exitCode, ms: 0 };
  const exited = once(service.child, 'exit');
  service.child.kill(signal);
  const killer = setTimeout(() => service.child.kill('SIGKILL'), killAfterMs);
  const [code] = (await exited) as [number | null];
  clearTimeout(killer);
  return { code, ms: Date.now() - started };
}

/** Where the standard health and reflection services' .proto files are. */
export const healthRoot = resolve(dirname(require.resolve('grpc-health-check/package.json')), 'proto');
export const reflectionRoot = resolve(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');

/** grpc.health.v1.Health/Check for `service` ("" = the whole server) on the loopback at `port`. */
export function checkHealth(port: number, service: string = WHOLE_SERVER): Promise<HealthStatus> {
  return checkHealthAt(`127.0.0.1:${port}`, service);
}

export interface HealthWatch {
  /** Every status the stream has carried, in order. */
  statuses: HealthStatus[];
  /** Set when the stream ended with an error. */
  error?: grpc.ServiceError;
  /** Ends the stream and closes the client. */
  cancel(): void;
}

/** grpc.health.v1.Health/Watch of the whole server at `address` (host:port), plaintext. */
export function watchHealth(address: string): HealthWatch {
  const client = new HealthClient(address);
  const call = client.watch(WHOLE_SERVER);
  const watch: HealthWatch = {
    statuses: [],
    cancel: () => {
      call.cancel();
      client.close();
    },
  };
  call.on('data', (reply) => watch.statuses.push(reply.status));
  call.on('error', (err: grpc.ServiceError) => (watch.error ??= err));
  return watch;
}

/** The reflection client (v1); typed as far as listReflectedServices reads it. */
function reflectionClientConstructor(): grpc.ServiceClientConstructor {
  const def = protoLoader.loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [reflectionRoot], keepCase: true, enums: String });
  const pkg = grpc.loadPackageDefinition(def) as { grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } } };
  return pkg.grpc.reflection.v1.ServerReflection;
}

/** The service names the server lists through gRPC server reflection (v1). */
export async function listReflectedServices(port: number): Promise<string[]> {
  const Reflection = reflectionClientConstructor();
  const client = new Reflection(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const call = client.ServerReflectionInfo({ deadline: Date.now() + 5000 });
    const reply = new Promise<string[]>((res, rej) => {
      call.on('data', (r: { list_services_response?: { service: { name: string }[] } }) => {
        res((r.list_services_response?.service ?? []).map((s) => s.name));
        call.end();
      });
      call.on('error', rej);
    });
    call.write({ list_services: '' });
    return await reply;
  } finally {
    client.close();
  }
}

/** Whether a process with `pid` exists (signal 0 probes without signalling). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** How long a probed method may keep its call open before the probe stops waiting (a served
 *  stream may stay open; a method the server does not serve answers UNIMPLEMENTED at once). */
const METHOD_PROBE_DEADLINE_MS = 1_500;

/** Every service a framewire port could serve: the contract's, health and both reflection versions. */
function everyKnownService(): protoLoader.PackageDefinition {
  return protoLoader.loadSync([...PROTO_FILES, 'health/v1/health.proto', 'grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'], {
    includeDirs: [PROTO_ROOT, healthRoot, reflectionRoot],
  });
}

/** The full names of every service of everyKnownService(). */
export function knownServiceNames(): string[] {
  return Object.entries(everyKnownService())
    .filter(([, definition]) => !('format' in definition))
    .map(([name]) => name)
    .sort();
}

/**
 * Calls every method of `serviceName` at 127.0.0.1:`port` with an empty request (streams: no
 * message, then half-close) and resolves to the status each ended with, by method name. A method
 * still open at the deadline counts as DEADLINE_EXCEEDED: it answered, as UNIMPLEMENTED would not.
 */
export async function methodStatuses(port: number, serviceName: string): Promise<Record<string, grpc.status>> {
  const service = everyKnownService()[serviceName] as protoLoader.ServiceDefinition | undefined;
  if (service === undefined || 'format' in service) throw new Error(`${serviceName} is not a known service`);
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const raw = (b: Buffer) => b;
  const empty = Buffer.alloc(0);
  try {
    const entries = await Promise.all(
      Object.entries(service).map(async ([name, method]) => {
        const options = { deadline: Date.now() + METHOD_PROBE_DEADLINE_MS };
        const code = await new Promise<grpc.status>((resolve) => {
          const done = (err: grpc.ServiceError | null) => resolve(err ? err.code : grpc.status.OK);
          if (!method.requestStream && !method.responseStream) {
            client.makeUnaryRequest(method.path, raw, raw, empty, options, done);
          } else if (method.requestStream && !method.responseStream) {
            client.makeClientStreamRequest(method.path, raw, raw, options, done).end();
          } else {
            const call = method.requestStream
              ? client.makeBidiStreamRequest(method.path, raw, raw, options)
              : client.makeServerStreamRequest(method.path, raw, raw, empty, options);
            call.on('data', () => undefined);
            call.on('error', () => undefined);
            call.on('status', (status: grpc.StatusObject) => resolve(status.code));
            if (method.requestStream) (call as grpc.ClientDuplexStream<Buffer, Buffer>).end();
          }
        });
        return [name, code] as const;
      }),
    );
    return Object.fromEntries(entries);
  } finally {
    client.close();
  }
}
