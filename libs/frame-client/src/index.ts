// Public entry point of @framewire/frame-client: how a TypeScript worker receives frames from the supplier.
export {
  DEFAULT_MAX_RECEIVE_MESSAGE_BYTES,
  DEFAULT_RECONNECT,
  FrameSubscription,
  FrameSubscriptionError,
  FrameSubscriptionMode,
  FrameSubscriptionRefusedError,
  FrameSubscriptionReplacedError,
  FrameSubscriptionStats,
  ReceivedFrame,
  SharedMemoryAccess,
  SubscribeFramesOptions,
  newInstanceId,
  subscribeFrames,
} from './frame-subscription';
