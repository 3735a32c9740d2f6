/**
 * The console's files through the operators' app: its page with the security headers and no
 * cache, hashed bundles cached for a year, nothing served from outside the console's folder, the
 * page again for the console's own paths, the API's unknown paths still closed to strangers, and a
 * clear 503 when the console is not built (also when it disappears while the gateway runs).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { AccountStore } from '../auth/account-store.js';
import { AuditLog } from '../auth/audit-log.js';
import { LoginThrottle } from '../../core/login-throttle.js';
import { SessionStore } from '../auth/sessions.js';
import { createLogger } from '../logger.js';
import { createMetrics } from '../metrics.js';
import { SqliteOutbox } from '../outbox/sqlite-outbox.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { CONSOLE_CSP } from './console-routes.js';
import { buildOperatorApp } from './servers.js';
import { hashPassword } from '../../core/passwords.js';

const open: { app: FastifyInstance; outbox: SqliteOutbox }[] = [];
afterEach(async () => {
  for (const { app, outbox } of open.splice(0)) {
    await app.close();
    outbox.close();
  }
});

async function operatorApp(consoleRoot: string, people: { name: string; role: string; password: string }[] = []): Promise<FastifyInstance> {
  const clock = new ManualClock();
  const logger = createLogger('silent');
  const outbox = SqliteOutbox.open({ path: join(tempDir(), 'outbox.db'), maxBytes: 16 * 1024 * 1024, maxBatch: 100, clock, logger });
  const accounts = new AccountStore(outbox.database, () => clock.now());
  for (const { name, role, password } of people) accounts.addAccount(name, role, await hashPassword(password));
  const app = await buildOperatorApp({
    logger,
    accounts,
    sessions: new SessionStore({ clock }),
    throttle: new LoginThrottle({ clock }),
    audit: new AuditLog(outbox.database, () => clock.now()),
    metrics: createMetrics(outbox, () => ({})),
    health: () => ({}) as never,
    laneDeps: () => null,
    reloadModels: () => null,
    recordAction: () => Promise.resolve(),
    clock,
    consoleRoot,
  });
  open.push({ app, outbox });
  return app;
}

function builtConsole(): string {
  const root = tempDir();
  mkdirSync(join(root, 'assets'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>lane console</title><script type="module" src="/assets/index-3f2a.js"></script>');
  writeFileSync(join(root, 'assets', 'index-3f2a.js'), 'console.log("lanes")');
  writeFileSync(join(root, 'assets', '.secret'), 'not served');
  return root;
}

describe('the console pages', () => {
  it('serves its page with a strict CSP and no cache, to anyone', async () => {
    const app = await operatorApp(builtConsole());
    const page = await app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('lane console');
    expect(page.headers['content-security-policy']).toBe(CONSOLE_CSP);
    // base-uri: an injected <base> cannot move the bundle's relative URLs; form-action: an
    // injected form cannot post off the gateway (neither falls back to default-src).
    expect(page.headers['content-security-policy']).toBe("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.headers['cache-control']).toBe('no-cache');
  });

  it('answers every /api/ request no-store and nosniff, refusals and answers alike', async () => {
    const password = 'supervisor passphrase';
    const app = await operatorApp(builtConsole(), [{ name: 'sam', role: 'supervisor', password }]);
    for (const url of ['/api/lanes', '/api/audit', '/api/nothing-here']) {
      const refused = await app.inject({ method: 'GET', url });
      expect([url, refused.statusCode, refused.headers['cache-control'], refused.headers['x-content-type-options']]).toEqual([url, expect.any(Number), 'no-store', 'nosniff']);
    }
    const login = await app.inject({ method: 'POST', url: '/api/session', payload: { name: 'sam', password, bearer: true } });
    const { token } = login.json<{ token: string }>();
    const audit = await app.inject({ method: 'GET', url: '/api/audit', headers: { authorization: `Bearer ${token}` } });
    expect(audit.statusCode).toBe(200);
    expect([audit.headers['cache-control'], audit.headers['x-content-type-options']]).toEqual(['no-store', 'nosniff']);
  });

  it('caches hashed bundles for a year, and never a refusal', async () => {
    const app = await operatorApp(builtConsole());
    const bundle = await app.inject({ method: 'GET', url: '/assets/index-3f2a.js' });
    expect(bundle.statusCode).toBe(200);
    expect(bundle.headers['content-type']).toMatch(/javascript/);
    expect(bundle.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    for (const [url, status] of [['/assets/.secret', 403], ['/assets/missing.js', 404]] as const) {
      const refused = await app.inject({ method: 'GET', url });
      expect(refused.statusCode, url).toBe(status);
      expect(refused.headers['cache-control'] ?? '', url).not.toMatch(/immutable/);
    }
  });

  it('serves nothing from outside its folder, however the path is written', async () => {
    const root = builtConsole();
    // A file in the folder above the console's, and one beside it: what a traversal would reach.
    const secret = `planted-${basename(root)}.txt`;
    writeFileSync(join(dirname(root), secret), 'SECRET-ABOVE');
    writeFileSync(join(root, 'beside.txt'), 'SECRET-BESIDE');
    const app = await operatorApp(root);
    const refused = [
      `/assets/..%2f..%2f${secret}`,
      `/assets/..%2F..%2F${secret}`,
      `/assets/%2e%2e%2f%2e%2e%2f${secret}`,
      `/assets/..%5c..%5c${secret}`,
      `/assets/%2e%2e%5c%2e%2e%5c${secret}`,
      `/assets/..%2f..%2f${basename(root)}%2f..%2f${secret}`,
      '/assets/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd',
      // Beside assets/ in the console's own folder: not a bundle either.
      '/assets/..%2fbeside.txt',
      '/assets/..%2findex.html',
      '/assets/.secret',
    ];
    for (const url of refused) {
      const answer = await app.inject({ method: 'GET', url });
      expect(answer.statusCode, url).toBe(403);
      expect(answer.json(), url).toMatchObject({ code: 'GW_ERR_HTTP_PATH_REFUSED' });
      expect(answer.headers['cache-control'] ?? '', url).not.toMatch(/immutable/);
    }
    // Not there, or a folder: not found.
    for (const url of ['/assets/missing.js', `/assets/${secret}`, '/assets/sub/index-3f2a.js', '/assets/']) {
      const answer = await app.inject({ method: 'GET', url });
      expect(answer.statusCode, url).toBe(404);
      expect(answer.json(), url).toMatchObject({ code: 'GW_ERR_HTTP_NOT_FOUND' });
    }
    // Paths the router normalises out of /assets/ are console paths: the page, never the file.
    for (const url of [`/assets/../../${secret}`, `/assets/%2e%2e/%2e%2e/${secret}`, `/assets/.%2e/.%2e/${secret}`, '/assets/../beside.txt']) {
      const outside = await app.inject({ method: 'GET', url });
      expect(outside.statusCode, url).toBe(200);
      expect(outside.body, url).toContain('lane console');
    }
    // A NUL byte, and a URL that does not decode: 400 in the gateway's own shape.
    for (const url of ['/assets/index-3f2a.js%00', '/assets/%E0%A4%A']) {
      const answer = await app.inject({ method: 'GET', url });
      expect(answer.statusCode, url).toBe(400);
      expect(answer.json(), url).toMatchObject({ code: 'GW_ERR_HTTP_BAD_REQUEST' });
    }
    // Whatever answered, no planted byte went out.
    for (const url of [...refused, `/assets/../../${secret}`, `/assets/.%2e/.%2e/${secret}`]) {
      const body = (await app.inject({ method: 'GET', url })).body;
      expect(body, url).not.toContain('SECRET-');
    }
  });

  it('answers the console\'s own paths with its page, but not unknown API paths', async () => {
    const app = await operatorApp(builtConsole());
    const deep = await app.inject({ method: 'GET', url: '/lanes/lane-1?tab=alarms' });
    expect(deep.statusCode).toBe(200);
    expect(deep.body).toContain('lane console');
    const api = await app.inject({ method: 'GET', url: '/api/nothing-here' });
    expect(api.statusCode).toBe(401);
    expect(api.json()).toMatchObject({ code: 'GW_ERR_AUTH_REQUIRED' });
  });

  it('answers 503 with a stable code when the console is not built, and the API still works', async () => {
    const app = await operatorApp(join(tempDir(), 'not-built'));
    for (const url of ['/', '/lanes/lane-1']) {
      const page = await app.inject({ method: 'GET', url });
      expect(page.statusCode, url).toBe(503);
      expect(page.json()).toMatchObject({ code: 'GW_ERR_CONSOLE_NOT_BUILT' });
    }
    expect((await app.inject({ method: 'GET', url: '/api/lanes' })).statusCode).toBe(401);
  });

  it('serves a console built while it runs, and answers 503 again once index.html is gone', async () => {
    const root = join(tempDir(), 'later');
    const app = await operatorApp(root);
    expect((await app.inject({ method: 'GET', url: '/' })).statusCode).toBe(503);
    // Built (npm run build in another terminal): the next request finds it.
    mkdirSync(root);
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>lane console</title>');
    expect((await app.inject({ method: 'GET', url: '/lanes/lane-1' })).body).toContain('lane console');
    // A rebuild empties the folder first: not a 404 "no route", the 503 that says why.
    rmSync(join(root, 'index.html'));
    for (const url of ['/', '/lanes/lane-1', '/']) {
      const page = await app.inject({ method: 'GET', url });
      expect(page.statusCode, url).toBe(503);
      expect(page.json()).toMatchObject({ code: 'GW_ERR_CONSOLE_NOT_BUILT' });
    }
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>lane console</title>');
    expect((await app.inject({ method: 'GET', url: '/' })).statusCode).toBe(200);
  });
});
