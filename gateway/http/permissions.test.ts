/**
 * The permission table of SECURITY.md, one test per cell, through the operators' fastify app
 * (`inject`): every route without credentials (401), with each role that may not (403) and with
 * each role that may (neither). Refusals are checked with a body that is not even JSON, so a 401
 * or 403 proves the caller was turned away before anything was parsed; and the workflow is checked
 * unchanged after every refusal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Account } from '../auth/account-store.js';
import type { Gateway } from '../daemon.js';
import type { PostRuntime } from '../post-runtime.js';
import { startOneLanePost, type OneLanePost } from '../../test/helpers/one-lane-post.js';

type Caller = 'anonymous' | 'operator' | 'supervisor' | 'admin' | 'registration' | 'device';
const CALLERS: Caller[] = ['anonymous', 'operator', 'supervisor', 'admin', 'registration', 'device'];

interface Row {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  /** Who may: written out here, not read from the code, so a change to the table fails a test. */
  may: Caller[];
  body?: Record<string, unknown>;
  /** A Server-Sent Events stream: the allowed caller's stream is ended by ending its session. */
  stream?: boolean;
  /** Answers an allowed caller may get besides the usual ones (the console not built: 503). */
  also?: number[];
}

const PEOPLE: Caller[] = ['operator', 'supervisor', 'admin'];
const EVERYONE: Caller[] = CALLERS;
const TABLE: Row[] = [
  { method: 'GET', url: '/api/session', may: PEOPLE },
  { method: 'GET', url: '/api/lanes', may: PEOPLE },
  { method: 'GET', url: '/api/lanes/lane-1', may: PEOPLE },
  { method: 'GET', url: '/api/lanes/lane-1/crossings/none', may: PEOPLE },
  { method: 'POST', url: '/api/lanes/lane-1/registrations', may: ['operator', 'supervisor', 'registration'], body: { plate: 'AB123CD', direction: 'import', declaredWeightKg: 12_000 } },
  { method: 'POST', url: '/api/lanes/lane-1/crossings/none/plate', may: ['operator', 'supervisor'], body: { plate: 'AB123CD', reason: 'read from the documents' } },
  { method: 'POST', url: '/api/lanes/lane-1/crossings/none/weight', may: ['operator', 'supervisor'], body: { weightKg: 12_000, reason: 'weighbridge down' } },
  { method: 'POST', url: '/api/lanes/lane-1/crossings/none/inspection', may: ['operator', 'supervisor'], body: { outcome: 'cleared' } },
  { method: 'POST', url: '/api/lanes/lane-1/crossings/none/channel', may: ['supervisor'], body: { channel: 'green', reason: 'tip-off withdrawn' } },
  { method: 'POST', url: '/api/lanes/lane-1/crossings/none/release', may: ['supervisor'], body: { reason: 'scanner down' } },
  { method: 'POST', url: '/api/lanes/lane-1/barrier', may: ['supervisor'], body: { command: 'open', reason: 'ambulance' } },
  { method: 'POST', url: '/api/models/reload', may: ['admin'], body: {} },
  { method: 'GET', url: '/api/audit', may: ['supervisor', 'admin'] },
  { method: 'GET', url: '/api/audit/verify', may: ['supervisor', 'admin'] },
  { method: 'GET', url: '/api/users', may: ['admin'] },
  { method: 'POST', url: '/api/users', may: ['admin'], body: { name: 'new-user', role: 'operator', password: 'a long enough password' } },
  { method: 'POST', url: '/api/users/nobody/disabled', may: ['admin'], body: { disabled: true, reason: 'left the service' } },
  { method: 'POST', url: '/api/users/nobody/password', may: ['admin'], body: { password: 'a long enough password' } },
  { method: 'GET', url: '/api/live', may: PEOPLE, stream: true },
  { method: 'GET', url: `/api/images/sha256:${'0'.repeat(64)}`, may: PEOPLE },
  { method: 'GET', url: '/api/trs?date=2026-11-26', may: PEOPLE },
  { method: 'GET', url: '/api/no-such-route', may: PEOPLE },
  // The console's files hold no data: public (the console logs in through the API).
  { method: 'GET', url: '/', may: EVERYONE, also: [503] },
  { method: 'GET', url: '/lanes/lane-1', may: EVERYONE, also: [503] },
  { method: 'GET', url: '/assets/none.js', may: EVERYONE },
  { method: 'DELETE', url: '/api/session', may: PEOPLE },
];

