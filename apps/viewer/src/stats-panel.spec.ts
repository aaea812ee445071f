// The side panel's figures from plain /api/stats bodies and the page's own counters.
import { commandTargets, healthBadge, liveLine, poolViews, shownFps, StatsBody, videoStats, workerRows } from './stats-panel';
import { createViewState } from './stream-controller';
import { FakePicture } from './testing/fakes';

const body: StatsBody = {
  workers: [
    { workerId: 'w1', streamId: 'cam-1', resultsPerSecond: 14.96, latency: { p50Us: 12_340, p99Us: 45_670 } },
    { workerId: 'w2', streamId: 'cam-2', resultsPerSecond: 3, latency: { p50Us: 1000, p99Us: 2000 } },
    { workerId: 'w3', streamId: 'cam-1', resultsPerSecond: 0, latency: { p50Us: 0, p99Us: 0 } },
  ],
  supplier: {
    workers: [
      { workerId: 'w1', dropsTotal: 7, lastDeliveryAgeUs: 2_500 },
      { workerId: 'w1', dropsTotal: 7, lastDeliveryAgeUs: 2_500 },
      { workerId: 'gateway-viewer:cam-1', dropsTotal: 0, lastDeliveryAgeUs: 0 },
    ],
  },
  viewer: { relay: { streams: [{ streamId: 'cam-1', framesRelayed: 120, framesSkipped: 4 }] }, video: { clients: 2 } },
};

describe('the side panel', () => {
  it('lists the workers of the stream shown with the supplier figures, or dashes where it has none', () => {
    expect(workerRows(body, 'cam-1')).toEqual([
      ['w1', '15.0', '7', '2.5', '12.3 / 45.7'],
      ['w3', '0.0', '–', '–', '0.0 / 0.0'],
    ]);
    expect(workerRows(body, '').map((r) => r[0])).toEqual(['w1', 'w2', 'w3']);
  });

  it('offers capture, supplier and each worker once as command targets, never the relay', () => {
    expect(commandTargets(body)).toEqual(['capture', 'supplier', 'w1']);
    expect(commandTargets({ ...body, supplier: {} })).toEqual(['capture', 'supplier']);
  });

  it('shows each pool with its mode and members, and per stream the coverage as a percentage, age p50/p99, drops and owner', () => {
    const pools: StatsBody['supplier']['pools'] = [
      {
        poolId: 'analysis',
        mode: 'sticky',
        members: [{ workerId: 'w1' }, { workerId: 'w2' }],
        streams: [
          { streamId: 'cam-1', published: 1000, dropped: 44, coverage: 0.956, ageP50Us: 4_100, ageP99Us: 9_800, owner: 'w2' },
          { streamId: 'cam-2', published: 0, dropped: 0, coverage: 0, ageP50Us: 0, ageP99Us: 0, owner: '' },
        ],
      },
      { poolId: 'detect', mode: 'shared', members: [{ workerId: 'd1' }], streams: [{ streamId: 'cam-1', published: 30, dropped: 20, coverage: 1 / 3, ageP50Us: 33_000, ageP99Us: 66_000, owner: '' }] },
    ];
    expect(poolViews({ ...body, supplier: { ...body.supplier, pools } })).toEqual([
      {
        poolId: 'analysis',
        caption: 'analysis · sticky · 2 members: w1, w2',
        rows: [
          { streamId: 'cam-1', cells: ['cam-1', '95.6 %', '4.1 / 9.8', '44', 'w2'] },
          { streamId: 'cam-2', cells: ['cam-2', '–', '0.0 / 0.0', '0', '–'] },
        ],
      },
      { poolId: 'detect', caption: 'detect · shared · 1 member: d1', rows: [{ streamId: 'cam-1', cells: ['cam-1', '33.3 %', '33.0 / 66.0', '20', '–'] }] },
    ]);
  });

  it('shows no pool when the supplier has none, or did not answer', () => {
    expect(poolViews(body)).toEqual([]);
    expect(poolViews({ ...body, supplier: { pools: [] } })).toEqual([]);
  });

  it('is healthy only on 200', () => {
    expect([healthBadge(200), healthBadge(503)]).toEqual([{ text: 'healthy', ok: true }, { text: 'failing', ok: false }]);
  });

  it('shows the video figures of the page and of the relay for its stream', () => {
    const state = createViewState<FakePicture>();
    state.streamId = 'cam-1';
    state.shownTimes.push(0, 500, 1000);
    state.shown = { sequence: 42, captureTimeUs: 1, picture: null };
    Object.assign(state, { lastFrameAgeMs: 81.6, lastRelayAgeMs: 3.25, relayGaps: 2, browserDrops: 1 });
    expect(videoStats(state, body)).toEqual([
      ['shown', '2.0 fps, frame 42'],
      ['age at display', '82 ms'],
      ['age at relay', '3.3 ms'],
      ['relayed', '120 (skipped 4)'],
      ['dropped here', '2 on the socket, 1 in the page'],
      ['viewers', '2'],
    ]);
  });

  it('shows dashes before any frame and for a stream the relay does not serve', () => {
    const state = createViewState<FakePicture>();
    state.streamId = 'cam-9';
    expect(videoStats(state, { workers: [], supplier: {} })).toEqual([
      ['shown', '0.0 fps, frame –'],
      ['age at display', '–'],
      ['age at relay', '–'],
      ['relayed', '–'],
      ['dropped here', '0 on the socket, 0 in the page'],
      ['viewers', '–'],
    ]);
  });
});

describe('the line under the video', () => {
  it('waits, then says the rate, the frame and the kinds that matched exactly', () => {
    const state = createViewState<FakePicture>();
    expect(liveLine(state, '')).toBe('waiting for frames…');
    state.mode = 'replay';
    expect(liveLine(state, '')).toBe('replaying…');
    state.shown = { sequence: 7, captureTimeUs: 1, picture: null };
    state.shownTimes.push(0, 250);
    expect(liveLine(state, '')).toBe('4.0 fps · frame 7 · matched: none');
    expect(liveLine(state, 'keypoints,tracks')).toBe('4.0 fps · frame 7 · matched: keypoints,tracks');
  });

  it('has no rate from fewer than two frames', () => {
    expect(shownFps([5])).toBe(0);
  });
});
