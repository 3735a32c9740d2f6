/**
 * What `config check --secrets` reads beyond the file: every secret the configuration names
 * ({env: NAME}, {file: PATH}) and every TLS file, read as `run` reads them at start. Without it a
 * post whose check passed stopped on GW_ERR_CONFIG_SECRET a second after `run` had opened its
 * outbox and listeners. An option, not the default: the check is also run away from the post
 * (the repository's examples, a laptop), where those files and variables are not there. On the
 * post it must run as the service's user, with its environment and working directory, to see
 * what the service sees; deploy/install.sh runs it so.
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GatewayError, isGatewayError } from '../core/errors.js';
import type { PostConfig, SecretRef } from './schema.js';
import { resolveListenerKey, resolveSecret, type SecretSources } from './secrets.js';

/** One thing `run` reads at start: where the configuration names it, and the read itself. */
interface Reading {
  where: string;
  read: (sources: SecretSources) => unknown;
}

const defaultSources: SecretSources = { env: process.env, readFile: (path) => readFileSync(path, 'utf8') };

/** A file read as it is (a certificate, a CA, a key given by path). */
function fileReading(path: string, where: string): Reading {
  return {
    where,
    read: (sources) => {
      try {
        return sources.readFile(path);
      } catch (error) {
        throw new GatewayError('GW_ERR_CONFIG_SECRET', `${where}: cannot read ${path}`, { cause: error });
      }
    },
  };
}

function secretReading(ref: SecretRef, where: string): Reading {
  return { where, read: (sources) => resolveSecret(ref, where, sources) };
}

/** The TLS files of a listener (http.tls, devicePush.tls), the key read as gateway/http/servers.ts reads it. */
function listenerTls(tls: { cert: string; key: SecretRef } | undefined, where: string): Reading[] {
  if (tls === undefined) return [];
  return [fileReading(tls.cert, `${where}.tls.cert`), { where: `${where}.tls.key`, read: (sources) => resolveListenerKey(tls.key, `${where}.tls.key`, sources) }];
}

function uplinkReadings(uplink: PostConfig['uplink']): Reading[] {
  const readings: Reading[] = [];
  if (uplink.password !== undefined) readings.push(secretReading(uplink.password, 'uplink.password'));
  const tls = uplink.tls;
  if (tls?.ca !== undefined) readings.push(fileReading(tls.ca, 'uplink.tls.ca'));
  if (tls?.cert !== undefined) readings.push(fileReading(tls.cert, 'uplink.tls.cert'));
  // gateway/uplink/resolve-settings.ts: a path or {file} is read as a file, {env} holds the PEM.
  if (tls?.key !== undefined) readings.push(typeof tls.key === 'string' ? fileReading(tls.key, 'uplink.tls.key') : 'file' in tls.key ? fileReading(tls.key.file, 'uplink.tls.key') : secretReading(tls.key, 'uplink.tls.key'));
  return readings;
}

/** Every device's `connection.password`, whichever driver has one (today the ONVIF cameras). */
function deviceReadings(lanes: PostConfig['lanes']): Reading[] {
  return lanes.flatMap((lane, laneIndex) =>
    lane.devices.flatMap((device, deviceIndex) => {
      const connection = 'connection' in device ? (device.connection as { password?: SecretRef }) : {};
      return connection.password === undefined ? [] : [secretReading(connection.password, `lanes[${laneIndex}].devices[${deviceIndex}].connection.password`)];
    }),
  );
}

/**
 * The signing keys `run` reads at start (models.publicKeys, commands.publicKeys), each parsed as
 * edge-models/manifest.ts parses it. They were not read here: a missing one passed the check and
 * stopped `run` with GW_ERR_MODEL_SIGNATURE (exit 1, no path in the file) after it had opened its
 * outbox and listeners.
 */
function keyReadings(config: PostConfig): Reading[] {
  const keys = (paths: string[] | undefined, where: string): Reading[] =>
    (paths ?? []).map((path, index) => ({
      where: `${where}[${index}]`,
      read: (sources) => {
        const pem = fileReading(path, `${where}[${index}]`).read(sources) as string;
        try {
          return createPublicKey(pem);
        } catch (error) {
          throw new GatewayError('GW_ERR_CONFIG_SECRET', `${where}[${index}]: ${path} is no public key (PEM)`, { cause: error });
        }
      },
    }));
  return [...keys(config.models.publicKeys, 'models.publicKeys'), ...keys(config.commands.publicKeys, 'commands.publicKeys')];
}

/**
 * What `run` would read at start for `config`, in the order of the file. devicePush.tls is read
 * even when no device pushes (run starts that listener only for one): a file named there but
 * missing is worth knowing of before the first push camera is added.
 */
function readingsOf(config: PostConfig): Reading[] {
  return [...deviceReadings(config.lanes), ...uplinkReadings(config.uplink), ...listenerTls(config.http.tls, 'http'), ...listenerTls(config.devicePush.tls, 'devicePush'), ...keyReadings(config)];
}

/** The reason an operator acts on (missing file or permission), which resolveSecret's message leaves out. */
function withReason(error: GatewayError): string {
  const code = (error.cause as NodeJS.ErrnoException | undefined)?.code;
  return code === undefined ? error.message : `${error.message} (${code})`;
}

/**
 * Reads every secret and TLS file `config` names; returns how many. Throws one
 * GW_ERR_CONFIG_SECRET listing every one that failed, each by its path in the configuration.
 */
export function checkSecrets(config: PostConfig, sources: SecretSources = defaultSources): number {
  const readings = readingsOf(config);
  const problems: string[] = [];
  for (const reading of readings) {
    try {
      reading.read(sources);
    } catch (error) {
      if (!isGatewayError(error)) throw error;
      problems.push(withReason(error));
    }
  }
  if (problems.length === 1) throw new GatewayError('GW_ERR_CONFIG_SECRET', problems[0]);
  if (problems.length > 1) throw new GatewayError('GW_ERR_CONFIG_SECRET', `${problems.length} secrets or files could not be read:\n  ${problems.join('\n  ')}`);
  return readings.length;
}
