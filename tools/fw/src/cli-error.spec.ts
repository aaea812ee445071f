import { ArchiveCorruptError, ArchiveMetadataError } from '@framewire/archive';
import { TruncatedFrameError, VarintTooLongError } from '@framewire/framing';
import { KeyPointsDecoder, ProtocolEncodeError } from '@framewire/overlay-codecs';
import { CliError, EXIT_FAILURE, toCliError } from './cli-error';

describe('error lines', () => {
  it('name the file, the reason and the offset once each', () => {
    expect(toCliError(new TruncatedFrameError(40, 12, 3), 'a.bin').message).toBe(
      'fw: a.bin: truncated frame: input ends after 3 of 12 bytes of the frame at offset 40',
    );
    const prefix = new VarintTooLongError(7);
    expect(toCliError(new ArchiveCorruptError('varint-too-long', prefix.message, 'a.bin', 7, { cause: prefix }), 'a.bin').message).toBe(
      'fw: a.bin: corrupt archive: varint too long: length prefix exceeds 5 bytes at offset 7',
    );
    expect(toCliError(new ArchiveMetadataError('a.fw.json is not valid JSON: bad', 'a.fw.json'), 'a.bin').message).toBe(
      'fw: a.fw.json: is not valid JSON: bad',
    );
  });

  it('place a payload that does not decode at its frame in the file', () => {
    let decodeError: unknown;
    try {
      new KeyPointsDecoder().decode(Uint8Array.of(0x09), 1234);
    } catch (error) {
      decodeError = error;
    }
    expect(toCliError(decodeError, 'k.bin').message).toBe('fw: k.bin: undecodable keypoints payload: unknown frame type 0x09 (payload byte 0) at offset 1234');
  });

  it('turn system errors and anything else into one line without a trace', () => {
    const missing = Object.assign(new Error("ENOENT: no such file or directory, open 'x.bin'"), { code: 'ENOENT', syscall: 'open', path: 'x.bin' });
    expect(toCliError(missing, '').message).toBe('fw: x.bin: no such file');
    expect(toCliError(new ProtocolEncodeError('VALUE_OUT_OF_RANGE', 'keypoint x 1.5 is not an int32\nsecond line'), 'in.jsonl')).toEqual(
      new CliError('in.jsonl', 'keypoint x 1.5 is not an int32\nsecond line'),
    );
    expect(toCliError('thrown string', '').message).toBe('fw: thrown string');
    expect(toCliError(new Error('a\n  b'), 'f').message).toBe('fw: f: a b');
    expect(toCliError(new Error('x'), 'f').exitCode).toBe(EXIT_FAILURE);
  });
});
