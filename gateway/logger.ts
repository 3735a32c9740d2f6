/**
 * The pino root logger. Components take `child({ module })` (devices `child({ deviceId })`), so
 * every line says where it came from; secrets are redacted whatever object carries them.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { hasUrlCredentials, REDACTED_LOG_PATHS, redactUrl } from '../config/secrets.js';

export type { Logger };

export function createLogger(level: LevelWithSilent = 'info', destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino(
    {
      name: 'border-gateway',
      level,
      redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: {
        // Components log broker URLs already redacted (redactUrl); this is the net for a URL with
        // credentials that reaches a log line another way: in the message or a top-level field.
        // Only enabled levels run it, and a line without such a URL is passed on untouched.
        logMethod(args, method) {
          method.apply(this, args.map(scrubArgument) as Parameters<typeof method>);
        },
      },
    },
    destination,
  );
}

function scrubArgument(argument: unknown): unknown {
  if (typeof argument === 'string') return hasUrlCredentials(argument) ? redactUrl(argument) : argument;
  if (argument === null || typeof argument !== 'object' || argument instanceof Error || Array.isArray(argument)) return argument;
  let copy: Record<string, unknown> | null = null;
  for (const [key, value] of Object.entries(argument)) {
    const scrubbed = scrubValue(value);
    if (scrubbed === value) continue;
    copy ??= { ...(argument as Record<string, unknown>) };
    copy[key] = scrubbed;
  }
  return copy ?? argument;
}

function scrubValue(value: unknown): unknown {
  if (typeof value === 'string') return hasUrlCredentials(value) ? redactUrl(value) : value;
  if (Array.isArray(value) && value.some((item) => typeof item === 'string' && hasUrlCredentials(item))) {
    return value.map((item: unknown) => (typeof item === 'string' ? redactUrl(item) : item));
  }
  return value;
}
