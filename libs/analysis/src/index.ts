// Public entry point of @framewire/analysis: the analyzer interface, the built-in analyzers
// (motion, tracks, keypoints), the pipeline that runs them, and frame decoding for analysis.
export * from './analyzer';
export * from './errors';
export * from './decode';
export * from './settings';
export * from './components';
export * from './contour';
export * from './simplify';
export * from './background';
export * from './motion';
export * from './tracker';
export * from './keypoints';
export * from './pipeline';
