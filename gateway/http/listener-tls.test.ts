/**
 * A listener's TLS key as docs/operations.md gives it: a path (a plain string), `{file}`, or the
 * PEM itself. A path was taken for the key itself and `run` stopped with OpenSSL's stack trace
 * while `config check --secrets` passed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { checkSecrets } from '../../config/check-secrets.js';
import { postConfigSchema } from '../../config/schema.js';
import { makeTestPki } from '../../test/helpers/certificates.js';
import { tempDir } from '../../test/helpers/test-config.js';
import type { AccountStore } from '../auth/account-store.js';
import { createLogger } from '../logger.js';
import { buildDeviceApp, type HttpsFiles } from './servers.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

async function deviceApp(https: HttpsFiles): Promise<FastifyInstance> {
  const app = await buildDeviceApp({ logger: createLogger('silent'), https, accounts: {} as AccountStore, routes: [], handler: () => undefined, maxConcurrentPushes: 1 });
  apps.push(app);
  return app;
}

describe('a listener TLS key', () => {
  const pki = makeTestPki(tempDir());

  it('given as a path (a plain string) is read from that file, as the docs say and uplink.tls.key does', async () => {
    await expect(deviceApp({ cert: pki.serverCert, key: pki.serverKey })).resolves.toBeDefined();
    const config = postConfigSchema.parse({ version: 1, post: { id: 'p' }, lanes: [{ id: 'lane-1' }], uplink: { brokers: ['mqtts://vmc:8883'] }, http: { tls: { cert: pki.serverCert, key: pki.serverKey } } });
    expect(checkSecrets(config)).toBe(2);
  });

  it('given as the PEM itself, or as {file}, still works', async () => {
    await expect(deviceApp({ cert: pki.serverCert, key: readFileSync(pki.serverKey, 'utf8') })).resolves.toBeDefined();
    await expect(deviceApp({ cert: pki.serverCert, key: { file: pki.serverKey } })).resolves.toBeDefined();
  });

  it('that is no key is GW_ERR_CONFIG_SECRET naming its place in the configuration, not a stack trace from OpenSSL', async () => {
    const notAKey = join(pki.dir, 'not-a-key.pem');
    writeFileSync(notAKey, 'hello\n');
    await expect(deviceApp({ cert: pki.serverCert, key: { file: notAKey } })).rejects.toMatchObject({ code: 'GW_ERR_CONFIG_SECRET', message: expect.stringMatching(/^devicePush\.tls: /) as unknown });
    const missing = join(pki.dir, 'missing.key');
    await expect(deviceApp({ cert: pki.serverCert, key: missing })).rejects.toMatchObject({ code: 'GW_ERR_CONFIG_SECRET', message: expect.stringContaining(`devicePush.tls.key: cannot read ${missing}`) as unknown });
  });
});
