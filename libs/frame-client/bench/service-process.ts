// Starts a built framewire service (dist/apps/<app>/src/main.js) as a child process for the frame-path
// benchmark; a lib may not import the e2e app's helper, so this is the small local equivalent.
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';

/** Bound on a service's start-up. */
const START_TIMEOUT_MS = 15_000;
/** Bound on a graceful stop before SIGKILL. */
const STOP_TIMEOUT_MS = 5_000;

export interface BenchService {
  child: ChildProcess;
  port: number;
  output: string[];
}

/** The built entry point of `app`, beside this file's own build output (dist/libs/frame-client/bench). */
function mainOf(app: string): string {
  return resolve(__dirname, '../../../apps', app, 'src/main.js');
}

export async function startService(app: string, env: Record<string, string>): Promise<BenchService> {
  const child = spawn(process.execPath, [mainOf(app)], {
    env: { PATH: process.env.PATH ?? '', FW_GRPC_PORT: '0', FW_GRPC_HOST: '127.0.0.1', FW_LOG_FORMAT: 'json', FW_METRICS_PORT: '0', ...env },
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
        if (output.length < 1000) output.push(line);
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

export async function stopService(service: BenchService): Promise<void> {
  if (service.child.exitCode !== null || service.child.signalCode !== null) return;
  const exited = once(service.child, 'exit');
  service.child.kill('SIGTERM');
  const timer = setTimeout(() => service.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
