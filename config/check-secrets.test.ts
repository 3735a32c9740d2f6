import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../core/errors.js';
import { checkSecrets } from './check-secrets.js';
import { postConfigSchema, secretSchema } from './schema.js';
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

  it('reads the model and command signing keys run reads at start, naming a missing or wrong one by its path', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const keyed = { ...config, models: { publicKeys: ['/etc/bg/model.pub.pem'] }, commands: { ...config.commands, publicKeys: ['/etc/bg/vmc.pub.pem', '/etc/bg/typo.pem'] } };
    let thrown: unknown;
    try {
      checkSecrets(keyed, sources({ ...ALL_FILES, '/etc/bg/model.pub.pem': pem, '/etc/bg/typo.pem': 'not a key' }, { MQTT_PASSWORD: 'pw' }));
    } catch (error) {
      thrown = error;
    }
    expect(isGatewayError(thrown) && thrown.code).toBe('GW_ERR_CONFIG_SECRET');
    expect((thrown as Error).message.split('\n')).toEqual([
      '2 secrets or files could not be read:',
      '  commands.publicKeys[0]: cannot read /etc/bg/vmc.pub.pem (ENOENT)',
      '  commands.publicKeys[1]: /etc/bg/typo.pem is no public key (PEM) (ERR_OSSL_UNSUPPORTED)',
    ]);
    expect(checkSecrets(keyed, sources({ ...ALL_FILES, '/etc/bg/model.pub.pem': pem, '/etc/bg/vmc.pub.pem': pem, '/etc/bg/typo.pem': pem }, { MQTT_PASSWORD: 'pw' }))).toBe(10);
  });

  it('says one problem as run says it', () => {
    expect(() => checkSecrets(config, sources(ALL_FILES))).toThrow(/^uplink\.password: environment variable MQTT_PASSWORD is not set$/);
  });
});

/** A step of a path through the configuration's schema: a key, an array's elements, or a device of one driver. */
type Step = { key: string } | { each: true } | { driver: string };

interface SchemaDef {
  type: string;
  shape?: Record<string, { _zod: { def: SchemaDef } }>;
  innerType?: { _zod: { def: SchemaDef } };
  element?: { _zod: { def: SchemaDef } };
  options?: { _zod: { def: SchemaDef } }[];
  in?: { _zod: { def: SchemaDef } };
  discriminator?: string;
}

/**
 * Every path at which the schema takes a secretSchema, found by walking zod's definitions, so a
 * secret added to the schema later is found without anyone listing it here.
 */
function secretPaths(schema: { _zod: { def: SchemaDef } }, path: Step[] = []): Step[][] {
  const def = schema._zod.def;
  // `.describe()` clones the union: a secret is a union of secretSchema's own options.
  const secretOptions = (secretSchema as unknown as { _zod: { def: SchemaDef } })._zod.def.options ?? [];
  if (def.type === 'union' && def.options?.length === secretOptions.length && def.options.every((option, index) => option === secretOptions[index])) return [path];
  switch (def.type) {
    case 'object':
      return Object.entries(def.shape ?? {}).flatMap(([key, value]) => secretPaths(value, [...path, { key }]));
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      return secretPaths(def.innerType as { _zod: { def: SchemaDef } }, path);
    case 'pipe':
      return secretPaths(def.in as { _zod: { def: SchemaDef } }, path);
    case 'array':
      return secretPaths(def.element as { _zod: { def: SchemaDef } }, [...path, { each: true }]);
    case 'union': {
      const options = def.options ?? [];
      if (def.discriminator === undefined) return options.flatMap((option) => secretPaths(option, path));
      return options.flatMap((option) => {
        const literal = (option._zod.def.shape?.[def.discriminator as string]?._zod.def as { values?: string[] } | undefined)?.values?.[0] as string;
        return secretPaths(option, [...path, { driver: literal }]);
      });
    }
    default:
      // A type this walk does not know could hold a secret it would miss: it must be taught it.
      if (LEAF_TYPES.has(def.type)) return [];
      throw new Error(`the secret walk does not know zod type "${def.type}" (at ${path.map((step) => ('key' in step ? step.key : '*')).join('.')}): teach it`);
  }
}

/** zod types that hold nothing inside them. */
const LEAF_TYPES = new Set(['string', 'number', 'int', 'boolean', 'bigint', 'literal', 'enum', 'date', 'null', 'undefined', 'nan', 'any', 'unknown', 'never', 'template_literal']);

/** The smallest device of each driver that has a secret; a driver that gains one needs a line here. */
const DEVICE_WITH_SECRET: Record<string, Record<string, unknown>> = {
  onvif: { id: 'cam', driver: 'onvif', connection: { url: 'http://10.0.0.5/onvif/device_service', username: 'gw', password: 'x' } },
};

/** A raw post with `secret` set at `path` (the objects on the way made as needed). */
function postWithSecretAt(path: Step[], secret: { env: string }): Record<string, unknown> {
  const raw: Record<string, unknown> = { version: 1, post: { id: 'p' }, lanes: [{ id: 'lane-1', devices: [] }], uplink: { brokers: ['mqtts://vmc:8883'] } };
  let at: unknown = raw;
  path.forEach((step, index) => {
    const last = index === path.length - 1;
    if ('key' in step) {
      const holder = at as Record<string, unknown>;
      if (last) holder[step.key] = secret;
      else holder[step.key] ??= 'each' in (path[index + 1] as Step) ? [] : step.key === 'tls' ? { cert: '/etc/bg/cert.pem' } : {};
      at = holder[step.key];
    } else if ('each' in step) {
      const list = at as unknown[];
      if (list.length === 0) list.push({});
      at = list[0];
    } else {
      // The element the step before made: a device of this driver instead.
      const device = DEVICE_WITH_SECRET[step.driver];
      if (!device) throw new Error(`driver ${step.driver} has a secret: add a minimal ${step.driver} device to DEVICE_WITH_SECRET`);
      Object.assign(at as Record<string, unknown>, structuredClone(device));
    }
  });
  return raw;
}

describe('config check --secrets, against the schema', () => {
  it('reads every secret the schema can hold, found by walking the schema rather than listed', () => {
    const paths = secretPaths(postConfigSchema as unknown as { _zod: { def: SchemaDef } });
    const names = paths.map((path) => path.map((step) => ('key' in step ? step.key : 'each' in step ? '[]' : `<${step.driver}>`)).join('.'));
    // What the walk finds today; a secret added to the schema is found too and checked below.
    expect(names).toEqual(expect.arrayContaining(['lanes.[].devices.[].<onvif>.connection.password', 'uplink.password', 'uplink.tls.key', 'http.tls.key', 'devicePush.tls.key']));
    for (const [index, path] of paths.entries()) {
      const variable = `GW_SECRET_DRIFT_${index}`;
      const config = postConfigSchema.parse(postWithSecretAt(path, { env: variable }));
      const files = sources({ '/etc/bg/cert.pem': 'cert' });
      expect(() => checkSecrets(config, files), names[index]).toThrow(`environment variable ${variable} is not set`);
    }
  });
});
