// The page's sockets without a browser: generations, binary-only delivery, reconnect with backoff.
import { PageSockets, RECONNECT_MS, reconnectDelayMs } from './connection';
import { FakeSocket } from './testing/fakes';

function pageSockets(reconnects = () => true) {
  const opened: FakeSocket[] = [];
  const scheduled: { run: () => void; delayMs: number }[] = [];
  const sockets = new PageSockets({
    open: (path) => {
      const ws = new FakeSocket(path);
      opened.push(ws);
      return ws;
    },
    reconnects,
    schedule: (run, delayMs) => void scheduled.push({ run, delayMs }),
  });
  return { sockets, opened, scheduled };
}

const bytes = (...values: number[]) => new Uint8Array(values).buffer;

describe('PageSockets', () => {
  it('delivers binary messages of the current generation and ignores text', () => {
    const { sockets, opened } = pageSockets();
    const got: number[][] = [];
    sockets.connect('/ws?stream=a', (data) => got.push([...data]), sockets.generation);
    opened[0].receive(bytes(1, 2));
    opened[0].receive('not binary');
    expect(got).toEqual([[1, 2]]);
  });

  it('reopens a live socket that closes, doubling the delay up to the maximum', () => {
    const { sockets, opened, scheduled } = pageSockets();
    sockets.connect('/ws?stream=a', () => undefined, sockets.generation);
    for (let i = 0; i < 7; i++) {
      opened[opened.length - 1].ends();
      scheduled[scheduled.length - 1].run();
    }
    expect(scheduled.map((s) => s.delayMs)).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
    expect(opened.map((s) => s.path)).toEqual(Array(8).fill('/ws?stream=a'));
    expect(sockets.openCount).toBe(1);
  });

  it('starts the backoff again once a reopened socket has opened', () => {
    const { sockets, opened, scheduled } = pageSockets();
    sockets.connect('/ws/video?stream=a', () => undefined, sockets.generation);
    opened[0].ends();
    scheduled[0].run();
    opened[1].ends();
    scheduled[1].run();
    opened[2].opened();
    opened[2].ends();
    expect(scheduled.map((s) => s.delayMs)).toEqual([250, 500, 250]);
  });

  it('closes every socket on closeAll, after which the old ones neither deliver nor reopen', () => {
    const { sockets, opened, scheduled } = pageSockets();
    const got: Uint8Array[] = [];
    const generation = sockets.generation;
    sockets.connect('/ws/video?stream=a', (d) => got.push(d), generation);
    sockets.connect('/ws?stream=a', (d) => got.push(d), generation);
    const replay = sockets.openOnce('/ws/replay?stream=a');
    sockets.closeAll();
    expect(sockets.generation).toBe(generation + 1);
    expect([...opened.map((s) => s.closed), (replay as FakeSocket).closed]).toEqual([true, true, true, true]);
    opened[0].receive(bytes(1));
    opened[0].ends();
    expect(got).toEqual([]);
    expect(scheduled).toEqual([]);
    expect(sockets.openCount).toBe(0);
  });

  it('does not reopen a socket while the page replays', () => {
    let live = true;
    const { sockets, opened, scheduled } = pageSockets(() => live);
    sockets.connect('/ws?stream=a', () => undefined, sockets.generation);
    live = false;
    opened[0].ends();
    expect(scheduled).toEqual([]);
  });

  it('opens nothing for a generation that has ended (a reconnect scheduled before closeAll)', () => {
    const { sockets, opened, scheduled } = pageSockets();
    sockets.connect('/ws?stream=a', () => undefined, sockets.generation);
    opened[0].ends();
    sockets.closeAll();
    scheduled[0].run();
    expect(opened).toHaveLength(1);
  });

  it('bounds the delay at the maximum however many attempts failed', () => {
    expect(reconnectDelayMs(0)).toBe(RECONNECT_MS.initial);
    expect(reconnectDelayMs(100)).toBe(RECONNECT_MS.max);
  });
});
