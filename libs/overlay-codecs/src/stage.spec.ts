import fc from 'fast-check';
import { ByteWriter } from './byte-writer';
import { ProtocolEncodeError, ProtocolStateError } from './errors';
import { ContextProperty, MAX_STAGE_LAYER_BYTES, StageLayer, StageMessage, StageOp, decodeStage } from './stage';
import { LayerCanvas, StageEncoder, StageSink } from './stage-encoder';
import { MemoryFrameSink, fromAnnotatedHex, fromHex, toHex } from './test-support/frames';
import { decodeError, expectOnlyDecodeErrors } from './test-support/errors';

// Golden bytes, worked out by hand from formats.md §4 (each line: bytes # derivation): frame id 5,
// three layers, every op and every context property.
const GOLDEN = fromAnnotatedHex(`
  05 00 00 00 00 00 00 00     # frame id 5, uint64 LE
  03                          # layer count
  00 00 13                    # layer 0, master, 19 ops
  10 01 01 ff 00 00 ff        # set context, 1 property: stroke 0x01 = rgba(255, 0, 0, 255)
  10 01 02 00 ff 00 80        # fill 0x02 = rgba(0, 255, 0, 128)
  10 01 03 03                 # thickness 0x03 = 3 (varint)
  10 01 04 10                 # font size 0x04 = 16
  10 01 05 01 02 03 04        # font colour 0x05 = rgba(1, 2, 3, 4)
  10 01 10 13 28              # offset 0x10 = (-10, 20): zz 19, zz 40
  10 01 11 00 00 b4 42        # rotation 0x11 = 90.0f = 0x42b40000 LE
  10 01 12 00 00 00 40 00 00 00 3f                  # scale 0x12 = (2.0f, 0.5f)
  10 01 13 00 00 00 00 00 00 80 bf                  # skew 0x13 = (0.0f, -1.0f)
  10 01 20 00 00 80 3f 00 00 00 00 00 00 20 41
           00 00 00 00 00 00 80 3f 00 00 20 c1      # matrix 0x20 = 1, 0, 10, 0, 1, -10
  11                          # save
  01 03 00 00 c8 01 00 00 64  # polygon, 3 points: (0, 0); (+100, 0): zz 200 = c8 01; (0, +50): zz 100
  02 14 27 05 48 69 20 c3 a9  # text at (10, -20): zz 20, zz 39; 5 UTF-8 bytes "Hi é"
  03 64 78 19                 # circle at (50, 60): zz 100, zz 120; radius 25
  04 01 04 ac 02 04           # rect at (-1, 2): zz 1, zz 4; width 300 = ac 02; height 4
  05 00 00 7f 80 01           # line (0, 0) to (-64, 64): zz 127, zz 128 = 80 01
  07 02 02 02 02 04 ff d8 ff d9   # jpeg at (1, 1), 2 x 2, 4 bytes
  12                          # restore
  13                          # reset context
  01 01                       # layer 1, remain
  02 02                       # layer 2, clear
  ff ff                       # end marker`);

function drawGolden(encoder: StageEncoder): Uint8Array {
  encoder.beginFrame(5n);
  encoder
    .layer(0)
    .setStroke({ r: 255, g: 0, b: 0, a: 255 })
    .setFill({ r: 0, g: 255, b: 0, a: 128 })
    .setThickness(3)
    .setFontSize(16)
    .setFontColor({ r: 1, g: 2, b: 3, a: 4 })
    .setOffset(-10, 20)
    .setRotation(90)
    .setScale(2, 0.5)
    .setSkew(0, -1)
    .setMatrix({ scaleX: 1, skewX: 0, transX: 10, skewY: 0, scaleY: 1, transY: -10 })
    .save()
    .drawPolygon([0, 0, 100, 0, 100, 50])
    .drawText('Hi é', 10, -20)
    .drawCircle(50, 60, 25)
    .drawRect(-1, 2, 300, 4)
    .drawLine(0, 0, -64, 64)
    .drawJpeg(fromHex('ff d8 ff d9'), 1, 1, 2, 2)
    .restore()
    .resetContext();
  encoder.layer(1).remain();
  encoder.layer(2).clear();
  return encoder.finishFrame();
}

