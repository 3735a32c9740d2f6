/**
 * Accounts and bounded input on a real gateway process, run as a post's PC would run it (under
 * `--max-old-space-size=96`): people and machines are created with the command line (passwords
 * from stdin, never the command line), act through HTTP, are disabled while the gateway runs;
 * oversized, deep, long, out-of-range and control-character bodies are refused without harming
 * the process (/healthz keeps answering within a second); `audit verify` finds an edited entry.
 */
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { freePort } from './helpers/free-port.js';
import { GatewayProcess } from './helpers/gateway-process.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';

const PASSWORD = 'a passphrase for ana';

/** Bodies larger than this are only announced (Content-Length) and begun, see postAnnounced. */
const SENT_WHOLE_UP_TO = 64 * 1024;

/**
 * POSTs `body`, or for a large one announces its whole length but sends only its first KiB and
 * waits: the gateway decides on the headers (401 without credentials, 413 over the limit) before
 * reading a byte of it. Sending all of it would test the kernel rather than the gateway: a server
 * that answers and closes with unread bytes queued gets a TCP reset, which may reach the client
 * before the answer does. `flood` below sends such bodies whole, for the process's sake.
 */
function postAnnounced(url: string, body: string, authorization?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(authorization ? { authorization } : {}) }, timeout: 10_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        request.destroy();
      });
    });
    request.on('error', reject);
    request.on('timeout', () => request.destroy(new Error('no answer in 10 s')));
    if (Buffer.byteLength(body) <= SENT_WHOLE_UP_TO) request.end(body);
    else request.write(body.slice(0, 1024));
  });
}

/** Sends `body` whole, whatever the server answers or however it hangs up. */
function flood(url: string, body: string, authorization?: string): Promise<void> {
  return new Promise((resolve) => {
    const request = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(authorization ? { authorization } : {}) }, timeout: 10_000 }, (response) => {
      response.resume();
      response.on('end', () => resolve());
    });
    request.on('error', () => resolve());
    request.on('timeout', () => request.destroy());
    request.end(body);
  });
}

async function cli(args: string[], stdin?: string): Promise<{ code: number | null; out: string; err: string }> {
  const run = new GatewayProcess(args, {}, stdin === undefined ? {} : { stdin });
  const { code } = await run.exited;
  return { code, out: run.stdout.join('\n'), err: run.stderrText.join('\n') };
}

