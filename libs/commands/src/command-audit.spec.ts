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

  it(`writes a batch at once when it holds ${MAX_AUDIT_BATCH} commands`, () => {
    const audit = new CommandAuditLog((entry) => lines.push(entry), 60_000);
    for (let i = 0; i < MAX_AUDIT_BATCH + 1; i++) audit.record(applied(i));
    expect(lines.map((l) => l.count)).toEqual([MAX_AUDIT_BATCH]);
    audit.flush();
    expect(lines.map((l) => l.count)).toEqual([MAX_AUDIT_BATCH, 1]);
    expect(lines.flatMap((l) => l.commands.map((c) => c.requestId))).toEqual(Array.from({ length: MAX_AUDIT_BATCH + 1 }, (_, i) => `r-${i}`));
  });

  it(`writes a batch at once when its strings reach ${MAX_AUDIT_BATCH_BYTES} bytes`, () => {
    const audit = new CommandAuditLog((entry) => lines.push(entry), 60_000);
    const long = 'x'.repeat(MAX_AUDIT_BATCH_BYTES / 4);
    for (let i = 0; i < 4; i++) audit.record(applied(i, long));
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
