// Checks on what enters the supplier: frames from publishers and subscriptions from workers.
// Errors name the proto field and the value.
import type { Frame } from '@framewire/proto';
import { InvalidRequestError, SupplierLimitError } from './errors';

/** Longest worker or stream id. */
export const MAX_ID_LENGTH = 64;
const ID_PATTERN = /^[A-Za-z0-9._:-]+$/;

/** Throws InvalidRequestError naming `field` unless `id` is 1-64 letters, digits, '.', '_', ':' or '-'. */
export function checkId(field: string, id: string): void {
  if (id.length === 0) throw new InvalidRequestError(field, `${field} is empty`);
  if (id.length > MAX_ID_LENGTH) {
    throw new InvalidRequestError(field, `${field} has ${id.length} characters; at most ${MAX_ID_LENGTH} are allowed`);
  }
  if (!ID_PATTERN.test(id)) {
    throw new InvalidRequestError(field, `${field} ${JSON.stringify(id)} may hold only letters, digits, '.', '_', ':' and '-'`);
  }
}

/** Most ring tokens a worker may present (one per ring it could open). */
export const MAX_RING_TOKENS = 64;
/** Longest ring token (rings use hex strings). */
export const MAX_RING_TOKEN_LENGTH = 128;

/** Throws InvalidRequestError naming shm_ring_tokens unless `tokens` are few and each short, printable ASCII. */
export function checkRingTokens(tokens: readonly string[]): void {
  if (tokens.length > MAX_RING_TOKENS) {
    throw new InvalidRequestError('shm_ring_tokens', `shm_ring_tokens has ${tokens.length} tokens; at most ${MAX_RING_TOKENS} are allowed`);
  }
  for (const token of tokens) {
    if (token.length === 0 || token.length > MAX_RING_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(token)) {
      throw new InvalidRequestError(
        'shm_ring_tokens',
        `shm_ring_tokens holds ${JSON.stringify(token.slice(0, MAX_RING_TOKEN_LENGTH))}; a token is 1-${MAX_RING_TOKEN_LENGTH} printable ASCII characters`,
      );
    }
  }
}

/** Throws InvalidRequestError or SupplierLimitError (frameBytes) unless `frame` can be published. */
export function checkFrame(frame: Frame | undefined, maxFrameBytes: number): asserts frame is Frame {
  if (frame === undefined) throw new InvalidRequestError('frame', 'frame is missing');
  checkId('frame.stream_id', frame.streamId);
  if (!(frame.sequence > 0)) {
    throw new InvalidRequestError('frame.sequence', `frame.sequence is ${frame.sequence}; sequences start at 1`);
  }
  if (frame.sizeBytes > maxFrameBytes) {
    throw new SupplierLimitError(
      'frameBytes',
      frame.sizeBytes,
      maxFrameBytes,
      `frame.size_bytes ${frame.sizeBytes} exceeds the ${maxFrameBytes}-byte limit (stream "${frame.streamId}", sequence ${frame.sequence})`,
    );
  }
  const data = frame.data;
  if (data !== undefined) {
    if (data.length > maxFrameBytes) {
      throw new SupplierLimitError(
        'frameBytes',
        data.length,
        maxFrameBytes,
        `frame.data of ${data.length} bytes exceeds the ${maxFrameBytes}-byte limit (stream "${frame.streamId}", sequence ${frame.sequence})`,
      );
    }
    if (data.length !== frame.sizeBytes) {
      throw new InvalidRequestError('frame.size_bytes', `frame.size_bytes is ${frame.sizeBytes} but frame.data holds ${data.length} bytes`);
    }
  } else if (frame.shmRef !== undefined) {
    if (frame.shmRef.ringName.length === 0) throw new InvalidRequestError('frame.shm_ref.ring_name', 'frame.shm_ref.ring_name is empty');
  } else {
    throw new InvalidRequestError('frame.data', 'frame carries no payload: frame.data and frame.shm_ref are both unset');
  }
}
