// JSON lines in and out: lines read from a file one at a time with their line numbers, and lines
// written to a stream with its backpressure respected, so neither side holds a whole file.
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';

export interface JsonLine {
  /** 1-based, as editors count. */
  lineNumber: number;
  value: unknown;
  /** Byte offset of the line's end in the file, for progress. */
  bytesRead: number;
}

/** Thrown for a line that is not JSON; the caller adds the file name. */
export class JsonLineError extends Error {
  constructor(
    readonly lineNumber: number,
    reason: string,
  ) {
    super(`line ${lineNumber}: ${reason}`);
    this.name = 'JsonLineError';
  }
}

/** The JSON values of the non-blank lines of `path`. A line that is not JSON throws
 *  JsonLineError naming it. */
export async function* readJsonLines(path: string): AsyncGenerator<JsonLine, void, undefined> {
  const input = createReadStream(path);
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNumber = 0;
  try {
    for await (const line of lines) {
      lineNumber++;
      if (line.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        throw new JsonLineError(lineNumber, `not valid JSON (${jsonSyntaxReason(error)})`);
      }
      yield { lineNumber, value, bytesRead: input.bytesRead };
    }
  } finally {
    lines.close();
    input.destroy();
  }
}

/** JSON.parse's message without the position phrase: the line number is what a user needs. */
function jsonSyntaxReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // Node 20 words it either `... in JSON at position 7` or `..., "<excerpt>" is not valid JSON`.
  return message.replace(/ in JSON at position \d+.*$/, '').replace(/, (\.\.\.)?".*" is not valid JSON$/, '');
}

/** Writes lines to a stream, waiting for 'drain' when its buffer is full. */
export class LineWriter {
  constructor(private readonly stream: Writable) {}

  async write(line: string): Promise<void> {
    if (!this.stream.write(`${line}\n`)) await once(this.stream, 'drain');
  }

  /** Ends a stream this writer owns (a file) and waits until it is on disk; leaves stdout open. */
  async end(): Promise<void> {
    if (this.stream === process.stdout) return;
    this.stream.end();
    await once(this.stream, 'finish');
  }
}
