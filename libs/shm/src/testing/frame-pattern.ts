// Frames whose bytes derive from their frame sequence, so that any torn frame (bytes of two
// writes) is detected: the first 8 bytes hold the sequence, the rest repeat it as a uint32.
const SEQUENCE_BYTES = 8;
const UINT32_SPAN = 0x100000000;

export function fillFrame(frame: Buffer, sequence: number): Buffer {
  frame.writeUInt32LE(sequence % UINT32_SPAN, 0);
  frame.writeUInt32LE(Math.floor(sequence / UINT32_SPAN), 4);
  const word = Buffer.alloc(4);
  word.writeUInt32LE((sequence * 2654435761) % UINT32_SPAN);
  frame.fill(word, SEQUENCE_BYTES);
  return frame;
}

export function frameSequenceOf(data: Uint8Array): number {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return bytes.readUInt32LE(0) + bytes.readUInt32LE(4) * UINT32_SPAN;
}

/** Whether `data` is exactly the frame `fillFrame` makes for its own sequence. */
export function isIntactFrame(data: Uint8Array): boolean {
  if (data.length < SEQUENCE_BYTES) return false;
  const expected = fillFrame(Buffer.allocUnsafe(data.length), frameSequenceOf(data));
  return expected.equals(data);
}
