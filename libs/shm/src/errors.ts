// The failures of the shared-memory frame ring that callers act on, one class per kind.

export type ShmErrorCode =
  | 'SHM_INVALID_OPTIONS'
  | 'SHM_NO_SPACE'
  | 'SHM_RING_OWNED'
  | 'SHM_RING_NOT_FOUND'
  | 'SHM_BAD_LAYOUT'
  | 'SHM_INVALID_FRAME'
  | 'SHM_CLOSED';

export class ShmError extends Error {
  constructor(
    readonly code: ShmErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The ring's name or options are not acceptable (name pattern, slot sizes, mode). */
export class RingOptionsError extends ShmError {
  constructor(message: string) {
    super('SHM_INVALID_OPTIONS', message);
  }
}

/** /dev/shm has less free space than the ring needs. */
export class RingSpaceError extends ShmError {
  constructor(
    readonly neededBytes: number,
    readonly freeBytes: number,
    message: string,
  ) {
    super('SHM_NO_SPACE', message);
  }
}

/** A live writer owns a ring of that name. */
export class RingOwnedError extends ShmError {
  constructor(
    readonly ownerPid: number,
    message: string,
  ) {
    super('SHM_RING_OWNED', message);
  }
}

export class RingNotFoundError extends ShmError {
  constructor(message: string) {
    super('SHM_RING_NOT_FOUND', message);
  }
}

/** The object is not a framewire ring of a layout this code reads (or is still being created). */
export class RingLayoutError extends ShmError {
  constructor(message: string) {
    super('SHM_BAD_LAYOUT', message);
  }
}

/** A frame the writer cannot store: too large for a slot, or a stream id too long. */
export class RingFrameError extends ShmError {
  constructor(message: string) {
    super('SHM_INVALID_FRAME', message);
  }
}

export class RingClosedError extends ShmError {
  constructor(message: string) {
    super('SHM_CLOSED', message);
  }
}
