// The token prompt: when the gateway answers 401 the page closes its sockets and asks for the token
// (saying whether none was given or the one given was refused); a token entered is kept for the tab
// and the page starts again. Its state is what the form's data-state shows: none (no token needed),
// needed, accepted; undefined while a new token is being tried.
import { storedToken, TOKEN_STORAGE_KEY, TokenStorage } from './gateway-access';

export type TokenState = 'none' | 'needed' | 'accepted';

/** What the prompt changes on the page. */
export interface TokenPromptView {
  /** Shows the form with `note`, or hides it (undefined). */
  show(note: string | undefined): void;
  setState(state: TokenState | undefined): void;
}

export class TokenPrompt {
  state: TokenState | undefined = undefined;

  constructor(
    private readonly deps: {
      storage: TokenStorage;
      view: TokenPromptView;
      /** The page stops reading (closes its sockets) while it has no token the gateway takes. */
      onNeeded: () => void;
    },
  ) {}

  /** The gateway refused the token (or wants one): ask for it, once. */
  ask(): void {
    if (this.state === 'needed') return;
    this.deps.onNeeded();
    this.set('needed');
    this.deps.view.show(storedToken(this.deps.storage) === '' ? 'this gateway needs its token' : 'the gateway refused this token');
  }

  /** Keeps an entered token; answers whether the page should start again with it. */
  submit(token: string): boolean {
    if (token === '') return false;
    this.deps.storage.setItem(TOKEN_STORAGE_KEY, token);
    this.set(undefined);
    this.deps.view.show(undefined);
    return true;
  }

  /** The gateway let the page read: with a token, or needing none. */
  reading(): void {
    this.set(storedToken(this.deps.storage) === '' ? 'none' : 'accepted');
  }

  private set(state: TokenState | undefined): void {
    this.state = state;
    this.deps.view.setState(state);
  }
}
