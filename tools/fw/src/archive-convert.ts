// `fw archive convert IN OUT`: JSON lines to a binary archive through the protocol sinks, or a
// binary archive to JSON lines. Both directions stream: one line or one frame at a time.
import { createWriteStream, existsSync } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import {
  ArchiveMetadata,
  DEFAULT_INDEX_EVERY_FRAMES,
  METADATA_FORMAT,
  METADATA_FORMAT_VERSION,
  TIME_BASE,
  segmentFiles,
  writeMetadata,
} from '@framewire/archive';
import { Framing, openFileSink } from '@framewire/framing';
import { printFrames } from './archive-cat';
import { openArchiveFile } from './archive-file';
import { DEFAULT_FRAMING, FormatOptions, ProtocolName } from './archive-options';
import { CliError, toCliError } from './cli-error';
import { createJsonFrameWriter } from './frame-json';
import { JsonLineError, LineWriter, readJsonLines } from './json-lines';
import { startByteProgress } from './progress';

/** File extensions that mean JSON lines; anything else is a binary archive. */
export const JSON_EXTENSIONS = ['.jsonl', '.json'];

export interface ConvertOptions extends FormatOptions {
  to?: 'json' | 'binary';
  masterInterval: number;
  /** JSON to binary: write the .fw.json sidecar beside the output (commander's --no-sidecar). */
  sidecar: boolean;
}

export async function runArchiveConvert(input: string, output: string, options: ConvertOptions): Promise<number> {
  if (resolve(input) === resolve(output)) throw new CliError(output, 'the output would overwrite the input');
  // Checked first so that the error names the directory rather than a temporary file in it.
  if (!existsSync(dirname(resolve(output)))) throw new CliError(output, `the directory ${dirname(output)} does not exist`);
  const direction = options.to ?? directionFromExtensions(input, output);
  if (direction === 'json' && resolve(segmentFiles(input).points) === resolve(output)) {
    throw new CliError(output, `is the RW point-definition sidecar of ${input}; write the JSON lines elsewhere (for example a .jsonl file)`);
  }
  if (direction === 'json') await convertToJson(input, output, options);
  else await convertToBinary(input, output, options);
  return 0;
}

function isJsonPath(path: string): boolean {
  return JSON_EXTENSIONS.includes(extname(path).toLowerCase());
}

function directionFromExtensions(input: string, output: string): 'json' | 'binary' {
  const jsonIn = isJsonPath(input);
  if (jsonIn === isJsonPath(output)) {
    throw new CliError(
      '',
      `cannot tell the direction: ${jsonIn ? 'both' : 'neither'} of ${input} and ${output} ${jsonIn ? 'are' : 'is'} JSON (${JSON_EXTENSIONS.join(', ')}); give --to json|binary`,
    );
  }
  return jsonIn ? 'binary' : 'json';
}

async function convertToJson(input: string, output: string, options: ConvertOptions): Promise<void> {
  let file;
  try {
    file = await openArchiveFile(input, options);
  } catch (error) {
    throw toCliError(error, input);
  }
  const stream = createWriteStream(output);
  const out = new LineWriter(stream);
  try {
    await printFrames(file, out, { json: true });
    await out.end();
  } catch (error) {
    stream.destroy();
    await unlink(output).catch(() => undefined);
    throw toCliError(error, output);
  }
}

async function convertToBinary(input: string, output: string, options: ConvertOptions): Promise<void> {
  const protocol = options.protocol;
  if (protocol === undefined) {
    throw new CliError(input, 'JSON lines do not say their protocol: give --protocol keypoints|segmentation|stage|result');
  }
  const framing = options.framing ?? DEFAULT_FRAMING;
  let inputBytes: number;
  try {
    // Before anything is created: a missing input must leave no empty output behind.
    inputBytes = (await stat(input)).size;
  } catch (error) {
    throw toCliError(error, input);
  }
  const metadataPath = segmentFiles(output).metadata;
  // The sidecar goes first, as the archive writer does it: a .bin never exists without it.
  if (options.sidecar) {
    try {
      await writeMetadata(metadataPath, convertedMetadata(output, protocol, framing));
    } catch (error) {
      throw toCliError(error, metadataPath);
    }
  }
  let frameSink;
  try {
    frameSink = await openFileSink(output, { framing });
  } catch (error) {
    throw toCliError(error, output);
  }
  const writer = createJsonFrameWriter(protocol, frameSink, { masterInterval: options.masterInterval });
  const progress = startByteProgress(input, inputBytes);
  let lineNumber = 0;
  try {
    for await (const line of readJsonLines(input)) {
      lineNumber = line.lineNumber;
      await writer.write(line.value);
      progress.update(line.bytesRead);
    }
    await writer.close();
  } catch (error) {
    progress.stop();
    await writer.close().catch(() => undefined);
    // Half a conversion is worse than none: it would look like a complete archive.
    await unlink(output).catch(() => undefined);
    if (options.sidecar) await unlink(metadataPath).catch(() => undefined);
    if (error instanceof JsonLineError) throw new CliError(input, error.message);
    // The OS refusing a read or a write is about a file; anything else is about the line's data,
    // and the line, not a byte offset, is what finds it in a text file.
    if (typeof (error as { syscall?: unknown }).syscall === 'string') throw toCliError(error, output);
    throw new CliError(input, `line ${lineNumber}: ${toCliError(error, input).reason}`);
  }
  progress.stop();
}

/** The sidecar of a converted file: no segment naming (an explicit file name), no worker. */
function convertedMetadata(output: string, protocol: ProtocolName, framing: Framing): ArchiveMetadata {
  return {
    format: METADATA_FORMAT,
    formatVersion: METADATA_FORMAT_VERSION,
    protocol,
    framing,
    streamId: basename(output, extname(output)),
    timeBase: TIME_BASE,
    createdAt: new Date().toISOString(),
    baseName: null,
    segmentSeq: null,
    computeModuleName: null,
    indexEveryFrames: DEFAULT_INDEX_EVERY_FRAMES,
  };
}
