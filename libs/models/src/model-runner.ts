// A model on its own thread: ModelRunner.start loads one model (files checked) on a TensorFlow.js
// backend in a worker thread and answers when it is ready; run() letterboxes an RGB image into the
// model's input there and returns the raw outputs. Requests are served one at a time, a bounded
// number wait (beyond: ModelBusyError at once), each within a timeout (beyond: the thread is replaced
// and the request fails). The model-specific decoding stays with the analyzers.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FromThread, InferenceBackend, OutputTensor, PixelEncoding, RunMessage, TensorMemory, ThreadInit, ToThread } from './inference-protocol';
import type { Letterbox } from './letterbox';
import { ModelFileError, type ModelName } from './model-files';

/** Loading a model (files, backend, first compile) takes well under this; beyond it the start fails. */
export const MODEL_START_TIMEOUT_MS = 60_000;
/** One inference takes ~0.2 s here; a request not answered in this time fails and the thread is replaced. */
export const DEFAULT_RUN_TIMEOUT_MS = 10_000;
/** Requests waiting for the thread beyond the one it runs; more fail at once (ModelBusyError). */
export const DEFAULT_MAX_PENDING = 8;
const THREAD_FILE = 'inference-thread.js';

/** The model thread failed to start, failed a request, or timed out. */
export class ModelInferenceError extends Error {
  readonly code: string;
  constructor(
    readonly model: ModelName,
    code: string,
    message: string,
  ) {
    super(`model ${model}: ${message}`);
    this.code = code;
    this.name = 'ModelInferenceError';
  }
}

/** More requests than the runner queues: the caller drops the frame (latest frame wins anyway). */
export class ModelBusyError extends Error {
  readonly code = 'MODEL_BUSY';
  constructor(
    readonly model: ModelName,
    readonly pending: number,
  ) {
    super(`model ${model}: ${pending} requests already wait for the model thread`);
    this.name = 'ModelBusyError';
  }
}

export interface ModelRunnerOptions {
  model: ModelName;
  /** Folder with the model files and manifest.json (findModelsDirectory). */
  modelsDir: string;
  backend?: InferenceBackend;
  runTimeoutMs?: number;
  maxPending?: number;
}

export interface InferenceRequest {
  /** Packed RGB, width * height * 3 bytes (copied: the caller keeps its buffer). */
  pixels: Uint8Array;
  width: number;
  height: number;
  letterbox: Letterbox;
  encoding: PixelEncoding;
  outputs?: string[];
}

export interface InferenceResult {
  outputs: OutputTensor[];
  /** Time the thread spent on the request (letterbox, execute, read back), ms. */
  inferenceMs: number;
}

interface Pending {
  message: ToThread;
  transfer: ArrayBuffer[];
  resolve: (value: FromThread) => void;
  reject: (err: Error) => void;
}

/** The compiled thread script: beside this file in dist/, or dist/'s copy when running from sources (Jest). */
function threadScript(): string {
  const beside = join(__dirname, THREAD_FILE);
  if (existsSync(beside)) return beside;
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const built = join(dir, 'dist', 'libs', 'models', 'src', THREAD_FILE);
    if (existsSync(built)) return built;
  }
  throw new Error(`${THREAD_FILE} not found beside ${__dirname} nor in a dist/ above it: run \`npm run build\``);
}

function wasmDirectory(): string {
  return `${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`;
}

export class ModelRunner {
  readonly model: ModelName;
  private readonly init: ThreadInit;
  private readonly runTimeoutMs: number;
  private readonly maxPending: number;
  private thread: Worker | undefined;
  private threadReady: Promise<void> | undefined;
  private readonly waiting: Pending[] = [];
  private current: (Pending & { timer: NodeJS.Timeout }) | undefined;
  private nextId = 1;
  private closed = false;
  /** Backend as the thread reports it, e.g. "wasm". */
  backendName = '';
  loadMs = 0;

  private constructor(options: ModelRunnerOptions) {
    this.model = options.model;
    this.init = { model: options.model, modelsDir: options.modelsDir, backend: options.backend ?? 'wasm', wasmDir: wasmDirectory() };
    this.runTimeoutMs = options.runTimeoutMs ?? DEFAULT_RUN_TIMEOUT_MS;
    this.maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
  }

  /** A runner whose model is loaded and ready; rejects with ModelFileError naming a missing or corrupt file. */
  static async start(options: ModelRunnerOptions): Promise<ModelRunner> {
    const runner = new ModelRunner(options);
    await runner.startThread();
    return runner;
  }

  /** Letterboxes `request`'s image into the model input on the thread and returns the outputs. */
  async run(request: InferenceRequest): Promise<InferenceResult> {
    const pixels = request.pixels.slice().buffer as ArrayBuffer;
    const message: RunMessage = { type: 'run', id: 0, pixels, width: request.width, height: request.height, letterbox: request.letterbox, encoding: request.encoding, outputs: request.outputs };
    const answer = await this.request(message, [pixels]);
    if (answer.type !== 'result') throw new ModelInferenceError(this.model, 'MODEL_PROTOCOL', `unexpected answer ${answer.type}`);
    return { outputs: answer.outputs, inferenceMs: answer.inferenceMs };
  }

