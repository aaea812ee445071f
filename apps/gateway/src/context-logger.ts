// The service logger as the libs' logger shapes take it: warn and log with the component's context.
import type { LoggerService } from '@nestjs/common';

export function contextLogger(logger: LoggerService, context: string): { warn(message: string): void; log(message: string): void } {
  return {
    warn: (message: string) => logger.warn(message, context),
    log: (message: string) => logger.log(message, context),
  };
}