const GOLDEN_MESSAGE: StageMessage = {
  frameId: 5n,
  offset: 0,
  layers: [
    {
      layerId: 0,
      type: 'master',
      ops: [
        { op: 'setContext', properties: [{ property: 'stroke', color: { r: 255, g: 0, b: 0, a: 255 } }] },
        { op: 'setContext', properties: [{ property: 'fill', color: { r: 0, g: 255, b: 0, a: 128 } }] },
        { op: 'setContext', properties: [{ property: 'thickness', value: 3 }] },
        { op: 'setContext', properties: [{ property: 'fontSize', value: 16 }] },
        { op: 'setContext', properties: [{ property: 'fontColor', color: { r: 1, g: 2, b: 3, a: 4 } }] },
        { op: 'setContext', properties: [{ property: 'offset', x: -10, y: 20 }] },
        { op: 'setContext', properties: [{ property: 'rotation', degrees: 90 }] },
        { op: 'setContext', properties: [{ property: 'scale', x: 2, y: 0.5 }] },
        { op: 'setContext', properties: [{ property: 'skew', x: 0, y: -1 }] },
        {
          op: 'setContext',
          properties: [{ property: 'matrix', scaleX: 1, skewX: 0, transX: 10, skewY: 0, scaleY: 1, transY: -10 }],
        },
        { op: 'save' },
        { op: 'polygon', points: Int32Array.of(0, 0, 100, 0, 100, 50) },
        { op: 'text', x: 10, y: -20, text: 'Hi é' },
        { op: 'circle', cx: 50, cy: 60, radius: 25 },
        { op: 'rect', x: -1, y: 2, width: 300, height: 4 },
        { op: 'line', x1: 0, y1: 0, x2: -64, y2: 64 },
        { op: 'jpeg', x: 1, y: 1, width: 2, height: 2, data: fromHex('ff d8 ff d9') },
        { op: 'restore' },
        { op: 'reset' },
      ],
    },
    { layerId: 1, type: 'remain' },
    { layerId: 2, type: 'clear' },
  ],
};

const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const uint32 = fc.integer({ min: 0, max: 0xffffffff });
const byte = fc.integer({ min: 0, max: 255 });
const color = fc.record({ r: byte, g: byte, b: byte, a: byte });
const float32 = fc.float();
const propertyArb: fc.Arbitrary<ContextProperty> = fc.oneof(
  fc.record({ property: fc.constantFrom('stroke' as const, 'fill' as const, 'fontColor' as const), color }),
  fc.record({ property: fc.constantFrom('thickness' as const, 'fontSize' as const), value: uint32 }),
  fc.record({ property: fc.constant('offset' as const), x: int32, y: int32 }),
  fc.record({ property: fc.constant('rotation' as const), degrees: float32 }),
  fc.record({ property: fc.constantFrom('scale' as const, 'skew' as const), x: float32, y: float32 }),
  fc.record({
    property: fc.constant('matrix' as const),
    scaleX: float32,
    skewX: float32,
    transX: float32,
    skewY: float32,
    scaleY: float32,
    transY: float32,
  }),
);
const opArb: fc.Arbitrary<StageOp> = fc.oneof(
  fc.record({
    op: fc.constant('polygon' as const),
    points: fc.array(fc.tuple(int32, int32), { maxLength: 12 }).map((pairs) => Int32Array.from(pairs.flat())),
  }),
  fc.record({ op: fc.constant('text' as const), x: int32, y: int32, text: fc.string({ unit: 'binary', maxLength: 12 }) }),
  fc.record({ op: fc.constant('circle' as const), cx: int32, cy: int32, radius: uint32 }),
  fc.record({ op: fc.constant('rect' as const), x: int32, y: int32, width: uint32, height: uint32 }),
  fc.record({ op: fc.constant('line' as const), x1: int32, y1: int32, x2: int32, y2: int32 }),
  fc.record({
    op: fc.constant('jpeg' as const),
    x: int32,
    y: int32,
    width: uint32,
    height: uint32,
    data: fc.uint8Array({ maxLength: 24 }),
  }),
  fc.record({ op: fc.constant('setContext' as const), properties: fc.array(propertyArb, { maxLength: 4 }) }),
  fc.record({ op: fc.constantFrom('save' as const, 'restore' as const, 'reset' as const) }),
);
const layerArb: fc.Arbitrary<StageLayer> = fc.oneof(
  fc.record({ layerId: byte, type: fc.constant('master' as const), ops: fc.array(opArb, { maxLength: 8 }) }),
  fc.record({ layerId: byte, type: fc.constantFrom('remain' as const, 'clear' as const) }),
);
const messageArb = fc.record({
  frameId: fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
  layers: fc.uniqueArray(layerArb, { selector: (l) => l.layerId, maxLength: 5 }),
  offset: fc.constant(0),
});

