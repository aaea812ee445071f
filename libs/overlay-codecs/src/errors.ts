// Typed errors of the payload codecs. Decoding errors name the payload kind, the byte offset inside
// the payload and, when a source read the payload from a stream, the stream offset of its frame.

/** Which payload format a decoder was reading (formats.md §2-§4). */
export type PayloadKind = 'keypoints' | 'segmentation' | 'stage';

export type ProtocolDecodeErrorCode =
  /** The payload ends inside a field, or a count promises more bytes than remain. */
  | 'TRUNCATED'
  /** A varint runs past 5 bytes. */
  | 'VARINT_TOO_LONG'
  /** A 5-byte varint carries more than 32 bits. */
  | 'VARINT_OVERFLOW'
  /** A keypoints frame type other than 0x00 / 0x01. */
  | 'UNKNOWN_FRAME_TYPE'
  /** A segmentation instance claims more than MAX_SEGMENTATION_POINTS points. */
  | 'POINT_COUNT_TOO_LARGE'
  /** A stage layer frame type other than 0x00 / 0x01 / 0x02. */
  | 'UNKNOWN_LAYER_TYPE'
  | 'UNKNOWN_OP'
  | 'UNKNOWN_CONTEXT_PROPERTY'
  /** A stage layer longer than MAX_STAGE_LAYER_BYTES. */
  | 'LAYER_TOO_LARGE'
  /** A stage message whose last two bytes are not FF FF. */
  | 'MISSING_END_MARKER'
  /** Bytes left over after a complete keypoints frame or stage message. */
  | 'TRAILING_BYTES';

/** A payload that does not follow its format. The only error a decoder throws on bad input. */
export class ProtocolDecodeError extends Error {
  constructor(
    readonly code: ProtocolDecodeErrorCode,
    readonly kind: PayloadKind,
    /** What went wrong, without the location (the message adds it). */
    readonly detail: string,
    /** Byte offset inside the payload. */
    readonly offset: number,
    /** Stream offset of the frame holding the payload (see Frame.offset), when known. */
    readonly frameOffset?: number,
  ) {
    super(
      `${kind}: ${detail} at payload offset ${offset}` +
        (frameOffset === undefined ? '' : ` of the frame at stream offset ${frameOffset}`),
    );
    this.name = new.target.name;
  }
}

export type ProtocolEncodeErrorCode =
  /** A value outside what its field can carry (an id above uint32, a coordinate above int32, ...). */
  | 'VALUE_OUT_OF_RANGE'
  /** The same keypoint id twice in one frame. */
  | 'DUPLICATE_KEYPOINT_ID'
  /** A master interval below 1 or not an integer. */
  | 'INVALID_MASTER_INTERVAL'
  /** A stage layer that would exceed MAX_STAGE_LAYER_BYTES. */
  | 'LAYER_TOO_LARGE'
  /** More stage layers in one message than its uint8 count carries. */
  | 'TOO_MANY_LAYERS'
  /** A draw or context op on a layer marked remain or clear (the wire carries no ops for them). */
  | 'OPS_ON_NON_MASTER_LAYER';

/** Data that cannot be encoded. Thrown before anything reaches the wire. */
export class ProtocolEncodeError extends Error {
  constructor(
    readonly code: ProtocolEncodeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export type ProtocolStateErrorCode =
  /** A per-frame writer used after its frame was committed or abandoned. */
  | 'WRITER_CLOSED'
  /** An encoder asked to add to or finish a frame it has not begun. */
  | 'NO_OPEN_FRAME'
  /** A layer canvas kept from an earlier stage frame. */
  | 'STALE_LAYER'
  /** A sink used after close(). */
  | 'SINK_CLOSED';

/** An API used out of order: a programming error, not bad data. */
export class ProtocolStateError extends Error {
  constructor(
    readonly code: ProtocolStateErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
