// Starts the built supplier (dist/, rebuilt by Jest's global setup) as a child process on free
// ports, for integration tests over real gRPC and HTTP.
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join, resolve } from 'node:path';

const REPO_ROOT = resolve(__dirname, '../../../..');
const START_TIMEOUT_MS = 15_000;

export interface SupplierProcess {
  child: ChildProcess;
  grpcPort: number;
  metricsPort: number;
  output: string[];
}

export async function startSupplierProcess(env: Record<string, string> = {}): Promise<SupplierProcess> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist/apps/supplier/src/main.js')], {
    env: { PATH: process.env.PATH ?? '', FW_GRPC_PORT: '0', FW_METRICS_PORT: '0', FW_GRPC_HOST: '127.0.0.1', FW_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  let grpcPort: number | undefined;
  let metricsPort: number | undefined;
  await new Promise<void>((ready, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`supplier did not start within ${START_TIMEOUT_MS} ms:\n${output.join('\n')}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        output.push(line);
        const grpcMatch = /"gRPC listening","address":"[^"]*:(\d+)"/.exec(line);
        if (grpcMatch) grpcPort = Number(grpcMatch[1]);
        const metricsMatch = /"metrics listening","address":"[^"]*:(\d+)"/.exec(line);
        if (metricsMatch) metricsPort = Number(metricsMatch[1]);
        if (grpcPort !== undefined && metricsPort !== undefined) {
          clearTimeout(timer);
          ready();
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`supplier exited (${code ?? signal}) before listening:\n${output.join('\n')}`));
    });
  });
  return { child, grpcPort: grpcPort as number, metricsPort: metricsPort as number, output };
}

/** Sends SIGTERM and resolves with the exit code. */
export async function stopSupplierProcess(service: SupplierProcess): Promise<number | null> {
  if (service.child.exitCode !== null) return service.child.exitCode;
  const exited = once(service.child, 'exit');
  service.child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  return code;
}
