// The page's logic without a browser: frame matching by sequence, stage layers and drawing (through
// the same decodeStage as the services), overlays and trails, on a recording fake 2D context.
import { StageEncoder } from '@framewire/overlay-codecs';
import fc from 'fast-check';
import { ProtocolDecodeError } from '@framewire/overlay-codecs';
import { DEFAULT_HOLD_MS, FrameMatcher, HOLD_MARGIN_MS, MAX_HOLD_MS, MAX_OVERLAY_LAG_FRAMES, MAX_RESULTS_PER_SOURCE } from './frame-matcher';
import { detectionLabel, drawOverlays, OVERLAY_COLORS, OVERLAY_KINDS, OverlayKind, pointTextAt, POSE_POINT_LEAST_ALPHA, POSE_POINT_RADIUS_PX, SKELETON_LIMB_WIDTH_PX } from './overlays';
import { COCO_KEYPOINT_NAMES, personColors } from './skeleton';
import { drawStage, StageLayers } from './stage-renderer';
import { recordingContext } from './testing/recording-context';
import { TrackTrails, TRAIL_LENGTH } from './trails';

const result = (frameSequence: number, workerId = 'w1'): { frameSequence: number; workerId: string; captureTimeUs?: number } => ({ frameSequence, workerId });

describe('FrameMatcher', () => {
  it('holds a frame until every recent source answered for it, then shows it with the results of that frame', () => {
    const m = new FrameMatcher<string, ReturnType<typeof result>>({ holdMs: 1000 });
    m.addResult('tracks', result(9), 0);
    m.addResult('keypoints', result(9), 0);
    m.addFrame(10, 1, 'frame 10', 0);
    expect(m.next(10)).toBeUndefined(); // results for 10 not in yet
    m.addResult('tracks', result(10), 20);
    expect(m.next(20)).toBeUndefined(); // keypoints still missing
    m.addResult('keypoints', result(10), 30);
    const shown = m.next(30)!;
    expect(shown.frame.picture).toBe('frame 10');
    expect(shown.overlays.map((o) => [o.kind, o.result.frameSequence, o.exact]).sort()).toEqual([
      ['keypoints', 10, true],
      ['tracks', 10, true],
    ]);
    expect(m.next(40)).toBeUndefined(); // nothing new
  });

  it('waits longer for a source slower than the default hold (a model worker), up to a bound, and shows its overlays exactly', () => {
    const m = new FrameMatcher<string, ReturnType<typeof result>>();
    expect(m.holdMs()).toBe(DEFAULT_HOLD_MS);
    // A worker whose results come 600 ms after their frame (10 fps video).
    for (let seq = 1; seq <= 5; seq++) m.addFrame(seq, seq, `f${seq}`, seq * 100);
    for (let seq = 1; seq <= 3; seq++) m.addResult('keypoints', result(seq), seq * 100 + 600);
    expect(m.holdMs()).toBe(600 + HOLD_MARGIN_MS);
    // Frame 4 arrived at 400 ms: with the fixed 400 ms hold it would be shown bare at 800 ms.
    m.next(900);
    m.addResult('keypoints', result(4), 1000);
    const shown = m.next(1000)!;
    expect(shown.frame.sequence).toBe(4);
    expect(shown.overlays).toEqual([{ kind: 'keypoints', result: result(4), exact: true }]);
    // However slow the source, a frame waits at most MAX_HOLD_MS.
    m.addFrame(6, 6, 'f6', 1100);
    m.addResult('keypoints', result(6), 1100 + 5000);
    expect(m.holdMs()).toBe(MAX_HOLD_MS);
  });

  it('shows a frame after the hold without its results, and a frame a worker skipped with its earlier result marked inexact', () => {
    const m = new FrameMatcher<string, ReturnType<typeof result>>({ holdMs: 100 });
    m.addResult('tracks', result(5), 0);
    m.addFrame(6, 1, 'f6', 0);
    expect(m.next(50)).toBeUndefined();
    const late = m.next(150)!;
    expect(late.frame.sequence).toBe(6);
    expect(late.overlays).toEqual([{ kind: 'tracks', result: result(5), exact: false }]);
    // The worker answered 8: it skipped 7, so frame 7 is settled at once.
    m.addFrame(7, 1, 'f7', 200);
    m.addResult('tracks', result(8), 201);
    expect(m.next(202)!.overlays).toEqual([{ kind: 'tracks', result: result(5), exact: false }]);
    // Results too far behind are not drawn at all.
    m.addFrame(5 + MAX_OVERLAY_LAG_FRAMES + 10, 1, 'far', 300);
    m.addResult('tracks', result(40), 300);
    expect(m.next(301)!.overlays).toEqual([]);
  });

  it('shows the newest ready frame and drops the older ones, never going back', () => {
    const dropped: string[] = [];
    const m = new FrameMatcher<string, ReturnType<typeof result>>({ holdMs: 100, maxHeldFrames: 3, onDropped: (p) => dropped.push(p) });
    for (const s of [1, 2, 3, 4]) m.addFrame(s, s, `f${s}`, 0);
    expect(dropped).toEqual(['f1']);
    expect(m.next(1000)!.frame.sequence).toBe(4);
    expect(dropped).toEqual(['f1', 'f2', 'f3']);
    m.addFrame(2, 2, 'old', 1000);
    expect(m.next(5000)).toBeUndefined();
    expect(m.framesDropped).toBe(3);
  });

  it('keeps a held frame\'s results however many newer ones arrive before it is shown (a fast replay outrunning the decoder)', () => {
    const m = new FrameMatcher<string, ReturnType<typeof result>>({ holdMs: 400 });
    m.addFrame(10, 1, 'f10', 0);
    for (let s = 10; s < 10 + 500; s++) m.addResult('tracks', result(s), 1);
    const shown = m.next(2)!;
    expect({ frame: shown.frame.sequence, overlays: shown.overlays }).toEqual({ frame: 10, overlays: [{ kind: 'tracks', result: result(10), exact: true }] });
  });

  it('forgets the results no frame can use once a later frame is shown, and holds at most MAX_RESULTS_PER_SOURCE', () => {
    const m = new FrameMatcher<string, ReturnType<typeof result>>({ holdMs: 400 });
    for (let s = 1; s <= 50; s++) m.addResult('tracks', result(s), 0);
    m.addFrame(40, 1, 'f40', 0);
    expect(m.next(1)!.overlays).toEqual([{ kind: 'tracks', result: result(40), exact: true }]);
    // 40 shown: what frames from 40 - lag on may use stays, older ones are gone.
    expect(m.resultsHeld('w1', 'tracks')).toBe(50 - (40 - MAX_OVERLAY_LAG_FRAMES) + 1);
    expect(m.overlaysFor(40 - MAX_OVERLAY_LAG_FRAMES - 1)).toEqual([]);
    // Results that no frame comes for: bounded.
    for (let s = 51; s <= 51 + 3 * MAX_RESULTS_PER_SOURCE; s++) m.addResult('tracks', result(s), 1);
    expect(m.resultsHeld('w1', 'tracks')).toBe(MAX_RESULTS_PER_SOURCE);
  });

  it('follows a capture that restarted and counts from 1 again, forgetting the old run, and still ignores a late frame', () => {
    const dropped: string[] = [];
    let restarts = 0;
    const m = new FrameMatcher<string, ReturnType<typeof result>>({ holdMs: 100, onDropped: (p) => dropped.push(p), onRestart: () => restarts++ });
    m.addFrame(500, 50_000, 'f500', 0);
    m.addResult('tracks', result(500), 0);
    expect(m.next(1)!.frame.sequence).toBe(500);
    m.addFrame(499, 49_900, 'late 499', 2); // the same run, captured earlier: stale
    expect({ restarts, dropped }).toEqual({ restarts: 0, dropped: ['late 499'] });
    m.addFrame(1, 60_000, 'f1 of the new run', 3);
    m.addResult('tracks', result(1), 4);
    expect(restarts).toBe(1);
    expect(m.restarts).toBe(1);
    const shown = m.next(5)!;
    expect({ frame: shown.frame.picture, overlays: shown.overlays }).toEqual({ frame: 'f1 of the new run', overlays: [{ kind: 'tracks', result: result(1), exact: true }] });
    expect(m.resultsHeld('w1', 'tracks')).toBe(1); // result 500 of the old run is gone
    m.addFrame(2, 60_100, 'f2', 6);
    expect(restarts).toBe(1);
    // A late result of the old run for sequence 3 would be drawn on the new run's frame 3.
    const late = { ...result(3), captureTimeUs: 49_950 };
    expect(m.fromEndedRun(late)).toBe(true);
    m.addResult('tracks', late, 7);
    m.addResult('tracks', { ...result(2), captureTimeUs: 60_100 }, 7);
    expect(m.next(8)!.frame.picture).toBe('f2');
    m.addFrame(3, 60_200, 'f3', 9);
    const third = m.next(9 + 100)!; // its hold over: no result of the new run for it
    expect({ frame: third.frame.picture, overlays: third.overlays }).toEqual({
      frame: 'f3',
      overlays: [{ kind: 'tracks', result: { ...result(2), captureTimeUs: 60_100 }, exact: false }],
    });
  });

  it('stops waiting for a source that went silent', () => {
    const m = new FrameMatcher<string, ReturnType<typeof result>>({ holdMs: 10_000 });
    m.addResult('tracks', result(1, 'gone'), 0);
    m.addFrame(2, 1, 'f2', 2500);
    expect(m.next(2501)!.frame.sequence).toBe(2);
  });
});

