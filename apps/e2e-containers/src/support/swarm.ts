// Docker Swarm for the swarm suite: the engine put into swarm mode when it is not in one (and put
// back as it was afterwards), docker/stack.yaml deployed under a unique stack name on free host
// ports, the stack's task containers found by service and slot, its archive volume verified in a
// container, and everything the stack made removed, waiting until it is gone.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { StackError } from '@framewire/containers';
import { findFreePort, isProcessAlive, REPO_ROOT, waitFor } from '@framewire/testing';

/** Every stack the suite deploys is named `<prefix>-<pid>-<random>`, so that the stacks of a test
 *  process that died can be found and removed by the next run. */
export const SWARM_STACK_PREFIX = 'fwswarm';
export const STACK_FILE = join(REPO_ROOT, 'docker', 'stack.yaml');
/** Bound on one docker CLI call (deploy, rm, init and leave included). */
const DOCKER_CALL_TIMEOUT_MS = 60_000;
/** Bound on a container that verifies the archive volume. */
const VERIFY_TIMEOUT_MS = 120_000;
/** The label Swarm puts on everything of a stack: services, their containers, networks, volumes. */
const STACK_LABEL = 'com.docker.stack.namespace';
const SERVICE_LABEL = 'com.docker.swarm.service.name';
/** A task container's `<stack>_<service>.<slot>.<task id>`. */
const TASK_NAME_LABEL = 'com.docker.swarm.task.name';
/** The bridge that `docker swarm init` creates for the node's overlay traffic, and leaving keeps. */
const GWBRIDGE_NETWORK = 'docker_gwbridge';
const REMOVE_POLL_MS = 500;
/** Lines of each service's log quoted when the stack does not come up healthy. */
const FAILURE_LOG_LINES = 15;

export type SwarmService = 'capture' | 'supplier' | 'worker' | 'gateway';

/** How the suite found the engine, so that it leaves it as it was. */
export interface SwarmMembership {
  /** The suite ran `docker swarm init`: it leaves the swarm at the end. */
  initialisedHere: boolean;
  /** docker_gwbridge existed before (otherwise it is removed with the swarm the suite made). */
  gwbridgeExisted: boolean;
}

export interface SwarmStack {
  name: string;
  httpUrl: string;
  /** host:port of the gateway's gRPC, through Swarm's routing mesh. */
  gatewayAddress: string;
  imageTag: string;
}

export interface TaskContainer {
  containerId: string;
  slot: number;
}

/** One docker CLI call; its stdout, or a StackError quoting its stderr. */
export function docker(args: readonly string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('docker', args, { timeout: options.timeoutMs ?? DOCKER_CALL_TIMEOUT_MS, encoding: 'utf8', env: options.env }, (err, stdout, stderr) =>
      err ? reject(new StackError(`docker ${args.join(' ')}: ${err.message.split('\n')[0]}\n${stderr.trim()}`)) : resolve(stdout),
    ),
  );
}

const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '');

