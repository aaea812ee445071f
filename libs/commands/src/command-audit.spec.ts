// CommandAuditLog: applied commands batched into few lines, none lost, bounded by count and bytes.
import { AppliedCommand, CommandAuditLog, MAX_AUDIT_BATCH, MAX_AUDIT_BATCH_BYTES } from './command-audit';

const applied = (i: number, detail = `fps: ${i}`): AppliedCommand => ({ requestId: `r-${i}`, type: 'worker.set_fps', status: 'ACK_STATUS_SUCCESS', detail });

describe('CommandAuditLog', () => {
  const lines: { message: string; count: number; commands: AppliedCommand[] }[] = [];
  beforeEach(() => {
    lines.length = 0;
    jest.useFakeTimers();
  });
  afterEach(() => jest.useRealTimers());

  it('writes the commands of one flush interval as one line, in order', () => {
    const audit = new CommandAuditLog((entry) => lines.push(entry), 100);
    for (let i = 0; i < 5; i++) audit.record(applied(i));
    expect(lines).toEqual([]);
    jest.advanceTimersByTime(100);
    expect(lines).toEqual([{ message: 'commands applied', count: 5, commands: [0, 1, 2, 3, 4].map((i) => applied(i)) }]);
    jest.advanceTimersByTime(1_000);
    expect(lines).toHaveLength(1);
  });

  it(`writes a batch at the end of the turn in which it reached ${MAX_AUDIT_BATCH} commands, not at once`, () => {
    const audit = new CommandAuditLog((entry) => lines.push(entry), 60_000);
    for (let i = 0; i < MAX_AUDIT_BATCH; i++) audit.record(applied(i));
    expect(lines).toEqual([]);
    jest.advanceTimersByTime(0);
    expect(lines.map((l) => l.count)).toEqual([MAX_AUDIT_BATCH]);
    audit.record(applied(MAX_AUDIT_BATCH));
    jest.advanceTimersByTime(0);
    expect(lines).toHaveLength(1);
    audit.flush();
    expect(lines.flatMap((l) => l.commands.map((c) => c.requestId))).toEqual(Array.from({ length: MAX_AUDIT_BATCH + 1 }, (_, i) => `r-${i}`));
  });

  it(`writes a batch at the end of the turn in which its strings reached ${MAX_AUDIT_BATCH_BYTES} bytes`, () => {
    const audit = new CommandAuditLog((entry) => lines.push(entry), 60_000);
    const long = 'x'.repeat(MAX_AUDIT_BATCH_BYTES / 4);
    for (let i = 0; i < 4; i++) audit.record(applied(i, long));
    jest.advanceTimersByTime(0);
    expect(lines.map((l) => l.count)).toEqual([4]);
  });

  it('flush writes what is batched, and nothing when the batch is empty', () => {
    const audit = new CommandAuditLog((entry) => lines.push(entry), 60_000);
    audit.flush();
    expect(lines).toEqual([]);
    audit.record(applied(1));
    audit.flush();
    jest.advanceTimersByTime(60_000);
    expect(lines).toEqual([{ message: 'commands applied', count: 1, commands: [applied(1)] }]);
  });
});
