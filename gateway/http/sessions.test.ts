/**
 * People's sessions through the operators' app, on a clock the test drives: login and its
 * throttle, the cookie's flags, CSRF on state-changing requests, idle and absolute expiry, logout,
 * and an account disabled or its password changed while its session is open. No default account.
 */
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { hashPassword } from '../../core/passwords.js';
import type { Gateway } from '../daemon.js';
import { startOneLanePost, type OneLanePost } from '../../test/helpers/one-lane-post.js';

const MINUTE = 60_000;
const PASSWORD = 'correct horse battery staple';

let post: OneLanePost;
let gateway: Gateway;
let clock: ManualClock;

beforeEach(async () => {
  clock = new ManualClock();
  post = await startOneLanePost({ clock, workflow: false, extraYaml: 'http: { sessionIdleMin: 30, sessionMaxHours: 12 }' });
  gateway = post.gateway;
});

afterEach(() => post.stop());

const app = () => {
  if (!gateway.operatorApp) throw new Error('no operator app');
  return gateway.operatorApp;
};

const login = (name: string, password: string, bearer = false) => app().inject({ method: 'POST', url: '/api/session', payload: { name, password, ...(bearer ? { bearer } : {}) }, remoteAddress: '10.1.1.7' });

function cookieOf(response: Awaited<ReturnType<typeof login>>): string {
  const cookie = response.cookies.find((c) => c.name === 'bg_session');
  if (!cookie) throw new Error('no session cookie');
  return `bg_session=${cookie.value}`;
}

