// Public entry point of @framewire/frame-client: how a TypeScript worker receives frames from the supplier.
export {
  DEFAULT_MAX_RECEIVE_MESSAGE_BYTES,
  DEFAULT_RECONNECT,
  FrameSubscription,
  FrameSubscriptionError,
  FrameSubscriptionMode,
  FrameSubscriptionReplacedError,
  FrameSubscriptionStats,
  ReceivedFrame,
  SharedMemoryAccess,
  SubscribeFramesOptions,
  subscribeFrames,
} from './frame-subscription';
