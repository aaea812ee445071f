// Public entry point of @framewire/testing: real service processes for integration tests,
// end-to-end suites and benchmarks, and clients of their public interfaces (never imported by
// production code).
export { REPO_ROOT, checkHealth, isProcessAlive, knownServiceNames, listReflectedServices, mainOf, methodStatuses, startServiceProcess, stopServiceProcess, watchHealth, type HealthWatch, type ServiceProcess } from './service-process';
export { describeIfInstalled, itIfInstalled } from './installed-tools';
export { CALL_TIMEOUT_MS, collectGarbage, cpuSeconds, findFreePort, http, kindOf, openPull, peakResidentMiB, postCommand, publishResults, replay, residentMiB, resultKey, subscribeResults, supplierStats, tryWebSocket, waitFor, waitForHealth, watchResultsWebSocket, type HttpReply, type PullClient, type ResultRecorder, type UpgradeOutcome } from './clients';
export { LAUNCHER_SERVICES, findFreePortBlock, isProcessRunning, startLauncher, type LauncherProcess } from './launcher-process';
export { idleHttp2Connection, rawHttpExchange, silencingProxy, silentConnection, type RawHttpAnswer } from './connections';
export { callWithRawRequests, knownMethods, type KnownMethod, type RawCallOutcome } from './grpc-methods';
export { stalledSubscribeResults, stalledWebSocket, type StalledSubscribeResults, type StalledWebSocket } from './stalled-clients';
export { errorOf, testFrame } from './test-frames';
export { VTEST_FPS, VTEST_HEIGHT, VTEST_VIDEO, VTEST_WIDTH, cutVideo, vtestMissingReason, type VideoCut } from './real-video';
