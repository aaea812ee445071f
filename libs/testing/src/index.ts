// Public entry point of @framewire/testing: real service processes for integration tests,
// end-to-end suites and benchmarks, and clients of their public interfaces (never imported by
// production code).
export * from './service-process';
export * from './installed-tools';
export * from './clients';
export * from './launcher-process';
export * from './connections';
export * from './grpc-methods';
export * from './stalled-clients';
