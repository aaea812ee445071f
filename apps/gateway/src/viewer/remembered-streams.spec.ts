// The video relay's stream list when a probe of the supplier fails: the last good list stands in
// for a while (a busy supplier missing the probe deadline must not refuse viewers), then the error.
import { REMEMBERED_STREAMS_MS, rememberedStreams } from './viewer.module';

describe('rememberedStreams', () => {
  it('answers a failed probe with the last good list within the bound, and with the error after it', async () => {
    const clock = { ms: 1_000 };
    let answer: string[] | Error = ['cam-1'];
    const list = rememberedStreams(async () => {
      if (answer instanceof Error) throw answer;
      return answer;
    }, () => clock.ms);
    answer = new Error('deadline exceeded');
    await expect(list()).rejects.toThrow('deadline exceeded');
    answer = ['cam-1', 'cam-2'];
    expect(await list()).toEqual(['cam-1', 'cam-2']);
    answer = new Error('deadline exceeded');
    clock.ms += REMEMBERED_STREAMS_MS;
    expect(await list()).toEqual(['cam-1', 'cam-2']);
    clock.ms += 1;
    await expect(list()).rejects.toThrow('deadline exceeded');
  });
});