/** A message with one master layer holding `opBytes` as its single op. */
function messageWithOp(opBytes: string): Uint8Array {
  return fromHex(`00 00 00 00 00 00 00 00 | 01 | 00 00 01 | ${opBytes} | ff ff`);
}

describe('StageEncoder', () => {
  it('writes the golden message with each op, context property and layer type', () => {
    expect(toHex(drawGolden(new StageEncoder()))).toBe(toHex(GOLDEN));
  });

  it('encodes the golden message given as data to the same bytes', () => {
    expect(toHex(new StageEncoder().encodeMessage(GOLDEN_MESSAGE))).toBe(toHex(GOLDEN));
  });

  it('writes several properties in one set-context op', () => {
    const encoder = new StageEncoder();
    encoder.beginFrame(0);
    encoder.layer(0).setContext([
      { property: 'stroke', color: { r: 1, g: 2, b: 3, a: 4 } },
      { property: 'thickness', value: 300 },
    ]);
    // 10 | 02 properties | 01 rgba(1, 2, 3, 4) | 03 300 = ac 02
    expect(toHex(encoder.finishFrame())).toBe(toHex(messageWithOp('10 02 01 01 02 03 04 03 ac 02')));
  });

  it('writes layers in the order they are first used, each once', () => {
    const encoder = new StageEncoder();
    encoder.beginFrame(1);
    encoder.layer(7).save();
    encoder.layer(2).clear();
    encoder.layer(7).restore();
    expect(decodeStage(encoder.finishFrame()).layers.map((l) => l.layerId)).toEqual([7, 2]);
  });

  it('writes a frame with no layers as header and end marker', () => {
    const encoder = new StageEncoder();
    encoder.beginFrame(1);
    expect(toHex(encoder.finishFrame())).toBe('01 00 00 00 00 00 00 00 00 ff ff');
  });

  it('truncates coordinates toward zero like the RW encoders, and rejects them beyond int32', () => {
    const encoder = new StageEncoder();
    encoder.beginFrame(1);
    const canvas = encoder.layer(0).drawLine(1.9, -1.9, 0.5, -0.5).drawPolygon([2.7, -2.7]);
    expect(() => canvas.drawCircle(2 ** 31, 0, 1)).toThrow('circle cx 2147483648 is not within int32');
    expect(() => canvas.drawCircle(0, 0, -1)).toThrow(ProtocolEncodeError);
    expect(() => canvas.drawCircle(0, NaN, 1)).toThrow(ProtocolEncodeError);
    const layer = decodeStage(encoder.finishFrame()).layers[0];
    expect(layer).toEqual({
      layerId: 0,
      type: 'master',
      ops: [
        { op: 'line', x1: 1, y1: -1, x2: 0, y2: 0 },
        { op: 'polygon', points: Int32Array.of(2, -2) },
      ],
    });
  });

  it('leaves no trace of an op rejected halfway', () => {
    const encoder = new StageEncoder();
    encoder.beginFrame(1);
    const canvas = encoder.layer(0).save();
    expect(() => canvas.drawPolygon([1, 2, 3, 2 ** 40])).toThrow('polygon y 1099511627776 is not within int32');
    expect(() => canvas.drawPolygon([1, 2, 3])).toThrow(ProtocolEncodeError);
    expect(() => canvas.setContext([{ property: 'thickness', value: 1 }, { property: 'fontSize', value: -2 }])).toThrow(
      'fontSize -2 is not an integer in 0..4294967295',
    );
    expect(() => canvas.setStroke({ r: 256, g: 0, b: 0, a: 0 })).toThrow(ProtocolEncodeError);
    canvas.restore();
    expect(decodeStage(encoder.finishFrame()).layers[0]).toEqual({
      layerId: 0,
      type: 'master',
      ops: [{ op: 'save' }, { op: 'restore' }],
    });
  });

  it('refuses ops on a remain or clear layer, and remain or clear on a layer with ops', () => {
    const encoder = new StageEncoder();
    encoder.beginFrame(1);
    expect(() => encoder.layer(0).clear().save()).toThrow(expect.objectContaining({ code: 'OPS_ON_NON_MASTER_LAYER' }));
    expect(() => encoder.layer(1).save().remain()).toThrow(expect.objectContaining({ code: 'OPS_ON_NON_MASTER_LAYER' }));
    encoder.layer(0).master().save();
    expect(decodeStage(encoder.finishFrame()).layers.map((l) => l.type)).toEqual(['master', 'master']);
  });

  it('carries at most 255 layers', () => {
    const encoder = new StageEncoder();
    encoder.beginFrame(1);
    for (let id = 0; id < 255; id++) encoder.layer(id).remain();
    expect(() => encoder.layer(255)).toThrow(expect.objectContaining({ code: 'TOO_MANY_LAYERS' }));
    expect(() => encoder.layer(256)).toThrow(ProtocolEncodeError);
    expect(decodeStage(encoder.finishFrame()).layers).toHaveLength(255);
  });

  it('refuses a layer above 64 MiB before copying the image', () => {
    const encoder = new StageEncoder();
    encoder.beginFrame(1);
    const canvas = encoder.layer(3).save();
    expect(() => canvas.drawJpeg(new Uint8Array(MAX_STAGE_LAYER_BYTES), 0, 0, 1, 1)).toThrow(
      expect.objectContaining({ code: 'LAYER_TOO_LARGE' }),
    );
    // Fits: layer header 2 + op count 1 + save 1 + jpeg operands 9 + the bytes = 64 MiB - 7.
    canvas.drawJpeg(new Uint8Array(MAX_STAGE_LAYER_BYTES - 20), 0, 0, 1, 1);
    expect(() => canvas.drawText('x'.repeat(10), 0, 0)).toThrow(expect.objectContaining({ code: 'LAYER_TOO_LARGE' }));
    canvas.save();
    const layer = decodeStage(encoder.finishFrame()).layers[0];
    expect(layer.type === 'master' && layer.ops.map((op) => op.op)).toEqual(['save', 'jpeg', 'save']);
  });

  it('makes canvases of a finished frame stale', () => {
    const encoder = new StageEncoder();
    encoder.beginFrame(1);
    const canvas: LayerCanvas = encoder.layer(0);
    encoder.finishFrame();
    expect(() => canvas.save()).toThrow(expect.objectContaining({ code: 'STALE_LAYER' }));
    encoder.beginFrame(2);
    expect(() => canvas.save()).toThrow(ProtocolStateError);
    expect(encoder.layer(0).save()).toBe(canvas);
  });
});

