/**
 * The pino root logger. Components take `child({ module })` (devices `child({ deviceId })`), so
 * every line says where it came from; secrets are redacted whatever object carries them.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { REDACTED_LOG_PATHS } from '../config/secrets.js';

export type { Logger };

export function createLogger(level: LevelWithSilent = 'info', destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino(
    {
      name: 'border-gateway',
      level,
      redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
