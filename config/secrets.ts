/**
 * Secrets (broker passwords, client keys, camera credentials) are named in the configuration by
 * environment variable or file, resolved only when a component needs them, and never logged.
 */
import { readFileSync } from 'node:fs';
import { GatewayError } from '../core/errors.js';
import type { SecretRef } from './schema.js';

export interface SecretSources {
  env: NodeJS.ProcessEnv;
  readFile: (path: string) => string;
}

const defaultSources: SecretSources = { env: process.env, readFile: (path) => readFileSync(path, 'utf8') };

/** Resolves a secret reference; `where` is its path in the config, for the error message. */
export function resolveSecret(ref: SecretRef, where: string, sources: SecretSources = defaultSources): string {
  if (typeof ref === 'string') return ref;
  if ('env' in ref) {
    const value = sources.env[ref.env];
    if (value === undefined || value === '') {
      throw new GatewayError('GW_ERR_CONFIG_SECRET', `${where}: environment variable ${ref.env} is not set`);
    }
    return value;
  }
  try {
    return sources.readFile(ref.file).trim();
  } catch (error) {
    throw new GatewayError('GW_ERR_CONFIG_SECRET', `${where}: cannot read secret file ${ref.file}`, { cause: error });
  }
}

/** Paths pino redacts in every log line, whatever component logs a config fragment. */
export const REDACTED_LOG_PATHS = [
  'password',
  '*.password',
  'config.uplink.password',
  'uplink.password',
  '*.key',
  'connection.password',
  '*.connection.password',
  'authorization',
  '*.authorization',
];
