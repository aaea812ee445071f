#!/usr/bin/env node
// `validate-schemas`: validates Kubernetes objects against the Kubernetes API schemas, offline (no
// cluster): each object's apiVersion and kind pick its model in kubernetes-models (the published
// OpenAPI schemas compiled to validators; @kubernetes-models/keda for KEDA's ScaledObject), whose
// validate() checks required fields, types, formats and enums; and a field the API does not know
// is refused too, as `kubectl apply` refuses it (strict field validation, its default), by
// type-checking every object as an object literal of the model's TypeScript interface.
//
//   kubectl kustomize deploy/k8s/overlays/spread | node tools/k8s/validate-schemas.mjs
//   node tools/k8s/validate-schemas.mjs [--json] rendered-1.yaml rendered-2.yaml ...
//
// Exit 0 when every object is valid, 1 when one is not, 2 for unreadable input. --json prints
// [{ source, index, apiVersion, kind, namespace, name, errors }] instead of one line per object.
// An ES module (so are the models), run as its own process by tools/k8s/manifests.spec.ts.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import YAML from 'yaml';

export const EXIT_VALID = 0;
export const EXIT_INVALID = 1;
export const EXIT_USAGE = 2;

/** The package holding the models of an API group; every other group is in kubernetes-models. */
const MODEL_PACKAGES = { 'keda.sh': '@kubernetes-models/keda' };
const CORE_PACKAGE = 'kubernetes-models';

/** A file that never exists on disk: the object literals are type-checked from memory, beside the
 *  repository's node_modules so that the models' types resolve. */
const VIRTUAL_MODULE = join(dirname(fileURLToPath(import.meta.url)), '.rendered-objects.mts');

/** `kubernetes-models/apps/v1`, `kubernetes-models/v1` (the core group), `@kubernetes-models/keda/keda.sh/v1alpha1`. */
export function modelModuleOf(apiVersion) {
  const slash = apiVersion.indexOf('/');
  if (slash < 0) return `${CORE_PACKAGE}/${apiVersion}`;
  const group = apiVersion.slice(0, slash);
  return `${MODEL_PACKAGES[group] ?? CORE_PACKAGE}/${apiVersion}`;
}

/** The objects of multi-document YAML; an empty document is skipped, a malformed one throws naming the source. */
export function parseObjects(text, source) {
  return YAML.parseAllDocuments(text)
    .map((doc, index) => {
      if (doc.errors.length > 0) throw new Error(`${source}: document ${index} is not valid YAML: ${doc.errors[0].message}`);
      return doc.toJSON();
    })
    .filter((object) => object !== null && object !== undefined);
}

/** What the object's model says is wrong with it (empty when valid, or when it has no model: see modelFor). */
async function schemaErrors(object) {
  const model = await modelFor(object);
  if (typeof model === 'string') return [model];
  try {
    new model(object).validate();
    return [];
  } catch (err) {
    const details = Array.isArray(err.errors) ? err.errors.map((e) => `${e.instancePath || '/'} ${e.message}`) : [err.message];
    return details.map((d) => `schema: ${d}`);
  }
}

/** The model class of the object's apiVersion and kind, or why there is none. */
async function modelFor(object) {
  if (typeof object !== 'object' || Array.isArray(object)) return 'not an object';
  const { apiVersion, kind } = object;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return 'schema: apiVersion and kind must be strings';
  let models;
  try {
    models = await import(modelModuleOf(apiVersion));
  } catch {
    return `schema: no schema for apiVersion ${apiVersion} (looked in ${modelModuleOf(apiVersion)})`;
  }
  return typeof models[kind] === 'function' ? models[kind] : `schema: no kind ${kind} in ${apiVersion}`;
}

/**
 * Fields the API does not know, per object index: every object becomes `const oN: I<Kind> = {...}`
 * in one TypeScript program, where an unknown property is an excess-property error. TypeScript
 * reports one error per object literal (the first it meets), enough to refuse the object.
 */
function unknownFieldErrors(objects, hasModel) {
  const lines = [];
  const objectAtLine = [];
  objects.forEach((object, i) => {
    if (!hasModel[i]) return;
    const json = JSON.stringify(object, null, 1).split('\n');
    lines.push(`import type { I${object.kind} as T${i} } from '${modelModuleOf(object.apiVersion)}';`);
    objectAtLine.push(i);
    lines.push(`export const o${i}: T${i} = ${json[0]}`);
    objectAtLine.push(i);
    for (const line of json.slice(1)) {
      lines.push(line);
      objectAtLine.push(i);
    }
    lines.push(';');
    objectAtLine.push(i);
  });
  const errors = objects.map(() => []);
  if (lines.length === 0) return errors;
  const text = lines.join('\n');
  const options = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, languageVersion, ...rest) => (name === VIRTUAL_MODULE ? ts.createSourceFile(name, text, languageVersion, true) : getSourceFile(name, languageVersion, ...rest));
  host.fileExists = (name) => name === VIRTUAL_MODULE || fileExists(name);
  const program = ts.createProgram([VIRTUAL_MODULE], options, host);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (d.file?.fileName !== VIRTUAL_MODULE || d.start === undefined) throw new Error(`the models' types do not compile: ${message}`);
    const line = d.file.getLineAndCharacterOfPosition(d.start).line;
    errors[objectAtLine[line]].push(`field: ${message} (at ${JSON.stringify(text.split('\n')[line].trim())})`);
  }
  return errors;
}

/** Every object of every source with what is wrong with it. */
export async function validateSources(sources) {
  const objects = [];
  for (const { source, text } of sources) parseObjects(text, source).forEach((object, index) => objects.push({ source, index, object }));
  const schema = await Promise.all(objects.map(({ object }) => schemaErrors(object)));
  const hasModel = await Promise.all(objects.map(async ({ object }) => typeof (await modelFor(object)) === 'function'));
  const fields = unknownFieldErrors(
    objects.map((o) => o.object),
    hasModel,
  );
  return objects.map(({ source, index, object }, i) => ({
    source,
    index,
    apiVersion: object?.apiVersion,
    kind: object?.kind,
    namespace: object?.metadata?.namespace,
    name: object?.metadata?.name,
    errors: [...schema[i], ...fields[i]],
  }));
}

async function main(argv) {
  const json = argv.includes('--json');
  const files = argv.filter((a) => a !== '--json');
  let sources;
  try {
    sources = files.length === 0 ? [{ source: 'stdin', text: readFileSync(0, 'utf8') }] : files.map((f) => ({ source: f, text: readFileSync(f, 'utf8') }));
  } catch (err) {
    process.stderr.write(`validate-schemas: ${err.message}\n`);
    return EXIT_USAGE;
  }
  let results;
  try {
    results = await validateSources(sources);
  } catch (err) {
    process.stderr.write(`validate-schemas: ${err.message}\n`);
    return EXIT_USAGE;
  }
  if (json) process.stdout.write(`${JSON.stringify(results)}\n`);
  else {
    for (const r of results) {
      const what = `${r.source} #${r.index} ${r.kind}/${r.namespace ? `${r.namespace}/` : ''}${r.name}`;
      process.stdout.write(r.errors.length === 0 ? `valid   ${what}\n` : `INVALID ${what}\n${r.errors.map((e) => `  ${e}\n`).join('')}`);
    }
  }
  return results.every((r) => r.errors.length === 0) ? EXIT_VALID : EXIT_INVALID;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
