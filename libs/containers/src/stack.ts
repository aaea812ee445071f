// framewire's whole pipeline in containers for Testcontainers tests: docker/compose.yaml started
// with DockerComposeEnvironment on random host ports, every container waited on through its health
// check, then the gateway's /api/health; and a worker container outside the stack's network that
// reaches it over published TCP ports only, as a worker on another host would.
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DockerComposeEnvironment,
  GenericContainer,
  getContainerRuntimeClient,
  StartedDockerComposeEnvironment,
  StartedTestContainer,
  Wait,
} from 'testcontainers';

/** Compose v1 (`docker-compose`, Debian's docker-compose package); Compose v2 works the same way. */
export const COMPOSE_EXECUTABLE = 'docker-compose';
/** Bound on `up` and on each container turning healthy. */
export const DEFAULT_STACK_START_TIMEOUT_MS = 180_000;
/** Bound on /api/health answering 200 once the containers are healthy (frames and results flow). */
export const DEFAULT_PIPELINE_HEALTHY_TIMEOUT_MS = 60_000;
/** `docker-compose down` gives each container this long to stop gracefully. */
export const STACK_STOP_TIMEOUT_S = 15;
/** Every project this helper starts is named `<prefix>-<pid>-<random>`, so that stacks left by a
 *  test process that died (the reaper is disabled where its image cannot be pulled) can be found. */
export const STACK_PROJECT_PREFIX = 'fwstack';
/** Label on the containers and networks the helper starts outside compose, with the owner's pid. */
export const OWNER_PID_LABEL = 'io.framewire.test-owner-pid';
/** Bound on one HTTP request to the gateway. */
const HTTP_TIMEOUT_MS = 10_000;
const HEALTH_POLL_MS = 250;
/** Lines of each service's log quoted when the stack does not come up healthy. */
const FAILURE_LOG_LINES = 15;

export type StackService = 'capture' | 'supplier' | 'worker' | 'gateway';

/** The stack could not be started, or a wait on it ran out; names what and how long. */
export class StackError extends Error {
  readonly code = 'STACK_FAILED';
}

export interface FramewireStackOptions {
  /** Compose file (default: docker/compose.yaml of the framewire checkout this runs from). */
  composeFile?: string;
  /** Override files merged over it, e.g. docker/compose.tls.yaml. */
  overrideFiles?: readonly string[];
  /** Co-located workers (`--scale worker=N`, default 2). */
  workers?: number;
  /** Image tag of framewire/<service> (default latest). */
  imageTag?: string;
  /** Host interface the ports are published on (default 127.0.0.1). 0.0.0.0 lets containers on
   *  other Docker networks reach the stack through the host (startWorkerContainer). */
  publishAddress?: string;
  /** Further compose variables (docs/deploy.md): FW_AUTH_TOKEN, FW_CAPTURE_FPS, FW_HEALTH_MIN_WORKERS... */
  variables?: Record<string, string>;
  /** Wait for /api/health 200 before returning (default true). */
  waitForPipeline?: boolean;
  startTimeoutMs?: number;
}

export interface FramewireStack {
  projectName: string;
  environment: StartedDockerComposeEnvironment;
  /** Published on the host (127.0.0.1 unless publishAddress says otherwise). */
  httpUrl: string;
  httpPort: number;
  /** host:port of the gateway's and the supplier's gRPC servers, from the host. */
  gatewayAddress: string;
  supplierAddress: string;
  ports: { http: number; gateway: number; supplier: number };
  /** The container of `service` (`index` counts replicas from 1, for worker). */
  container(service: StackService, index?: number): StartedTestContainer;
  /** Docker's id of that container (kill, stop, start it with dockerContainer()). */
  containerId(service: StackService, index?: number): string;
  /** Resolves with the /api/health reply once its status is `status`; rejects after timeoutMs. */
  waitForHealth(status: 200 | 503, timeoutMs: number): Promise<HealthReply>;
  /** `docker-compose down -v`: containers, network and volumes removed. */
  stop(): Promise<void>;
}

export interface HealthReply {
  status: number;
  body: { status: string; checks: { name: string; ok: boolean; detail: string }[] };
}

/** The framewire checkout this module runs from (source or dist/). */
function repoRoot(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'nx.json')) && existsSync(join(dir, 'docker', 'compose.yaml'))) return dir;
  }
  throw new StackError(`no framewire checkout (nx.json, docker/compose.yaml) above ${__dirname}: pass composeFile`);
}

export function defaultComposeFile(): string {
  return join(repoRoot(), 'docker', 'compose.yaml');
}

