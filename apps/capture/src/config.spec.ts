import { ConfigError } from '@framewire/service-runtime';
import { loadCaptureConfig } from './config';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadCaptureConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('loadCaptureConfig', () => {
  it('subscribes for commands at the gateway as "capture" unless told otherwise', () => {
    expect(loadCaptureConfig({})).toMatchObject({ gatewayAddress: '127.0.0.1:50054', serviceId: 'capture' });
    expect(loadCaptureConfig({ FW_GATEWAY_ADDRESS: 'gw:6000', FW_SERVICE_ID: 'capture-2' })).toMatchObject({ gatewayAddress: 'gw:6000', serviceId: 'capture-2' });
    // Empty means no command subscription at all.
    expect(loadCaptureConfig({ FW_GATEWAY_ADDRESS: '' }).gatewayAddress).toBeUndefined();
    expect(problemsOf({ FW_GATEWAY_ADDRESS: 'nope', FW_SERVICE_ID: 'a b' }).join('\n')).toMatch(/FW_GATEWAY_ADDRESS[\s\S]*FW_SERVICE_ID/);
  });

  it('defaults to the synthetic 640x480 scene with a 5 s watchdog, and no fps (each source has its own default)', () => {
    const config = loadCaptureConfig({});
    expect(config.fps).toBeUndefined();
    expect(config.source.reveal()).toBe('synthetic');
    expect(config).toMatchObject({
      width: 640,
      height: 480,
      seed: 1,
      loop: false,
      watchdogMs: 5000,
      jpegQuality: 80,
      supplierAddress: '127.0.0.1:50052',
      streamId: 'cam-1',
    });
  });

  it('reads every capture variable', () => {
    const config = loadCaptureConfig({
      FW_CAPTURE_SOURCE: 'ffmpeg:rtsp://cam/stream',
      FW_CAPTURE_FPS: '25',
      FW_CAPTURE_WIDTH: '1280',
      FW_CAPTURE_HEIGHT: '720',
      FW_CAPTURE_SEED: '4294967295',
      FW_CAPTURE_LOOP: 'true',
      FW_CAPTURE_WATCHDOG_MS: '2000',
      FW_CAPTURE_JPEG_QUALITY: '95',
      FW_SUPPLIER_ADDRESS: 'supplier:50052',
    });
    expect(config.source.reveal()).toBe('ffmpeg:rtsp://cam/stream');
    expect(config).toMatchObject({ fps: 25, width: 1280, height: 720, seed: 4294967295, loop: true, watchdogMs: 2000, jpegQuality: 95 });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('keeps a camera URL\'s password out of the printed configuration and out of its errors', () => {
    const config = loadCaptureConfig({ FW_CAPTURE_SOURCE: 'ffmpeg:rtsp://admin:hunter2@cam/stream' });
    expect(config.source.reveal()).toBe('ffmpeg:rtsp://admin:hunter2@cam/stream');
    expect(JSON.stringify(config)).toContain('"source":"ffmpeg:rtsp://admin:***@cam/stream"');
    expect(JSON.stringify(config)).not.toContain('hunter2');
    expect(problemsOf({ FW_CAPTURE_SOURCE: 'rtsp://admin:hunter2@cam/stream' })).toEqual([
      'FW_CAPTURE_SOURCE: must be one of "synthetic", "images:<folder>", "ffmpeg:<url-or-path>" (got "rtsp://admin:***@cam/stream")',
    ]);
  });

  it('names each bad variable and what it accepts', () => {
    expect(
      problemsOf({
        FW_CAPTURE_SOURCE: 'webcam',
        FW_CAPTURE_LOOP: 'yes',
        FW_CAPTURE_FPS: '0',
        FW_CAPTURE_WIDTH: '8',
        FW_CAPTURE_JPEG_QUALITY: '101',
        FW_CAPTURE_WATCHDOG_MS: 'soon',
        FW_SUPPLIER_ADDRESS: 'supplier',
      }),
    ).toEqual([
      'FW_CAPTURE_SOURCE: must be one of "synthetic", "images:<folder>", "ffmpeg:<url-or-path>" (got "webcam")',
      'FW_CAPTURE_FPS: must be >=1 (got "0")',
      'FW_SUPPLIER_ADDRESS: must be host:port (got "supplier")',
      'FW_CAPTURE_WIDTH: must be >=16 (got "8")',
      'FW_CAPTURE_LOOP: must be one of "true", "false" (got "yes")',
      'FW_CAPTURE_WATCHDOG_MS: must be a number (got "soon")',
      'FW_CAPTURE_JPEG_QUALITY: must be <=100 (got "101")',
    ]);
  });

  it('writes no ring unless FW_CAPTURE_SHM_RING names one', () => {
    expect(loadCaptureConfig({}).shm).toBeUndefined();
  });

  it('sizes the ring from the synthetic frame size, with 8 slots and owner-only mode by default', () => {
    expect(loadCaptureConfig({ FW_CAPTURE_SHM_RING: 'fw-cam-1', FW_CAPTURE_WIDTH: '1920', FW_CAPTURE_HEIGHT: '1080' }).shm).toEqual({
      name: 'fw-cam-1',
      slotCount: 8,
      slotBytes: 1920 * 1080 * 3 + 64 * 1024,
      mode: 0o600,
    });
  });

  it('gives other sources 8 MiB slots, and reads every shared-memory variable', () => {
    expect(loadCaptureConfig({ FW_CAPTURE_SHM_RING: 'r', FW_CAPTURE_SOURCE: 'ffmpeg:x.mp4' }).shm?.slotBytes).toBe(8 * 1024 * 1024);
    expect(
      loadCaptureConfig({ FW_CAPTURE_SHM_RING: 'fw.cam_2-a', FW_CAPTURE_SHM_SLOTS: '4', FW_CAPTURE_SHM_SLOT_BYTES: '1048576', FW_CAPTURE_SHM_MODE: '660' }).shm,
    ).toEqual({ name: 'fw.cam_2-a', slotCount: 4, slotBytes: 1048576, mode: 0o660 });
  });

  it('names bad shared-memory variables', () => {
    expect(problemsOf({ FW_CAPTURE_SHM_RING: '/fw/cam', FW_CAPTURE_SHM_SLOTS: '1', FW_CAPTURE_SHM_MODE: '0777x' })).toEqual([
      'FW_CAPTURE_SHM_RING: must be 1-200 of A-Z a-z 0-9 . _ -, not "." or ".." (got "/fw/cam")',
      'FW_CAPTURE_SHM_SLOTS: must be >=2 (got "1")',
      'FW_CAPTURE_SHM_MODE: must be octal permission bits such as 600 or 660 (got "0777x")',
    ]);
    // "." and ".." pass the character rule but would name /dev/shm itself or its parent.
    for (const name of ['.', '..']) expect(problemsOf({ FW_CAPTURE_SHM_RING: name })).toEqual([`FW_CAPTURE_SHM_RING: must be 1-200 of A-Z a-z 0-9 . _ -, not "." or ".." (got "${name}")`]);
  });
});
