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

/**
 * The PEM of a listener's TLS key (http.tls.key, devicePush.tls.key). A string holding a PEM block
 * is the key itself (as it always was); any other string is the path of a PEM file, as
 * uplink.tls.key's is and docs/operations.md says of every `tls.key`: a path there was taken for
 * the key itself and stopped `run` with OpenSSL's "DECODER routines::unsupported" stack trace.
 * `{file}` is read, `{env}` holds the PEM.
 */
export function resolveListenerKey(ref: SecretRef, where: string, sources: SecretSources = defaultSources): string {
  if (typeof ref !== 'string' || ref.includes('-----BEGIN')) return resolveSecret(ref, where, sources);
  try {
    return sources.readFile(ref);
  } catch (error) {
    throw new GatewayError('GW_ERR_CONFIG_SECRET', `${where}: cannot read ${ref}`, { cause: error });
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

/**
 * `scheme://user:password@` (or `scheme://token@`) anywhere in a string; up to the last `@` of
 * the authority, as URL parsers read it, so a raw `@` in a password does not leave its tail.
 */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]+@/gi;
const URL_CREDENTIALS_ONE = new RegExp(URL_CREDENTIALS.source, 'i');

/**
 * `url` (or any text holding URLs) with the credentials of every URL replaced by `[redacted]`:
 * `mqtt://user:pass@host:1883` → `mqtt://[redacted]@host:1883`. The user name goes too: some
 * brokers take an access token as the user name.
 */
export function redactUrl(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1[redacted]@');
}

/** True when `text` holds a URL with credentials. */
export function hasUrlCredentials(text: string): boolean {
  return URL_CREDENTIALS_ONE.test(text);
}
