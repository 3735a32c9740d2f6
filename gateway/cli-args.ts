/**
 * Values of the gateway's command-line options, checked: a bad one is GW_ERR_CLI_USAGE (exit 64)
 * naming the option. The options themselves are declared per command form
 * (commands/command-specs.ts) and parsed by core/command-line.ts.
 */
import { brokerUrlSchema } from '../config/schema.js';
import { GatewayError } from '../core/errors.js';
import { LOG_LEVELS } from './commands/command-specs.js';

export type LogLevel = (typeof LOG_LEVELS)[number];

/** A non-negative number, or `fallback` when the option was not given. */
export function numberOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0) throw new GatewayError('GW_ERR_CLI_USAGE', `--${name} must be a non-negative number, got "${value}"`);
  return parsed;
}

export function logLevelOption(value: string | undefined, fallback: LogLevel): LogLevel {
  if (value === undefined) return fallback;
  if (!(LOG_LEVELS as readonly string[]).includes(value)) throw new GatewayError('GW_ERR_CLI_USAGE', `--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  return value as LogLevel;
}

/**
 * A broker URL given on the command line (`--mqtt URL`), checked as `config check` checks
 * `uplink.brokers` (config/schema.ts): `mqtt://` without a host had connected to localhost:1883.
 */
export function brokerUrlOption(value: string | undefined, name = 'mqtt'): string | undefined {
  if (value === undefined) return undefined;
  const parsed = brokerUrlSchema.safeParse(value);
  if (!parsed.success) throw new GatewayError('GW_ERR_CLI_USAGE', `--${name} "${value.slice(0, 200)}": ${parsed.error.issues[0]?.message ?? 'not a broker URL'}`);
  return parsed.data;
}
