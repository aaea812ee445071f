// Public entry point of @framewire/testing: real service processes for integration tests,
// end-to-end suites and benchmarks (never imported by production code).
export * from './service-process';
export * from './installed-tools';
