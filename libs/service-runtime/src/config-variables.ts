// Schemas of the environment variables that hold numbers, shared by every part of the configuration.
import { z } from 'zod';

/** An environment variable holding a TCP port (0 picks a free one). */
export const portVariable = (defaultPort: number) => z.coerce.number().int().min(0).max(65535).default(defaultPort);

/** An environment variable holding a whole number within bounds. */
export const integerVariable = (min: number, max: number, defaultValue: number) =>
  z.coerce.number().int().min(min).max(max).default(defaultValue);
