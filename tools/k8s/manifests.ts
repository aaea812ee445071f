// The Kubernetes manifests of deploy/k8s as objects: rendered by `kubectl kustomize` (offline, no
// cluster), overlays as they are and "your own overlay" compositions of an overlay with optional
// components; and their check against the API schemas by validate-schemas.mjs in its own process.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '@framewire/testing';

export const K8S_ROOT = join(REPO_ROOT, 'deploy/k8s');
const VALIDATOR = join(REPO_ROOT, 'tools/k8s/validate-schemas.mjs');
/** Bound on one `kubectl kustomize` (it takes well under a second) and on the schema check. */
const KUBECTL_TIMEOUT_MS = 60_000;
const VALIDATOR_TIMEOUT_MS = 120_000;
/** Rendered manifests are a few hundred KB at most. */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/** A Kubernetes object as rendered: the fields the rules read are typed where they are read. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- rendered YAML, read field by field by the rules
  [field: string]: any;
}

/** One rendering: where it came from and its objects. */
export interface Rendering {
  name: string;
  text: string;
  objects: KubeObject[];
}

/** An overlay of deploy/k8s/overlays with optional components listed before and after its own,
 *  as docs/deploy.md tells users to write their own overlay. */
export interface Composition {
  name: string;
  overlay: string;
  componentsBefore?: readonly string[];
  componentsAfter?: readonly string[];
}

/** The overlays (each directory of deploy/k8s/overlays with a kustomization.yaml). */
export function overlayNames(): string[] {
  const overlays = join(K8S_ROOT, 'overlays');
  return readdirSync(overlays, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(overlays, d.name, 'kustomization.yaml')))
    .map((d) => d.name)
    .sort();
}

/** The objects of multi-document YAML (empty documents skipped); malformed YAML throws naming `source`. */
export function parseObjects(text: string, source: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((doc, index) => {
      if (doc.errors.length > 0) throw new Error(`${source}: document ${index} is not valid YAML: ${doc.errors[0].message}`);
      return doc.toJSON() as KubeObject | null;
    })
    .filter((o): o is KubeObject => o !== null);
}

/** `kubectl kustomize <dir>`, stderr in the error when it fails. */
export function kustomize(dir: string): string {
  try {
    return execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: KUBECTL_TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`kubectl kustomize ${relative(REPO_ROOT, dir)} failed: ${stderr.trim() || (err as Error).message}`);
  }
}

export function renderOverlay(overlay: string): Rendering {
  const text = kustomize(join(K8S_ROOT, 'overlays', overlay));
  return { name: `overlays/${overlay}`, text, objects: parseObjects(text, `overlays/${overlay}`) };
}

/** The fields of an overlay's kustomization that a composition carries over (paths rebased). */
const COMPOSABLE_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'images', 'resources', 'components']);

/**
 * Renders a copy of the overlay's kustomization, in a temporary directory, with more components
 * (paths under deploy/k8s/components) before and after the overlay's own. An overlay field the
 * copy would not carry over is an error, so that compositions never silently drift from it.
 */
export function renderComposition(composition: Composition): Rendering {
  const overlayDir = join(K8S_ROOT, 'overlays', composition.overlay);
  const [overlayDoc] = parseAllDocuments(readFileSync(join(overlayDir, 'kustomization.yaml'), 'utf8'));
  const overlay = overlayDoc.toJSON() as Record<string, unknown> & { resources?: string[]; components?: string[] };
  const unknown = Object.keys(overlay).filter((k) => !COMPOSABLE_FIELDS.has(k));
  if (unknown.length > 0) throw new Error(`overlays/${composition.overlay}/kustomization.yaml has ${unknown.join(', ')}, which compositions do not carry over: add them to COMPOSABLE_FIELDS with their paths rebased`);
  const dir = mkdtempSync(join(tmpdir(), 'fw-k8s-composition-'));
  try {
    // kustomize accepts only relative paths: from the temporary directory back into the repository.
    const fromOverlay = (path: string) => relative(dir, join(overlayDir, path));
    const component = (name: string) => relative(dir, join(K8S_ROOT, 'components', name));
    const kustomization = {
      ...overlay,
      resources: (overlay.resources ?? []).map(fromOverlay),
      components: [...(composition.componentsBefore ?? []).map(component), ...(overlay.components ?? []).map(fromOverlay), ...(composition.componentsAfter ?? []).map(component)],
    };
    writeFileSync(join(dir, 'kustomization.yaml'), JSON.stringify(kustomization, null, 2));
    const text = kustomize(dir);
    return { name: composition.name, text, objects: parseObjects(text, composition.name) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What validate-schemas.mjs reports for one object. */
export interface SchemaResult {
  source: string;
  index: number;
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  errors: string[];
}

/** Runs validate-schemas.mjs (an ES module, as the models are) over the renderings, in one process. */
export function validateSchemas(renderings: readonly Pick<Rendering, 'name' | 'text'>[]): SchemaResult[] {
  const dir = mkdtempSync(join(tmpdir(), 'fw-k8s-schemas-'));
  try {
    const files = renderings.map((r, i) => {
      const file = join(dir, `${i}-${r.name.replace(/[^\w.-]+/g, '_')}.yaml`);
      writeFileSync(file, r.text);
      return file;
    });
    let stdout: string;
    try {
      stdout = execFileSync(process.execPath, [VALIDATOR, '--json', ...files], { encoding: 'utf8', timeout: VALIDATOR_TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      // Exit 1 (an object is invalid) still prints the results; anything else is a failure of the tool.
      const failed = err as { status?: number; stdout?: string; stderr?: string };
      if (failed.status !== 1 || !failed.stdout) throw new Error(`validate-schemas failed (exit ${failed.status}): ${failed.stderr ?? (err as Error).message}`);
      stdout = failed.stdout;
    }
    const results = JSON.parse(stdout) as SchemaResult[];
    return results.map((r) => ({ ...r, source: renderings[files.indexOf(r.source)]?.name ?? r.source }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What Kubernetes would give a container as its environment: literal values with `$(NAME)`
 *  expanded from the variables before them, Secret keys from the rendered Secrets, and the
 *  downward API's metadata.namespace. A reference it cannot resolve throws naming it. */
export function containerEnvironment(
  container: { name: string; env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } } }[] },
  objects: readonly KubeObject[],
  namespace: string,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (text, name: string) => env[name] ?? text);
    else if (e.valueFrom?.secretKeyRef) {
      const { name, key } = e.valueFrom.secretKeyRef;
      const data = objects.find((o) => o.kind === 'Secret' && o.metadata.name === name)?.data?.[key];
      if (data === undefined) throw new Error(`container ${container.name}: ${e.name} refers to key ${key} of Secret ${name}, which is not rendered`);
      env[e.name] = Buffer.from(data, 'base64').toString('utf8');
    } else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = namespace;
    else throw new Error(`container ${container.name}: ${e.name} has a source this function does not know: ${JSON.stringify(e.valueFrom)}`);
  }
  return env;
}
