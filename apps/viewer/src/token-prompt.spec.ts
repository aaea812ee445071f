// The token prompt's states without a browser: needed (once), the note, a token kept, accepted.
import { TOKEN_STORAGE_KEY } from './gateway-access';
import { memoryStorage } from './testing/fakes';
import { TokenPrompt, TokenState } from './token-prompt';

function prompt(initial: Record<string, string> = {}) {
  const storage = memoryStorage(initial);
  const shown: (string | undefined)[] = [];
  const states: (TokenState | undefined)[] = [];
  let stopped = 0;
  const p = new TokenPrompt({ storage, onNeeded: () => stopped++, view: { show: (note) => shown.push(note), setState: (s) => states.push(s) } });
  return { p, storage, shown, states, stopped: () => stopped };
}

describe('TokenPrompt', () => {
  it('asks once for a token the gateway needs, stopping the page once', () => {
    const t = prompt();
    t.p.ask();
    t.p.ask();
    expect(t.stopped()).toBe(1);
    expect(t.shown).toEqual(['this gateway needs its token']);
    expect(t.states).toEqual(['needed']);
  });

  it('says so when the token it has was refused', () => {
    const t = prompt({ [TOKEN_STORAGE_KEY]: 'wrong' });
    t.p.ask();
    expect(t.shown).toEqual(['the gateway refused this token']);
  });

  it('keeps an entered token, hides the form and leaves the state open until the gateway reads', () => {
    const t = prompt();
    t.p.ask();
    expect(t.p.submit('')).toBe(false);
    expect(t.p.submit('right')).toBe(true);
    expect(t.storage.items.get(TOKEN_STORAGE_KEY)).toBe('right');
    expect(t.shown.at(-1)).toBeUndefined();
    expect(t.p.state).toBeUndefined();
    t.p.reading();
    expect(t.p.state).toBe('accepted');
    t.p.ask(); // refused later: asks again
    expect(t.stopped()).toBe(2);
  });

  it('is none when the gateway reads without a token', () => {
    const t = prompt();
    t.p.reading();
    expect(t.states).toEqual(['none']);
  });
});
