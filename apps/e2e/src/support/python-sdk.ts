// The Python SDK (clients/python) installed the way docs/python.md says: a venv made by Debian's
// python3 with --system-site-packages (it sees python3-grpcio and python3-protobuf), then
// `pip install --no-index --no-build-isolation` of a copy of the package (pip builds in the source
// folder; the copy keeps the repository clean).
import { execFileSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@framewire/testing';

export const DEBIAN_PYTHON = '/usr/bin/python3';
export const PYTHON_PACKAGE = join(REPO_ROOT, 'clients/python');
/** Bound on making the venv and installing the package (about 2 s on this machine). */
const INSTALL_TIMEOUT_MS = 120_000;

/** What the SDK needs that the machine lacks, or undefined. */
export function pythonSdkProblem(): string | undefined {
  try {
    execFileSync(DEBIAN_PYTHON, ['-c', 'import grpc, google.protobuf, ensurepip, setuptools, wheel'], { stdio: 'ignore', timeout: 10_000 });
    return undefined;
  } catch {
    return `${DEBIAN_PYTHON} lacks grpcio, protobuf, venv, setuptools or wheel (apt-get install python3-grpcio python3-protobuf python3-pip python3-venv python3-setuptools python3-wheel)`;
  }
}

/** Makes a venv in `dir`/venv with the package installed; returns its python. */
export function installPythonSdk(dir: string): string {
  const venv = join(dir, 'venv');
  const source = join(dir, 'framewire-src');
  cpSync(PYTHON_PACKAGE, source, { recursive: true, filter: (path) => !/(__pycache__|\.egg-info|[\\/]build)$/.test(path) });
  execFileSync(DEBIAN_PYTHON, ['-m', 'venv', '--system-site-packages', venv], { stdio: 'pipe', timeout: INSTALL_TIMEOUT_MS });
  execFileSync(join(venv, 'bin/pip'), ['install', '--quiet', '--no-index', '--no-build-isolation', source], { stdio: 'pipe', timeout: INSTALL_TIMEOUT_MS });
  return join(venv, 'bin/python');
}
