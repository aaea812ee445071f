// Structured logs: one JSON object per line for machines, Nest's readable lines on a terminal.
import { ConsoleLogger, LogLevel as NestLogLevel } from '@nestjs/common';
import { LogFormat, LogLevel } from './config';

const NEST_LEVELS: Record<LogLevel, NestLogLevel[]> = {
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
  info: ['fatal', 'error', 'warn', 'log'],
  warn: ['fatal', 'error', 'warn'],
  error: ['fatal', 'error'],
};

/** The logger of one service; pass it to Nest and use it (with a context) everywhere. */
export function createServiceLogger(serviceName: string, level: LogLevel, format: LogFormat): ConsoleLogger {
  return new ConsoleLogger(serviceName, {
    logLevels: NEST_LEVELS[level],
    json: format === 'json',
    colors: format === 'text' && process.stdout.isTTY === true,
    prefix: 'framewire',
    timestamp: format === 'text',
  });
}
