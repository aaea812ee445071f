// Public entry point of @framewire/containers: framewire's stack in containers for Testcontainers
// tests (ours in apps/e2e-containers, and users' own). Test support only; production code never
// imports it.
export { StackError, createNetwork, defaultComposeFile, dockerContainer, removeLeftovers, startFramewireStack, startWorkerContainer, type FramewireStack, type FramewireStackOptions } from './stack';
export { describeWithDocker } from './docker';
