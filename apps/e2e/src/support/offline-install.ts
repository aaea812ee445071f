// Installing a packed tarball into an empty project with no network: npm's --offline install needs
// the registry's metadata of every dependency, which an `npm install` from a lockfile never caches
// (only the tarballs). So the project gets a lockfile of its own: the tarball, and the entries of
// the repository's package-lock.json for the tarball's dependencies and theirs (the versions this
// repository pins, whose tarballs its own install cached).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [key: string]: unknown;
}

/** Writes package.json and package-lock.json for a project depending on `tarball` alone, then runs
 *  `npm install --offline --no-audit --no-fund`; returns npm's output. */
export function installOffline(projectDir: string, tarball: string, repoRoot: string): string {
  const repoLock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const manifest = JSON.parse(execFileSync('tar', ['-xOzf', tarball, 'package/package.json'], { encoding: 'utf8' })) as { name: string; version: string; dependencies: Record<string, string> };
  const spec = `file:${relative(projectDir, tarball)}`;
  const packages: Record<string, LockEntry> = {
    '': { name: 'sdk-user', version: '1.0.0', dependencies: { [manifest.name]: spec } },
    [`node_modules/${manifest.name}`]: { version: manifest.version, resolved: spec, dependencies: manifest.dependencies },
  };
  const wanted: [string, string][] = Object.keys(manifest.dependencies).map((name) => [`node_modules/${manifest.name}`, name]);
  while (wanted.length > 0) {
    const [from, name] = wanted.pop() as [string, string];
    const path = locate(repoLock.packages, from, name);
    if (path === undefined) throw new Error(`installOffline: ${name} (needed by ${from}) is not in package-lock.json`);
    if (packages[path] !== undefined) continue;
    const entry = repoLock.packages[path];
    packages[path] = entry;
    const optionalPeers = Object.entries(entry.peerDependenciesMeta ?? {}).filter(([, m]) => m.optional).map(([n]) => n);
    const deps = [...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {}), ...Object.keys(entry.peerDependencies ?? {}).filter((n) => !optionalPeers.includes(n))];
    for (const dep of deps) {
      // Optional dependencies of other platforms are absent from the lockfile: npm skips them too.
      if (locate(repoLock.packages, path, dep) !== undefined || !(dep in (entry.optionalDependencies ?? {}))) wanted.push([path, dep]);
    }
  }
  writeFileSync(join(projectDir, 'package.json'), JSON.stringify({ name: 'sdk-user', version: '1.0.0', private: true, dependencies: { [manifest.name]: spec } }, null, 2));
  writeFileSync(join(projectDir, 'package-lock.json'), JSON.stringify({ name: 'sdk-user', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2));
  return execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund'], { cwd: projectDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Where Node would find `name` from the package at lockfile path `from`, in the repository's tree:
 *  its own node_modules, then each ancestor's, then the top level. */
function locate(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  // The SDK itself is not in the repository's tree: it resolves from the top level.
  let dir = from.startsWith('node_modules/@framewire/worker-sdk') ? '' : from;
  for (;;) {
    const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
    if (packages[candidate] !== undefined) return candidate;
    if (dir === '') return undefined;
    const up = dir.lastIndexOf('/node_modules/');
    dir = up === -1 ? '' : dir.slice(0, up);
  }
}