describe('accounts, roles and bounded input on a running gateway', () => {
  const rig = systemRig();

  it('acts only for who the credentials say, refuses bad input whole, and keeps answering', async () => {
    const dir = tempDir();
    const configFile = join(dir, 'post.yaml');
    writeFileSync(
      configFile,
      `version: 1
post: { id: sec-post }
lanes: [{ id: lane-1 }]
uplink: { brokers: ['mqtt://127.0.0.1:${await freePort()}'] }
outbox: { path: outbox.db }
http: { port: 0 }
models: { risk: null, xrayScreening: null }
`,
    );
    const where = ['--config', configFile, '--data', dir];

    expect(await cli(['user', 'add', 'ana', '--role', 'supervisor', ...where], 'short\n')).toMatchObject({ code: 1, err: expect.stringContaining('GW_ERR_AUTH_ACCOUNT: a password needs at least 12 characters') as unknown });
    expect(await cli(['user', 'add', 'ana', '--role', 'supervisor', ...where])).toMatchObject({ code: 1, err: expect.stringContaining('no password given on standard input') as unknown });
    expect(await cli(['user', 'add', 'ana', '--role', 'supervisor', ...where], `${PASSWORD}\n`)).toMatchObject({ code: 0, out: 'user ana added (supervisor)' });
    expect(await cli(['user', 'add', 'bob', '--role', 'registration', ...where], `${PASSWORD}\n`)).toMatchObject({ code: 1, err: expect.stringContaining('not a role for people') as unknown });
    const client = await cli(['client', 'add', 'desk', '--role', 'registration', ...where]);
    expect(client.code).toBe(0);
    const token = /bearer token: +(\S+)/.exec(client.out)?.[1] as string;
    expect(token).toMatch(/^desk\.[A-Za-z0-9_-]{43}$/);
    expect((await cli(['user', 'list', ...where])).out).toMatch(/^ana +supervisor +enabled /);

    const gateway = new GatewayProcess(['run', ...where], {}, { nodeArgs: ['--max-old-space-size=96'] });
    rig.processes.push(gateway);
    const listening = await gateway.waitForLog((line) => line.msg.startsWith('operators listening'));
    const base = `http://127.0.0.1:${String(listening.port)}`;
    const healthy = async (): Promise<void> => {
      // The process is alive and its event loop free: /healthz within a second, whatever came before.
      const response = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
      expect(response.status).toBeLessThan(600);
    };
    const post = (path: string, body: string, authorization?: string) => postAnnounced(`${base}${path}`, body, authorization);
    const registration = (fields: Record<string, unknown>) => JSON.stringify({ direction: 'import', declaredWeightKg: 12_000, ...fields });
    const desk = `Bearer ${token}`;

    // Who: nobody unauthenticated, a wrong secret, a person's password as a machine secret.
    expect((await post('/api/lanes/lane-1/registrations', registration({ plate: 'GE123AB' }))).status).toBe(401);
    expect((await post('/api/lanes/lane-1/registrations', registration({ plate: 'GE123AB' }), 'Bearer desk.wrong-secret')).status).toBe(401);
    expect((await post('/api/lanes/lane-1/registrations', registration({ plate: 'GE123AB' }), `Basic ${Buffer.from(`ana:${PASSWORD}`).toString('base64')}`)).status).toBe(401);
    expect((await fetch(`${base}/api/lanes`)).status).toBe(401);

    // Bounded: a 10 MB field (refused before it is read, unauthenticated or not), a million-element
    // array, nesting 20,000 deep, 21 documents, an impossible weight, control characters, a plate
    // in a script with no Latin look-alike, an unknown key.
    const tenMegabytes = registration({ plate: 'GE123AB', vehicleType: 'x'.repeat(10 * 1024 * 1024) });
    for (const authorization of [undefined, desk]) {
      const answer = await post('/api/lanes/lane-1/registrations', tenMegabytes, authorization);
      expect(answer.status).toBe(authorization ? 413 : 401);
      await healthy();
      await flood(`${base}/api/lanes/lane-1/registrations`, tenMegabytes, authorization);
      await healthy();
    }
    const refusals: [string, string, number, RegExp][] = [
      ['a million elements', registration({ plate: 'GE123AB', documents: Array.from({ length: 1_000_000 }, () => 'D') }), 413, /GW_ERR_HTTP_TOO_LARGE/],
      ['20,000 levels deep', `${'['.repeat(20_000)}${']'.repeat(20_000)}`, 400, /GW_ERR_HTTP_BAD_REQUEST/],
      ['21 documents', registration({ plate: 'GE123AB', documents: Array.from({ length: 21 }, (_, i) => `SAD-${i}`) }), 400, /documents must NOT have more than 20 items/],
      ['200,001 kg', registration({ plate: 'GE123AB', declaredWeightKg: 200_001 }), 400, /declaredWeightKg/],
      ['a negative weight', registration({ plate: 'GE123AB', declaredWeightKg: -1 }), 400, /declaredWeightKg/],
      ['a control character', registration({ plate: 'GE12\u00003AB' }), 400, /plate must match pattern/],
      ['a right-to-left override in a document', registration({ plate: 'GE123AB', documents: ['SAD-\u202e7-BAS'] }), 400, /documents\/0 must match pattern/],
      ['a plate in another script', registration({ plate: '京A12345' }), 400, /plate: plate contains U\+4EAC/],
      ['an operator named in the body', registration({ plate: 'GE123AB', operatorId: 'someone-else' }), 400, /must NOT have additional properties/],
    ];
    for (const [what, body, status, message] of refusals) {
      const answer = await post('/api/lanes/lane-1/registrations', body, desk);
      expect({ what, status: answer.status }).toEqual({ what, status });
      expect(answer.body).toMatch(message);
      await healthy();
    }
    const accepted = await post('/api/lanes/lane-1/registrations', registration({ plate: 'ge-123-ab' }), desk);
    expect(accepted.status).toBe(201);
    expect(JSON.parse(accepted.body)).toMatchObject({ plate: 'GE123AB', state: 'registered' });

    // A person: logs in, reads; disabled from the command line while the gateway runs, the session ends.
    const login = await post('/api/session', JSON.stringify({ name: 'ana', password: PASSWORD, bearer: true }));
    expect(login.status).toBe(201);
    const session = `Bearer ${(JSON.parse(login.body) as { token: string }).token}`;
    expect((await fetch(`${base}/api/lanes`, { headers: { authorization: session } })).status).toBe(200);
    expect((await cli(['user', 'disable', 'ana', ...where])).code).toBe(0);
    expect((await fetch(`${base}/api/lanes`, { headers: { authorization: session } })).status).toBe(401);
    await healthy();

    // The audit log holds every change, chained; an edit is found.
    const verified = await cli(['audit', 'verify', ...where]);
    expect(verified).toMatchObject({ code: 0, out: expect.stringMatching(/^audit log ok: \d+ entries, chain intact/) as unknown });
    const listed = (await cli(['audit', 'list', ...where])).out;
    for (const action of ['user.add', 'client.add', 'login', 'crossing.arrival', 'user.disable']) expect(listed).toContain(` ${action}`);
    const db = new Database(join(dir, 'outbox.db'));
    db.prepare("UPDATE audit SET actor = 'somebody-else' WHERE action = 'login'").run();
    db.close();
    const broken = await cli(['audit', 'verify', ...where]);
    expect(broken.code).toBe(1);
    expect(broken.out).toMatch(/^entry \d+: content does not match its hash \(edited\)$/m);
    expect(broken.err).toContain('GW_ERR_AUDIT_BROKEN');
  });
});
