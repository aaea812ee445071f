// Checks on what enters the supplier: frames from publishers and subscriptions from workers.
// Errors name the proto field and the value.
import type { Frame } from '@framewire/proto';
import { isRingName, RING_TOKEN_PATTERN } from '@framewire/shm';
import { InvalidRequestError, SupplierLimitError } from './errors';

/** Characters of a bad ring name repeated in the error, at most. */
const MAX_RING_NAME_SHOWN = 220;

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

/** Throws InvalidRequestError naming shm_ring_tokens unless there are at most 64 tokens, each a
 *  ring's identity as 32 lowercase hex digits (docs/shm.md). */
export function checkRingTokens(tokens: readonly string[]): void {
  if (tokens.length > MAX_RING_TOKENS) {
    throw new InvalidRequestError('shm_ring_tokens', `shm_ring_tokens has ${tokens.length} tokens; at most ${MAX_RING_TOKENS} are allowed`);
  }
  for (let i = 0; i < tokens.length; i++) {
    if (!RING_TOKEN_PATTERN.test(tokens[i])) {
      throw new InvalidRequestError(
        'shm_ring_tokens',
        // The token is not repeated: a near miss of a real one would be half a secret.
        `shm_ring_tokens[${i}] is not a ring token (${tokens[i].length} characters); a token is 32 lowercase hex digits, header bytes 64-79 of the ring`,
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
    const ringName = frame.shmRef.ringName;
    if (!isRingName(ringName)) {
      throw new InvalidRequestError(
        'frame.shm_ref.ring_name',
        `frame.shm_ref.ring_name ${JSON.stringify(ringName.slice(0, MAX_RING_NAME_SHOWN))} is not a ring name: 1-200 of A-Z a-z 0-9 . _ -, not "." or ".."`,
      );
    }
  } else {
    throw new InvalidRequestError('frame.data', 'frame carries no payload: frame.data and frame.shm_ref are both unset');
  }
}