describe('stage in the page', () => {
  const encoder = new StageEncoder();

  it('keeps a remain layer, clears a clear layer, and draws layers by id whatever their order in the message', () => {
    const layers = new StageLayers();
    encoder.beginFrame(1);
    encoder.layer(5).setStroke({ r: 1, g: 2, b: 3, a: 255 }).drawLine(0, 0, 10, 10);
    encoder.layer(2).setFill({ r: 255, g: 0, b: 0, a: 255 }).drawCircle(5, 6, 3);
    encoder.layer(7).drawText('hello', 1, 2);
    const first = layers.apply(encoder.finishFrame());
    expect(first.layers.map((l) => l.layerId)).toEqual([2, 5, 7]);

    encoder.beginFrame(2);
    encoder.layer(5).remain();
    encoder.layer(7).clear();
    encoder.layer(2).drawRect(1, 2, 3, 4);
    const second = layers.apply(encoder.finishFrame());
    expect(second.frameId).toBe(2n);
    expect(second.layers.map((l) => [l.layerId, l.ops.map((o) => o.op)])).toEqual([
      [2, ['rect']],
      [5, ['setContext', 'line']],
    ]);

    const { ctx, calls } = recordingContext();
    drawStage(ctx, first);
    const drawn = calls.filter((c) => /^(arc|line|text|fill|stroke)/.test(c));
    expect(drawn).toEqual(['arc 5,6 r3', 'fill rgba(255,0,0,1.000)', 'stroke rgba(255,255,255,1.000) 1', 'line 10,10', 'stroke rgba(1,2,3,1.000) 1', 'text "hello" 1,2 12px system-ui, sans-serif']);
  });

  it('applies offsets and save/restore within a layer only', () => {
    const layers = new StageLayers();
    encoder.beginFrame(1);
    encoder.layer(0).save().setOffset(100, 50).drawRect(0, 0, 1, 1).restore().drawRect(0, 0, 1, 1);
    encoder.layer(1).drawRect(0, 0, 1, 1);
    const { ctx, calls } = recordingContext();
    drawStage(ctx, layers.apply(encoder.finishFrame()));
    const transformsBeforeRects = calls.flatMap((c, i) => (c.startsWith('rect') ? [calls.slice(0, i).filter((x) => x.startsWith('transform')).pop()] : []));
    expect(transformsBeforeRects).toEqual(['transform 1,0,0,1,100,50', 'transform 1,0,0,1,0,0', 'transform 1,0,0,1,0,0']);
  });

  it('refuses bad bytes with the typed decode error and keeps its layers as they were', () => {
    const layers = new StageLayers();
    encoder.beginFrame(1);
    encoder.layer(0).drawCircle(1, 1, 1);
    const good = layers.apply(encoder.finishFrame().slice());
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          layers.apply(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolDecodeError);
        }
      }),
    );
    encoder.beginFrame(2);
    encoder.layer(3).remain();
    expect(layers.apply(encoder.finishFrame()).layers.some((l) => l.layerId === 0 && l.ops.length === good.layers[0].ops.length)).toBe(true);
  });
});

