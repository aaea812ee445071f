// Public entry point of @framewire/viewer-video: the gateway's video side of the live viewer — the relay
// (latest frame per stream and per client, paced to the display rate), optional recording of the
// relayed frames, and replay of recorded frames merged with recorded results.
export * from './relay';
export * from './frame-recorder';
export * from './replay';