function execFileText(file: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) =>
      err ? reject(new StackError(`${file} ${args.join(' ')}: ${(err as Error).message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes what this helper started from test processes that are gone: compose projects, worker
 *  containers and networks. Safe beside live runs: only a dead owner's resources are touched. */
export async function removeLeftovers(composeFile: string = defaultComposeFile()): Promise<void> {
  const client = await getContainerRuntimeClient();
  const projects = new Set<string>();
  for (const c of await client.container.list()) {
    const project = c.Labels['com.docker.compose.project'] ?? '';
    const owner = Number(project.startsWith(`${STACK_PROJECT_PREFIX}-`) ? project.split('-')[1] : c.Labels[OWNER_PID_LABEL]);
    if (!Number.isInteger(owner) || owner <= 0 || isAlive(owner)) continue;
    if (project.startsWith(`${STACK_PROJECT_PREFIX}-`)) projects.add(project);
    else await client.container.remove(client.container.getById(c.Id), { removeVolumes: true }).catch(() => undefined);
  }
  for (const project of projects) {
    await execFileText(COMPOSE_EXECUTABLE, ['-p', project, '-f', composeFile, 'down', '-v', '-t', '0'], 60_000).catch(() => undefined);
  }
  const networks = await execFileText('docker', ['network', 'ls', '--filter', `label=${OWNER_PID_LABEL}`, '--format', `{{.Name}} {{.Label "${OWNER_PID_LABEL}"}}`], 10_000).catch(() => '');
  for (const line of networks.split('\n').filter(Boolean)) {
    const [name, pid] = line.split(' ');
    if (!isAlive(Number(pid))) await execFileText('docker', ['network', 'rm', name], 10_000).catch(() => undefined);
  }
}

/** A TCP port that was free a moment ago on `host`. The stack publishes on fixed ports, not on
 *  ports Docker picks, because Docker picks anew when a container restarts, and the tests restart
 *  the gateway and the supplier (as operators do) with clients that must find them again. */
export async function freePort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new StackError(`no TCP port on ${host}`);
  return address.port;
}

/** The compose variables of docker/compose.yaml, each set, so that the tester's own environment
 *  (which docker-compose also reads) cannot change the stack under test. */
function composeVariables(options: FramewireStackOptions, ports: { http: number; gateway: number; supplier: number }): Record<string, string> {
  return {
    FW_IMAGE_TAG: options.imageTag ?? 'latest',
    FW_PUBLISH_ADDRESS: options.publishAddress ?? '127.0.0.1',
    FW_HTTP_PUBLISH_PORT: String(ports.http),
    FW_GATEWAY_PUBLISH_PORT: String(ports.gateway),
    FW_SUPPLIER_PUBLISH_PORT: String(ports.supplier),
    FW_LOG_LEVEL: 'info',
    FW_AUTH_TOKEN: '',
    FW_STREAM_ID: 'cam-1',
    FW_CAPTURE_SOURCE: 'synthetic',
    FW_CAPTURE_FPS: '15',
    FW_CAPTURE_SHM_SLOTS: '8',
    FW_SHM_SIZE: '256m',
    FW_HEALTH_MIN_WORKERS: '1',
    // The suites test workers that each analyse every frame of cam-1 (broadcast); worker pools, the
    // compose default, are tested over processes (apps/e2e/src/worker-pool.spec.ts).
    FW_WORKER_POOL: '',
    FW_WORKER_POOL_MODE: '',
    FW_WORKER_STREAMS: '',
    ...options.variables,
  };
}

export async function httpJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

/** Starts docker/compose.yaml: every container healthy, then (by default) /api/health 200. */
export async function startFramewireStack(options: FramewireStackOptions = {}): Promise<FramewireStack> {
  const composeFile = options.composeFile ?? defaultComposeFile();
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_STACK_START_TIMEOUT_MS;
  const workers = options.workers ?? 2;
  const projectName = `${STACK_PROJECT_PREFIX}-${process.pid}-${randomBytes(4).toString('hex')}`;
  await removeLeftovers(composeFile);
  const publishAddress = options.publishAddress ?? '127.0.0.1';
  const ports = { http: await freePort(publishAddress), gateway: await freePort(publishAddress), supplier: await freePort(publishAddress) };
  const environment = await new DockerComposeEnvironment(dirname(composeFile), [basename(composeFile), ...(options.overrideFiles ?? [])])
    .withProjectName(projectName)
    .withEnvironment(composeVariables(options, ports))
    .withClientOptions({
      executable: { standalone: true, executablePath: COMPOSE_EXECUTABLE },
      commandOptions: ['--scale', `worker=${workers}`],
    })
    // The images have no shell (so no port checks): their HEALTHCHECK asks grpc.health.v1.
    .withDefaultWaitStrategy(Wait.forHealthCheck())
    .withStartupTimeout(startTimeoutMs)
    .up()
    .catch(async (err: Error) => {
      // A failed wait downs the project itself; a failed `up` may leave part of it.
      const files = [composeFile, ...(options.overrideFiles ?? [])].flatMap((f) => ['-f', f]);
      await execFileText(COMPOSE_EXECUTABLE, ['-p', projectName, ...files, 'down', '-v', '-t', '0'], 60_000).catch(() => undefined);
      throw new StackError(`docker-compose up of ${composeFile} (project ${projectName}) failed: ${err.message}`);
    });

  // Compose v1 names containers <project>_<service>_<n>; v2 <project>-<service>-<n>.
  const containerName = (service: StackService, index = 1) => `${projectName}_${service}_${index}`;
  const container = (service: StackService, index = 1) => {
    try {
      return environment.getContainer(containerName(service, index));
    } catch {
      return environment.getContainer(`${service}-${index}`);
    }
  };
  const host = publishAddress === '0.0.0.0' ? '127.0.0.1' : publishAddress;
  const httpUrl = `http://${host}:${ports.http}`;
  const stack: FramewireStack = {
    projectName,
    environment,
    httpUrl,
    httpPort: ports.http,
    gatewayAddress: `${host}:${ports.gateway}`,
    supplierAddress: `${host}:${ports.supplier}`,
    ports,
    container,
    containerId: (service, index) => container(service, index).getId(),
    async waitForHealth(status, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let last: { status: number; body: unknown } | undefined;
      for (;;) {
        last = await httpJson(`${httpUrl}/api/health`).catch(() => undefined);
        if (last?.status === status) return last as HealthReply;
        if (Date.now() > deadline) {
          throw new StackError(`/api/health did not answer ${status} within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
        }
        await sleep(HEALTH_POLL_MS);
      }
    },
    async stop() {
      await environment.down({ removeVolumes: true, timeout: STACK_STOP_TIMEOUT_S * 1000 });
    },
  };
  if (options.waitForPipeline ?? true) {
    await stack.waitForHealth(200, DEFAULT_PIPELINE_HEALTHY_TIMEOUT_MS).catch(async (err: Error) => {
      // The services' last words say why the pipeline does not flow; they go with the stack.
      const files = [composeFile, ...(options.overrideFiles ?? [])].flatMap((f) => ['-f', f]);
      const logs = await execFileText(COMPOSE_EXECUTABLE, ['-p', projectName, ...files, 'logs', '--no-color', `--tail=${FAILURE_LOG_LINES}`], 30_000).catch(() => '');
      await stack.stop().catch(() => undefined);
      throw new StackError(`${err.message}\n${logs}`);
    });
  }
  return stack;
}

/** The Docker API's handle on a container of the stack, for kill, stop, start and inspect. */
export async function dockerContainer(id: string) {
  const client = await getContainerRuntimeClient();
  return client.container.getById(id);
}

export interface WorkerContainerOptions {
  workerId: string;
  /** A Docker network of its own (createNetwork; default: Docker's default bridge), never the stack's. */
  networkName?: string;
  imageTag?: string;
  /** Extra FW_* variables (FW_AUTH_TOKEN, FW_WORKER_FPS...). */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

export interface TestNetwork {
  name: string;
  remove(): Promise<void>;
}

/** A new bridge network, labelled with this process so that removeLeftovers finds it if we die. */
export async function createNetwork(): Promise<TestNetwork> {
  const name = `${STACK_PROJECT_PREFIX}-net-${process.pid}-${randomBytes(4).toString('hex')}`;
  await execFileText('docker', ['network', 'create', '--label', `${OWNER_PID_LABEL}=${process.pid}`, name], 30_000);
  return { name, remove: () => execFileText('docker', ['network', 'rm', name], 30_000).then(() => undefined) };
}

/** Name by which a container reaches the Docker host (Docker's host-gateway). */
export const DOCKER_HOST_ALIAS = 'host.docker.internal';

/**
 * A framewire worker container that is not on the stack's network and shares no /dev/shm with it:
 * it reaches the supplier and gateway through the ports the stack publishes on the host, over
 * TCP, as a worker on another machine does. The stack must publish on 0.0.0.0 for that.
 */
export async function startWorkerContainer(stack: FramewireStack, options: WorkerContainerOptions): Promise<StartedTestContainer> {
  let container = new GenericContainer(`framewire/worker:${options.imageTag ?? 'latest'}`)
    .withExtraHosts([{ host: DOCKER_HOST_ALIAS, ipAddress: 'host-gateway' }])
    .withEnvironment({
      FW_WORKER_ID: options.workerId,
      FW_STREAM_ID: 'cam-1',
      FW_SUPPLIER_ADDRESS: `${DOCKER_HOST_ALIAS}:${stack.ports.supplier}`,
      FW_GATEWAY_ADDRESS: `${DOCKER_HOST_ALIAS}:${stack.ports.gateway}`,
      ...options.env,
    })
    .withLabels({ [OWNER_PID_LABEL]: String(process.pid) })
    .withWaitStrategy(Wait.forHealthCheck())
    .withStartupTimeout(options.startTimeoutMs ?? DEFAULT_STACK_START_TIMEOUT_MS);
  if (options.networkName) container = container.withNetworkMode(options.networkName);
  return container.start();
}
