// Public entry point of @framewire/archive: recording frames to archive files (segments, durable
// appends, sidecars, a sparse index) and reading them back (seek, torn-tail events, verify, repair).
// File formats: docs/archive.md.
export { ArchiveBusyError, ArchiveClosedError, ArchiveConfigError, ArchiveCorruptError, ArchiveError, ArchiveMetadataError, InvalidPayloadError, MasterRequiredError } from './errors';
export { ARCHIVE_PROTOCOLS, type ArchiveProtocol } from './protocols';
export { ArchiveWriter } from './writer';
export {
  DEFAULT_DURABILITY,
  type AppendOptions,
  type AppendReceipt,
  type ArchiveWriterOptions,
  type DurabilityPolicy,
  type DurableMark,
  type RotationPolicy,
  type SegmentStart,
} from './writer-options';
export {
  ArchiveReader,
  readArchive,
  type ArchiveEvent,
  type ArchiveFrame,
  type ArchiveSource,
  type ReadArchiveOptions,
  type SeekTarget,
  type TornTailEvent,
} from './reader';
export type { DecodedPayload } from './payload-decoder';
export { SCAN_CHUNK_BYTES, scanFrames, type ScanOptions, type ScanOutcome, type ScannedFrame, type TornTail, type TornTailReason } from './scan';
export type { LayoutOptions } from './layout';
export { verifyArchive, type ArchiveReport } from './verify';
export { repairTornTail } from './repair';
export {
  SegmentRetention,
  type RetentionOutcome,
  type RetentionPolicy,
  type RetentionSweep,
  type SegmentRetentionOptions,
} from './retention';
export { rebuildIndex, type IndexStatus, type ResolvedIndex } from './segment-index';
export {
  DEFAULT_INDEX_EVERY_FRAMES,
  INDEX_FORMAT,
  INDEX_FORMAT_VERSION,
  loadIndex,
  type IndexCoverage,
  type IndexEntry,
  type IndexLoad,
  type SegmentIndex,
} from './index-file';
export {
  INDEX_SUFFIX,
  METADATA_SUFFIX,
  POINTS_SUFFIX,
  SEGMENT_EXTENSION,
  listSegments,
  parseSegmentFileName,
  segmentFileName,
  segmentFiles,
  type SegmentFiles,
  type SegmentName,
} from './naming';
export {
  METADATA_FORMAT,
  METADATA_FORMAT_VERSION,
  TIME_BASE,
  readMetadata,
  readPointDefinition,
  writeMetadata,
  type ArchiveMetadata,
} from './sidecar';
