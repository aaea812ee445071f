import { PixelFormat } from '@framewire/proto';
import { SourceSwitchError } from './errors';
import { CapturedFrame, FrameSource, sleep } from './frame';
import { SwitchableSource } from './switchable-source';

/** A paced fake source: frames tagged with `name`, capture times from a shared counter. */
function fakeSource(name: string, options: { intervalMs?: number; failWith?: string; silent?: boolean; startUs?: number } = {}) {
  const state = { opened: 0, aborted: 0 };
  let t = options.startUs ?? 0;
  const source: FrameSource = {
    description: name,
    async *frames(signal?: AbortSignal): AsyncGenerator<CapturedFrame> {
      state.opened++;
      signal?.addEventListener('abort', () => state.aborted++, { once: true });
      if (options.failWith !== undefined) throw new Error(options.failWith);
      if (options.silent) await sleep(60_000, signal);
      for (;;) {
        await sleep(options.intervalMs ?? 5, signal);
        t += 1000;
        yield { data: Buffer.from(name), width: 1, height: 1, pixelFormat: PixelFormat.PIXEL_FORMAT_JPEG, captureTimeUs: t };
      }
    },
  };
  return { source, state };
}

async function take(iterator: AsyncIterator<CapturedFrame>, n: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await iterator.next();
    if (r.done) break;
    names.push(Buffer.from(r.value.data).toString());
  }
  return names;
}

describe('SwitchableSource', () => {
  it('switches to a new source while running and stops the old one', async () => {
    const a = fakeSource('a');
    const b = fakeSource('b', { startUs: 1e9 });
    const switchable = new SwitchableSource(a.source);
    const controller = new AbortController();
    const iterator = switchable.frames(controller.signal)[Symbol.asyncIterator]();
    expect(await take(iterator, 3)).toEqual(['a', 'a', 'a']);
    await switchable.switchTo(b.source, 1_000);
    expect(switchable.description).toBe('b');
    expect(await take(iterator, 3)).toEqual(['b', 'b', 'b']);
    expect(a.state.aborted).toBe(1);
    controller.abort();
    await iterator.return?.();
    expect(b.state.aborted).toBe(1);
  });

  it('refuses a source that fails or stays silent, and the old one runs on', async () => {
    const a = fakeSource('a');
    const switchable = new SwitchableSource(a.source);
    const iterator = switchable.frames()[Symbol.asyncIterator]();
    expect(await take(iterator, 1)).toEqual(['a']);
    await expect(switchable.switchTo(fakeSource('broken', { failWith: 'no such folder' }).source, 1_000)).rejects.toThrow(
      new SourceSwitchError('broken', 'no such folder'),
    );
    const silent = fakeSource('silent', { silent: true });
    await expect(switchable.switchTo(silent.source, 50)).rejects.toThrow('cannot switch to silent: no frame within 50 ms');
    expect(silent.state.aborted).toBe(1);
    expect(switchable.description).toBe('a');
    expect(await take(iterator, 2)).toEqual(['a', 'a']);
    expect(a.state.aborted).toBe(0);
    await iterator.return?.();
  });

  it('never lets capture time go backwards across a switch', async () => {
    const a = fakeSource('a', { startUs: 1e9 });
    const b = fakeSource('b', { startUs: 1e9 - 3_000 });
    const switchable = new SwitchableSource(a.source);
    const iterator = switchable.frames()[Symbol.asyncIterator]();
    const times: number[] = [];
    for (let i = 0; i < 2; i++) times.push(((await iterator.next()).value as CapturedFrame).captureTimeUs);
    await switchable.switchTo(b.source, 1_000);
    for (let i = 0; i < 3; i++) times.push(((await iterator.next()).value as CapturedFrame).captureTimeUs);
    expect([...times].sort((x, y) => x - y)).toEqual(times);
    expect(new Set(times).size).toBe(times.length);
    expect(switchable.skippedFrames).toBeGreaterThan(0);
    await iterator.return?.();
  });

  it('hands a switched-to source to the next iteration when none is running', async () => {
    const a = fakeSource('a');
    const b = fakeSource('b', { startUs: 1e9 });
    const switchable = new SwitchableSource(a.source);
    await switchable.switchTo(b.source, 1_000);
    const iterator = switchable.frames()[Symbol.asyncIterator]();
    expect(await take(iterator, 2)).toEqual(['b', 'b']);
    expect(b.state.opened).toBe(1);
    await iterator.return?.();
  });
});
