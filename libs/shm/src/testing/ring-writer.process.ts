// Test process: a ring writer driven over IPC (libs/shm process tests). argv[2] is JSON
// WriterProcessOptions. Messages out: {type:'ready', token, pid}, {type:'ref', ref, sequence},
// {type:'stats', framesWritten}, {type:'closed'}. Messages in: 'stats', 'close', and 'write' (one
// frame now; with onRequest the writer writes only then).
import { FrameRingWriter } from '../index';
import { fillFrame } from './frame-pattern';

export interface WriterProcessOptions {
  name: string;
  slotCount: number;
  slotBytes: number;
  frameBytes: number;
  /** 0: write as fast as possible (in bursts, yielding to IPC between them). */
  intervalMs: number;
  sendRefs: boolean;
  /** Write only when asked ('write'): no timer, so nothing is overwritten behind the test's back. */
  onRequest?: boolean;
}

const BURST_FRAMES = 64;

const options = JSON.parse(process.argv[2]) as WriterProcessOptions;
const writer = FrameRingWriter.create(options);
const frame = Buffer.alloc(options.frameBytes);
let sequence = 0;

function writeOne(): void {
  sequence++;
  const ref = writer.write({ streamId: 'test-stream', sequence, captureTimeUs: sequence * 1000, width: 64, height: 48, pixelFormat: 1 }, fillFrame(frame, sequence));
  if (options.sendRefs) process.send?.({ type: 'ref', ref, sequence });
}

const timer = options.onRequest
  ? undefined
  : options.intervalMs > 0
    ? setInterval(writeOne, options.intervalMs)
    : setInterval(() => {
        for (let i = 0; i < BURST_FRAMES; i++) writeOne();
      }, 0);

process.on('message', (message) => {
  if (message === 'stats') process.send?.({ type: 'stats', framesWritten: sequence });
  if (message === 'write') writeOne();
  if (message === 'close') {
    clearInterval(timer);
    writer.close();
    process.send?.({ type: 'closed' }, () => process.exit(0));
  }
});
process.send?.({ type: 'ready', token: writer.token, pid: process.pid });
