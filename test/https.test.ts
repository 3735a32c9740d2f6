/**
 * HTTPS on both listeners (`http.tls`, `devicePush.tls`, keys as `{file}` secrets): a client that
 * trusts the post's CA logs in over TLS and gets a `Secure` cookie; a device pushes over TLS; plain
 * HTTP to either port gets no answer from the application.
 */
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { postConfigSchema } from '../config/schema.js';
import { freePort } from './helpers/free-port.js';
import { hashPassword } from '../core/passwords.js';
import { makeTestPki } from './helpers/certificates.js';
import { systemRig } from './helpers/rig.js';
import { startTestGateway, tempDir } from './helpers/test-config.js';

function httpsCall(url: string, ca: Buffer, method: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...headers }, timeout: 5000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('HTTPS', () => {
  const rig = systemRig();

  it('serves the operators and the devices over TLS with the configured certificate', async () => {
    const pki = makeTestPki(tempDir());
    const tls = { cert: pki.serverCert, key: { file: pki.serverKey } };
    const config = postConfigSchema.parse({
      version: 1,
      post: { id: 'tls-post' },
      lanes: [{ id: 'lane-1', devices: [{ id: 'cam-1', driver: 'anpr-http-push', role: 'entry', connection: { path: '/anpr/cam-1' } }] }],
      uplink: { brokers: [`mqtt://127.0.0.1:${await freePort()}`] },
      http: { port: 0, tls },
      devicePush: { port: 0, tls },
    });
    const gateway = (rig.gateway = await startTestGateway(config, undefined, true));
    gateway.accounts.addAccount('ana', 'operator', await hashPassword('a passphrase for ana'));
    const ca = readFileSync(pki.ca);
    const base = `https://127.0.0.1:${gateway.httpAddress?.port}`;

    const login = await httpsCall(`${base}/api/session`, ca, 'POST', JSON.stringify({ name: 'ana', password: 'a passphrase for ana' }));
    expect(login.status).toBe(201);
    expect(String(login.headers['set-cookie'])).toMatch(/bg_session=[^;]+;.*Secure/);
    expect((await httpsCall(`${base}/healthz`, ca, 'GET')).status).toBe(200);

    const secret = gateway.accounts.addClient('cam-1', 'device', { deviceId: 'cam-1' });
    const push = await httpsCall(`https://127.0.0.1:${gateway.deviceAddress?.port}/anpr/cam-1`, ca, 'POST', '<not-a-push/>', { authorization: `Bearer cam-1.${secret}`, 'content-type': 'text/xml' });
    // Authenticated over TLS and handed to the driver, which has not started in this test.
    expect(push.status).toBe(503);

    // Plain HTTP to the TLS port is not answered by the application.
    const plain = await fetch(`http://127.0.0.1:${gateway.httpAddress?.port}/healthz`).then(
      (response) => response.status,
      () => 'refused',
    );
    expect(plain).not.toBe(200);
  });
});
