import fc from 'fast-check';
import { SidecarError, formatKeyPointsSidecar, parseKeyPointsSidecar } from './sidecar';
import { thrownBy } from './test-support/errors';

// The shape the RW readers accept (formats.md §5), as the Python SDK documents it.
const RW_SIDECAR = '{"version": "1.0", "compute_module_name": "YOLOv8-Pose", "points": {"nose": 0, "left_eye": 1}}';

const sidecarError = (parse: () => unknown): SidecarError => thrownBy(SidecarError, parse);

describe('keypoints sidecar', () => {
  it('reads the RW shape', () => {
    expect(parseKeyPointsSidecar(RW_SIDECAR)).toEqual({
      version: '1.0',
      computeModuleName: 'YOLOv8-Pose',
      points: { nose: 0, left_eye: 1 },
    });
  });

  it('writes the RW shape with snake_case keys', () => {
    const text = formatKeyPointsSidecar({ version: '1.0', computeModuleName: 'pose', points: { nose: 0 } });
    expect(JSON.parse(text)).toEqual({ version: '1.0', compute_module_name: 'pose', points: { nose: 0 } });
  });

  it('accepts any version string, since RW uses it for the model version, and ignores extra fields', () => {
    const sidecar = parseKeyPointsSidecar('{"version": "8.1", "compute_module_name": "", "points": {}, "extra": 1}');
    expect(sidecar).toEqual({ version: '8.1', computeModuleName: '', points: {} });
  });

  it('names the missing or invalid field', () => {
    const cases: [string, string, string][] = [
      ['{"compute_module_name": "m", "points": {}}', 'version', 'MISSING_FIELD'],
      ['{"version": 1, "compute_module_name": "m", "points": {}}', 'version', 'INVALID_FIELD'],
      ['{"version": "1.0", "points": {}}', 'compute_module_name', 'MISSING_FIELD'],
      ['{"version": "1.0", "compute_module_name": "m"}', 'points', 'MISSING_FIELD'],
      ['{"version": "1.0", "compute_module_name": "m", "points": []}', 'points', 'INVALID_FIELD'],
      ['{"version": "1.0", "compute_module_name": "m", "points": {"nose": 1.5}}', 'points.nose', 'INVALID_FIELD'],
      ['{"version": "1.0", "compute_module_name": "m", "points": {"eye": -1}}', 'points.eye', 'INVALID_FIELD'],
      ['{"version": "1.0", "compute_module_name": "m", "points": {"eye": "1"}}', 'points.eye', 'INVALID_FIELD'],
      ['[]', '', 'INVALID_FIELD'],
      ['{"version": ', '', 'INVALID_JSON'],
    ];
    for (const [json, field, code] of cases) {
      const error = sidecarError(() => parseKeyPointsSidecar(json));
      expect([error.field, error.code]).toEqual([field, code]);
    }
    expect(sidecarError(() => parseKeyPointsSidecar('{"version": "1.0", "compute_module_name": "m", "points": {"nose": 1.5}}')).message).toBe(
      'sidecar field "points.nose" is number 1.5, expected a keypoint id (an integer in 0..4294967295)',
    );
  });

  it('keeps a point named __proto__ as a point', () => {
    const sidecar = parseKeyPointsSidecar('{"version": "1", "compute_module_name": "m", "points": {"__proto__": 3}}');
    expect(Object.getOwnPropertyDescriptor(sidecar.points, '__proto__')?.value).toBe(3);
    expect(JSON.parse(formatKeyPointsSidecar(sidecar)).points).toEqual(JSON.parse('{"__proto__": 3}'));
  });

  it('refuses to write what it would refuse to read', () => {
    expect(() => formatKeyPointsSidecar({ version: '1.0', computeModuleName: 'm', points: { a: -3 } })).toThrow(SidecarError);
  });

  it('round-trips arbitrary point names, __proto__ included', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string({ unit: 'binary' }),
        fc.dictionary(fc.oneof(fc.string(), fc.constant('__proto__')), fc.integer({ min: 0, max: 0xffffffff })),
        (version, computeModuleName, points) => {
          const sidecar = { version, computeModuleName, points };
          const read = parseKeyPointsSidecar(formatKeyPointsSidecar(sidecar));
          expect(read).toEqual(sidecar);
          expect(Object.keys(read.points)).toEqual(Object.keys(points));
        },
      ),
    );
  });
});
