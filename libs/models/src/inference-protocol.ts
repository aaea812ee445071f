// The messages between a ModelRunner (main thread) and its inference thread. Plain data only: images
// and outputs travel as transferred ArrayBuffers, errors as code + message (+ the file they name).
import type { Letterbox } from './letterbox';
import type { ModelName } from './model-files';

/** The TensorFlow.js backends that run here: wasm with SIMD (the default), wasm without, plain JS. */
export const INFERENCE_BACKENDS = ['wasm', 'wasm-nosimd', 'cpu'] as const;
export type InferenceBackend = (typeof INFERENCE_BACKENDS)[number];

/** How input pixel values (0..255) are given to the model. */
export type PixelEncoding = 'int32' | 'float32' | 'float32-unit';

export interface ThreadInit {
  model: ModelName;
  modelsDir: string;
  backend: InferenceBackend;
  /** Folder of tfjs-backend-wasm's .wasm files (with a trailing slash). */
  wasmDir: string;
}

export interface RunMessage {
  type: 'run';
  id: number;
  /** Packed RGB, width * height * 3 bytes. */
  pixels: ArrayBuffer;
  width: number;
  height: number;
  letterbox: Letterbox;
  encoding: PixelEncoding;
  /** Output node names to fetch (absent: the model's outputs). */
  outputs?: string[];
}

export interface MemoryMessage {
  type: 'memory';
  id: number;
}

export type ToThread = RunMessage | MemoryMessage;

export interface OutputTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface TensorMemory {
  numTensors: number;
  numBytes: number;
}

export type FromThread =
  | { type: 'ready'; backend: string; loadMs: number }
  | { type: 'result'; id: number; outputs: OutputTensor[]; inferenceMs: number }
  | { type: 'memory'; id: number; memory: TensorMemory }
  | { type: 'error'; id?: number; code: string; message: string; file?: string };
