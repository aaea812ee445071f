// Full decoding of payloads through @framewire/overlay-codecs, one decoder per segment (keypoints
// deltas depend on the previous frame of the same segment).
import {
  KeyPointsDecoder,
  KeyPointsFrame,
  SegmentationFrame,
  StageMessage,
  decodeSegmentation,
  decodeStage,
} from '@framewire/overlay-codecs';
import type { ArchiveProtocol } from './protocols';

/** What a reader yields as `decoded`: the protocol library's frame for the RW formats; nothing for
 *  `result` (decode its payload with framewire.v1.Result from @framewire/proto). */
export type DecodedPayload = KeyPointsFrame | SegmentationFrame | StageMessage | undefined;

export interface PayloadDecoder {
  /** Throws ProtocolDecodeError when the payload does not follow the protocol. */
  decode(payload: Uint8Array, frameOffset: number): DecodedPayload;
  /** Forgets inter-frame state (a new segment, or a seek). */
  reset(): void;
}

export function createPayloadDecoder(protocol: ArchiveProtocol): PayloadDecoder {
  switch (protocol) {
    case 'keypoints': {
      const decoder = new KeyPointsDecoder();
      return { decode: (payload, offset) => decoder.decode(payload, offset), reset: () => decoder.reset() };
    }
    case 'segmentation':
      return { decode: decodeSegmentation, reset: () => undefined };
    case 'stage':
      return { decode: decodeStage, reset: () => undefined };
    case 'result':
      // inspectPayload already walked the wire format; a schema decode is the caller's.
      return { decode: () => undefined, reset: () => undefined };
  }
}