describe('overlays', () => {
  const box = { x: 10, y: 20, width: 30, height: 40 };
  const overlays = [
    { kind: 'keypoints' as const, exact: true, result: { frameSequence: 3, workerId: 'w', keypoints: { points: [{ id: 8, x: 25, y: 40, confidence: 1 }], pointNames: { 't1.centroid': 8 } } } },
    { kind: 'detections' as const, exact: true, result: { frameSequence: 3, workerId: 'w', detections: { detections: [{ box, score: 0.87, label: 'motion' }] } } },
    { kind: 'segmentation' as const, exact: false, result: { frameSequence: 2, workerId: 'w', segmentation: { instances: [{ instanceId: 1, confidence: 1, points: [10, 20, 40, 20, 40, 60] }] } } },
    { kind: 'tracks' as const, exact: true, result: { frameSequence: 3, workerId: 'w', tracks: { tracks: [{ trackId: 1, box, misses: 0 }] } } },
  ];

  it('draws each enabled kind in order, keypoint markers last, with names, scores and track ids', () => {
    const trails = new TrackTrails();
    trails.add('w', 1, [{ trackId: 1, box: { ...box, x: 0 } }]);
    trails.add('w', 2, [{ trackId: 1, box: { ...box, x: 5 } }]);
    trails.add('w', 3, [{ trackId: 1, box }]);
    trails.add('w', 4, [{ trackId: 1, box: { ...box, x: 99 } }]);
    const { ctx, calls } = recordingContext();
    drawOverlays(ctx, overlays, new Set<OverlayKind>(OVERLAY_KINDS), trails, 3);
    const markers = calls.filter((c) => c.startsWith('arc') || c.startsWith('text') || c.startsWith('move'));
    expect(markers).toEqual([
      'move 10,20', // the polygon
      'text "motion 0.87" 12,63 11px system-ui, sans-serif',
      'move 15,40', // the trail, from frame 1, up to frame 3 (never frame 4)
      'text "#1" 9,5 11px system-ui, sans-serif',
      'arc 25,40 r4',
      'text "t1.centroid" 33,45 11px system-ui, sans-serif',
    ]);
    expect(calls).toContain(`fill ${OVERLAY_COLORS.keypoint}`);
  });

  it('draws nothing of a kind that is toggled off', () => {
    const { ctx, calls } = recordingContext();
    drawOverlays(ctx, overlays, new Set<OverlayKind>(['tracks']), new TrackTrails(), 3);
    expect(calls.some((c) => c.startsWith('arc'))).toBe(false);
    expect(calls.some((c) => c.includes('#1'))).toBe(true);
  });

  it('keeps trails short and per worker', () => {
    const trails = new TrackTrails();
    for (let s = 1; s <= 100; s++) trails.add('w1', s, [{ trackId: 1, box }]);
    trails.add('w2', 100, [{ trackId: 1, box: { ...box, x: 500 } }]);
    expect(trails.upTo('w1', 1, 100)).toHaveLength(TRAIL_LENGTH);
    expect(trails.upTo('w2', 1, 100)).toEqual([{ sequence: 100, x: 515, y: 40 }]);
  });
});

