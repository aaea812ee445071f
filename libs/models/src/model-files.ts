// The model files the worker's model analyzers run: where they are (models/ at the checkout's root,
// fetched at install by tools/models/fetch.mjs, or FW_MODELS_DIR), and reading one model's graph and
// weights with every file checked against models/manifest.json, so a missing or corrupt file is an
// error that names it, at start, never a wrong answer later.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const MODEL_NAMES = ['movenet-multipose', 'centernet', 'selfie'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];
export const MANIFEST_FILE = 'manifest.json';
const MODELS_FOLDER = 'models';

/** A model file that is missing, unreadable or not the file the manifest names. */
export class ModelFileError extends Error {
  readonly code = 'MODEL_FILE_INVALID';
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`model file ${file}: ${message}`);
    this.name = 'ModelFileError';
  }
}

interface ManifestFile {
  bytes: number;
  sha256: string;
}
interface Manifest {
  models: Record<string, { files: Record<string, ManifestFile>; origin: string; licence: string }>;
}

/** What tfjs-converter's loadGraphModel needs, from an in-memory IO handler. */
export interface ModelArtifacts {
  modelTopology: unknown;
  weightSpecs: unknown[];
  weightData: ArrayBuffer;
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  signature?: unknown;
  userDefinedMetadata?: unknown;
}

/** The models folder: `configured` when given, else the nearest models/manifest.json above this file. */
export function findModelsDirectory(configured?: string): string {
  if (configured !== undefined) return resolve(configured);
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, MODELS_FOLDER, MANIFEST_FILE))) return join(dir, MODELS_FOLDER);
  }
  throw new ModelFileError(join(MODELS_FOLDER, MANIFEST_FILE), `not found above ${__dirname}: set FW_MODELS_DIR to the folder that holds the models`);
}

function readManifest(dir: string): Manifest {
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ModelFileError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    return JSON.parse(text) as Manifest;
  } catch (err) {
    throw new ModelFileError(file, `is not JSON (${(err as Error).message})`);
  }
}

function readChecked(dir: string, name: string, expected: ManifestFile): Buffer {
  const file = join(dir, name);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelFileError(file, code === 'ENOENT' ? 'missing (run `npm install` or `node tools/models/fetch.mjs` to fetch the models)' : `cannot be read (${code ?? (err as Error).message})`);
  }
  if (bytes.length !== expected.bytes) throw new ModelFileError(file, `is ${bytes.length} bytes, the manifest says ${expected.bytes}: corrupt or another version (run \`node tools/models/fetch.mjs\`)`);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== expected.sha256) throw new ModelFileError(file, `sha256 ${sha256} differs from the manifest's ${expected.sha256}: corrupt (run \`node tools/models/fetch.mjs\`)`);
  return bytes;
}

/** One model's graph and weights from `dir`, every file checked (size and sha256) against the manifest. */
export function readModelArtifacts(dir: string, model: ModelName): ModelArtifacts {
  const entry = readManifest(dir).models[model];
  if (entry === undefined) throw new ModelFileError(join(dir, MANIFEST_FILE), `names no model "${model}"`);
  const graphName = `${model}.json`;
  const graphSpec = entry.files[graphName];
  if (graphSpec === undefined) throw new ModelFileError(join(dir, MANIFEST_FILE), `names no file ${graphName} for model "${model}"`);
  const graphFile = join(dir, graphName);
  let graph: { modelTopology?: unknown; weightsManifest?: { paths: string[]; weights: unknown[] }[]; format?: string; generatedBy?: string; convertedBy?: string; signature?: unknown; userDefinedMetadata?: unknown };
  try {
    graph = JSON.parse(readChecked(dir, graphName, graphSpec).toString('utf8'));
  } catch (err) {
    if (err instanceof ModelFileError) throw err;
    throw new ModelFileError(graphFile, `is not JSON (${(err as Error).message})`);
  }
  if (graph.modelTopology === undefined || !Array.isArray(graph.weightsManifest)) throw new ModelFileError(graphFile, 'is not a TensorFlow.js graph model (no modelTopology or weightsManifest)');
  const weights: Buffer[] = [];
  for (const group of graph.weightsManifest) {
    for (const path of group.paths) {
      const spec = entry.files[path];
      if (spec === undefined) throw new ModelFileError(join(dir, path), `is named by ${graphName} but not by the manifest`);
      weights.push(readChecked(dir, path, spec));
    }
  }
  const all = Buffer.concat(weights);
  return {
    modelTopology: graph.modelTopology,
    weightSpecs: graph.weightsManifest.flatMap((g) => g.weights),
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer,
    format: graph.format,
    generatedBy: graph.generatedBy,
    convertedBy: graph.convertedBy,
    signature: graph.signature,
    userDefinedMetadata: graph.userDefinedMetadata,
  };
}
