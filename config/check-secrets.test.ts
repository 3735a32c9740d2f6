import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../core/errors.js';
import { checkSecrets } from './check-secrets.js';
import { postConfigSchema } from './schema.js';
import type { SecretSources } from './secrets.js';

/** A post naming its secrets every way the schema allows: a camera password file, the uplink's by variable, TLS files. */
const config = postConfigSchema.parse({
  version: 1,
  post: { id: 'p' },
  lanes: [
    {
      id: 'lane-1',
      devices: [
        { id: 'scale', driver: 'sma', connection: { host: '127.0.0.1', port: 4001 } },
        { id: 'cam', driver: 'onvif', connection: { url: 'http://10.0.0.5/onvif/device_service', username: 'gw', password: { file: '/etc/bg/camera' } } },
      ],
    },
  ],
  uplink: { brokers: ['mqtts://vmc:8883'], username: 'post', password: { env: 'MQTT_PASSWORD' }, tls: { ca: '/etc/bg/ca.pem', cert: '/etc/bg/gw.pem', key: '/etc/bg/gw.key' } },
  http: { tls: { cert: '/etc/bg/https.pem', key: '-----BEGIN PRIVATE KEY-----inline' } },
});

/** Sources holding `files` and `env`; a file not there fails as a missing file does (ENOENT). */
function sources(files: Record<string, string>, env: Record<string, string> = {}): SecretSources & { read: string[] } {
  const read: string[] = [];
  return {
    env,
    read,
    readFile: (path) => {
      read.push(path);
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
      return text;
    },
  };
}

const ALL_FILES = { '/etc/bg/camera': 'pw\n', '/etc/bg/ca.pem': 'ca', '/etc/bg/gw.pem': 'cert', '/etc/bg/gw.key': 'key', '/etc/bg/https.pem': 'https' };

describe('config check --secrets', () => {
  it("reads every secret and TLS file as run does: an uplink key path is a file, a listener's string key is the PEM itself", () => {
    const all = sources(ALL_FILES, { MQTT_PASSWORD: 'secret' });
    // camera password, uplink password, uplink ca, cert, key, http cert, http key
    expect(checkSecrets(config, all)).toBe(7);
    expect(all.read).toEqual(['/etc/bg/camera', '/etc/bg/ca.pem', '/etc/bg/gw.pem', '/etc/bg/gw.key', '/etc/bg/https.pem']);
  });

  it('refuses with one GW_ERR_CONFIG_SECRET naming every secret that cannot be read, by its path in the file, with the reason', () => {
    const missing = { ...ALL_FILES } as Record<string, string>;
    delete missing['/etc/bg/camera'];
    delete missing['/etc/bg/gw.key'];
    let thrown: unknown;
    try {
      checkSecrets(config, sources(missing));
    } catch (error) {
      thrown = error;
    }
    expect(isGatewayError(thrown, 'GW_ERR_CONFIG_SECRET')).toBe(true);
    expect((thrown as Error).message.split('\n')).toEqual([
      '3 secrets or files could not be read:',
      '  lanes[0].devices[1].connection.password: cannot read secret file /etc/bg/camera (ENOENT)',
      '  uplink.password: environment variable MQTT_PASSWORD is not set',
      '  uplink.tls.key: cannot read /etc/bg/gw.key (ENOENT)',
    ]);
  });

  it('says one problem as run says it', () => {
    expect(() => checkSecrets(config, sources(ALL_FILES))).toThrow(/^uplink\.password: environment variable MQTT_PASSWORD is not set$/);
  });
});
