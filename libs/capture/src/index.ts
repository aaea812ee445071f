// Public entry point of @framewire/capture: frame sources (synthetic scene, image folder, ffmpeg),
// the MJPEG splitter, the capture loop with its watchdog, and the publisher to the supplier.
export { CaptureError, FfmpegError, ImageFolderError, SourceSwitchError, withoutUrlPasswords } from './errors';
export { type CaptureLogger, type CapturedFrame, type FrameSource } from './frame';
export { createCaptureStats, type CaptureStats } from './stats';
export { frameNumberAt, objectCentroid, objectCovers, renderSceneJpeg, sceneAt, syntheticSource, type SceneObject, type SceneOptions } from './synthetic';
export { imageFolderSource } from './images';
export { MjpegSplitter, jpegSize } from './mjpeg';
export { ffmpegSource } from './ffmpeg';
export { createSource } from './source-spec';
export { runCapture, type CaptureEnd } from './capture-loop';
export { SwitchableSource } from './switchable-source';
export { FramePublisher } from './publisher';