let post: OneLanePost;
let gateway: Gateway;
let runtime: PostRuntime;

beforeAll(async () => {
  post = await startOneLanePost();
  gateway = post.gateway;
  runtime = post.runtime as PostRuntime;
  for (const role of ['operator', 'supervisor', 'admin'] as const) {
    // The hash is never checked here: sessions are made directly, logins have their own tests.
    gateway.accounts.addAccount(`the-${role}`, role, 'scrypt$unused');
  }
  gateway.accounts.addClient('the-registration', 'registration');
  gateway.accounts.addClient('the-device', 'device', { deviceId: 'cam-1' });
}, 30_000);

afterAll(() => post.stop());

/** A fresh credential per call: DELETE /api/session ends the session it is made with. */
function credential(caller: Caller): Record<string, string> {
  if (caller === 'anonymous') return {};
  if (caller === 'registration' || caller === 'device') {
    const name = `the-${caller}`;
    return { authorization: `Bearer ${name}.${gateway.accounts.rotateClient(name)}` };
  }
  return { authorization: `Bearer ${gateway.sessions.create(gateway.accounts.account(`the-${caller}`) as Account).token}` };
}

function state(): string {
  return JSON.stringify({ open: runtime.post.lane('lane-1').workflow.open().length, audit: gateway.audit.verify().entries, users: gateway.accounts.accounts() });
}

describe('the permission table', () => {
  for (const row of TABLE) {
    for (const caller of CALLERS) {
      const allowed = row.may.includes(caller);
      it(`${row.method} ${row.url} as ${caller}: ${allowed ? 'allowed' : caller === 'anonymous' ? '401' : '403'}`, async () => {
        const app = gateway.operatorApp;
        if (!app) throw new Error('no operator app');
        const headers = credential(caller);
        if (!allowed) {
          const before = state();
          const response = await app.inject({ method: row.method, url: row.url, headers: { ...headers, 'content-type': 'application/json' }, payload: row.method === 'GET' ? undefined : '{not json' });
          expect(response.statusCode).toBe(caller === 'anonymous' ? 401 : 403);
          expect(response.json()).toMatchObject({ code: caller === 'anonymous' ? 'GW_ERR_AUTH_REQUIRED' : 'GW_ERR_AUTH_FORBIDDEN' });
          expect(state()).toBe(before);
          return;
        }
        const answer = app.inject({ method: row.method, url: row.url, headers, ...(row.body ? { payload: row.body } : {}) });
        if (row.stream) {
          // The stream stays open until its session ends.
          for (let turn = 0; turn < 20; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
          gateway.sessions.end((headers.authorization ?? '').replace('Bearer ', ''));
        }
        const response = await answer;
        expect([401, 403]).not.toContain(response.statusCode);
        // Past authorisation, the route did its work or the workflow gave its own reason.
        expect([200, 201, 204, 404, 409, ...(row.also ?? [])]).toContain(response.statusCode);
        if (row.stream) expect(response.body).toMatch(/^retry: 3000\n\nevent: lanes\n[\s\S]*event: session-ended\n/);
      });
    }
  }
});

describe('refusals that depend on the body', () => {
  it('believes AEO status and visit history only from the registration system', async () => {
    const app = gateway.operatorApp;
    if (!app) throw new Error('no operator app');
    const body = { plate: 'GE777AA', direction: 'import', declaredWeightKg: 9000, aeo: true, previousVisits30d: 12 };
    const asOperator = await app.inject({ method: 'POST', url: '/api/lanes/lane-1/registrations', headers: credential('operator'), payload: body });
    expect(asOperator.statusCode).toBe(403);
    expect(asOperator.json<{ message: string }>().message).toMatch(/only the registration system/);
    const asRegistration = await app.inject({ method: 'POST', url: '/api/lanes/lane-1/registrations', headers: credential('registration'), payload: body });
    expect(asRegistration.statusCode).toBe(201);
  });

  it('takes the acting identity from the credentials: a body naming another operator is refused', async () => {
    const app = gateway.operatorApp;
    if (!app) throw new Error('no operator app');
    const response = await app.inject({ method: 'POST', url: '/api/lanes/lane-1/crossings/none/plate', headers: credential('operator'), payload: { plate: 'AB123CD', reason: 'x', operatorId: 'someone-else' } });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'GW_ERR_HTTP_BAD_REQUEST' });
  });
});
