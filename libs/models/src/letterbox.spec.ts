import fc from 'fast-check';
import { dynamicInputSize, fitLetterbox, imageToInputX, imageToInputY, inputToImageX, inputToImageY } from './letterbox';

describe('letterbox', () => {
  it('centres a wide image with bands above and below, and maps its corners to the content corners', () => {
    const box = fitLetterbox(768, 576, 512, 512);
    expect(box).toMatchObject({ contentWidth: 512, contentHeight: 384, offsetX: 0, offsetY: 64 });
    expect([imageToInputX(box, 0), imageToInputY(box, 0)]).toEqual([0, 64]);
    expect([imageToInputX(box, 768), imageToInputY(box, 576)]).toEqual([512, 448]);
  });

  it('maps every point back exactly, whatever the sizes (rounded content sizes included)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4000 }), fc.integer({ min: 1, max: 4000 }), fc.integer({ min: 1, max: 1024 }), fc.integer({ min: 1, max: 1024 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (w, h, iw, ih, fx, fy) => {
        const box = fitLetterbox(w, h, iw, ih);
        expect(box.offsetX + box.contentWidth).toBeLessThanOrEqual(iw);
        expect(box.offsetY + box.contentHeight).toBeLessThanOrEqual(ih);
        const x = fx * w;
        const y = fy * h;
        expect(inputToImageX(box, imageToInputX(box, x))).toBeCloseTo(x, 6);
        expect(inputToImageY(box, imageToInputY(box, y))).toBeCloseTo(y, 6);
      }),
    );
  });

  it('refuses empty sizes with a RangeError naming them', () => {
    expect(() => fitLetterbox(0, 10, 256, 256)).toThrow('letterbox of 0x10 into 256x256: sizes must be >= 1');
  });

  it('sizes a dynamic input to the long side and the short side up to the step', () => {
    expect(dynamicInputSize(768, 576, 256, 32)).toEqual({ width: 256, height: 192 });
    expect(dynamicInputSize(548, 342, 256, 32)).toEqual({ width: 256, height: 160 });
    expect(dynamicInputSize(480, 640, 256, 32)).toEqual({ width: 192, height: 256 });
    expect(dynamicInputSize(4000, 10, 256, 32)).toEqual({ width: 256, height: 32 });
  });
});
