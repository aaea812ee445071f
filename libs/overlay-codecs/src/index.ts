// Public entry point of @framewire/overlay-codecs: the payload codecs of formats.md §2-§5 (keypoints,
// segmentation, stage, keypoints sidecar), byte-compatible with the RocketWelder SDKs.
export {
  ProtocolDecodeError,
  ProtocolEncodeError,
  ProtocolStateError,
  type PayloadKind,
  type ProtocolDecodeErrorCode,
  type ProtocolEncodeErrorCode,
  type ProtocolStateErrorCode,
} from './errors';
export { ByteReader } from './byte-reader';
export {
  ByteWriter,
  MAX_VARINT32_BYTES,
  utf8ByteLength,
  varint32Length,
  zigzagDecode32,
  zigzagEncode32,
} from './byte-writer';
export { CONFIDENCE_RAW_MAX, confidenceFromRaw, confidenceToRaw, type FrameIdInput } from './values';
export {
  DEFAULT_MASTER_INTERVAL,
  KEYPOINTS_DELTA_FRAME,
  KEYPOINTS_MASTER_FRAME,
  KeyPointsDecoder,
  KeyPointsEncoder,
  KeyPointsFrameWriter,
  KeyPointsSink,
  readKeyPoints,
  type KeyPoint,
  type KeyPointInput,
  type KeyPointState,
  type KeyPointsEncoderOptions,
  type KeyPointsFrame,
  type KeyPointsFrameType,
  type KeyPointsSinkOptions,
} from './keypoints';
export {
  MAX_SEGMENTATION_POINTS,
  SegmentationEncoder,
  SegmentationFrameWriter,
  SegmentationSink,
  decodeSegmentation,
  readSegmentation,
  type SegmentationFrame,
  type SegmentationFrameInput,
  type SegmentationInstance,
  type SegmentationInstanceInput,
  type SegmentationSinkOptions,
} from './segmentation';
export {
  MAX_STAGE_LAYERS,
  MAX_STAGE_LAYER_BYTES,
  STAGE_CONTEXT_PROPERTY_IDS,
  STAGE_END_MARKER_BYTE,
  STAGE_LAYER_CLEAR,
  STAGE_LAYER_MASTER,
  STAGE_LAYER_REMAIN,
  STAGE_OP_CODES,
  decodeStage,
  type ContextProperty,
  type Rgba,
  type StageLayer,
  type StageMatrix,
  type StageMessage,
  type StageOp,
} from './stage';
export { LayerCanvas, StageEncoder, StageFrameWriter, StageSink, type StageSinkOptions } from './stage-encoder';
export {
  DEFAULT_SIDECAR_VERSION,
  SidecarError,
  formatKeyPointsSidecar,
  parseKeyPointsSidecar,
  validateKeyPointsSidecar,
  type KeyPointsSidecar,
  type SidecarErrorCode,
} from './sidecar';
export { COCO_KEYPOINT_NAMES, COCO_POINT_NAMES, COCO_POINTS_PER_PERSON, type CocoKeypointName } from './coco-keypoints';