describe('sessions', () => {
  it('has no account to log in with until one is made: no default password', async () => {
    for (const [name, password] of [['admin', 'admin'], ['admin', ''], ['root', 'root'], ['operator', 'operator']]) {
      expect((await login(name as string, password as string)).statusCode).toBe(password === '' ? 400 : 401);
    }
    expect(gateway.accounts.accounts()).toEqual([]);
  });

  it('logs in with a cookie that scripts cannot read and other sites cannot send, and records it', async () => {
    gateway.accounts.addAccount('ana', 'operator', await hashPassword(PASSWORD));
    expect((await login('ana', 'wrong password!')).statusCode).toBe(401);
    const response = await login('ana', PASSWORD);
    expect(response.statusCode).toBe(201);
    const cookie = response.cookies.find((c) => c.name === 'bg_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(response.json()).toMatchObject({ account: 'ana', role: 'operator', idleTimeoutSec: 1800, maxAgeSec: 43_200 });
    expect(response.json<{ token?: string }>().token).toBeUndefined();
    const lanes = await app().inject({ method: 'GET', url: '/api/lanes', headers: { cookie: cookieOf(response) } });
    expect(lanes.statusCode).toBe(503); // authenticated; the lanes are simply not running in this test
    expect(gateway.audit.search().map((e) => `${e.actor} ${e.action}`)).toEqual(['ana login', 'ana login.failed']);
  });

  it('answers 503 GW_ERR_OUTBOX_LOCKED with Retry-After, opening no session, while another connection holds the write lock', async () => {
    gateway.accounts.addAccount('ana', 'operator', await hashPassword(PASSWORD));
    const first = await login('ana', PASSWORD);
    expect(first.statusCode).toBe(201);
    // An sqlite3 shell left inside a transaction: a real second connection holding the write lock.
    const shell = new Database(gateway.outbox.database.name);
    shell.exec('BEGIN IMMEDIATE');
    try {
      const refused = await login('ana', PASSWORD);
      expect(refused.statusCode).toBe(503);
      expect(refused.json()).toMatchObject({ code: 'GW_ERR_OUTBOX_LOCKED' });
      expect(refused.headers['retry-after']).toBe('2');
      expect(refused.cookies.find((c) => c.name === 'bg_session')).toBeUndefined();
      // A logout refused the same way leaves its session working: it can be repeated.
      const csrf = first.json<{ csrfToken: string }>().csrfToken;
      const logout = await app().inject({ method: 'DELETE', url: '/api/session', headers: { cookie: cookieOf(first), 'x-csrf-token': csrf } });
      expect(logout.statusCode).toBe(503);
      expect((await app().inject({ method: 'GET', url: '/api/session', headers: { cookie: cookieOf(first) } })).statusCode).toBe(200);
      // The loop was never held: other requests are served meanwhile.
      expect((await app().inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      shell.exec('COMMIT');
      shell.close();
    }
    expect((await login('ana', PASSWORD)).statusCode).toBe(201);
    expect(gateway.audit.search().map((e) => e.action)).toEqual(['login', 'login']);
  });

  it('refuses a state-changing request made with the cookie but without the CSRF token', async () => {
    gateway.accounts.addAccount('ana', 'operator', await hashPassword(PASSWORD));
    const response = await login('ana', PASSWORD);
    const cookie = cookieOf(response);
    const url = '/api/lanes/lane-1/crossings/c-1/plate';
    const payload = { plate: 'AB123CD', reason: 'documents' };
    const without = await app().inject({ method: 'POST', url, headers: { cookie }, payload });
    expect(without.statusCode).toBe(403);
    expect(without.json<{ code: string }>().code).toBe('GW_ERR_AUTH_CSRF');
    const wrong = await app().inject({ method: 'POST', url, headers: { cookie, 'x-csrf-token': 'guess' }, payload });
    expect(wrong.json<{ code: string }>().code).toBe('GW_ERR_AUTH_CSRF');
    const right = await app().inject({ method: 'POST', url, headers: { cookie, 'x-csrf-token': response.json<{ csrfToken: string }>().csrfToken }, payload });
    expect(right.statusCode).toBe(503); // past authentication and CSRF
  });

  it('ends a session after 30 idle minutes, and after 12 hours however active', async () => {
    gateway.accounts.addAccount('ana', 'operator', await hashPassword(PASSWORD));
    const token = (await login('ana', PASSWORD, true)).json<{ token: string }>().token;
    const whoami = () => app().inject({ method: 'GET', url: '/api/session', headers: { authorization: `Bearer ${token}` } });
    clock.advance(29 * MINUTE);
    expect((await whoami()).statusCode).toBe(200);
    // Active every 29 minutes, until the absolute limit.
    for (let elapsed = 29 * MINUTE; elapsed + 29 * MINUTE <= 12 * 60 * MINUTE; elapsed += 29 * MINUTE) {
      clock.advance(29 * MINUTE);
      expect((await whoami()).statusCode).toBe(200);
    }
    clock.advance(29 * MINUTE);
    expect((await whoami()).statusCode).toBe(401);

    const idle = (await login('ana', PASSWORD, true)).json<{ token: string }>().token;
    clock.advance(30 * MINUTE + 1);
    expect((await app().inject({ method: 'GET', url: '/api/session', headers: { authorization: `Bearer ${idle}` } })).statusCode).toBe(401);
  });

  it('logs out: the token is worthless afterwards', async () => {
    gateway.accounts.addAccount('ana', 'operator', await hashPassword(PASSWORD));
    const token = (await login('ana', PASSWORD, true)).json<{ token: string }>().token;
    const headers = { authorization: `Bearer ${token}` };
    expect((await app().inject({ method: 'DELETE', url: '/api/session', headers })).statusCode).toBe(204);
    expect((await app().inject({ method: 'GET', url: '/api/session', headers })).statusCode).toBe(401);
  });

  it('throttles guessing: after 5 failures even the right password waits, then works', async () => {
    gateway.accounts.addAccount('ana', 'operator', await hashPassword(PASSWORD));
    for (let i = 0; i < 5; i += 1) expect((await login('ana', `guess number ${i}`)).statusCode).toBe(401);
    const locked = await login('ana', PASSWORD);
    expect(locked.statusCode).toBe(429);
    expect(locked.json<{ code: string }>().code).toBe('GW_ERR_AUTH_THROTTLED');
    expect(Number(locked.headers['retry-after'])).toBe(30);
    clock.advance(30_000);
    expect((await login('ana', PASSWORD)).statusCode).toBe(201);
  });

  it('ends the sessions of an account disabled or given a new password, at their next request', async () => {
    gateway.accounts.addAccount('ana', 'supervisor', await hashPassword(PASSWORD));
    const first = (await login('ana', PASSWORD, true)).json<{ token: string }>().token;
    const whoami = (token: string) => app().inject({ method: 'GET', url: '/api/session', headers: { authorization: `Bearer ${token}` } });
    gateway.accounts.setAccountDisabled('ana', true);
    expect((await whoami(first)).statusCode).toBe(401);
    expect((await login('ana', PASSWORD)).statusCode).toBe(401);
    gateway.accounts.setAccountDisabled('ana', false);
    const second = (await login('ana', PASSWORD, true)).json<{ token: string }>().token;
    expect((await whoami(second)).statusCode).toBe(200);
  });

  it('ends a session whose password was changed elsewhere (the command line), or that was disabled and enabled meanwhile', async () => {
    gateway.accounts.addAccount('ana', 'supervisor', await hashPassword(PASSWORD));
    const whoami = (token: string) => app().inject({ method: 'GET', url: '/api/session', headers: { authorization: `Bearer ${token}` } });
    const first = (await login('ana', PASSWORD, true)).json<{ token: string }>().token;
    // What `border-gateway user passwd` does, from another process: no session of it is reachable.
    gateway.accounts.setPassword('ana', await hashPassword('another passphrase'));
    expect((await whoami(first)).statusCode).toBe(401);
    const second = (await login('ana', 'another passphrase', true)).json<{ token: string }>().token;
    gateway.accounts.setAccountDisabled('ana', true);
    gateway.accounts.setAccountDisabled('ana', false);
    expect((await whoami(second)).statusCode).toBe(401);
  });

  it('counts guesses sent all at once like guesses sent one by one', async () => {
    gateway.accounts.addAccount('ana', 'operator', await hashPassword(PASSWORD));
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => login('ana', `guess number ${i}`)));
    const statuses = answers.map((a) => a.statusCode).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(25);
    // One audit entry per failure until the lock, one for the lock: guessing cannot fill the disk.
    expect(gateway.audit.search({ limit: 500 }).map((e) => e.action).sort()).toEqual(['login.failed', 'login.failed', 'login.failed', 'login.failed', 'login.locked']);
  });

  it('lets one account hold five sessions, the oldest going first, without ending anyone else\'s', async () => {
    gateway.accounts.addAccount('ana', 'operator', await hashPassword(PASSWORD));
    gateway.accounts.addAccount('bo', 'supervisor', await hashPassword(PASSWORD));
    const whoami = (token: string) => app().inject({ method: 'GET', url: '/api/session', headers: { authorization: `Bearer ${token}` } });
    const bo = (await login('bo', PASSWORD, true)).json<{ token: string }>().token;
    const ana: string[] = [];
    for (let i = 0; i < 6; i += 1) ana.push((await login('ana', PASSWORD, true)).json<{ token: string }>().token);
    expect((await whoami(ana[0] as string)).statusCode).toBe(401);
    for (const token of ana.slice(1)) expect((await whoami(token)).statusCode).toBe(200);
    expect((await whoami(bo)).statusCode).toBe(200);
  });

  it('makes an account whose password an admin chose do nothing until its owner sets their own', async () => {
    const admin = gateway.accounts.addAccount('root-admin', 'admin', await hashPassword(PASSWORD));
    const adminToken = gateway.sessions.create(admin).token;
    const made = await app().inject({ method: 'POST', url: '/api/users', headers: { authorization: `Bearer ${adminToken}` }, payload: { name: 'cem', role: 'supervisor', password: 'chosen by the admin' } });
    expect(made.statusCode).toBe(201);
    const token = (await login('cem', 'chosen by the admin', true)).json<{ token: string; mustChangePassword: boolean }>().token;
    const lanes = await app().inject({ method: 'GET', url: '/api/lanes', headers: { authorization: `Bearer ${token}` } });
    expect(lanes.statusCode).toBe(403);
    expect(lanes.json<{ message: string }>().message).toMatch(/must set a password of their own/);
    const changed = await app().inject({ method: 'POST', url: '/api/session/password', headers: { authorization: `Bearer ${token}` }, payload: { current: 'chosen by the admin', password: 'only cem knows this one' } });
    expect(changed.statusCode).toBe(200);
    const renewed = changed.json<{ token: string; mustChangePassword: boolean }>();
    expect(renewed.mustChangePassword).toBe(false);
    expect((await app().inject({ method: 'GET', url: '/api/lanes', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(401);
    expect((await app().inject({ method: 'GET', url: '/api/lanes', headers: { authorization: `Bearer ${renewed.token}` } })).statusCode).toBe(503); // allowed; no lanes run here
    expect(gateway.audit.search().map((e) => `${e.actor} ${e.action}`)).toContain('cem user.password');
  });

  it('changes no account when its audit entry cannot be stored', async () => {
    const admin = gateway.accounts.addAccount('root-admin', 'admin', await hashPassword(PASSWORD));
    const adminToken = gateway.sessions.create(admin).token;
    gateway.outbox.database.exec("CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.type = 'operator.action' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END");
    const made = await app().inject({ method: 'POST', url: '/api/users', headers: { authorization: `Bearer ${adminToken}` }, payload: { name: 'dan', role: 'operator', password: 'chosen by the admin' } });
    expect(made.statusCode).toBe(503);
    expect(made.json<{ code: string }>().code).toBe('GW_ERR_OUTBOX_WRITE');
    expect(gateway.accounts.account('dan')).toBeNull();
    expect(gateway.audit.search().some((e) => e.action === 'user.add')).toBe(false);
  });
});
