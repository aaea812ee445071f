// Test process: a ring reader that validates every frame it gets byte for byte (libs/shm process
// tests). argv[2] is JSON ReaderProcessOptions. 'latest' mode polls the newest frame for
// durationMs (sleeping delayMs between taking a reference and reading it, to be lapped) and sends
// {type:'done', stats, torn, intact}; 'refs' mode reads each {ref} message and answers {type:'read', ok, reason, intact}.
import { FrameRingReader } from '../index';
import { isIntactFrame } from './frame-pattern';

export interface ReaderProcessOptions {
  name: string;
  mode: 'latest' | 'refs';
  verifyChecksum: boolean;
  durationMs: number;
  delayMs: number;
}

const options = JSON.parse(process.argv[2]) as ReaderProcessOptions;
const reader = FrameRingReader.open(options.name, { verifyChecksum: options.verifyChecksum });
const sleeper = new Int32Array(new SharedArrayBuffer(4));

if (options.mode === 'latest') {
  let torn = 0;
  let intact = 0;
  const end = Date.now() + options.durationMs;
  while (Date.now() < end) {
    const latest = reader.latest();
    if (latest === undefined) continue;
    if (options.delayMs > 0) Atomics.wait(sleeper, 0, 0, options.delayMs);
    const result = reader.read(latest.ref);
    if (!result.ok) continue;
    if (isIntactFrame(result.data)) intact++;
    else torn++;
  }
  process.send?.({ type: 'done', stats: reader.stats, torn, intact }, () => process.exit(0));
} else {
  process.on('message', (message: { ref: Parameters<FrameRingReader['read']>[0] } | 'close') => {
    if (message === 'close') {
      process.send?.({ type: 'done', stats: reader.stats }, () => process.exit(0));
      return;
    }
    const result = reader.read(message.ref);
    process.send?.(result.ok ? { type: 'read', ok: true, intact: isIntactFrame(result.data) } : { type: 'read', ok: false, reason: result.reason });
  });
  process.send?.({ type: 'ready', token: reader.token });
}
