// deploy/k8s, proven offline (no cluster can run here): every overlay, and every composition of an
// overlay with the optional components that docs/deploy.md describes, renders with `kubectl
// kustomize`; every rendered object validates against the Kubernetes API schemas, unknown fields
// included; every rendering keeps framewire's rules (manifest-rules.ts), each of which is shown to
// catch what it is for; and the services, started as real processes with the environment the
// single-node overlay gives their containers, run the pipeline through shared memory, refuse the
// placeholder token in git, and export every metric the autoscalers' queries read.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { checkHealth, describeIfInstalled, findFreePort, http, mainOf, REPO_ROOT, ServiceProcess, startServiceProcess, stopServiceProcess, supplierStats, waitFor, waitForHealth } from '@framewire/testing';
import { Composition, containerEnvironment, K8S_ROOT, KubeObject, overlayNames, parseObjects, renderComposition, Rendering, renderOverlay, SchemaResult, validateSchemas } from './manifests';
import { framewireViolations, HEALTH_PROBE_COMMAND, ImageFacts, MetricCatalog, MIN_TOKEN_LENGTH, promqlProblems, RuleContext, SERVICES } from './manifest-rules';

/** "Your own overlay" as docs/deploy.md writes it: the second camera before the layout, the rest after. */
const COMPOSITIONS: readonly Composition[] = [
  { name: 'single-node + second-camera, tls, keda', overlay: 'single-node', componentsBefore: ['second-camera'], componentsAfter: ['tls', 'keda'] },
  { name: 'spread + second-camera, tls, hpa', overlay: 'spread', componentsBefore: ['second-camera'], componentsAfter: ['tls', 'hpa'] },
];
/** Bounds on waiting for what must happen (not speeds): services start, frames and results flow. */
const START_MS = 60_000;
const PIPELINE_MS = 60_000;
/** The services' exit code for a bad configuration (libs/service-runtime). */
const EXIT_CONFIG = 78;
const TEST_NAMESPACE = `fw-k8s-test-${process.pid}`;
/** Where components/tls mounts Secret framewire-tls, and the test certificate put there instead. */
const TLS_MOUNT = '/etc/framewire/tls';
const TLS_FIXTURES = join(REPO_ROOT, 'libs/service-runtime/test-fixtures');
/** An operator's token, in place of the placeholder (at least 16 characters). */
const TEST_TOKEN = `k8s-test-token-${process.pid}-0123456789`;

/** The gRPC port and exposed ports of each image, from docker/<service>.Dockerfile. */
function imageFacts(): Record<string, ImageFacts> {
  return Object.fromEntries(
    SERVICES.map((service) => {
      const dockerfile = readFileSync(join(REPO_ROOT, 'docker', `${service}.Dockerfile`), 'utf8');
      const grpcPort = /^ENV FW_GRPC_PORT=(\d+)/m.exec(dockerfile);
      const exposed = /^EXPOSE (.+)$/m.exec(dockerfile);
      if (grpcPort === null || exposed === null) throw new Error(`docker/${service}.Dockerfile has no ENV FW_GRPC_PORT or EXPOSE line`);
      return [service, { grpcPort: Number(grpcPort[1]), exposed: exposed[1].trim().split(/\s+/).map(Number) }];
    }),
  );
}

