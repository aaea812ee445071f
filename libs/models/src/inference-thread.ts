// The inference thread of one ModelRunner: loads TensorFlow.js, the chosen backend and one model,
// then answers run requests one at a time (letterbox the image, execute, copy the outputs out,
// dispose every tensor). Inference takes tens to hundreds of milliseconds of CPU: here it never
// stalls the worker's event loop and its gRPC traffic.
import { parentPort, workerData } from 'node:worker_threads';
import type { FromThread, OutputTensor, RunMessage, ThreadInit, ToThread } from './inference-protocol';
import { ModelFileError, readModelArtifacts } from './model-files';

type Tf = typeof import('@tensorflow/tfjs-core');
type GraphModel = import('@tensorflow/tfjs-converter').GraphModel;

const port = parentPort;
if (port === null) throw new Error('inference-thread must run in a worker thread');

function post(message: FromThread, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

async function load(init: ThreadInit): Promise<{ tf: Tf; model: GraphModel }> {
  const tf = require('@tensorflow/tfjs-core') as Tf;
  // Production mode: no debug checks, and no advice printed into the worker's structured log.
  tf.env().set('PROD', true);
  if (init.backend === 'cpu') {
    require('@tensorflow/tfjs-backend-cpu');
  } else {
    const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(init.wasmDir);
    tf.env().set('WASM_HAS_SIMD_SUPPORT', init.backend === 'wasm');
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  }
  const name = init.backend === 'cpu' ? 'cpu' : 'wasm';
  if (!(await tf.setBackend(name))) throw new Error(`backend ${init.backend} did not initialise`);
  await tf.ready();
  const artifacts = readModelArtifacts(init.modelsDir, init.model);
  const { loadGraphModel } = require('@tensorflow/tfjs-converter') as typeof import('@tensorflow/tfjs-converter');
  const model = await loadGraphModel({ load: async () => artifacts as never });
  return { tf, model };
}

async function run(tf: Tf, model: GraphModel, message: RunMessage): Promise<OutputTensor[]> {
  const { letterbox: box, width, height } = message;
  const input = tf.tidy(() => {
    const image = tf.tensor3d(new Uint8Array(message.pixels), [height, width, 3], 'int32');
    const resized = tf.image.resizeBilinear(image, [box.contentHeight, box.contentWidth], false, true);
    const padded = tf.pad(resized, [
      [box.offsetY, box.inputHeight - box.contentHeight - box.offsetY],
      [box.offsetX, box.inputWidth - box.contentWidth - box.offsetX],
      [0, 0],
    ]);
    const encoded = message.encoding === 'int32' ? tf.cast(tf.round(padded), 'int32') : message.encoding === 'float32-unit' ? tf.div(padded, 255) : padded;
    return tf.expandDims(encoded, 0);
  });
  const names = message.outputs ?? model.outputs.map((o) => o.name);
  let results: import('@tensorflow/tfjs-core').Tensor[] = [];
  try {
    const out = model.execute(input, names);
    results = Array.isArray(out) ? out : [out];
    const outputs: OutputTensor[] = [];
    for (let i = 0; i < results.length; i++) {
      const data = await results[i].data();
      // Transferred to the main thread: it must own its buffer (a view of the wasm heap would detach it).
      const owned = data instanceof Float32Array && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : Float32Array.from(data as ArrayLike<number>);
      outputs.push({ name: names[i], shape: results[i].shape.slice(), data: owned });
    }
    return outputs;
  } finally {
    tf.dispose([input, ...results]);
  }
}

async function main(): Promise<void> {
  const init = workerData as ThreadInit;
  const started = performance.now();
  let loaded: { tf: Tf; model: GraphModel };
  try {
    loaded = await load(init);
  } catch (err) {
    post({ type: 'error', code: err instanceof ModelFileError ? err.code : 'MODEL_LOAD_FAILED', message: (err as Error).message, file: err instanceof ModelFileError ? err.file : undefined });
    return;
  }
  const { tf, model } = loaded;
  // Requests are handled strictly one after another: the runner sends the next only after an answer.
  let queue: Promise<void> = Promise.resolve();
  port?.on('message', (message: ToThread) => {
    queue = queue.then(async () => {
      if (message.type === 'memory') {
        const m = tf.memory();
        post({ type: 'memory', id: message.id, memory: { numTensors: m.numTensors, numBytes: m.numBytes } });
        return;
      }
      const t0 = performance.now();
      try {
        const outputs = await run(tf, model, message);
        post({ type: 'result', id: message.id, outputs, inferenceMs: performance.now() - t0 }, outputs.map((o) => o.data.buffer as ArrayBuffer));
      } catch (err) {
        post({ type: 'error', id: message.id, code: 'MODEL_INFERENCE_FAILED', message: (err as Error).message });
      }
    });
  });
  post({ type: 'ready', backend: `${tf.getBackend()}${init.backend === 'wasm-nosimd' ? ' (no SIMD)' : ''}`, loadMs: performance.now() - started });
}

void main();
