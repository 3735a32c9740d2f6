/**
 * Broker credentials never reach a log line, and an insecure uplink says so at start: a password
 * over plain MQTT or WebSocket, a broker certificate that is not verified.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { postConfigSchema } from '../../config/schema.js';
import { hasUrlCredentials, redactUrl } from '../../config/secrets.js';
import { createLogger } from '../logger.js';
import { resolveUplinkSettings, uplinkSecurityWarnings } from './resolve-settings.js';

function settingsFor(uplink: Record<string, unknown>) {
  const config = postConfigSchema.parse({ version: 1, post: { id: 'p1' }, lanes: [{ id: 'lane-1' }], uplink });
  return resolveUplinkSettings(config, undefined, { env: { VMC_PASSWORD: 'env-s3cret' }, readFile: () => '' });
}

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

describe('redactUrl', () => {
  it('removes user and password from every URL in a text, keeps the rest', () => {
    expect(redactUrl('mqtt://vmc:s3cret@broker.example:1883')).toBe('mqtt://[redacted]@broker.example:1883');
    expect(redactUrl('wss://token-only@broker.example/mqtt')).toBe('wss://[redacted]@broker.example/mqtt');
    expect(redactUrl('to mqtt://a:b@h1:1883 then mqtts://c:d@h2:8883 failed')).toBe('to mqtt://[redacted]@h1:1883 then mqtts://[redacted]@h2:8883 failed');
    expect(redactUrl('mqtt://u:p@ss@host:1883')).toBe('mqtt://[redacted]@host:1883'); // a raw @ in the password
    expect(redactUrl('mqtt://broker.example:1883')).toBe('mqtt://broker.example:1883');
    expect(redactUrl('mail ops@example.com')).toBe('mail ops@example.com');
    expect(hasUrlCredentials('mqtt://h:1883')).toBe(false);
    expect(hasUrlCredentials('mqtt://u:p@h:1883')).toBe(true);
  });
});

describe('uplinkSecurityWarnings', () => {
  it('warns of a password over mqtt://, tcp:// and ws://, in the settings or in the URL', () => {
    const plain = settingsFor({ brokers: ['mqtt://a:1883', 'ws://b:80/mqtt', 'mqtts://c:8883'], username: 'vmc', password: { env: 'VMC_PASSWORD' } });
    expect(uplinkSecurityWarnings(plain).map((w) => w.details.broker)).toEqual(['mqtt://a:1883', 'ws://b:80/mqtt']);
    const inUrl = settingsFor({ brokers: ['tcp://vmc:url-s3cret@a:1883'] });
    const [warning] = uplinkSecurityWarnings(inUrl);
    expect(warning?.message).toContain('tcp://[redacted]@a:1883');
    expect(JSON.stringify(uplinkSecurityWarnings(inUrl))).not.toContain('url-s3cret');
  });

  it('says nothing for TLS, or without a password', () => {
    expect(uplinkSecurityWarnings(settingsFor({ brokers: ['mqtts://a:8883', 'wss://b/mqtt'], username: 'u', password: 'p' }))).toEqual([]);
    expect(uplinkSecurityWarnings(settingsFor({ brokers: ['mqtt://a:1883'], username: 'only-a-user' }))).toEqual([]);
  });

  it('warns of a plain broker beside uplink.tls: in a mixed list, and as --mqtt over a configuration with TLS', () => {
    const mixed = settingsFor({ brokers: ['mqtts://a:8883', 'mqtt://b:1883'], tls: {} });
    expect(uplinkSecurityWarnings(mixed)).toEqual([expect.objectContaining({ details: { broker: 'mqtt://b:1883', tlsUnused: true } })]);
    const config = postConfigSchema.parse({ version: 1, post: { id: 'p1' }, lanes: [{ id: 'lane-1' }], uplink: { brokers: ['mqtts://a:8883'], tls: {} } });
    const overridden = resolveUplinkSettings(config, ['mqtt://127.0.0.1:1883'], { env: {}, readFile: () => '' });
    expect(uplinkSecurityWarnings(overridden).map((w) => w.message)).toEqual([expect.stringMatching(/^uplink\.tls is set, but mqtt:\/\/127\.0\.0\.1:1883 is plain/)]);
  });

  it('warns when the broker certificate is not verified', () => {
    const warnings = uplinkSecurityWarnings(settingsFor({ brokers: ['mqtts://a:8883'], tls: { rejectUnauthorized: false } }));
    expect(warnings).toEqual([expect.objectContaining({ details: { rejectUnauthorized: false } })]);
  });
});

describe('logger', () => {
  it('redacts URL credentials in messages and top-level fields, and leaves other lines alone', () => {
    const { lines, stream } = capture();
    const logger = createLogger('info', stream);
    const fields = { broker: 'mqtt://vmc:s3cret@h:1883', brokers: ['mqtt://a:b-s3cret@h1', 'mqtt://h2'], port: 1883 };
    logger.child({ module: 'x' }).warn(fields, 'lost mqtt://vmc:s3cret@h:1883');
    logger.info({ broker: 'mqtt://h:1883' }, 'plain');
    expect(lines.join('\n')).not.toContain('s3cret');
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      msg: 'lost mqtt://[redacted]@h:1883',
      broker: 'mqtt://[redacted]@h:1883',
      brokers: ['mqtt://[redacted]@h1', 'mqtt://h2'],
      port: 1883,
      module: 'x',
    });
    expect(fields.broker).toBe('mqtt://vmc:s3cret@h:1883'); // the caller's object is not changed
    expect(JSON.parse(lines[1] as string)).toMatchObject({ msg: 'plain', broker: 'mqtt://h:1883' });
  });
});
