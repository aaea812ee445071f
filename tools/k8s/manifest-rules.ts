// framewire's own rules for its Kubernetes manifests, checked on the rendered objects (the API
// schemas are validate-schemas.mjs's): pod security, probes, resources, graceful termination,
// wiring (ports, Services, addresses), secrets, shared memory, the archive, the worker pool and its
// autoscalers. Each rule returns violations naming the object and the field; none means it holds.
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import type { KubeObject } from './manifests';

type SyntaxNode = ReturnType<typeof promqlParser.parse>['topNode'];

/** What the images say about a service (docker/<service>.Dockerfile): its gRPC port and every port it exposes. */
export interface ImageFacts {
  grpcPort: number;
  exposed: readonly number[];
}

/** The series the supplier exports on /metrics: metric name → its label names. */
export type MetricCatalog = ReadonlyMap<string, ReadonlySet<string>>;

export interface RuleContext {
  images: Readonly<Record<string, ImageFacts>>;
  metrics: MetricCatalog;
}

export const SERVICES = ['capture', 'supplier', 'worker', 'gateway'] as const;
/** uid and gid of the images' `node` user, shared by every service (owner-only shared-memory rings). */
export const SERVICE_UID = 1000;
/** The services' default FW_SHUTDOWN_TIMEOUT_MS (libs/service-runtime) and the grace beyond it before SIGKILL. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;
export const GRACE_MARGIN_MS = 5_000;
/** Shorter than this, FW_AUTH_TOKEN is refused by every service (libs/service-runtime's minimum). */
export const MIN_TOKEN_LENGTH = 16;
/** The image's health probe, for exec probes where the grpc probe cannot go (TLS). */
export const HEALTH_PROBE_COMMAND = ['node', '/app/dist/tools/health-probe/health-probe.js'] as const;
/** Secrets the manifests reference but leave to the operator (never in git). */
export const OPERATOR_SECRETS = new Set(['framewire-tls']);
/** Variables naming a directory the service writes, besides /tmp. */
const WRITTEN_DIRECTORY_VARIABLES = ['FW_ARCHIVE_DIR', 'FW_FRAME_ARCHIVE_DIR'];
/** Variables holding host:port addresses (comma-separated lists) of other services. */
const ADDRESS_VARIABLES = ['FW_SUPPLIER_ADDRESS', 'FW_GATEWAY_ADDRESS', 'FW_CAPTURE_ADDRESSES'];
const SHM_DIR = '/dev/shm';
const PROBES = ['startupProbe', 'readinessProbe', 'livenessProbe'] as const;
/** Labels Prometheus adds to every series it scrapes from a pod, beside the service's own. */
const SCRAPE_LABELS = new Set(['namespace', 'pod', 'instance', 'job']);

type Obj = KubeObject;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rendered YAML, read field by field
type Any = any;

interface Container {
  name: string;
  image?: string;
  env?: { name: string; value?: string; valueFrom?: Any }[];
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  securityContext?: Any;
  startupProbe?: Any;
  readinessProbe?: Any;
  livenessProbe?: Any;
}

/** A Deployment or StatefulSet with what the rules read of it. */
interface Workload {
  object: Obj;
  id: string;
  service: string;
  pod: Any;
  containers: Container[];
  podLabels: Record<string, string>;
}

const idOf = (o: Obj) => `${o.kind}/${o.metadata.name}`;

function workloadsOf(objects: readonly Obj[]): Workload[] {
  return objects
    .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
    .map((o) => {
      const podLabels = o.spec?.template?.metadata?.labels ?? {};
      const pod = o.spec?.template?.spec ?? {};
      return { object: o, id: idOf(o), service: podLabels['app.kubernetes.io/name'] ?? '', pod, containers: [...(pod.initContainers ?? []), ...(pod.containers ?? [])], podLabels };
    });
}

/** A variable's literal value (undefined when unset or set from elsewhere). */
function envValue(container: Container, name: string): string | undefined {
  return container.env?.find((e) => e.name === name)?.value;
}

const envNames = (container: Container) => new Set((container.env ?? []).map((e) => e.name));