  /** TensorFlow.js's tensor count and bytes on the thread (a leak grows them frame by frame). */
  async memory(): Promise<TensorMemory> {
    const answer = await this.request({ type: 'memory', id: 0 }, []);
    if (answer.type !== 'memory') throw new ModelInferenceError(this.model, 'MODEL_PROTOCOL', `unexpected answer ${answer.type}`);
    return answer.memory;
  }

  /** Stops the thread; waiting requests fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new ModelInferenceError(this.model, 'MODEL_CLOSED', 'the runner was closed'));
    const thread = this.thread;
    this.thread = undefined;
    if (thread !== undefined) await thread.terminate();
  }

  private startThread(): Promise<void> {
    const thread = new Worker(threadScript(), { workerData: this.init });
    // The thread never keeps a worker process alive on its own: close() or the process's end stops it.
    thread.unref();
    this.thread = thread;
    this.threadReady = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        void thread.terminate();
        reject(new ModelInferenceError(this.model, 'MODEL_START_TIMEOUT', `not loaded within ${MODEL_START_TIMEOUT_MS} ms`));
      }, MODEL_START_TIMEOUT_MS);
      const onFirst = (message: FromThread): void => {
        clearTimeout(timer);
        thread.off('message', onFirst);
        if (message.type === 'ready') {
          this.backendName = message.backend;
          this.loadMs = message.loadMs;
          thread.on('message', (m: FromThread) => this.answer(m));
          resolve();
        } else if (message.type === 'error') {
          void thread.terminate();
          reject(message.code === 'MODEL_FILE_INVALID' && message.file !== undefined ? new ModelFileError(message.file, message.message.replace(`model file ${message.file}: `, '')) : new ModelInferenceError(this.model, message.code, message.message));
        }
      };
      thread.on('message', onFirst);
      thread.once('error', (err) => {
        clearTimeout(timer);
        reject(new ModelInferenceError(this.model, 'MODEL_THREAD_FAILED', err.message));
        this.threadEnded(thread, err.message);
      });
      thread.once('exit', (code) => this.threadEnded(thread, `exited with code ${code}`));
    });
    return this.threadReady;
  }

  private request(message: ToThread, transfer: ArrayBuffer[]): Promise<FromThread> {
    if (this.closed) return Promise.reject(new ModelInferenceError(this.model, 'MODEL_CLOSED', 'the runner was closed'));
    if (this.waiting.length >= this.maxPending) return Promise.reject(new ModelBusyError(this.model, this.waiting.length));
    return new Promise<FromThread>((resolve, reject) => {
      this.waiting.push({ message: { ...message, id: this.nextId++ }, transfer, resolve, reject });
      this.sendNext();
    });
  }

  private sendNext(): void {
    if (this.current !== undefined || this.waiting.length === 0 || this.closed) return;
    if (this.thread === undefined) {
      // The last thread was replaced (timeout, crash): a new one loads the model first.
      this.startThread().then(
        () => this.sendNext(),
        (err: Error) => this.failAll(err),
      );
      return;
    }
    const next = this.waiting.shift() as Pending;
    const timer = setTimeout(() => this.timedOut(), this.runTimeoutMs);
    this.current = { ...next, timer };
    const thread = this.thread;
    void this.threadReady?.then(() => {
      if (this.thread === thread && this.current?.message.id === next.message.id) thread.postMessage(next.message, next.transfer);
    });
  }

  private answer(message: FromThread): void {
    const current = this.current;
    if (current === undefined || !('id' in message) || message.id !== current.message.id) return;
    clearTimeout(current.timer);
    this.current = undefined;
    if (message.type === 'error') current.reject(new ModelInferenceError(this.model, message.code, message.message));
    else current.resolve(message);
    this.sendNext();
  }

  private timedOut(): void {
    const current = this.current;
    if (current === undefined) return;
    this.current = undefined;
    const thread = this.thread;
    this.thread = undefined;
    if (thread !== undefined) void thread.terminate();
    current.reject(new ModelInferenceError(this.model, 'MODEL_TIMEOUT', `no answer within ${this.runTimeoutMs} ms: the model thread was replaced`));
    this.sendNext();
  }

  private threadEnded(thread: Worker, why: string): void {
    if (this.thread !== thread) return;
    this.thread = undefined;
    const current = this.current;
    this.current = undefined;
    if (current !== undefined) {
      clearTimeout(current.timer);
      current.reject(new ModelInferenceError(this.model, 'MODEL_THREAD_FAILED', `the model thread ${why}`));
    }
    this.sendNext();
  }

  private failAll(err: Error): void {
    const current = this.current;
    this.current = undefined;
    if (current !== undefined) {
      clearTimeout(current.timer);
      current.reject(err);
    }
    for (const p of this.waiting.splice(0)) p.reject(err);
  }
}
