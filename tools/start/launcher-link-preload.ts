// Loaded by `node --require` into every service `npm start` runs (plan.ts): the service stops when
// the launcher ends, however it ends (launcher-link.ts explains how).
import { watchLauncherLink } from './launcher-link';

watchLauncherLink();
