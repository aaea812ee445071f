// Public entry point of @framewire/containers: framewire's stack in containers for Testcontainers
// tests (ours in apps/e2e-containers, and users' own). Test support only; production code never
// imports it.
export { createNetwork, defaultComposeFile, dockerContainer, startFramewireStack, startWorkerContainer, type FramewireStack } from './stack';
export { describeWithDocker } from './docker';