/** Metric name → label names, from a Prometheus text exposition. */
function metricCatalog(exposition: string): Map<string, Set<string>> {
  const catalog = new Map<string, Set<string>>();
  for (const line of exposition.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (m === null) continue;
    const labels = catalog.get(m[1]) ?? new Set<string>();
    for (const [, label] of (m[2] ?? '').matchAll(/(\w+)="/g)) labels.add(label);
    catalog.set(m[1], labels);
  }
  return catalog;
}

const find = (objects: readonly KubeObject[], kind: string, name: string) => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind}/${name} in the rendering`);
  return found;
};
const containerOf = (objects: readonly KubeObject[], kind: string, name: string) => find(objects, kind, name).spec.template.spec.containers[0];
const clone = (objects: readonly KubeObject[]): KubeObject[] => structuredClone(objects) as KubeObject[];
const envEntry = (container: { env: { name: string }[] }, name: string) => container.env.find((e) => e.name === name) as { name: string; value?: string };

describeIfInstalled('kubectl', 'kubectl from https://kubernetes.io/docs/tasks/tools/ (its `kubectl kustomize` renders offline)')('the Kubernetes manifests (deploy/k8s)', () => {
  const overlays = overlayNames();
  let renderings: Rendering[];
  let singleNode: Rendering;
  let spread: Rendering;
  let images: Record<string, ImageFacts>;
  let metrics: MetricCatalog;
  let context: RuleContext;
  let schemaResults: SchemaResult[];
  const services: Record<string, ServiceProcess> = {};
  let archiveDir: string;

  beforeAll(async () => {
    renderings = [...overlays.map(renderOverlay), ...COMPOSITIONS.map(renderComposition)];
    singleNode = renderings.find((r) => r.name === 'overlays/single-node')!;
    spread = renderings.find((r) => r.name === 'overlays/spread')!;
    images = imageFacts();
    // Broken on purpose, beside the real ones, so that the same run proves the validator refuses.
    const broken = clone(spread.objects);
    containerOf(broken, 'Deployment', 'worker').readinessProbe = { grpc: { port: 'grpc' } };
    containerOf(broken, 'Deployment', 'supplier').redinessProbe = { grpc: { port: 50052 } };
    find(broken, 'PodDisruptionBudget', 'worker').spec.minAvailabe = 1;
    schemaResults = validateSchemas([...renderings, { name: 'broken', text: broken.map((o) => JSON.stringify(o)).join('\n---\n') }]);

    // The pipeline from the single-node overlay's environment: what each container would get,
    // with the token replaced (as an operator's overlay does), addresses of Services mapped to
    // these processes' loopback ports, and the archive in a temporary directory.
    archiveDir = mkdtempSync(join(tmpdir(), 'fw-k8s-archive-'));
    const ports = { supplier: await findFreePort(), metrics: await findFreePort(), gateway: await findFreePort(), http: await findFreePort(), 'capture-cam-1': await findFreePort(), worker: await findFreePort() };
    const addresses: Record<string, string> = { 'supplier:50052': `127.0.0.1:${ports.supplier}`, 'gateway:50054': `127.0.0.1:${ports.gateway}`, 'capture-cam-1:50051': `127.0.0.1:${ports['capture-cam-1']}` };
    const objects = clone(singleNode.objects);
    objects.find((o) => o.kind === 'Secret')!.data.FW_AUTH_TOKEN = Buffer.from(TEST_TOKEN).toString('base64');
    const environment = (kind: string, name: string, grpcPort: number, extra: Record<string, string> = {}) => {
      const env = containerEnvironment(containerOf(objects, kind, name), objects, TEST_NAMESPACE);
      for (const variable of ['FW_SUPPLIER_ADDRESS', 'FW_GATEWAY_ADDRESS', 'FW_CAPTURE_ADDRESSES']) {
        if (env[variable] !== undefined) env[variable] = env[variable].split(',').map((a) => addresses[a] ?? a).join(',');
      }
      return { ...env, FW_GRPC_PORT: String(grpcPort), ...extra };
    };
    services.supplier = await startServiceProcess('supplier', environment('Deployment', 'supplier', ports.supplier, { FW_METRICS_PORT: String(ports.metrics) }), { listeners: ['gRPC', 'metrics'] });
    services.gateway = await startServiceProcess('gateway', environment('StatefulSet', 'gateway', ports.gateway, { FW_HTTP_PORT: String(ports.http), FW_ARCHIVE_DIR: join(archiveDir, 'archive'), FW_FRAME_ARCHIVE_DIR: join(archiveDir, 'frames') }), { listeners: ['gRPC', 'HTTP'] });
    services.capture = await startServiceProcess('capture', environment('Deployment', 'capture-cam-1', ports['capture-cam-1']));
    services.worker = await startServiceProcess('worker', environment('Deployment', 'worker', ports.worker));
    await waitForHealth(`http://127.0.0.1:${ports.http}`, 200, PIPELINE_MS);
    await waitFor(
      'the pool to take frames',
      async () => (await supplierStats(`127.0.0.1:${ports.supplier}`)).pools.some((p) => p.poolId === 'analysis' && p.streams.some((s) => s.taken > 0)),
      PIPELINE_MS,
    );
    const scrape = await http(`http://127.0.0.1:${ports.metrics}/metrics`);
    metrics = metricCatalog(String(scrape.body));
    context = { images, metrics };
  }, START_MS + 2 * PIPELINE_MS);

  afterAll(async () => {
    for (const s of Object.values(services).reverse()) await stopServiceProcess(s);
    if (archiveDir) rmSync(archiveDir, { recursive: true, force: true });
  });

  it('renders every overlay and each composition of an overlay with the optional components', () => {
    expect(overlays).toEqual(expect.arrayContaining(['single-node', 'spread']));
    const kinds = (r: Rendering) => [...new Set(r.objects.map((o) => o.kind))].sort();
    expect(kinds(singleNode)).toEqual(['Deployment', 'Namespace', 'PodDisruptionBudget', 'Secret', 'Service', 'StatefulSet']);
    expect(kinds(spread)).toEqual(kinds(singleNode));
    const [keda, hpa] = COMPOSITIONS.map((c) => renderings.find((r) => r.name === c.name)!);
    expect(kinds(keda)).toContain('ScaledObject');
    expect(kinds(hpa)).toContain('HorizontalPodAutoscaler');
    for (const r of [keda, hpa]) expect(r.objects.filter((o) => o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/name'] === 'capture').map((o) => o.metadata.name)).toEqual(['capture-cam-1', 'capture-cam-2']);
    for (const r of renderings) for (const o of r.objects) expect(`${r.name} ${o.kind}/${o.metadata.name} in ${o.metadata.namespace ?? o.metadata.name}`).toMatch(/ in framewire$/);
  });

  it('validates every rendered object against the Kubernetes API schemas, refusing unknown fields', () => {
    const invalid = schemaResults.filter((r) => r.source !== 'broken' && r.errors.length > 0).map((r) => `${r.source}: ${r.kind}/${r.name}: ${r.errors.join('; ')}`);
    expect(invalid).toEqual([]);
    const objectsChecked = schemaResults.filter((r) => r.source !== 'broken').length;
    expect(objectsChecked).toBe(renderings.reduce((n, r) => n + r.objects.length, 0));
    // The broken copy: a grpc probe port by name (the API wants a number) and two misspelt fields.
    const broken = Object.fromEntries(schemaResults.filter((r) => r.source === 'broken' && r.errors.length > 0).map((r) => [`${r.kind}/${r.name}`, r.errors.join('; ')]));
    expect(Object.keys(broken).sort()).toEqual(['Deployment/supplier', 'Deployment/worker', 'PodDisruptionBudget/worker']);
    expect(broken['Deployment/worker']).toMatch(/readinessProbe\/grpc\/port must be integer/);
    expect(broken['Deployment/supplier']).toMatch(/'"redinessProbe"' does not exist in type 'IContainer'/);
    expect(broken['PodDisruptionBudget/worker']).toMatch(/'"minAvailabe"' does not exist/);
  });

  it("keeps framewire's rules in every rendering", () => {
    const violations = Object.fromEntries(renderings.map((r) => [r.name, framewireViolations(r.objects, context)]));
    expect(violations).toEqual(Object.fromEntries(renderings.map((r) => [r.name, []])));
  });

  it('shares the node /dev/shm in single-node only, and runs every pod of spread under "restricted"', () => {
    const hostPaths = (r: Rendering) => r.objects.filter((o) => (o.spec?.template?.spec?.volumes ?? []).some((v: { hostPath?: unknown }) => v.hostPath)).map((o) => o.metadata.name);
    expect(hostPaths(singleNode).sort()).toEqual(['capture-cam-1', 'supplier', 'worker']);
    expect(hostPaths(spread)).toEqual([]);
    expect(find(spread.objects, 'Namespace', 'framewire').metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    expect(containerEnvironment(containerOf(singleNode.objects, 'Deployment', 'capture-cam-1'), singleNode.objects, 'framewire').FW_CAPTURE_SHM_RING).toBe('framewire-framewire-cam-1');
  });

  it('autoscales on queries that parse and read only series the supplier exports, the same for KEDA and prometheus-adapter', () => {
    const keda = renderings.find((r) => r.name === COMPOSITIONS[0].name)!.objects.find((o) => o.kind === 'ScaledObject')!;
    const kedaQueries = keda.spec.triggers.map((t: { metadata: { query: string } }) => t.metadata.query);
    expect(kedaQueries).toHaveLength(2);
    for (const q of kedaQueries) expect(promqlProblems(q, 'framewire', metrics)).toEqual([]);
    // The supplier started from the manifests has pool "analysis": the selectors find its series.
    expect(metrics.get('framewire_pool_frames_taken_total')).toEqual(new Set(['pool', 'stream']));
    expect(metrics.get('framewire_pool_member_credits_outstanding')).toEqual(new Set(['pool', 'member']));
    const [adapterValues] = parseAllDocuments(readFileSync(join(K8S_ROOT, 'components/hpa/prometheus-adapter-values.yaml'), 'utf8'));
    const rules = (adapterValues.toJSON() as { rules: { external: { name: { as: string }; metricsQuery: string; seriesQuery: string }[] } }).rules.external;
    const hpa = renderings.find((r) => r.name === COMPOSITIONS[1].name)!.objects.find((o) => o.kind === 'HorizontalPodAutoscaler')!;
    expect(rules.map((r) => r.name.as)).toEqual(hpa.spec.metrics.map((m: { external: { metric: { name: string } } }) => m.external.metric.name));
    expect(rules.map((r) => r.metricsQuery)).toEqual(kedaQueries);
    for (const r of rules) expect(promqlProblems(r.seriesQuery, 'framewire', metrics)).toEqual([]);
  });

  it('runs the pipeline from the single-node environment: frames through shared memory, results to the gateway', async () => {
    const stats = await supplierStats(`127.0.0.1:${services.supplier.port}`);
    const worker = stats.workers.find((w) => w.poolId === 'analysis');
    expect(worker?.sharedMemory).toBe(true);
    expect(stats.streams.map((s) => s.streamId)).toEqual(['cam-1']);
    expect(existsSync(`/dev/shm/framewire-${TEST_NAMESPACE}-cam-1`)).toBe(true);
  });

  it('has a token placeholder that every service refuses, never printing it', () => {
    const secret = singleNode.objects.find((o) => o.kind === 'Secret')!;
    const placeholder = Buffer.from(secret.data.FW_AUTH_TOKEN, 'base64').toString('utf8');
    expect(placeholder.length).toBeLessThan(MIN_TOKEN_LENGTH);
    for (const [service, kind, name] of [
      ['supplier', 'Deployment', 'supplier'],
      ['worker', 'Deployment', 'worker'],
    ] as const) {
      const env = containerEnvironment(containerOf(singleNode.objects, kind, name), singleNode.objects, TEST_NAMESPACE);
      const run = spawnSync(process.execPath, [mainOf(service)], { env: { PATH: process.env.PATH, ...env, FW_GRPC_PORT: '0', FW_METRICS_PORT: '0' }, encoding: 'utf8', timeout: START_MS });
      expect({ service, status: run.status }).toEqual({ service, status: EXIT_CONFIG });
      expect(run.stderr + run.stdout).toMatch(/FW_AUTH_TOKEN: must be at least 16 characters/);
      expect(run.stderr + run.stdout).not.toContain(placeholder);
    }
  });

  it("serves TLS from the tls component's mount, which its exec probe speaks and a plaintext probe (the grpc probe) cannot", async () => {
    const objects = clone(renderings.find((r) => r.name === COMPOSITIONS[0].name)!.objects);
    objects.find((o) => o.kind === 'Secret')!.data.FW_AUTH_TOKEN = Buffer.from(TEST_TOKEN).toString('base64');
    const container = containerOf(objects, 'Deployment', 'supplier');
    // The Secret as the kubelet would mount it: tls.crt, tls.key, ca.crt (a self-signed localhost certificate).
    const tlsDir = join(archiveDir, 'tls');
    mkdirSync(tlsDir);
    copyFileSync(join(TLS_FIXTURES, 'localhost.crt'), join(tlsDir, 'tls.crt'));
    copyFileSync(join(TLS_FIXTURES, 'localhost.key'), join(tlsDir, 'tls.key'));
    copyFileSync(join(TLS_FIXTURES, 'localhost.crt'), join(tlsDir, 'ca.crt'));
    const env = containerEnvironment(container, objects, TEST_NAMESPACE);
    for (const variable of ['FW_TLS_CERT', 'FW_TLS_KEY', 'FW_TLS_CA']) {
      expect(env[variable]).toMatch(new RegExp(`^${TLS_MOUNT}/`));
      env[variable] = env[variable].replace(TLS_MOUNT, tlsDir);
    }
    const supplier = await startServiceProcess('supplier', { ...env, FW_GRPC_PORT: '0', FW_METRICS_PORT: '0' }, { listeners: ['gRPC', 'metrics'] });
    try {
      const [command, script] = container.readinessProbe.exec.command as string[];
      const probe = spawnSync(command, [script.replace('/app/', `${REPO_ROOT}/`)], { env: { PATH: process.env.PATH, ...env, FW_GRPC_PORT: String(supplier.port) }, encoding: 'utf8', timeout: START_MS });
      expect({ status: probe.status, output: probe.stdout.trim() }).toEqual({ status: 0, output: expect.stringMatching(/SERVING/) });
      await expect(checkHealth(supplier.port)).rejects.toThrow();
    } finally {
      expect((await stopServiceProcess(supplier)).code).toBe(0);
    }
  });

  it('stops every service gracefully within its rendered FW_SHUTDOWN_TIMEOUT_MS', async () => {
    for (const name of ['worker', 'capture', 'gateway', 'supplier']) {
      const { code } = await stopServiceProcess(services[name], 'SIGTERM', 10_000);
      expect({ name, code }).toEqual({ name, code: 0 });
      delete services[name];
    }
    expect(existsSync(`/dev/shm/framewire-${TEST_NAMESPACE}-cam-1`)).toBe(false);
  });

  describe('each rule catches what it is for', () => {
    const cases: [string, (objects: KubeObject[]) => void, RegExp][] = [
      ['a container that may run as root', (o) => delete find(o, 'Deployment', 'worker').spec.template.spec.securityContext.runAsNonRoot, /Deployment\/worker: pod securityContext.runAsNonRoot must be true/],
      ['a writable root file system', (o) => (containerOf(o, 'Deployment', 'supplier').securityContext.readOnlyRootFilesystem = false), /supplier: container supplier: securityContext.readOnlyRootFilesystem/],
      ['a capability kept', (o) => (containerOf(o, 'StatefulSet', 'gateway').securityContext.capabilities = { drop: ['NET_RAW'] }), /gateway: container gateway: securityContext.capabilities.drop must include ALL/],
      ['privilege escalation', (o) => delete containerOf(o, 'Deployment', 'capture-cam-1').securityContext.allowPrivilegeEscalation, /capture-cam-1: container capture: securityContext.allowPrivilegeEscalation/],
      ['no seccomp profile', (o) => delete find(o, 'Deployment', 'worker').spec.template.spec.securityContext.seccompProfile, /seccompProfile.type must be RuntimeDefault/],
      ['an HTTP readiness probe', (o) => (containerOf(o, 'Deployment', 'worker').readinessProbe = { httpGet: { port: 50053, path: '/' } }), /worker: readinessProbe must be a grpc probe of port 50053/],
      ['a probe of another port', (o) => (containerOf(o, 'Deployment', 'supplier').livenessProbe.grpc.port = 50053), /supplier: livenessProbe must be a grpc probe of port 50052/],
      ['no resource requests', (o) => delete containerOf(o, 'Deployment', 'worker').resources.requests, /worker: no resources.requests.cpu/],
      ['a request above its limit', (o) => (containerOf(o, 'Deployment', 'worker').resources.requests.memory = '2Gi'), /requests.memory 2Gi exceeds the limit 512Mi/],
      ['a grace shorter than the shutdown bound', (o) => (find(o, 'Deployment', 'supplier').spec.template.spec.terminationGracePeriodSeconds = 10), /terminationGracePeriodSeconds 10 leaves less than 5 s/],
      ['a worker outside the pool', (o) => (containerOf(o, 'Deployment', 'worker').env = containerOf(o, 'Deployment', 'worker').env.filter((e: { name: string }) => e.name !== 'FW_WORKER_POOL')), /worker: FW_WORKER_POOL must name the pool/],
      ['replicas sharing one worker id', (o) => (envEntry(containerOf(o, 'Deployment', 'worker'), 'FW_WORKER_ID').value = 'worker-1'), /FW_WORKER_ID must contain \{hostname\}/],
      ['a real-looking token in git', (o) => (o.find((x) => x.kind === 'Secret')!.data.FW_AUTH_TOKEN = Buffer.from('3f9a1c7e5b2d8f4a6c0e1b3d5f7a9c2e').toString('base64')), /FW_AUTH_TOKEN is 32 characters, a token the services would accept/],
      ['a private key in git', (o) => o.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'framewire-tls' }, stringData: { 'tls.key': '-----BEGIN PRIVATE KEY-----' } }), /Secret\/framewire-tls: tls.key holds a private key/],
      ['an image of another name', (o) => (containerOf(o, 'Deployment', 'worker').image = 'nginx:1.27'), /worker: container worker: image "nginx:1.27" is not framewire\/<service>:<tag>/],
      ['an untagged image', (o) => (containerOf(o, 'Deployment', 'supplier').image = 'framewire/supplier'), /image "framewire\/supplier" is not framewire\/<service>:<tag>/],
      ['a port the image does not serve', (o) => (containerOf(o, 'Deployment', 'supplier').ports[0].containerPort = 50099), /port "grpc" is 50099, the image's gRPC port is 50052/],
      ['a metrics port the service does not listen on', (o) => (envEntry(containerOf(o, 'Deployment', 'supplier'), 'FW_METRICS_PORT').value = '9103'), /port "metrics" is 9102 but FW_METRICS_PORT is 9103/],
      ['a Service port its pods lack', (o) => (find(o, 'Service', 'gateway').spec.ports[1].targetPort = 'web'), /Service\/gateway: port http targets web, which its pods do not have/],
      ['an address that is no Service', (o) => (envEntry(containerOf(o, 'Deployment', 'worker'), 'FW_SUPPLIER_ADDRESS').value = 'suppliers:50052'), /worker: container worker: FW_SUPPLIER_ADDRESS names suppliers:50052, which is no Service port/],
      ['a gateway that may run twice', (o) => (find(o, 'StatefulSet', 'gateway').spec.replicas = 2), /the gateway must be a StatefulSet of 1 replica/],
      ['a supplier rolled out beside its successor', (o) => (find(o, 'Deployment', 'supplier').spec.strategy = { type: 'RollingUpdate' }), /the supplier must be a Deployment of 1 replica with strategy Recreate/],
      ['an archive on the read-only root', (o) => (containerOf(o, 'StatefulSet', 'gateway').volumeMounts = containerOf(o, 'StatefulSet', 'gateway').volumeMounts.filter((m: { name: string }) => m.name !== 'archive')), /gateway: container gateway: \/data\/archive is written but on no writable volume/],
      ['a variable referred to before it is defined', (o) => containerOf(o, 'Deployment', 'capture-cam-1').env.reverse(), /FW_CAPTURE_SHM_RING refers to \$\(FW_STREAM_ID\), which is not defined before it/],
      ['a worker off the shared /dev/shm', (o) => (find(o, 'Deployment', 'worker').spec.template.spec.volumes = find(o, 'Deployment', 'worker').spec.template.spec.volumes.filter((v: { name: string }) => v.name !== 'shm')), /worker: the worker must mount the node's \/dev\/shm/],
      ['a host path other than /dev/shm', (o) => (find(o, 'Deployment', 'supplier').spec.template.spec.volumes.find((v: { name: string }) => v.name === 'shm').hostPath.path = '/var/run'), /hostPath \/var\/run mounted at \/dev\/shm/],
      ['a namespace that would reject the hostPath', (o) => (find(o, 'Namespace', 'framewire').metadata.labels!['pod-security.kubernetes.io/enforce'] = 'baseline'), /enforce must be privileged/],
      ['two captures of one stream', (o) => o.push({ ...structuredClone(find(o, 'Deployment', 'capture-cam-1')), metadata: { name: 'capture-cam-9' } }), /Deployment\/capture-cam-9: stream cam-1 is published by another capture too/],
      ['a capture the gateway does not probe', (o) => (envEntry(containerOf(o, 'StatefulSet', 'gateway'), 'FW_CAPTURE_ADDRESSES').value = 'supplier:50052'), /FW_CAPTURE_ADDRESSES \(supplier:50052\) must list every capture Service \(capture-cam-1:50051\)/],
      ['a disruption budget that blocks every drain', (o) => (find(o, 'PodDisruptionBudget', 'worker').spec.minAvailable = 2), /minAvailable 2 is not below its fewest replicas \(2\)/],
    ];
    it.each(cases)('%s', (_what, breakIt, expected) => {
      const objects = clone(singleNode.objects);
      breakIt(objects);
      expect(framewireViolations(objects, context).join('\n')).toMatch(expected);
    });

    const keda = () => clone(renderings.find((r) => r.name === COMPOSITIONS[0].name)!.objects);
    const scaledObject = (o: KubeObject[]) => o.find((x) => x.kind === 'ScaledObject')!;
    const autoscalerCases: [string, (objects: KubeObject[]) => void, RegExp][] = [
      ['more replicas than the supplier reserves slots for', (o) => (scaledObject(o).spec.maxReplicaCount = 20), /up to 20 replicas, but the supplier keeps FW_SUPPLIER_RESERVED_SLOTS=8/],
      ['replicas left in the Deployment', (o) => (find(o, 'Deployment', 'worker').spec.replicas = 2), /still sets replicas \(2\)/],
      ['a second autoscaler', (o) => o.push({ ...structuredClone(scaledObject(o)), metadata: { name: 'worker-2', namespace: 'framewire' } }), /worker has more than one autoscaler/],
      ['a metric the supplier does not export', (o) => (scaledObject(o).spec.triggers[1].metadata.query = 'max(framewire_pool_frame_age_seconds{namespace="framewire"})'), /reads framewire_pool_frame_age_seconds, which the supplier does not export/],
      ['a label the metric does not carry', (o) => (scaledObject(o).spec.triggers[1].metadata.query = 'max(framewire_pool_age_seconds{namespace="framewire", camera="cam-1"})'), /matches label camera on framewire_pool_age_seconds/],
      ['a query that does not parse', (o) => (scaledObject(o).spec.triggers[0].metadata.query = 'sum(rate(framewire_pool_frames_taken_total{namespace="framewire"}[2m])'), /does not parse at offset/],
      ['another namespace', (o) => (scaledObject(o).spec.triggers[1].metadata.query = 'max(framewire_pool_age_seconds{namespace="default"})'), /selects namespace "default" on framewire_pool_age_seconds, but it is in namespace "framewire"/],
      ['every namespace', (o) => (scaledObject(o).spec.triggers[1].metadata.query = 'max(framewire_pool_age_seconds)'), /selects framewire_pool_age_seconds without a namespace matcher/],
      ['the grpc probe where the service serves TLS', (o) => (containerOf(o, 'Deployment', 'worker').livenessProbe = { grpc: { port: 50053 } }), /worker: livenessProbe must run node \/app\/dist\/tools\/health-probe\/health-probe.js/],
    ];
    it.each(autoscalerCases)('%s', (_what, breakIt, expected) => {
      const objects = keda();
      breakIt(objects);
      expect(framewireViolations(objects, context).join('\n')).toMatch(expected);
    });

    it("the TLS probes run the image's health probe, which the build makes", () => {
      expect(HEALTH_PROBE_COMMAND[1]).toBe('/app/dist/tools/health-probe/health-probe.js');
      expect(existsSync(join(REPO_ROOT, 'dist/tools/health-probe/health-probe.js'))).toBe(true);
    });
  });

  it('parses multi-document YAML and names the source of a malformed document', () => {
    expect(parseObjects('---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n', 'x').map((o) => o.metadata.name)).toEqual(['a']);
    expect(() => parseObjects('a: [b\n', 'rendering-x')).toThrow(/rendering-x: document 0 is not valid YAML/);
  });
});
