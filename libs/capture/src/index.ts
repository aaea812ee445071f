// Public entry point of @framewire/capture: frame sources (synthetic scene, image folder, ffmpeg),
// the MJPEG splitter, the capture loop with its watchdog, and the publisher to the supplier.
export * from './errors';
export * from './frame';
export * from './stats';
export * from './synthetic';
export * from './images';
export * from './mjpeg';
export * from './ffmpeg';
export * from './source-spec';
export * from './capture-loop';
export * from './switchable-source';
export * from './publisher';
