// The boundary between a model analyzer and the runtime that runs its model: the analyzer hands
// over an RGB image with the letterbox to fit it into the model's input and gets the raw outputs
// back; decoding them is the analyzer's. ModelRunner (TensorFlow.js on a thread) is the one
// runtime today; another (onnxruntime-node on a GPU, say) that answers run() with the same outputs
// in the same layouts replaces it without a change to the analyzers.
import type { ModelRunner } from './model-runner';

export type ModelInference = Pick<ModelRunner, 'model' | 'run'>;
