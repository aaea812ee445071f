// Declarative numeric settings for analyzers: one spec per setting (range, integer or not,
// default), validated all-or-nothing so a bad command changes nothing.
import { AnalyzerSettingsError } from './analyzer';

export interface NumericSetting {
  min: number;
  max: number;
  integer: boolean;
  default: number;
  /** One line for docs and error messages. */
  description: string;
}

export type SettingsSpec<K extends string> = Readonly<Record<K, NumericSetting>>;

export function defaultSettings<K extends string>(spec: SettingsSpec<K>): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const key of Object.keys(spec) as K[]) out[key] = spec[key].default;
  return out;
}

/**
 * Returns `current` with `changes` applied, or throws AnalyzerSettingsError naming the first bad
 * setting (unknown name, not a finite number, not an integer, out of range). `current` is never
 * modified, so a refused change leaves the analyzer as it was.
 */
export function applySettings<K extends string>(
  analyzer: string,
  spec: SettingsSpec<K>,
  current: Readonly<Record<K, number>>,
  changes: Record<string, unknown>,
): Record<K, number> {
  if (changes === null || typeof changes !== 'object' || Array.isArray(changes)) {
    throw new AnalyzerSettingsError(analyzer, '*', `settings must be an object of name → number, got ${describe(changes)}`);
  }
  const next: Record<K, number> = { ...current };
  for (const [key, value] of Object.entries(changes)) {
    if (!Object.prototype.hasOwnProperty.call(spec, key)) {
      throw new AnalyzerSettingsError(analyzer, key, `unknown setting (known: ${Object.keys(spec).join(', ')})`);
    }
    const s = spec[key as K];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new AnalyzerSettingsError(analyzer, key, `must be a finite number, got ${describe(value)}`);
    }
    if (s.integer && !Number.isInteger(value)) {
      throw new AnalyzerSettingsError(analyzer, key, `must be an integer, got ${value}`);
    }
    if (value < s.min || value > s.max) {
      throw new AnalyzerSettingsError(analyzer, key, `must be between ${s.min} and ${s.max}, got ${value}`);
    }
    next[key as K] = value;
  }
  return next;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return Array.isArray(value) ? 'an array' : typeof value;
}
