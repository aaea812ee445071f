// Entry point of the `fw` command line: builds the command tree with commander and turns every
// failure into one line on stderr and an exit status. Each command lives in its own module.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_MASTER_INTERVAL } from '@framewire/overlay-codecs';
import { secretText } from '@framewire/service-runtime';
import { runArchiveCat } from './archive-cat';
import { runArchiveConvert } from './archive-convert';
import { runArchiveInfo } from './archive-info';
import { runArchiveVerify } from './archive-verify';
import { framingOption, parseFrameIdOption, parseMasterIntervalOption, protocolOption } from './archive-options';
import { EXIT_FAILURE, toCliError } from './cli-error';
import { DEFAULT_CONNECT_TIMEOUT_S, runFramesWatch } from './frames-watch';

/** Kept equal to package.json's version (dist/ and src/ sit at different depths from it). */
const PACKAGE_VERSION = '0.1.0';

/** Builds the program; `setExitCode` receives the status a command asks for (verify's "unsound"). */
export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('fw')
    .description('framewire command line')
    .version(PACKAGE_VERSION)
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      // Commander's own errors (unknown option, missing argument) in the same one-line form as ours.
      outputError: (text, write) => write(`fw: ${text.replace(/^error: /, '')}`),
    });

  const archive = program.command('archive').description('inspect, print, convert and verify archive files (.bin)');
  archive
    .command('info')
    .description('summarise archive files: protocol, framing, frames, masters, first/last frame id and time, size')
    .argument('<path...>', 'archive files, or folders: every .bin file under them (e.g. data/archive)')
    .addOption(protocolOption())
    .addOption(framingOption())
    .option('--json', 'one JSON object per file instead of text')
    .addHelpText('after', examples('fw archive info data/archive', 'fw archive info recordings/*.bin', 'fw archive info --protocol keypoints --json pose.bin'))
    .action(async (files: string[], options) => {
      setExitCode(await runArchiveInfo(files, options));
    });
  archive
    .command('cat')
    .description('print the frames of an archive, decoded (keypoint deltas applied)')
    .argument('<file>', 'archive file')
    .addOption(protocolOption())
    .addOption(framingOption())
    .option('--from <id>', 'first frame id to print (inclusive, decimal up to 2^64-1)', parseFrameIdOption)
    .option('--to <id>', 'last frame id to print (inclusive, decimal up to 2^64-1)', parseFrameIdOption)
    .option('--json', 'one JSON object per line per frame (otherwise a short text line per frame)')
    .addHelpText('after', examples('fw archive cat --json --from 100 --to 200 pose.bin', 'fw archive cat --protocol segmentation --framing u32le masks.bin'))
    .action(async (file: string, options) => {
      setExitCode(await runArchiveCat(file, options));
    });
  archive
    .command('convert')
    .description('convert JSON lines to a binary archive, or a binary archive to JSON lines')
    .argument('<in>', 'input file')
    .argument('<out>', 'output file')
    .addOption(
      new Option('--to <format>', 'output format (default: from the extensions, .jsonl/.json is JSON)').choices(['json', 'binary']),
    )
    .addOption(protocolOption())
    .addOption(framingOption())
    .option('--master-interval <n>', 'keypoints: every n-th frame is a master', parseMasterIntervalOption, DEFAULT_MASTER_INTERVAL)
    .option('--no-sidecar', 'JSON to binary: write no .fw.json sidecar beside the output (a plain RW file)')
    .addHelpText(
      'after',
      examples('fw archive convert pose.bin pose.jsonl', 'fw archive convert --protocol keypoints --master-interval 30 pose.jsonl pose.bin'),
    )
    .action(async (input: string, output: string, options) => {
      setExitCode(await runArchiveConvert(input, output, options));
    });
  archive
    .command('verify')
    .description('check that an archive file is sound: every frame complete and decodable (exit 0), else name the offset (exit 2)')
    .argument('<file>', 'archive file')
    .addOption(protocolOption())
    .addOption(framingOption())
    .addHelpText('after', examples('fw archive verify pose.bin', 'fw archive verify --protocol keypoints rw-recording.bin'))
    .action(async (file: string, options) => {
      setExitCode(await runArchiveVerify(file, options));
    });
  const frames = program.command('frames').description('look at the frames a supplier hands out');
  frames
    .command('watch')
    .description('subscribe like a worker (Pull) and print rate, age at delivery and drops every second')
    .option('--supplier <address>', "the supplier, host:port (default: npm start's, 127.0.0.1:50052 or the port $FW_START_BASE_PORT + 1 and $FW_GRPC_HOST)")
    .option('--stream <id>', 'the stream to watch', 'cam-1')
    .option('--worker <id>', 'the worker id to subscribe as', `fw-watch-${process.pid}`)
    .option('--token <token>', "the supplier's bearer token (default: $FW_AUTH_TOKEN)")
    .option('--seconds <n>', 'stop after n seconds (default: until Ctrl-C)', parsePositiveSeconds)
    .option('--connect-timeout <n>', 'fail (exit 1) when the supplier does not answer within n seconds', parsePositiveSeconds, DEFAULT_CONNECT_TIMEOUT_S)
    .option('--json', 'one JSON object per second')
    .addHelpText('after', examples('fw frames watch', 'FW_START_BASE_PORT=41000 fw frames watch', 'fw frames watch --supplier 10.0.0.5:50052 --stream cam-2 --seconds 10 --json'))
    .action(async (options) => {
      // The environment's token is read here, not given to commander as a default: --help would print it.
      const token: string | undefined = options.token ?? (process.env.FW_AUTH_TOKEN || undefined);
      setExitCode(await runFramesWatch({ ...options, token: token === undefined ? undefined : secretText(token) }));
    });
  return program;
}

function parsePositiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
}

function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`;
}

/** Runs `fw` with `argv` (without node and the script) and resolves to the exit status. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  // A reader that stops early (`fw archive cat f.bin | head`) closes the pipe: that ends the
  // output, it is not a failure worth a trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(exitCode);
    process.stderr.write(`fw: stdout: ${error.message}\n`);
    process.exit(EXIT_FAILURE);
  });
  const program = buildProgram((code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    // --help and --version end here too, with exit code 0; commander has printed its message.
    if (error instanceof CommanderError) return error.exitCode;
    const failure = toCliError(error, '');
    process.stderr.write(`${failure.message}\n`);
    return failure.exitCode;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
