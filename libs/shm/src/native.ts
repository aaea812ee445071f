// Loads framewire_shm.node, the Node-API addon that maps POSIX shared memory (libs/shm/native).
// From sources it lies in libs/shm/build/Release (node-gyp); in dist/ tools/build.mjs copies it to
// dist/libs/shm/native.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface ShmAddon {
  /** A new object (exclusive), sized and mapped read-write; throws with code 'EEXIST' if it exists. */
  create(name: string, size: number, mode: number): Buffer;
  /** An existing object mapped at its full size; throws with code 'ENOENT' if it does not exist. */
  open(name: string, writable: boolean): Buffer;
  unlink(name: string): boolean;
  /** Drops the shared mapping now; the Buffer then reads zeros until it is garbage-collected. */
  close(mapping: Buffer): void;
  freeBytes(path: string): number;
  load64Acquire(buffer: Buffer, offset: number): number;
  /** Acquire fence, then a relaxed load. */
  fenceLoad64(buffer: Buffer, offset: number): number;
  store64Release(buffer: Buffer, offset: number, value: number): void;
  /** Relaxed store, then a release fence. */
  storeFence64(buffer: Buffer, offset: number, value: number): void;
  load32Acquire(buffer: Buffer, offset: number): number;
  store32Release(buffer: Buffer, offset: number, value: number): void;
}

const ADDON_FILE = 'framewire_shm.node';
const ADDON_LOCATIONS = [
  join(__dirname, '..', 'native', ADDON_FILE),
  join(__dirname, '..', 'build', 'Release', ADDON_FILE),
];

function loadAddon(): ShmAddon {
  const found = ADDON_LOCATIONS.find((file) => existsSync(file));
  if (found === undefined) {
    throw new Error(`the shared-memory addon ${ADDON_FILE} is not built (looked in ${ADDON_LOCATIONS.join(', ')}); run node tools/build.mjs`);
  }
  return require(found) as ShmAddon;
}

let loaded: ShmAddon | undefined;

/** The addon, loaded on first use: code that imports @framewire/shm (the frame client does) but
 *  never touches a ring does not need it built, and gets a clear error only if it does. */
export function shmAddon(): ShmAddon {
  return (loaded ??= loadAddon());
}
