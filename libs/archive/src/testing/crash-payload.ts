// The payloads of the crash test: framewire.v1.Result messages whose size and content follow from
// the frame id alone, so a reader can check every byte of every frame it finds. One frame in eight
// is large (many pages), so a kill can land inside its write and leave a torn tail.
const SMALL_MIN_BYTES = 512;
const SMALL_SPREAD_BYTES = 4096;
const LARGE_MIN_BYTES = 256 * 1024;
const LARGE_SPREAD_BYTES = 768 * 1024;
const PATTERN_BYTES = 251;

function mix(id: number): number {
  let h = Math.imul(id ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function pushVarint(value: number, out: number[]): void {
  while (value >= 0x80) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

export function crashPayload(id: number): Uint8Array {
  const h = mix(id);
  const contentBytes = h % 8 === 0 ? LARGE_MIN_BYTES + (h % LARGE_SPREAD_BYTES) : SMALL_MIN_BYTES + (h % SMALL_SPREAD_BYTES);
  const header: number[] = [];
  header.push(2 << 3); // frame_sequence, varint
  pushVarint(id, header);
  header.push((14 << 3) | 2); // stage bytes
  pushVarint(contentBytes, header);
  // A pattern of prime length repeated by a native fill: the child's time goes to writing, not to
  // building payloads, so kills land in writes and syncs.
  const pattern = Buffer.allocUnsafe(PATTERN_BYTES);
  for (let i = 0; i < PATTERN_BYTES; i++) pattern[i] = (id * 131 + i * 7) & 0xff;
  const payload = Buffer.allocUnsafe(header.length + contentBytes);
  payload.set(header);
  payload.fill(pattern, header.length);
  return payload;
}
