// Structured logs: one JSON object per line for machines (fields at the top level), and readable
// `message key=value` lines on a terminal. Log calls pass `{ message, ...fields }`. Secrets print as
// their description (Secret.toJSON) and binary values as their size, never as bytes.
import { ConsoleLogger, LogLevel as NestLogLevel } from '@nestjs/common';
import { LogFormat, LogLevel } from './config';

const NEST_LEVELS: Record<LogLevel, NestLogLevel[]> = {
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
  info: ['fatal', 'error', 'warn', 'log'],
  warn: ['fatal', 'error', 'warn'],
  error: ['fatal', 'error'],
};

type JsonLogOptions = Parameters<ConsoleLogger['getJsonLogObject']>[1];

function isRecordWithMessage(value: unknown): value is { message: unknown } & Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'message' in value;
}

/** What JSON.stringify makes of a Buffer (its toJSON runs before any replacer). */
function isSerializedBuffer(value: unknown): value is { type: 'Buffer'; data: unknown[] } {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data);
}

/** A JSON replacer that writes binary values as their size: bytes in a log are noise at best. */
function binaryAsSize(_key: string, value: unknown): unknown {
  if (isSerializedBuffer(value)) return `<${value.data.length} bytes>`;
  if (ArrayBuffer.isView(value)) return `<${value.byteLength} bytes>`;
  return value;
}

/** `value` as it reads in a `key=value` pair. */
function formatField(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value, binaryAsSize) ?? String(value);
}

/** Nest's console logger with framewire's structured fields. */
export class ServiceLogger extends ConsoleLogger {
  constructor(
    private readonly serviceName: string,
    level: LogLevel,
    format: LogFormat,
  ) {
    super(serviceName, {
      logLevels: NEST_LEVELS[level],
      json: format === 'json',
      colors: format === 'text' && process.stdout.isTTY === true,
      prefix: serviceName,
      timestamp: false,
    });
  }

  protected override stringifyReplacer(key: string, value: unknown): unknown {
    return super.stringifyReplacer(key, binaryAsSize(key, value));
  }

  protected override getJsonLogObject(message: unknown, options: JsonLogOptions) {
    const base = super.getJsonLogObject(message, options);
    if (!isRecordWithMessage(message)) return { ...base, service: this.serviceName };
    return { ...message, ...base, service: this.serviceName, message: message.message };
  }

  protected override stringifyMessage(message: unknown, logLevel: NestLogLevel): string {
    if (!isRecordWithMessage(message)) return super.stringifyMessage(message, logLevel);
    const fields = Object.entries(message)
      .filter(([key]) => key !== 'message')
      .map(([key, value]) => `${key}=${formatField(value)}`);
    return super.stringifyMessage([String(message.message), ...fields].join(' '), logLevel);
  }
}

/** The logger of one service; pass it to Nest and use it (with a context) everywhere. */
export function createServiceLogger(serviceName: string, level: LogLevel, format: LogFormat): ServiceLogger {
  return new ServiceLogger(serviceName, level, format);
}