describe('pose skeletons and labels', () => {
  const COCO_NAMES: Record<string, number> = Object.fromEntries(COCO_KEYPOINT_NAMES.map((name, k) => [name, k]));
  const at = (personId: number, name: (typeof COCO_KEYPOINT_NAMES)[number], x: number, y: number, confidence: number) => ({
    id: personId * 17 + COCO_KEYPOINT_NAMES.indexOf(name),
    x,
    y,
    confidence,
  });
  /** Person 1: a left arm; person 4: a right arm whose wrist is missing (below the threshold). */
  const pose = {
    kind: 'keypoints' as const,
    exact: true,
    result: {
      frameSequence: 7,
      workerId: 'pose-1',
      keypoints: {
        points: [at(1, 'left_shoulder', 100, 50, 1), at(1, 'left_elbow', 110, 80, 0.5), at(1, 'left_wrist', 120, 110, 0), at(4, 'right_shoulder', 300, 50, 0.9), at(4, 'right_elbow', 290, 80, 0.9)],
        pointNames: COCO_NAMES,
      },
    },
  };
  const draw = (overlays: Parameters<typeof drawOverlays>[1], frame?: { width: number; height: number }) => {
    const { ctx, calls } = recordingContext();
    // Fills record their opacity too (points show their confidence by it).
    ctx.fill = () => calls.push(`fill ${String(ctx.fillStyle)}${ctx.globalAlpha === 1 ? '' : ` alpha ${ctx.globalAlpha.toFixed(3)}`}`);
    const drawn = drawOverlays(ctx, overlays, new Set<OverlayKind>(OVERLAY_KINDS), new TrackTrails(), 7, { frame });
    return { calls, drawn };
  };

  it('draws the limbs between present points in the person\'s side colour, then points sized by confidence', () => {
    const { calls, drawn } = draw([pose]);
    const shapes = calls.filter((c) => /^(move|line|arc|stroke rgb\(|fill rgb)/.test(c));
    expect(shapes).toEqual([
      'move 100,50',
      'line 110,80',
      `stroke ${personColors(1).left} ${SKELETON_LIMB_WIDTH_PX}`,
      'move 110,80',
      'line 120,110',
      `stroke ${personColors(1).left} ${SKELETON_LIMB_WIDTH_PX}`,
      `arc 100,50 r${POSE_POINT_RADIUS_PX.most}`,
      `fill ${personColors(1).left}`, // confidence 1: opaque
      `arc 110,80 r${(POSE_POINT_RADIUS_PX.least + POSE_POINT_RADIUS_PX.most) / 2}`,
      `fill ${personColors(1).left} alpha ${(POSE_POINT_LEAST_ALPHA + (1 - POSE_POINT_LEAST_ALPHA) / 2).toFixed(3)}`,
      `arc 120,110 r${POSE_POINT_RADIUS_PX.least}`,
      `fill ${personColors(1).left} alpha ${POSE_POINT_LEAST_ALPHA.toFixed(3)}`,
      'move 300,50',
      'line 290,80',
      `stroke ${personColors(4).right} ${SKELETON_LIMB_WIDTH_PX}`,
      'arc 300,50 r4.7',
      `fill ${personColors(4).right} alpha 0.935`,
      'arc 290,80 r4.7',
      `fill ${personColors(4).right} alpha 0.935`,
    ]);
    // No COCO pose is drawn as the yellow markers of named points.
    expect(calls).not.toContain(`fill ${OVERLAY_COLORS.keypoint}`);
    expect(drawn.limbs).toBe(3);
    expect(drawn.points.map((p) => p.text)).toEqual([
      'person 1 left_shoulder 1.00',
      'person 1 left_elbow 0.50',
      'person 1 left_wrist 0.00',
      'person 4 right_shoulder 0.90',
      'person 4 right_elbow 0.90',
    ]);
  });

  it('draws a pose the keypoints toggle switched off not at all', () => {
    const { ctx, calls } = recordingContext();
    expect(drawOverlays(ctx, [pose], new Set<OverlayKind>(['detections']), new TrackTrails(), 7)).toEqual({ points: [], limbs: 0, labels: [] });
    expect(calls).toEqual([]);
  });

  it('draws points of other definitions as named markers, as before', () => {
    const named = { ...pose, result: { ...pose.result, keypoints: { points: [{ id: 24, x: 5, y: 6, confidence: 0.5 }], pointNames: { ...COCO_NAMES, nose: 24, 't3.centroid': 24 } } } };
    const { calls, drawn } = draw([named]);
    expect(calls).toContain(`fill ${OVERLAY_COLORS.keypoint}`);
    expect(drawn).toMatchObject({ limbs: 0, points: [{ x: 5, y: 6, text: expect.stringMatching(/^(nose|t3\.centroid) 0\.50$/) }] });
  });

  it('labels detections with class and score, inside the frame when the box reaches its edge', () => {
    const detections = {
      kind: 'detections' as const,
      exact: true,
      result: {
        frameSequence: 7,
        workerId: 'detect-1',
        detections: {
          detections: [
            { box: { x: 10, y: 10, width: 50, height: 100 }, score: 0.871, label: 'person' },
            { box: { x: 600, y: 400, width: 40, height: 80 }, score: 0.5, label: 'bicycle' },
          ],
        },
      },
    };
    const { calls, drawn } = draw([detections], { width: 640, height: 480 });
    expect(drawn.labels).toEqual(['person 0.87', 'bicycle 0.50']);
    const texts = calls.filter((c) => c.startsWith('text'));
    // Below the first box; the second's would leave the frame at the right and the bottom.
    expect(texts).toEqual(['text "person 0.87" 12,113 11px system-ui, sans-serif', `text "bicycle 0.50" ${640 - 12 * 6 - 4 + 2},${480 - 13 + 1} 11px system-ui, sans-serif`]);
    // Each on its dark background, drawn first.
    expect(calls.filter((c) => c.startsWith('fillRect'))).toEqual(['fillRect 10,112 70x13', `fillRect ${640 - 76},${480 - 13} 76x13`]);
    expect(OVERLAY_COLORS.labelBackground).toBe('rgba(0,0,0,0.7)');
  });

  it('names a detection without a label "object"', () => {
    expect(detectionLabel({ score: 0.25, label: '' })).toBe('object 0.25');
    expect(detectionLabel({ score: 1, label: 'car' })).toBe('car 1.00');
  });

  it('finds the point under the pointer: the nearest within its reach', () => {
    const { drawn } = draw([pose]);
    expect(pointTextAt(drawn.points, 101, 52)).toBe('person 1 left_shoulder 1.00');
    expect(pointTextAt(drawn.points, 292, 82)).toBe('person 4 right_elbow 0.90');
    expect(pointTextAt(drawn.points, 200, 200)).toBeUndefined();
    expect(pointTextAt([], 0, 0)).toBeUndefined();
  });
});
