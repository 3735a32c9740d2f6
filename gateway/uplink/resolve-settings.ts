/** Turns the `uplink` section of a post's config into settings: secrets and TLS files resolved. */
import { readFileSync } from 'node:fs';
import type { PostConfig } from '../../config/schema.js';
import { redactUrl, resolveSecret, type SecretSources } from '../../config/secrets.js';
import { GatewayError } from '../../core/errors.js';
import type { UplinkSettings } from './mqtt-uplink.js';
import { topicRoot } from './topics.js';

export function resolveUplinkSettings(config: PostConfig, overrideBrokers?: string[], sources?: SecretSources): UplinkSettings {
  const uplink = config.uplink;
  const settings: UplinkSettings = {
    brokers: overrideBrokers ?? uplink.brokers,
    root: topicRoot(uplink.topicRoot, config.post.id),
    clientId: uplink.clientId ?? `border-gateway-${config.post.id}`,
    protocolVersion: uplink.protocolVersion,
    keepaliveSec: uplink.keepaliveSec,
    inflightWindow: uplink.inflightWindow,
    publishTimeoutMs: uplink.publishTimeoutMs,
    refusedRetryMs: uplink.refusedRetryMs,
    poisonAfterDrops: uplink.poisonAfterDrops,
    keepUnrouted: uplink.keepUnrouted,
    maxHeldEvents: uplink.maxHeldEvents,
    reconnect: uplink.reconnect,
    // A command is the largest thing the broker sends the post; its topic and properties fit in 64 KiB.
    maxIncomingBytes: config.commands.maxBytes + 64 * 1024,
  };
  if (uplink.username !== undefined) settings.username = uplink.username;
  if (uplink.password !== undefined) settings.password = resolveSecret(uplink.password, 'uplink.password', sources);
  if (uplink.tls) {
    const tls = uplink.tls;
    settings.tls = { rejectUnauthorized: tls.rejectUnauthorized };
    if (tls.ca) settings.tls.ca = readPem(tls.ca, 'uplink.tls.ca');
    if (tls.cert) settings.tls.cert = readPem(tls.cert, 'uplink.tls.cert');
    if (tls.key) {
      // A key given as a path or {file} is read from that file; {env} holds the PEM itself.
      if (typeof tls.key === 'string') settings.tls.key = readPem(tls.key, 'uplink.tls.key');
      else if ('file' in tls.key) settings.tls.key = readPem(tls.key.file, 'uplink.tls.key');
      else settings.tls.key = Buffer.from(resolveSecret(tls.key, 'uplink.tls.key', sources));
    }
  }
  return settings;
}

function readPem(file: string, where: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new GatewayError('GW_ERR_CONFIG_SECRET', `${where}: cannot read ${file}`, { cause: error });
  }
}

export interface UplinkSecurityWarning {
  message: string;
  details: Record<string, unknown>;
}

/** Schemes MQTT.js connects to without TLS. */
const PLAIN_SCHEMES = new Set(['mqtt:', 'tcp:', 'ws:']);

/**
 * What the uplink logs as GW_ERR_UPLINK_INSECURE at start: a password (in the settings or in a
 * broker URL) sent to a broker without TLS, a plain broker beside `uplink.tls` (a mixed list, or
 * `--mqtt` over a configuration with TLS: the file's check cannot see those), and a broker
 * certificate that is not verified.
 */
export function uplinkSecurityWarnings(settings: UplinkSettings): UplinkSecurityWarning[] {
  const warnings: UplinkSecurityWarning[] = [];
  for (const broker of settings.brokers) {
    let url: URL;
    try {
      url = new URL(broker);
    } catch {
      continue; // the connection attempt reports it
    }
    if (!PLAIN_SCHEMES.has(url.protocol)) continue;
    if (settings.tls) {
      warnings.push({
        message: `uplink.tls is set, but ${redactUrl(broker)} is plain: its CA, client certificate and key are not used there, the link is not encrypted and the broker not verified; name it mqtts:// or wss://`,
        details: { broker: redactUrl(broker), tlsUnused: true },
      });
    }
    if (settings.password === undefined && url.password === '') continue;
    warnings.push({
      message: `a password is sent to ${redactUrl(broker)} without TLS: anyone on the path can read it; use mqtts:// or wss://`,
      details: { broker: redactUrl(broker) },
    });
  }
  if (settings.tls && !settings.tls.rejectUnauthorized) {
    warnings.push({
      message: "uplink.tls.rejectUnauthorized is false: the broker's certificate is not verified, so any host can pose as the broker",
      details: { rejectUnauthorized: false },
    });
  }
  return warnings;
}