/** Kubernetes quantities: 100m, 1, 192Mi, 1Gi, 12G. */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q);
  if (m === null) throw new Error(`"${q}" is not a Kubernetes quantity`);
  const unit = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

/** Whether a workload's pods carry every label of `selector`. */
const selects = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

function podSecurity(w: Workload): string[] {
  const out: string[] = [];
  const pod = w.pod.securityContext ?? {};
  if (pod.runAsNonRoot !== true) out.push(`${w.id}: pod securityContext.runAsNonRoot must be true`);
  if (pod.runAsUser !== SERVICE_UID || pod.runAsGroup !== SERVICE_UID) out.push(`${w.id}: pod securityContext must run as uid and gid ${SERVICE_UID} (the images' node user), not ${pod.runAsUser}:${pod.runAsGroup}`);
  if (pod.seccompProfile?.type !== 'RuntimeDefault') out.push(`${w.id}: pod securityContext.seccompProfile.type must be RuntimeDefault`);
  if (w.pod.hostNetwork || w.pod.hostPID || w.pod.hostIPC) out.push(`${w.id}: the pod must not share the node's network, PID or IPC namespace`);
  if (w.pod.automountServiceAccountToken !== false) out.push(`${w.id}: automountServiceAccountToken must be false (no service talks to the API server)`);
  for (const c of w.containers) {
    const sc = c.securityContext ?? {};
    if (sc.allowPrivilegeEscalation !== false) out.push(`${w.id}: container ${c.name}: securityContext.allowPrivilegeEscalation must be false`);
    if (sc.readOnlyRootFilesystem !== true) out.push(`${w.id}: container ${c.name}: securityContext.readOnlyRootFilesystem must be true`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${w.id}: container ${c.name}: securityContext.capabilities.drop must include ALL`);
    if ((sc.capabilities?.add ?? []).length > 0) out.push(`${w.id}: container ${c.name}: securityContext.capabilities.add must be empty (got ${sc.capabilities.add.join(', ')})`);
    if (sc.privileged === true) out.push(`${w.id}: container ${c.name}: must not be privileged`);
    if (sc.runAsUser !== undefined && sc.runAsUser !== SERVICE_UID) out.push(`${w.id}: container ${c.name}: securityContext.runAsUser must be ${SERVICE_UID} when set (got ${sc.runAsUser})`);
  }
  return out;
}

function imagesAndPorts(w: Workload, context: RuleContext): string[] {
  const out: string[] = [];
  const facts = context.images[w.service];
  if (facts === undefined) return [`${w.id}: pods labelled app.kubernetes.io/name=${w.service || '(none)'}, not one of ${SERVICES.join(', ')}`];
  for (const c of w.containers) {
    const image = /^framewire\/([a-z]+):([\w][\w.-]*)$/.exec(c.image ?? '');
    if (image === null) out.push(`${w.id}: container ${c.name}: image "${c.image}" is not framewire/<service>:<tag>`);
    else if (image[1] !== w.service) out.push(`${w.id}: container ${c.name}: image ${c.image} in pods of ${w.service}`);
    const grpcPort = c.ports?.find((p) => p.name === 'grpc')?.containerPort;
    if (grpcPort !== facts.grpcPort) out.push(`${w.id}: container ${c.name}: port "grpc" is ${grpcPort}, the image's gRPC port is ${facts.grpcPort}`);
    if (envValue(c, 'FW_GRPC_PORT') !== String(facts.grpcPort)) out.push(`${w.id}: container ${c.name}: FW_GRPC_PORT is ${envValue(c, 'FW_GRPC_PORT')}, the image's gRPC port is ${facts.grpcPort}`);
    for (const p of c.ports ?? []) {
      if (!facts.exposed.includes(p.containerPort)) out.push(`${w.id}: container ${c.name}: port ${p.name} ${p.containerPort} is not one the image exposes (${facts.exposed.join(', ')})`);
    }
    // A named port other than grpc is the one a variable sets: metrics (supplier), http (gateway).
    for (const [portName, variable] of [
      ['metrics', 'FW_METRICS_PORT'],
      ['http', 'FW_HTTP_PORT'],
    ] as const) {
      const port = c.ports?.find((p) => p.name === portName)?.containerPort;
      if (port !== undefined && envValue(c, variable) !== String(port)) out.push(`${w.id}: container ${c.name}: port "${portName}" is ${port} but ${variable} is ${envValue(c, variable)}`);
    }
  }
  return out;
}

function probes(w: Workload): string[] {
  const out: string[] = [];
  for (const c of w.containers) {
    const grpcPort = c.ports?.find((p) => p.name === 'grpc')?.containerPort;
    const tls = envNames(c).has('FW_TLS_CERT');
    for (const kind of PROBES) {
      const probe = c[kind];
      if (probe === undefined) out.push(`${w.id}: container ${c.name}: no ${kind}`);
      else if (tls) {
        // Kubernetes' grpc probe speaks plaintext only: with TLS, the image's health probe.
        if (JSON.stringify(probe.exec?.command) !== JSON.stringify(HEALTH_PROBE_COMMAND)) out.push(`${w.id}: container ${c.name}: ${kind} must run ${HEALTH_PROBE_COMMAND.join(' ')} (the service serves TLS, which the grpc probe cannot speak)`);
      } else if (probe.grpc?.port !== grpcPort) out.push(`${w.id}: container ${c.name}: ${kind} must be a grpc probe of port ${grpcPort} (grpc.health.v1), got ${JSON.stringify(probe)}`);
    }
  }
  return out;
}

function resources(w: Workload): string[] {
  const out: string[] = [];
  for (const c of w.containers) {
    const requests = c.resources?.requests ?? {};
    const limits = c.resources?.limits ?? {};
    for (const r of ['cpu', 'memory']) if (requests[r] === undefined) out.push(`${w.id}: container ${c.name}: no resources.requests.${r}`);
    if (limits.memory === undefined) out.push(`${w.id}: container ${c.name}: no resources.limits.memory`);
    for (const r of ['cpu', 'memory']) {
      if (requests[r] !== undefined && limits[r] !== undefined && parseQuantity(requests[r]) > parseQuantity(limits[r])) out.push(`${w.id}: container ${c.name}: resources.requests.${r} ${requests[r]} exceeds the limit ${limits[r]}`);
    }
  }
  return out;
}

function termination(w: Workload): string[] {
  const out: string[] = [];
  for (const c of w.containers) {
    const shutdownMs = Number(envValue(c, 'FW_SHUTDOWN_TIMEOUT_MS') ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
    const graceMs = (w.pod.terminationGracePeriodSeconds ?? 30) * 1000;
    if (graceMs < shutdownMs + GRACE_MARGIN_MS) out.push(`${w.id}: terminationGracePeriodSeconds ${graceMs / 1000} leaves less than ${GRACE_MARGIN_MS / 1000} s beyond container ${c.name}'s FW_SHUTDOWN_TIMEOUT_MS (${shutdownMs} ms)`);
  }
  return out;
}

/** With a read-only root, every path a service writes is a writable volume. */
function writablePaths(w: Workload): string[] {
  const out: string[] = [];
  for (const c of w.containers) {
    const written = ['/tmp', ...WRITTEN_DIRECTORY_VARIABLES.map((v) => envValue(c, v)).filter((p): p is string => p !== undefined)];
    if (envNames(c).has('FW_CAPTURE_SHM_RING')) written.push(SHM_DIR);
    for (const path of written) {
      const mount = (c.volumeMounts ?? []).find((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`));
      if (mount === undefined || mount.readOnly) out.push(`${w.id}: container ${c.name}: ${path} is written but on no writable volume (the root file system is read-only)`);
    }
  }
  return out;
}

/** `$(NAME)` in a value is expanded by Kubernetes only when NAME is defined before it in the same container. */
function variableReferences(w: Workload): string[] {
  const out: string[] = [];
  for (const c of w.containers) {
    const defined = new Set<string>();
    for (const e of c.env ?? []) {
      for (const [, name] of (e.value ?? '').matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
        if (!defined.has(name)) out.push(`${w.id}: container ${c.name}: ${e.name} refers to $(${name}), which is not defined before it (Kubernetes would keep the text as is)`);
      }
      defined.add(e.name);
    }
  }
  return out;
}

function singleInstances(w: Workload, objects: readonly Obj[]): string[] {
  const out: string[] = [];
  const o = w.object;
  if (w.service === 'supplier' || w.service === 'capture') {
    if (o.kind !== 'Deployment' || o.spec.replicas !== 1 || o.spec.strategy?.type !== 'Recreate') out.push(`${w.id}: the ${w.service} must be a Deployment of 1 replica with strategy Recreate (never two at once)`);
  }
  if (w.service === 'gateway') {
    if (o.kind !== 'StatefulSet' || o.spec.replicas !== 1) out.push(`${w.id}: the gateway must be a StatefulSet of 1 replica (one writer of the archive, never two)`);
    const archive = envValue(w.containers[0], 'FW_ARCHIVE_DIR');
    const mount = w.containers[0].volumeMounts?.find((m) => archive !== undefined && (archive === m.mountPath || archive.startsWith(`${m.mountPath}/`)));
    const claims = (o.spec.volumeClaimTemplates ?? []).map((t: Any) => t.metadata?.name);
    const claimVolumes = (w.pod.volumes ?? []).filter((v: Any) => v.persistentVolumeClaim !== undefined).map((v: Any) => v.name);
    if (mount === undefined || !(claims.includes(mount.name) || claimVolumes.includes(mount.name))) out.push(`${w.id}: FW_ARCHIVE_DIR (${archive}) must be on a PersistentVolumeClaim`);
    const service = objects.find((s) => s.kind === 'Service' && s.metadata.name === o.spec.serviceName);
    if (service === undefined) out.push(`${w.id}: serviceName ${o.spec.serviceName} names no Service`);
  }
  return out;
}

function workerPool(workloads: readonly Workload[], objects: readonly Obj[]): string[] {
  const out: string[] = [];
  const supplier = workloads.find((w) => w.service === 'supplier');
  const reserved = (supplier && envValue(supplier.containers[0], 'FW_SUPPLIER_RESERVED_WORKERS'))?.split(',') ?? [];
  for (const w of workloads.filter((x) => x.service === 'worker')) {
    const c = w.containers[0];
    if (!envValue(c, 'FW_WORKER_POOL')) out.push(`${w.id}: FW_WORKER_POOL must name the pool its replicas join`);
    if (!(envValue(c, 'FW_WORKER_ID') ?? '').includes('{hostname}')) out.push(`${w.id}: FW_WORKER_ID must contain {hostname} so that each replica has its own id (got ${envValue(c, 'FW_WORKER_ID')})`);
    // The worker's id is its pod's name, <deployment>-<hash>-<suffix>; the supplier keeps slots for it.
    const podName = `${w.object.metadata.name}-`;
    if (envValue(c, 'FW_WORKER_ID') === '{hostname}' && !reserved.some((r) => (r.endsWith('*') ? podName.startsWith(r.slice(0, -1)) : false))) out.push(`${w.id}: the supplier's FW_SUPPLIER_RESERVED_WORKERS (${reserved.join(',')}) keeps no slot for pods named ${podName}*`);
    const budgets = objects.filter((p) => p.kind === 'PodDisruptionBudget' && selects(p.spec?.selector?.matchLabels, w.podLabels));
    if (budgets.length !== 1 || !(budgets[0].spec.minAvailable >= 1)) out.push(`${w.id}: needs one PodDisruptionBudget with minAvailable >= 1 (got ${budgets.length})`);
    const fewest = Math.min(w.object.spec.replicas ?? Infinity, ...autoscalersOf(objects, w.object.metadata.name).map((a) => a.min));
    if (budgets.length === 1 && !(budgets[0].spec.minAvailable < fewest)) out.push(`${w.id}: PodDisruptionBudget minAvailable ${budgets[0].spec.minAvailable} is not below its fewest replicas (${fewest}): it would block every drain`);
  }
  return out;
}

/** Secrets in git hold no token the services accept and no private key; references name a Secret that is rendered or the operator's. */
function secrets(objects: readonly Obj[], workloads: readonly Workload[]): string[] {
  const out: string[] = [];
  const rendered = new Set(objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name));
  for (const s of objects.filter((o) => o.kind === 'Secret')) {
    const values: [string, string][] = [...Object.entries<string>(s.data ?? {}).map(([k, v]): [string, string] => [k, Buffer.from(v, 'base64').toString('utf8')]), ...Object.entries<string>(s.stringData ?? {})];
    for (const [key, value] of values) {
      if (key === 'FW_AUTH_TOKEN' && value.length >= MIN_TOKEN_LENGTH) out.push(`${idOf(s)}: ${key} is ${value.length} characters, a token the services would accept: a real-looking token is in git (keep the placeholder, replace it from an overlay of your own)`);
      if (/PRIVATE KEY/.test(value)) out.push(`${idOf(s)}: ${key} holds a private key`);
    }
  }
  for (const w of workloads) {
    const references = [
      ...w.containers.flatMap((c) => (c.env ?? []).map((e) => e.valueFrom?.secretKeyRef?.name)),
      ...(w.pod.volumes ?? []).map((v: Any) => v.secret?.secretName),
    ].filter((n): n is string => n !== undefined);
    for (const name of references) if (!rendered.has(name) && !OPERATOR_SECRETS.has(name)) out.push(`${w.id}: refers to Secret ${name}, which is neither rendered nor one the operator makes (${[...OPERATOR_SECRETS].join(', ')})`);
  }
  return out;
}

/** Every Service selects pods that have its target ports; every address a service dials is a Service port. */
function wiring(objects: readonly Obj[], workloads: readonly Workload[]): string[] {
  const out: string[] = [];
  const services = objects.filter((o) => o.kind === 'Service');
  for (const s of services) {
    const pods = workloads.filter((w) => selects(s.spec?.selector, w.podLabels));
    if (pods.length === 0) {
      out.push(`${idOf(s)}: selects no pods`);
      continue;
    }
    for (const port of s.spec.ports ?? []) {
      const target = port.targetPort ?? port.port;
      const found = pods.every((w) => w.containers.some((c) => (c.ports ?? []).some((p) => p.name === target || p.containerPort === target)));
      if (!found) out.push(`${idOf(s)}: port ${port.name} targets ${target}, which its pods do not have`);
    }
  }
  for (const w of workloads) {
    for (const c of w.containers) {
      for (const variable of ADDRESS_VARIABLES) {
        for (const address of (envValue(c, variable) ?? '').split(',').filter(Boolean)) {
          const [host, port] = address.split(':');
          const service = services.find((s) => s.metadata.name === host);
          if (service === undefined || !(service.spec.ports ?? []).some((p: Any) => String(p.port) === port)) out.push(`${w.id}: container ${c.name}: ${variable} names ${address}, which is no Service port`);
        }
      }
    }
  }
  return out;
}

function cameras(workloads: readonly Workload[], objects: readonly Obj[]): string[] {
  const out: string[] = [];
  const captures = workloads.filter((w) => w.service === 'capture');
  const streams = captures.map((w) => envValue(w.containers[0], 'FW_STREAM_ID'));
  for (const [i, w] of captures.entries()) {
    if (!streams[i]) out.push(`${w.id}: FW_STREAM_ID must name the camera's stream`);
    else if (streams.indexOf(streams[i]) !== i) out.push(`${w.id}: stream ${streams[i]} is published by another capture too`);
    if (envValue(w.containers[0], 'FW_SERVICE_ID') !== w.object.metadata.name) out.push(`${w.id}: FW_SERVICE_ID (its command target) must be its own name, got ${envValue(w.containers[0], 'FW_SERVICE_ID')}`);
  }
  const captureServices = objects
    .filter((o) => o.kind === 'Service' && captures.some((w) => selects(o.spec?.selector, w.podLabels)))
    .map((o) => `${o.metadata.name}:${o.spec.ports.find((p: Any) => p.name === 'grpc')?.port}`)
    .sort();
  for (const gateway of workloads.filter((w) => w.service === 'gateway')) {
    const probed = (envValue(gateway.containers[0], 'FW_CAPTURE_ADDRESSES') ?? '').split(',').filter(Boolean).sort();
    if (JSON.stringify(probed) !== JSON.stringify(captureServices)) out.push(`${gateway.id}: FW_CAPTURE_ADDRESSES (${probed.join(',')}) must list every capture Service (${captureServices.join(',')})`);
  }
  return out;
}

/** Shared memory: all of capture, supplier and workers on the node's /dev/shm and one node, or none of it. */
function sharedMemory(workloads: readonly Workload[], objects: readonly Obj[]): string[] {
  const out: string[] = [];
  const hostPathsOf = (w: Workload) => (w.pod.volumes ?? []).filter((v: Any) => v.hostPath !== undefined);
  const shared = workloads.some((w) => hostPathsOf(w).length > 0);
  const framePath = workloads.filter((w) => w.service !== 'gateway');
  for (const w of workloads) {
    for (const v of hostPathsOf(w)) {
      const mounts = w.containers.flatMap((c) => (c.volumeMounts ?? []).filter((m) => m.name === v.name));
      if (v.hostPath.path !== SHM_DIR || mounts.some((m) => m.mountPath !== SHM_DIR)) out.push(`${w.id}: hostPath ${v.hostPath.path} mounted at ${mounts.map((m) => m.mountPath).join(', ')}: the only host path allowed is ${SHM_DIR} at ${SHM_DIR}`);
    }
  }
  if (shared) {
    const nodeSelectors = new Set(framePath.map((w) => JSON.stringify(w.pod.nodeSelector ?? null)));
    for (const w of framePath) {
      if (hostPathsOf(w).length === 0) out.push(`${w.id}: the ${w.service} must mount the node's ${SHM_DIR} like the others`);
      if (w.pod.nodeSelector === undefined) out.push(`${w.id}: needs the nodeSelector of the shared-memory node`);
    }
    if (nodeSelectors.size > 1) out.push(`capture, supplier and workers must select one node, got ${[...nodeSelectors].join(' and ')}`);
    for (const w of framePath.filter((x) => x.service === 'capture')) {
      const ring = envValue(w.containers[0], 'FW_CAPTURE_SHM_RING') ?? '';
      if (!ring.includes('$(POD_NAMESPACE)') || !ring.includes('$(FW_STREAM_ID)')) out.push(`${w.id}: FW_CAPTURE_SHM_RING must name a ring per namespace and stream, got "${ring}"`);
    }
  } else {
    for (const w of framePath) {
      if (envNames(w.containers[0]).has('FW_CAPTURE_SHM_RING')) out.push(`${w.id}: FW_CAPTURE_SHM_RING without a shared ${SHM_DIR}: the supplier could not read the ring`);
      if (w.service === 'worker' && envValue(w.containers[0], 'FW_WORKER_SHM') !== 'false') out.push(`${w.id}: FW_WORKER_SHM must be false where no ${SHM_DIR} is shared`);
    }
  }
  // Pod Security admission: hostPath is allowed by "privileged" only; otherwise hold "restricted".
  for (const ns of objects.filter((o) => o.kind === 'Namespace')) {
    const enforce = ns.metadata.labels?.['pod-security.kubernetes.io/enforce'];
    const wanted = shared ? 'privileged' : 'restricted';
    if (enforce !== wanted) out.push(`${idOf(ns)}: pod-security.kubernetes.io/enforce must be ${wanted} (${shared ? `pods mount the node's ${SHM_DIR}` : 'every pod meets it'}), got ${enforce}`);
  }
  return out;
}

interface Autoscaler {
  id: string;
  target: string;
  min: number;
  max: number;
  queries: string[];
  namespace?: string;
}

function autoscalersOf(objects: readonly Obj[], target?: string): Autoscaler[] {
  const all = objects.flatMap((o): Autoscaler[] => {
    if (o.kind === 'ScaledObject') return [{ id: idOf(o), target: o.spec.scaleTargetRef?.name, min: o.spec.minReplicaCount ?? 0, max: o.spec.maxReplicaCount ?? 100, queries: (o.spec.triggers ?? []).map((t: Any) => t.metadata?.query).filter(Boolean), namespace: o.metadata.namespace }];
    if (o.kind === 'HorizontalPodAutoscaler') return [{ id: idOf(o), target: o.spec.scaleTargetRef?.name, min: o.spec.minReplicas ?? 1, max: o.spec.maxReplicas, queries: [], namespace: o.metadata.namespace }];
    return [];
  });
  return target === undefined ? all : all.filter((a) => a.target === target);
}

function autoscaling(objects: readonly Obj[], workloads: readonly Workload[], context: RuleContext): string[] {
  const out: string[] = [];
  const supplier = workloads.find((w) => w.service === 'supplier');
  const reservedSlots = Number((supplier && envValue(supplier.containers[0], 'FW_SUPPLIER_RESERVED_SLOTS')) ?? 0);
  for (const a of autoscalersOf(objects)) {
    const target = workloads.find((w) => w.object.kind === 'Deployment' && w.object.metadata.name === a.target);
    if (target === undefined) {
      out.push(`${a.id}: scales ${a.target}, which is no Deployment here`);
      continue;
    }
    if (autoscalersOf(objects, a.target).length > 1) out.push(`${a.id}: ${a.target} has more than one autoscaler`);
    if (target.object.spec.replicas !== undefined) out.push(`${a.id}: ${target.id} still sets replicas (${target.object.spec.replicas}); every apply would reset what ${a.id} chose`);
    if (a.max > reservedSlots) out.push(`${a.id}: up to ${a.max} replicas, but the supplier keeps FW_SUPPLIER_RESERVED_SLOTS=${reservedSlots} for them`);
    for (const query of a.queries) out.push(...promqlProblems(query, a.namespace, context.metrics).map((p) => `${a.id}: query ${p}`));
  }
  return out;
}

/**
 * What is wrong with a PromQL query (parsed with Prometheus' own grammar, @prometheus-io/lezer-promql):
 * a syntax error; a metric the supplier does not export, or a label matcher it does not carry; no
 * `namespace` matcher, or one that is not `namespace` (two pipelines in one Prometheus would add up).
 */
export function promqlProblems(query: string, namespace: string | undefined, metrics: MetricCatalog): string[] {
  const out: string[] = [];
  const tree = promqlParser.parse(query);
  tree.iterate({
    enter(node) {
      if (node.type.isError) out.push(`does not parse at offset ${node.from}: ${JSON.stringify(query.slice(Math.max(0, node.from - 20), node.from + 20))}`);
      if (node.name !== 'VectorSelector') return;
      const selector: SyntaxNode = node.node;
      const metric = selector.getChild('Identifier');
      if (metric === null) return;
      const name = query.slice(metric.from, metric.to);
      const labels = metrics.get(name);
      if (labels === undefined) {
        out.push(`reads ${name}, which the supplier does not export`);
        return;
      }
      const matchers = selector.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? [];
      let namespaceMatched = false;
      for (const m of matchers) {
        const labelNode = m.getChild('LabelName');
        const valueNode = m.getChild('StringLiteral');
        const label = labelNode ? query.slice(labelNode.from, labelNode.to) : '';
        if (label === 'namespace') {
          namespaceMatched = true;
          const value = valueNode ? JSON.parse(query.slice(valueNode.from, valueNode.to)) : undefined;
          if (value !== namespace) out.push(`selects namespace "${value}" on ${name}, but it is in namespace "${namespace}"`);
        } else if (!labels.has(label) && !SCRAPE_LABELS.has(label)) out.push(`matches label ${label} on ${name}, which has only ${[...labels].join(', ')}`);
      }
      if (!namespaceMatched) out.push(`selects ${name} without a namespace matcher`);
    },
  });
  return out;
}

/** Every violation of framewire's rules in one rendering. */
export function framewireViolations(objects: readonly Obj[], context: RuleContext): string[] {
  const workloads = workloadsOf(objects);
  return [
    ...workloads.flatMap((w) => [
      ...podSecurity(w),
      ...imagesAndPorts(w, context),
      ...probes(w),
      ...resources(w),
      ...termination(w),
      ...writablePaths(w),
      ...variableReferences(w),
      ...singleInstances(w, objects),
    ]),
    ...workerPool(workloads, objects),
    ...secrets(objects, workloads),
    ...wiring(objects, workloads),
    ...cameras(workloads, objects),
    ...sharedMemory(workloads, objects),
    ...autoscaling(objects, workloads, context),
  ];
}