/** The engine's swarm state: `inactive`, `active` (with whether it is a manager), `pending`, `error`, `locked`. */
async function swarmState(): Promise<{ state: string; manager: boolean }> {
  const [state, manager] = (await docker(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'])).trim().split(' ');
  return { state, manager: manager === 'true' };
}

/** A swarm manager to deploy on: the engine's own swarm when it is a manager of one, else one
 *  initialised here on the loopback address (a swarm of this node alone). */
export async function joinSwarm(): Promise<SwarmMembership> {
  const { state, manager } = await swarmState();
  if (state === 'active') {
    if (!manager) throw new StackError('this Docker engine is a worker node of a swarm: stacks are deployed on a manager');
    return { initialisedHere: false, gwbridgeExisted: true };
  }
  if (state !== 'inactive') throw new StackError(`this Docker engine's swarm state is "${state}": neither in a swarm nor free to start one`);
  const gwbridgeExisted = lines(await docker(['network', 'ls', '--filter', `name=^${GWBRIDGE_NETWORK}$`, '--format', '{{.Name}}'])).length > 0;
  await docker(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
  return { initialisedHere: true, gwbridgeExisted };
}

/** Leaves the swarm the suite initialised (and the bridge it made); a swarm found running stays. */
export async function leaveSwarm(membership: SwarmMembership): Promise<void> {
  if (!membership.initialisedHere) return;
  if ((await swarmState()).state !== 'inactive') await docker(['swarm', 'leave', '--force']);
  if (!membership.gwbridgeExisted) await docker(['network', 'rm', GWBRIDGE_NETWORK]).catch(() => undefined);
}

/** The engine's swarm state and whether docker_gwbridge exists, to compare before and after. */
export async function engineSwarmFacts(): Promise<{ state: string; gwbridge: boolean }> {
  const { state } = await swarmState();
  const gwbridge = lines(await docker(['network', 'ls', '--filter', `name=^${GWBRIDGE_NETWORK}$`, '--format', '{{.Name}}'])).length > 0;
  return { state, gwbridge };
}

/**
 * `docker stack deploy` of docker/stack.yaml under a new stack name, its ports published on free
 * host ports. Every variable of the stack file is set, so that the tester's own environment (which
 * the deploy reads) cannot change the stack under test. Local images: no registry is asked.
 */
export async function deployStack(variables: Record<string, string>, imageTag = 'latest'): Promise<SwarmStack> {
  const name = `${SWARM_STACK_PREFIX}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const ports = { http: await findFreePort(), gateway: await findFreePort() };
  const stackVariables: Record<string, string> = {
    FW_IMAGE_TAG: imageTag,
    FW_HTTP_PUBLISH_PORT: String(ports.http),
    FW_GATEWAY_PUBLISH_PORT: String(ports.gateway),
    FW_LOG_LEVEL: 'info',
    FW_AUTH_TOKEN: '',
    FW_STREAM_ID: 'cam-1',
    FW_CAPTURE_SOURCE: 'synthetic',
    FW_CAPTURE_FPS: '',
    FW_HEALTH_MIN_WORKERS: '1',
    FW_VIEWER_RECORD_FRAMES: 'off',
    FW_HTTP_ALLOWED_ORIGINS: '',
    FW_SUPPLIER_RESERVED_WORKERS: 'worker-*',
    FW_SUPPLIER_RESERVED_SLOTS: '8',
    FW_WORKER_POOL: 'analysis',
    FW_WORKER_POOL_MODE: 'shared',
    FW_WORKER_STREAMS: '*',
    FW_WORKER_REPLICAS: '3',
    ...variables,
  };
  const stack: SwarmStack = { name, httpUrl: `http://127.0.0.1:${ports.http}`, gatewayAddress: `127.0.0.1:${ports.gateway}`, imageTag };
  await docker(['stack', 'deploy', '--resolve-image', 'never', '--compose-file', STACK_FILE, name], { env: { ...process.env, ...stackVariables } }).catch(async (err: Error) => {
    await removeStack(name).catch(() => undefined);
    throw err;
  });
  return stack;
}

/** The running containers of `service`'s tasks, by slot. */
export async function taskContainers(stack: SwarmStack, service: SwarmService): Promise<TaskContainer[]> {
  const out = await docker(['ps', '--filter', `label=${SERVICE_LABEL}=${stack.name}_${service}`, '--format', `{{.ID}} {{.Label "${TASK_NAME_LABEL}"}}`]);
  return lines(out).map((line) => {
    const [containerId, taskName] = line.split(' ');
    // <stack>_<service>.<slot>.<task id>
    return { containerId, slot: Number(taskName.split('.')[1]) };
  });
}

/** The full id of a container, and whether it runs. */
export async function containerState(containerId: string): Promise<{ id: string; running: boolean; exitCode: number }> {
  const [id, running, exitCode] = (await docker(['inspect', '--format', '{{.Id}} {{.State.Running}} {{.State.ExitCode}}', containerId])).trim().split(' ');
  return { id, running: running === 'true', exitCode: Number(exitCode) };
}

/** Resolves with the running container Swarm started for `slot` of `service` in place of `replaced`. */
export async function waitForReplacement(stack: SwarmStack, service: SwarmService, slot: number, replaced: string, timeoutMs: number): Promise<TaskContainer> {
  let found: TaskContainer | undefined;
  await waitFor(
    `a new ${service} container in slot ${slot}`,
    async () => {
      found = (await taskContainers(stack, service)).find((t) => t.slot === slot && !replaced.startsWith(t.containerId));
      return found !== undefined;
    },
    timeoutMs,
    100,
  );
  return found!;
}

/** The stack's tasks (state, error) and the last log lines of each service: why it is not healthy. */
export async function describeStack(stack: SwarmStack): Promise<string> {
  const tasks = await docker(['stack', 'ps', stack.name, '--no-trunc', '--format', '{{.Name}} {{.CurrentState}} {{.Error}}']).catch((err: Error) => err.message);
  const services: SwarmService[] = ['supplier', 'gateway', 'capture', 'worker'];
  const logs = await Promise.all(
    services.map((service) => docker(['service', 'logs', '--no-trunc', '--tail', String(FAILURE_LOG_LINES), `${stack.name}_${service}`]).catch((err: Error) => err.message)),
  );
  return `tasks of stack ${stack.name}:\n${tasks}\n${logs.join('\n')}`;
}

/** What of a stack is left on the engine: containers (running or not), networks, volumes. */
export async function stackLeftovers(name: string): Promise<{ containers: string[]; networks: string[]; volumes: string[] }> {
  const label = `label=${STACK_LABEL}=${name}`;
  const [containers, networks, volumes] = await Promise.all([
    docker(['ps', '-a', '--filter', label, '--format', '{{.Names}}']),
    docker(['network', 'ls', '--filter', label, '--format', '{{.Name}}']),
    docker(['volume', 'ls', '--filter', label, '--format', '{{.Name}}']),
  ]);
  return { containers: lines(containers), networks: lines(networks), volumes: lines(volumes) };
}

/** What the engine answers `docker stack rm` when a network of the stack is still attached to a task
 *  that has not stopped yet: the CLI removes the networks right after the services, without waiting
 *  for their tasks (moby/moby#30942, #31068). The network stays until `docker stack rm` runs again. */
const NETWORK_IN_USE = /network \S+ is in use by task/;

/** `docker stack rm`, then waits until its containers and networks are gone (Swarm removes them
 *  after the command returns), running it again while a network is left after the containers are
 *  gone (see NETWORK_IN_USE); volumes only when asked (the caller may read the archive first).
 *  Returns how many times `docker stack rm` ran. */
export async function removeStack(name: string, options: { volumes?: boolean; timeoutMs?: number } = {}): Promise<number> {
  const timeoutMs = options.timeoutMs ?? DOCKER_CALL_TIMEOUT_MS;
  let runs = 0;
  // Exits 0 with "Nothing found in stack" when nothing of it is left, so it is always safe to run.
  const stackRm = async (): Promise<void> => {
    runs += 1;
    await docker(['stack', 'rm', name]).catch((err: Error) => {
      if (!NETWORK_IN_USE.test(err.message)) throw err;
    });
  };
  await stackRm();
  await waitFor(
    `the containers and networks of stack ${name} removed`,
    async () => {
      const left = await stackLeftovers(name);
      if (left.containers.length === 0 && left.networks.length > 0) await stackRm();
      return left.containers.length === 0 && left.networks.length === 0;
    },
    timeoutMs,
    REMOVE_POLL_MS,
  );
  if (options.volumes ?? true) {
    for (const volume of (await stackLeftovers(name)).volumes) await docker(['volume', 'rm', volume]);
  }
  return runs;
}

/** Removes the stacks (and their volumes) of test processes that are gone: those with services, and
 *  those of which only a network is left (`docker stack ls` lists stacks by their services). */
export async function removeLeftoverStacks(): Promise<void> {
  const [stacks, networks] = await Promise.all([
    docker(['stack', 'ls', '--format', '{{.Name}}']),
    docker(['network', 'ls', '--filter', `label=${STACK_LABEL}`, '--format', `{{.Label "${STACK_LABEL}"}}`]),
  ]);
  for (const name of new Set([...lines(stacks), ...lines(networks)])) {
    const owner = name.startsWith(`${SWARM_STACK_PREFIX}-`) ? Number(name.split('-')[1]) : NaN;
    if (Number.isInteger(owner) && owner > 0 && !isProcessAlive(owner)) await removeStack(name);
  }
}

/** One archive segment as `verifyArchive` (what `fw archive verify` runs) found it. */
export interface SegmentReport {
  path: string;
  frames: number;
  corruption: string | null;
  tornTail: string | null;
}

/** Runs in the gateway image against the volume: @framewire/archive's verifyArchive over every
 *  segment under /data/archive, one JSON array on stdout. */
const VERIFY_SCRIPT = `
const { readdirSync } = require('node:fs');
const { join } = require('node:path');
const { verifyArchive } = require('/app/dist/libs/archive/src/index.js');
(async () => {
  const dir = '/data/archive';
  const reports = [];
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.bin'))) {
    const r = await verifyArchive(join(dir, file));
    reports.push({ path: file, frames: r.frames, corruption: r.corruption ? r.corruption.message : null, tornTail: r.tornTail ? r.tornTail.reason : null });
  }
  process.stdout.write(JSON.stringify(reports));
})().catch((err) => { console.error(err); process.exit(1); });
`;

/** Verifies every archive segment on the stack's archive volume, read-only, in a container of the
 *  gateway image with no network (the volume may be on a remote engine, out of this process's reach). */
export async function verifyArchiveVolume(stack: SwarmStack): Promise<SegmentReport[]> {
  const volume = `${stack.name}_archive`;
  const out = await docker(
    ['run', '--rm', '--network', 'none', '--read-only', '--cap-drop', 'ALL', '-v', `${volume}:/data:ro`, `framewire/gateway:${stack.imageTag}`, '-e', VERIFY_SCRIPT],
    { timeoutMs: VERIFY_TIMEOUT_MS },
  );
  return JSON.parse(out) as SegmentReport[];
}
