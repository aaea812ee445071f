// Starts a built framewire service as a real child process and talks to it over real gRPC.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '../../../..');
/** Bound on a service's start-up in tests. */
export const START_TIMEOUT_MS = 15_000;

export interface ServiceProcess {
  child: ChildProcess;
  port: number;
  /** Every line the service wrote to stdout and stderr so far. */
  output: string[];
}

export function mainOf(app: string): string {
  return join(REPO_ROOT, 'dist/apps', app, 'src/main.js');
}

/** Spawns `app` on a free port (FW_GRPC_PORT=0) and resolves when it logs its gRPC address. */
export async function startServiceProcess(app: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [mainOf(app)], {
    env: { PATH: process.env.PATH ?? '', FW_GRPC_PORT: '0', FW_GRPC_HOST: '127.0.0.1', FW_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${app} did not start within ${START_TIMEOUT_MS} ms:\n${output.join('\n')}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        output.push(line);
        const m = /"gRPC listening","address":"[^"]*:(\d+)"/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolvePort(Number(m[1]));
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
  return { child, port, output };
}

/** Sends `signal` and resolves with the exit code and how long the exit took. */
export async function stopServiceProcess(
  service: ServiceProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  if (service.child.exitCode !== null) return { code: service.child.exitCode, ms: 0 };
  const exited = once(service.child, 'exit');
  service.child.kill(signal);
  const [code] = (await exited) as [number | null];
  return { code, ms: Date.now() - started };
}

const healthRoot = resolve(dirname(require.resolve('grpc-health-check/package.json')), 'proto');
const reflectionRoot = resolve(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');

function loadClientConstructors() {
  const def = protoLoader.loadSync(['health/v1/health.proto', 'grpc/reflection/v1/reflection.proto'], {
    includeDirs: [healthRoot, reflectionRoot],
    keepCase: true,
    enums: String,
  });
  const pkg = grpc.loadPackageDefinition(def) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  return {
    Health: pkg.grpc.health.v1.Health as grpc.ServiceClientConstructor,
    Reflection: pkg.grpc.reflection.v1.ServerReflection as grpc.ServiceClientConstructor,
  };
}

/** grpc.health.v1.Health/Check for `service` ("" = the whole server). */
export async function checkHealth(port: number, service = ''): Promise<string> {
  const { Health } = loadClientConstructors();
  const client = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    return await new Promise<string>((res, rej) =>
      client.Check({ service }, { deadline: Date.now() + 5000 }, (err: Error | null, reply: { status: string }) =>
        err ? rej(err) : res(reply.status),
      ),
    );
  } finally {
    client.close();
  }
}

/** The service names the server lists through gRPC server reflection (v1). */
export async function listReflectedServices(port: number): Promise<string[]> {
  const { Reflection } = loadClientConstructors();
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
