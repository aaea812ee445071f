// Loading users' analyzers named in a worker's configuration (FW_WORKER_ANALYZERS=motion,./mine.js,
// some-package): a built-in name stays a name; a path (./, ../ or /) is resolved against the working
// directory, anything else as a package from it. The module must export an analyzer (an object with
// name and analyze(frame)), a class of one, or a factory (default export or createAnalyzer()); one
// that does not fails the start with AnalyzerModuleError naming the module and what it lacks.
import { Analyzer, BUILT_IN_ANALYZERS } from '@framewire/analysis';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AnalyzerSource } from './run-worker';

/** The named export a module may offer instead of a default export. */
export const ANALYZER_FACTORY_EXPORT = 'createAnalyzer';
const EXPECTED = `expected a default export or \`${ANALYZER_FACTORY_EXPORT}()\` returning an object with name and analyze(frame)`;

/** A module named as an analyzer that cannot be loaded or does not export one. */
export class AnalyzerModuleError extends Error {
  readonly code = 'ANALYZER_MODULE_INVALID';
  constructor(
    readonly module: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${module} ${message}`, options);
    this.name = 'AnalyzerModuleError';
  }
}

/** Whether an FW_WORKER_ANALYZERS entry names a module by path rather than a package or built-in. */
export function isModulePath(entry: string): boolean {
  return entry.startsWith('./') || entry.startsWith('../') || isAbsolute(entry);
}

/** The analyzers of FW_WORKER_ANALYZERS entries, in order: built-in names as they are, the host's
 *  own `named` analyzers (the worker app's model analyzers, started before) by their name, modules
 *  loaded from `cwd` and checked (each a factory, so every stream gets its own instance). */
export async function loadAnalyzerSources(entries: readonly string[], cwd: string, named: Readonly<Record<string, AnalyzerSource>> = {}): Promise<AnalyzerSource[]> {
  const sources: AnalyzerSource[] = [];
  for (const entry of entries) {
    if ((BUILT_IN_ANALYZERS as readonly string[]).includes(entry)) sources.push(entry);
    else if (Object.prototype.hasOwnProperty.call(named, entry)) sources.push(named[entry]);
    else sources.push(await loadAnalyzerModule(entry, cwd, Object.keys(named)));
  }
  return sources;
}

/** One module's analyzer factory; the first analyzer it makes is checked now and handed out first. */
export async function loadAnalyzerModule(entry: string, cwd: string, otherNames: readonly string[] = []): Promise<() => Analyzer> {
  const exports = await importModule(entry, cwd, otherNames);
  const make = factoryOf(entry, exports);
  let first: Analyzer | undefined = checked(entry, make(), 'the analyzer it exports');
  return () => {
    const analyzer = first ?? checked(entry, make(), 'the analyzer it exports');
    first = undefined;
    return analyzer;
  };
}

async function importModule(entry: string, cwd: string, otherNames: readonly string[]): Promise<Record<string, unknown>> {
  // A require from the working directory resolves packages the way the user's project does.
  const requireFromCwd = createRequire(join(resolve(cwd), 'noop.js'));
  let resolved: string;
  try {
    resolved = requireFromCwd.resolve(isModulePath(entry) ? resolve(cwd, entry) : entry);
  } catch (err) {
    const what = isModulePath(entry) ? `no such file from ${resolve(cwd)}` : `no such package or built-in analyzer (built-ins: ${[...BUILT_IN_ANALYZERS, ...otherNames].join(', ')}; packages resolve from ${resolve(cwd)})`;
    throw new AnalyzerModuleError(entry, `cannot be loaded: ${what}`, { cause: err });
  }
  try {
    return toRecord(requireFromCwd(resolved));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM') throw new AnalyzerModuleError(entry, `failed to load: ${(err as Error).message}`, { cause: err });
  }
  // An ES module: Node 20's require cannot load it.
  try {
    return toRecord(await import(pathToFileURL(resolved).href));
  } catch (err) {
    throw new AnalyzerModuleError(entry, `failed to load: ${(err as Error).message}`, { cause: err });
  }
}

function toRecord(value: unknown): Record<string, unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') ? (value as Record<string, unknown>) : { default: value };
}

/** What makes the module's analyzers: `createAnalyzer`, else the default export (an analyzer, a
 *  class of one, or a factory); CommonJS `module.exports = analyzer` counts as a default export. */
function factoryOf(entry: string, exports: Record<string, unknown>): () => unknown {
  const named = exports[ANALYZER_FACTORY_EXPORT];
  if (typeof named === 'function') return () => named();
  // ESM's default, CommonJS transpiled from ESM (exports.default), or module.exports itself.
  const candidate = 'default' in exports ? exports.default : exports;
  const inner = candidate !== null && typeof candidate === 'object' && 'default' in candidate ? (candidate as { default: unknown }).default : candidate;
  // An object that looks meant as an analyzer is checked as one, so the error says what it lacks.
  if (isAnalyzer(inner) || (inner !== null && typeof inner === 'object' && ('name' in inner || 'analyze' in inner))) return () => inner;
  if (typeof inner === 'function') {
    const fn = inner as (new () => unknown) & (() => unknown);
    const isClass = /^class[\s{]/.test(Function.prototype.toString.call(fn)) || typeof (fn.prototype as { analyze?: unknown } | undefined)?.analyze === 'function';
    return isClass ? () => new fn() : () => fn();
  }
  throw new AnalyzerModuleError(entry, `exports no analyzer: ${EXPECTED} (it exports: ${describeExports(exports)})`);
}

function isAnalyzer(value: unknown): value is Analyzer {
  return value !== null && typeof value === 'object' && typeof (value as Analyzer).name === 'string' && typeof (value as Analyzer).analyze === 'function';
}

/** `made` when it is an analyzer; else an error that says what it lacks. */
function checked(entry: string, made: unknown, what: string): Analyzer {
  if (made instanceof Promise) throw new AnalyzerModuleError(entry, `exports no analyzer: its factory returned a Promise; ${EXPECTED} (load models lazily in analyze, or synchronously)`);
  if (made === null || typeof made !== 'object') throw new AnalyzerModuleError(entry, `exports no analyzer: ${what} is ${made === null ? 'null' : typeof made}; ${EXPECTED}`);
  const lacks = [typeof (made as Analyzer).name === 'string' && (made as Analyzer).name !== '' ? undefined : 'name (a non-empty string)', typeof (made as Analyzer).analyze === 'function' ? undefined : 'analyze(frame)'].filter(
    (l): l is string => l !== undefined,
  );
  if (lacks.length > 0) throw new AnalyzerModuleError(entry, `exports no analyzer: ${what} has no ${lacks.join(' and no ')}; ${EXPECTED}`);
  return made as Analyzer;
}

function describeExports(exports: Record<string, unknown>): string {
  const keys = Object.keys(exports);
  return keys.length === 0 ? 'nothing' : keys.map((k) => `${k} (${typeof exports[k]})`).join(', ');
}
