// The supplier's (de)serializers: SubscribeResponse and PullResponse encoded straight into one
// buffer, the frame's bytes copied once, and the rest of the frame encoded once per frame however
// many workers receive it (byte-identical to the generated encoder; a property test checks it);
// Publish and Pull requests passed to the handlers as bytes, which decode them.
import { Frame, FrameSupplierService, SubscribeResponse } from '@framewire/proto';
import type { FrameDelivery } from './frame-supplier';

// Tags: field number << 3 | wire type (0 varint, 2 length-delimited).
const TAG_RESPONSE_DELIVERY = (1 << 3) | 2;
const TAG_DELIVERY_FRAME = (1 << 3) | 2;
const TAG_DELIVERY_DROPPED = (2 << 3) | 0;
const TAG_DELIVERY_SENT_TIME = (3 << 3) | 0;
const TAG_DELIVERY_POOL_ID = (4 << 3) | 2;
const TAG_DELIVERY_BATCH_REMAINING = (5 << 3) | 0;
const TAG_FRAME_DATA = (8 << 3) | 2;

/** Every field of a frame but its bytes, encoded once per frame (frames are never mutated once
 *  published, so the encoding stays valid for as long as the frame lives). */
const frameHeads = new WeakMap<Frame, Uint8Array>();

function frameHead(frame: Frame): Uint8Array {
  let head = frameHeads.get(frame);
  if (head === undefined) {
    head = Frame.encode({ ...frame, data: undefined }).finish();
    frameHeads.set(frame, head);
  }
  return head;
}

/** Bytes of the varint of a non-negative integer up to 2^53. */
function varintBytes(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

function writeVarint(target: Buffer, pos: number, value: number): number {
  while (value >= 0x80) {
    target[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  target[pos++] = value;
  return pos;
}

/** `{ delivery }` as SubscribeResponse / PullResponse bytes (the two messages are alike). */
export function encodeDeliveryResponse(message: { delivery?: FrameDelivery }): Buffer {
  const delivery = message.delivery;
  if (delivery === undefined || delivery.frame === undefined || delivery.sentTimeUs < 0) {
    // Not a hot-path shape (no delivery, or a value the fast path does not write): the generated encoder.
    return Buffer.from(SubscribeResponse.encode(message as SubscribeResponse).finish());
  }
  const { frame, droppedSinceLast, sentTimeUs } = delivery;
  const poolId = delivery.poolId ?? ''; // absent in deliveries of in-process callers and older code
  const batchRemaining = delivery.batchRemaining ?? 0;
  const head = frameHead(frame);
  const data = frame.data;
  const frameLength = head.length + (data === undefined ? 0 : 1 + varintBytes(data.length) + data.length);
  // Pool ids are ASCII (checkId), so their length in bytes is their length in characters.
  const deliveryLength =
    1 + varintBytes(frameLength) + frameLength +
    (droppedSinceLast !== 0 ? 1 + varintBytes(droppedSinceLast) : 0) +
    (sentTimeUs !== 0 ? 1 + varintBytes(sentTimeUs) : 0) +
    (poolId.length !== 0 ? 1 + varintBytes(poolId.length) + poolId.length : 0) +
    (batchRemaining !== 0 ? 1 + varintBytes(batchRemaining) : 0);
  const out = Buffer.allocUnsafe(1 + varintBytes(deliveryLength) + deliveryLength);
  let pos = 0;
  out[pos++] = TAG_RESPONSE_DELIVERY;
  pos = writeVarint(out, pos, deliveryLength);
  out[pos++] = TAG_DELIVERY_FRAME;
  pos = writeVarint(out, pos, frameLength);
  out.set(head, pos);
  pos += head.length;
  if (data !== undefined) {
    out[pos++] = TAG_FRAME_DATA;
    pos = writeVarint(out, pos, data.length);
    out.set(data, pos);
    pos += data.length;
  }
  if (droppedSinceLast !== 0) {
    out[pos++] = TAG_DELIVERY_DROPPED;
    pos = writeVarint(out, pos, droppedSinceLast);
  }
  if (sentTimeUs !== 0) {
    out[pos++] = TAG_DELIVERY_SENT_TIME;
    pos = writeVarint(out, pos, sentTimeUs);
  }
  if (poolId.length !== 0) {
    out[pos++] = TAG_DELIVERY_POOL_ID;
    pos = writeVarint(out, pos, poolId.length);
    pos += out.write(poolId, pos, 'latin1');
  }
  if (batchRemaining !== 0) {
    out[pos++] = TAG_DELIVERY_BATCH_REMAINING;
    pos = writeVarint(out, pos, batchRemaining);
  }
  return out;
}

/** The request bytes as they came: the handler decodes them, so that a malformed message is an
 *  INVALID_ARGUMENT naming its index in the call rather than grpc-js's INTERNAL. */
const rawRequest = (value: Buffer): Buffer => value;

/** FrameSupplierService with the hot-path serializer on the two delivering methods, and the
 *  client-streamed requests (Publish, Pull) handed to the handlers undecoded. */
export const FrameSupplierDeliveryService = {
  ...FrameSupplierService,
  publish: { ...FrameSupplierService.publish, requestDeserialize: rawRequest },
  subscribe: { ...FrameSupplierService.subscribe, responseSerialize: encodeDeliveryResponse },
  pull: { ...FrameSupplierService.pull, requestDeserialize: rawRequest, responseSerialize: encodeDeliveryResponse },
} as const;
