// Typed archive errors: one class per failure kind a caller acts on, each with a code, the file
// and the byte offset in it where the failure was found.

export type ArchiveErrorCode =
  | 'ARCHIVE_CORRUPT'
  | 'ARCHIVE_CONFIG'
  | 'ARCHIVE_METADATA'
  | 'ARCHIVE_CLOSED'
  | 'ARCHIVE_BUSY'
  | 'ARCHIVE_WRITE_FAILED'
  | 'MASTER_REQUIRED'
  | 'INVALID_PAYLOAD';

export class ArchiveError extends Error {
  constructor(
    readonly code: ArchiveErrorCode,
    message: string,
    /** The .bin (or sidecar) file concerned; empty when no file is. */
    readonly path: string,
    /** Byte offset in `path` where the failure was found; -1 when no offset applies. */
    readonly offset: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Why a file is corrupt. The first three come from the length prefix (formats.md §1), the last
 *  from the payload not decoding as the archive's protocol. */
export type CorruptionReason = 'varint-too-long' | 'frame-too-large' | 'empty-frame' | 'undecodable-payload';

/** Bytes in the middle of a file that are not a valid frame, with more bytes after them. Unlike a
 *  torn tail (an event: the file simply ends early) this is never produced by a crash of the
 *  writer, so it is an error. */
export class ArchiveCorruptError extends ArchiveError {
  constructor(
    readonly reason: CorruptionReason,
    detail: string,
    path: string,
    offset: number,
    options?: { cause?: unknown },
  ) {
    super('ARCHIVE_CORRUPT', `corrupt archive ${path} at offset ${offset}: ${reason}: ${detail}`, path, offset, options);
  }
}

/** An invalid writer or reader option; names the option and the value. */
export class ArchiveConfigError extends ArchiveError {
  constructor(message: string) {
    super('ARCHIVE_CONFIG', message, '', -1);
  }
}

/** A missing, unreadable or inconsistent .fw.json sidecar, or one that disagrees with the caller. */
export class ArchiveMetadataError extends ArchiveError {
  constructor(message: string, path: string, options?: { cause?: unknown }) {
    super('ARCHIVE_METADATA', message, path, -1, options);
  }
}

export class ArchiveClosedError extends ArchiveError {
  constructor(path: string, offset: number) {
    super('ARCHIVE_CLOSED', `append to ${path} after close at offset ${offset}`, path, offset);
  }
}

/** Another writer of this process has the same archive (directory, base name, stream) open: two
 *  writers would pick the same segment numbers. Open it again once that writer is closed. */
export class ArchiveBusyError extends ArchiveError {
  constructor(directory: string, baseName: string, streamId: string) {
    super('ARCHIVE_BUSY', `archive ${baseName} of stream ${streamId} in ${directory} is already open for writing in this process`, directory, -1);
  }
}

/** The OS refused a write or sync. The file was truncated back to the start of the failed frame,
 *  so it still ends at a frame boundary. */
export class ArchiveWriteError extends ArchiveError {
  constructor(operation: string, path: string, offset: number, cause: unknown) {
    super(
      'ARCHIVE_WRITE_FAILED',
      `${operation} of ${path} failed at offset ${offset}: ${(cause as Error)?.message ?? String(cause)}`,
      path,
      offset,
      { cause },
    );
  }
}

/** A keypoints delta frame where a master is required (the first frame of a segment, or the first
 *  frame after reopening a file): a reader starting there would have no state to apply it to. */
export class MasterRequiredError extends ArchiveError {
  constructor(path: string, offset: number) {
    super(
      'MASTER_REQUIRED',
      `keypoints frame at offset ${offset} of ${path} is a delta, but this frame must be a master ` +
        `(it starts a segment or follows a reopen); check ArchiveWriter.masterRequired before encoding`,
      path,
      offset,
    );
  }
}

/** A payload whose header does not follow its protocol (a keypoints frame type other than 0x00 /
 *  0x01, a payload too short for its frame id, malformed protobuf wire format). The writer throws it
 *  for a payload it is asked to append (nothing is written); a reader reports it as corruption. */
export class InvalidPayloadError extends ArchiveError {
  constructor(
    readonly protocol: string,
    readonly detail: string,
    /** Byte offset inside the payload. */
    readonly payloadOffset: number,
    path = '',
    offset = -1,
  ) {
    super(
      'INVALID_PAYLOAD',
      `invalid ${protocol} payload: ${detail} at payload offset ${payloadOffset}` +
        (path === '' ? '' : ` of the frame at offset ${offset} of ${path}`),
      path,
      offset,
    );
  }
}