describe('decodeStage', () => {
  it('decodes the golden message to plain data', () => {
    expect(decodeStage(GOLDEN)).toEqual(GOLDEN_MESSAGE);
  });

  it('round-trips arbitrary messages', () => {
    fc.assert(
      fc.property(fc.array(messageArb, { maxLength: 3 }), (messages) => {
        const encoder = new StageEncoder();
        for (const message of messages) expect(decodeStage(encoder.encodeMessage(message))).toEqual(message);
      }),
    );
  });

  it('keeps a leading BOM and turns malformed UTF-8 into U+FFFD, as the C# reader does', () => {
    expect(decodeStage(messageWithOp('02 00 00 03 ef bb bf')).layers[0]).toMatchObject({
      ops: [{ op: 'text', text: '\ufeff' }],
    });
    expect(decodeStage(messageWithOp('02 00 00 02 c3 28')).layers[0]).toMatchObject({
      ops: [{ op: 'text', text: '\ufffd(' }],
    });
  });

  it('rejects unknown op codes, context properties and layer types', () => {
    const op = decodeError(() => decodeStage(messageWithOp('06'), 50));
    expect([op.code, op.offset, op.frameOffset]).toEqual(['UNKNOWN_OP', 12, 50]);
    expect(op.message).toBe('stage: unknown op code 0x06 at payload offset 12 of the frame at stream offset 50');
    expect(decodeError(() => decodeStage(messageWithOp('10 01 06 00'))).code).toBe('UNKNOWN_CONTEXT_PROPERTY');
    expect(decodeError(() => decodeStage(fromHex('00 00 00 00 00 00 00 00 | 01 | 00 03 | ff ff'))).code).toBe(
      'UNKNOWN_LAYER_TYPE',
    );
  });

  it('requires the FF FF end marker and nothing after it', () => {
    const marker = decodeError(() => decodeStage(fromHex('00 00 00 00 00 00 00 00 | 00 | ff fe')));
    expect([marker.code, marker.offset]).toEqual(['MISSING_END_MARKER', 9]);
    expect(decodeError(() => decodeStage(fromHex('00 00 00 00 00 00 00 00 | 00 | ff ff 00'))).code).toBe(
      'TRAILING_BYTES',
    );
  });

  it('rejects counts that the remaining bytes cannot hold', () => {
    expect(decodeError(() => decodeStage(messageWithOp('01 ff ff ff ff 0f'))).code).toBe('TRUNCATED');
    expect(decodeError(() => decodeStage(messageWithOp('10 ff ff ff ff 0f'))).code).toBe('TRUNCATED');
    expect(decodeError(() => decodeStage(fromHex('00 00 00 00 00 00 00 00 | 01 | 00 00 ff ff ff ff 0f'))).code).toBe(
      'TRUNCATED',
    );
    expect(decodeError(() => decodeStage(messageWithOp('02 00 00 ff ff ff ff 0f'))).code).toBe('TRUNCATED');
  });

  it('rejects over-long varints', () => {
    expect(decodeError(() => decodeStage(messageWithOp('03 80 80 80 80 80 00 00 00'))).code).toBe('VARINT_TOO_LONG');
  });

  it('rejects a layer above 64 MiB', () => {
    const w = new ByteWriter(MAX_STAGE_LAYER_BYTES + 64);
    w.u64(1);
    w.u8(1); // one layer
    w.u8(4); // layer 4
    w.u8(0); // master
    w.varint(1); // one op: a jpeg whose bytes alone fill the limit
    w.u8(0x07);
    w.raw(fromHex('00 00 01 01'));
    w.varint(MAX_STAGE_LAYER_BYTES);
    w.ensure(MAX_STAGE_LAYER_BYTES);
    w.raw(new Uint8Array(MAX_STAGE_LAYER_BYTES));
    w.u8(0xff);
    w.u8(0xff);
    const error = decodeError(() => decodeStage(w.view()));
    expect([error.code, error.offset]).toEqual(['LAYER_TOO_LARGE', 9]);
  });

  it('reports every truncation of a valid message as TRUNCATED', () => {
    for (let end = 0; end < GOLDEN.length; end++) {
      expect(decodeError(() => decodeStage(GOLDEN.subarray(0, end))).code).toBe('TRUNCATED');
    }
    fc.assert(
      fc.property(messageArb, (message) => {
        const payload = new StageEncoder().encodeMessage(message).slice();
        for (let end = 0; end < payload.length; end++) {
          expect(decodeError(() => decodeStage(payload.subarray(0, end))).code).toBe('TRUNCATED');
        }
      }),
      { numRuns: 30 },
    );
  });

  it('never throws anything but ProtocolDecodeError on arbitrary or mutated bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (payload) => {
        expectOnlyDecodeErrors(() => decodeStage(payload));
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(messageArb, fc.array(fc.tuple(fc.nat(), byte), { minLength: 1, maxLength: 4 }), (message, mutations) => {
        const payload = new StageEncoder().encodeMessage(message).slice();
        for (const [at, value] of mutations) payload[at % payload.length] = value;
        expectOnlyDecodeErrors(() => decodeStage(payload));
      }),
    );
  });
});

describe('StageSink', () => {
  it('writes each committed message once; an abandoned frame writes nothing', async () => {
    const frameSink = new MemoryFrameSink();
    const sink = new StageSink(frameSink);
    const golden = sink.beginFrame(5n);
    for (const layer of GOLDEN_MESSAGE.layers) {
      const canvas = golden.layer(layer.layerId);
      if (layer.type === 'master') layer.ops.forEach((op) => canvas.op(op));
      else if (layer.type === 'remain') canvas.remain();
      else canvas.clear();
    }
    await golden.commit();
    expect(() => golden.layer(0)).toThrow(expect.objectContaining({ code: 'WRITER_CLOSED' }));
    sink.beginFrame(6).layer(0).save(); // abandoned by close
    await sink.flush();
    await sink.close();
    expect(frameSink.frames.map(toHex)).toEqual([toHex(GOLDEN)]);
    expect(() => sink.beginFrame(7)).toThrow(expect.objectContaining({ code: 'SINK_CLOSED' }));
  });
});
