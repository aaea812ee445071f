// The options every `fw archive` command shares, and where their values enter as typed values.
import { InvalidArgumentError, Option } from 'commander';
import type { Framing } from '@framewire/framing';
import { parseFrameIdText } from './frame-id';

/** The payload protocols an archive can hold (formats.md §2-§4, and framewire.v1.Result). */
export const PROTOCOL_NAMES = ['keypoints', 'segmentation', 'stage', 'result'] as const;
export type ProtocolName = (typeof PROTOCOL_NAMES)[number];
export const FRAMING_NAMES: readonly Framing[] = ['varint', 'u32le'];
/** Files and pipes use varint length prefixes (formats.md §1). */
export const DEFAULT_FRAMING: Framing = 'varint';

/** What a user may say about a file that has no sidecar to say it. */
export interface FormatOptions {
  protocol?: ProtocolName;
  framing?: Framing;
}

export function protocolOption(): Option {
  return new Option('--protocol <name>', 'payload protocol, for files without a .fw.json sidecar').choices(PROTOCOL_NAMES);
}

export function framingOption(): Option {
  return new Option('--framing <framing>', `length prefix, for files without a .fw.json sidecar (default: ${DEFAULT_FRAMING})`).choices(
    FRAMING_NAMES,
  );
}

/** Commander argument parser for --from / --to: a decimal uint64 (above 2^53 a JS number would
 *  round, so the text goes straight to a bigint). */
export function parseFrameIdOption(text: string): bigint {
  const value = parseFrameIdText(text);
  if (value === undefined) throw new InvalidArgumentError('a frame id is a decimal integer from 0 to 2^64-1.');
  return value;
}

/** Commander argument parser for --master-interval: an integer of at least 1. */
export function parseMasterIntervalOption(text: string): number {
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError('the master interval is an integer of at least 1.');
  }
  return value;
}
