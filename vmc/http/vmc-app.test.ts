import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crossingRecord, MAX_INTERVAL_ROWS, trsReport, type CrossingRecord } from '../../contract/trs-report.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { EventMaker } from '../../test/helpers/vmc-events.js';
import { VmcStore } from '../store/vmc-store.js';
import { VmcAuth } from '../vmc-auth.js';
import { buildVmcApp } from './vmc-app.js';

describe('VMC HTTP API', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 26, 12));
  let store: VmcStore;
  let app: FastifyInstance;
  let analyst: string;
  let admin: string;
  const a = new EventMaker('post-a', new ManualClock(Date.UTC(2026, 10, 26, 6)));
  const b = new EventMaker('post-b', new ManualClock(Date.UTC(2026, 10, 27, 6)));
  const events = [
    a.crossing('a1', 8),
    a.crossing('a2', 33, { direction: 'export', channel: 'red', xray: true }),
    a.crossing('a3', 19, { channel: 'orange', vehicleType: 'van' }),
    b.crossing('b1', 71, { direction: 'transit-entry' }),
    a.alarm('GW_ERR_OUTBOX_FULL'),
    a.deviceStatus('cam-1', 'down'),
  ];
  const reportOf = (selected: typeof events, interval = 10) =>
    trsReport(selected.map((e) => crossingRecord(JSON.parse(JSON.stringify(e)) as Record<string, unknown>)).filter((r): r is CrossingRecord => r !== null), interval);

  beforeAll(async () => {
    store = await VmcStore.open(`sqlite:${join(tempDir('vmc-api-'), 'vmc.db')}`, clock.now());
    await store.store(events, 'vmc-1', clock.now());
    const auth = new VmcAuth(store, clock);
    await auth.addAccount('ana', 'analyst', 'analyst-password-1');
    await auth.addAccount('root', 'admin', 'admin-password-12');
    const ui = tempDir('vmc-ui-');
    mkdirSync(join(ui, 'assets'));
    writeFileSync(join(ui, 'index.html'), '<!doctype html><title>VMC</title><script type="module" src="/assets/app.js"></script>');
    writeFileSync(join(ui, 'assets', 'app.js'), 'export {};');
    app = await buildVmcApp({ store, auth, status: () => ({ name: 'test' }), uiDir: ui });
    const login = async (name: string, password: string) => (await app.inject({ method: 'POST', url: '/api/login', payload: { name, password } })).json<{ token: string }>().token;
    analyst = await login('ana', 'analyst-password-1');
    admin = await login('root', 'admin-password-12');
  });

  afterAll(async () => {
    await app.close();
    await store.close();
  });

  const get = (url: string, token: string | null = analyst) => app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('answers every /api/ request no-store and nosniff, with a session or without', async () => {
    for (const [url, token] of [['/api/trs', analyst], ['/api/posts', analyst], ['/api/me', analyst], ['/api/trs', null], ['/api/nothing-here', analyst]] as const) {
      const reply = await get(url, token);
      expect([url, token !== null, reply.headers['cache-control'], reply.headers['x-content-type-options']]).toEqual([url, token !== null, 'no-store', 'nosniff']);
    }
  });

  it('answers nothing but 401 without a session, whatever the path', async () => {
    for (const url of ['/api/trs', '/api/crossings', '/api/gaps', '/api/alarms', '/api/posts', '/api/status', '/api/nothing-here']) {
      const reply = await get(url, null);
      expect(reply.statusCode, url).toBe(401);
      expect(reply.json()).toMatchObject({ code: 'GW_ERR_AUTH_REQUIRED' });
    }
    expect((await get('/api/trs', 'made-up-token')).statusCode).toBe(401);
    expect((await get('/healthz', null)).statusCode).toBe(200);
  });

  it('refuses a wrong password, then throttles the account', async () => {
    const attempt = () => app.inject({ method: 'POST', url: '/api/login', payload: { name: 'victim', password: 'wrong-password-1' } });
    for (let i = 0; i < 5; i += 1) expect((await attempt()).statusCode).toBe(401);
    expect((await attempt()).json()).toMatchObject({ code: 'GW_ERR_AUTH_THROTTLED' });
    expect((await app.inject({ method: 'POST', url: '/api/login', payload: { name: 'ana', password: 'x'.repeat(300) } })).statusCode).toBe(400);
  });

  it('logs a request that failed inside the VMC with its error, and answers 500 with a stable code', async () => {
    const lines: { msg: string; err?: { message: string } }[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string; err?: { message: string } }) });
    const failing = await buildVmcApp({
      store,
      auth: new VmcAuth(store, clock),
      status: () => {
        throw new Error('the status source broke');
      },
      uiDir: null,
      logger,
    });
    try {
      const answer = await failing.inject({ method: 'GET', url: '/api/status', headers: { authorization: `Bearer ${analyst}` } });
      expect(answer.statusCode).toBe(500);
      expect(answer.json()).toMatchObject({ code: 'GW_ERR_HTTP_INTERNAL' });
      expect(lines).toContainEqual(expect.objectContaining({ msg: 'request failed', err: expect.objectContaining({ message: 'the status source broke' }) as unknown }));
    } finally {
      await failing.close();
    }
  });

  it('checks at most five passwords of a name, also when they are sent all at once', async () => {
    const attempts = await Promise.all(Array.from({ length: 18 }, () => app.inject({ method: 'POST', url: '/api/login', payload: { name: 'victim-2', password: 'wrong-password-1' } })));
    const codes = attempts.map((answer) => answer.json<{ code: string }>().code);
    expect(codes.filter((code) => code === 'GW_ERR_AUTH_THROTTLED')).toHaveLength(13);
    expect(attempts.filter((answer) => answer.statusCode === 401)).toHaveLength(5);
  });

  it('refuses an empty login in words a person can act on, not in the schema’s', async () => {
    // A NUL in the name too: PostgreSQL refuses it in text, which answered 500.
    for (const payload of [{ name: '', password: 'analyst-password-1' }, { name: 'ana', password: '' }, { name: 'ana' }, { name: 'x'.repeat(65), password: 'p' }, { name: 'ana\u0000', password: 'analyst-password-1' }]) {
      const reply = await app.inject({ method: 'POST', url: '/api/login', payload });
      expect(reply.statusCode, JSON.stringify(payload)).toBe(400);
      expect(reply.json(), JSON.stringify(payload)).toEqual({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: 'enter your name (up to 64 characters) and your password (up to 256 characters)' });
    }
  });

  it('refuses a body that is not JSON with 415 and a stable code', async () => {
    // core/errors.ts has no media-type code: GW_ERR_HTTP_BAD_REQUEST, with the status saying which refusal it is.
    const reply = await app.inject({ method: 'POST', url: '/api/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'name=ana&password=analyst-password-1' });
    expect(reply.statusCode).toBe(415);
    expect(reply.json()).toEqual({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: 'the body must be JSON (content-type: application/json), not application/x-www-form-urlencoded' });
  });

  it('logs in with a cookie too, and logs out', async () => {
    const login = await app.inject({ method: 'POST', url: '/api/login', payload: { name: 'ana', password: 'analyst-password-1' } });
    const cookie = login.cookies.find((c) => c.name === 'vmc_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    const me = await app.inject({ method: 'GET', url: '/api/me', cookies: { vmc_session: cookie!.value } });
    expect(me.json()).toEqual({ name: 'ana', role: 'analyst' });
    await app.inject({ method: 'POST', url: '/api/logout', cookies: { vmc_session: cookie!.value } });
    expect((await app.inject({ method: 'GET', url: '/api/me', cookies: { vmc_session: cookie!.value } })).statusCode).toBe(401);
  });

  it('answers /api/trs exactly as trs report does on the same events, with every filter', async () => {
    const crossings = events.slice(0, 4);
    expect((await get('/api/trs')).json()).toEqual(reportOf(crossings));
    expect((await get('/api/trs?interval=30')).json()).toEqual(reportOf(crossings, 30));
    expect((await get('/api/trs?post=post-a')).json()).toEqual(reportOf(crossings.slice(0, 3)));
    expect((await get('/api/trs?post=post-a,post-b&direction=export')).json()).toEqual(reportOf([crossings[1]!]));
    expect((await get('/api/trs?channel=orange')).json()).toEqual(reportOf([crossings[2]!]));
    expect((await get('/api/trs?from=2026-11-27&to=2026-11-28')).json()).toEqual(reportOf([crossings[3]!]));
    expect((await get('/api/trs?from=2026-11-26T00:00:00Z&to=2026-11-27')).json()).toEqual(reportOf(crossings.slice(0, 3)));
    expect((await get('/api/trs?vehicleType=van')).json()).toEqual(reportOf([crossings[2]!]));
    expect((await get('/api/trs?vehicleType=truck&post=post-a')).json()).toEqual(reportOf(crossings.slice(0, 2)));
  });

  it('gives vehicles per period for the year-over-year views', async () => {
    expect((await get('/api/volumes?unit=day')).json()).toMatchObject([
      { period: '2026-11-26', vehicles: 3, changeVsPreviousYear: null },
      { period: '2026-11-27', vehicles: 1 },
    ]);
    expect((await get('/api/volumes?unit=year&post=post-b')).json()).toMatchObject([{ period: '2026', vehicles: 1, byDirection: { 'transit-entry': 1 } }]);
    expect((await get('/api/volumes?unit=year&vehicleType=van')).json()).toMatchObject([{ period: '2026', vehicles: 1, byChannel: { orange: 1 } }]);
    expect((await get('/api/volumes?unit=week')).statusCode).toBe(400);
  });

  it('refuses malformed filters with 400 and a stable code', async () => {
    for (const url of ['/api/trs?direction=sideways', '/api/trs?vehicleType=spaceship', '/api/trs?interval=0', '/api/trs?interval=0.00001', '/api/trs?interval=1.5', '/api/trs?interval=1000', '/api/trs?interval=1e9', '/api/trs?from=yesterday', "/api/trs?post=a';drop", '/api/trs?bogus=1', `/api/trs?post=${'a'.repeat(70)}`, '/api/crossings?limit=100000']) {
      const reply = await get(url);
      expect(reply.statusCode, url).toBe(400);
      expect(reply.json()).toMatchObject({ code: 'GW_ERR_HTTP_BAD_REQUEST' });
    }
  });

  it('refuses a date that does not exist rather than reading it as another (2026-02-30 is not 2 March)', async () => {
    for (const url of ['/api/trs?from=2026-02-30', '/api/trs?to=2026-02-29', '/api/volumes?from=2026-04-31T00:00:00Z', '/api/crossings?to=2026-11-29T24:00:00Z', '/api/alarms?from=2026-06-31T10:00:00%2B02:00', '/api/volumes?asOf=2026-02-30']) {
      const reply = await get(url);
      expect(reply.statusCode, url).toBe(400);
      expect(reply.json(), url).toMatchObject({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: expect.stringMatching(/is not a date or time/) as unknown });
    }
    for (const url of ['/api/trs?from=2024-02-29', '/api/trs?to=2026-11-29T23:59:59.999Z', '/api/trs?from=2026-11-26T01:00:00-05:00', '/api/volumes?asOf=2026-12-31']) expect((await get(url)).statusCode, url).toBe(200);
  });

  it('lists crossings, alarms, posts with their lanes and device health, and gaps', async () => {
    const crossings = (await get('/api/crossings?post=post-a&limit=2')).json<{ crossingId: string }[]>();
    expect(crossings.map((c) => c.crossingId)).toEqual(['a3', 'a2']);
    expect((await get('/api/alarms')).json()).toMatchObject([{ alarm: 'GW_ERR_OUTBOX_FULL', postId: 'post-a' }]);
    // The dashboard's period: alarms raised in it only (the alarm is of 26 November).
    expect((await get('/api/alarms?from=2026-11-26&to=2026-11-27&post=post-a&limit=20')).json()).toHaveLength(1);
    expect((await get('/api/alarms?from=2026-11-27&to=2026-11-28')).json()).toEqual([]);
    expect((await get('/api/alarms?from=yesterday')).statusCode).toBe(400);
    expect((await get('/api/alarms?direction=export')).statusCode).toBe(400);
    expect((await get('/api/posts')).json()).toMatchObject([
      { postId: 'post-a', lastSeq: 5, lanes: [{ laneId: 'lane-1' }], devices: [{ deviceId: 'cam-1', state: 'down' }], openGaps: 0 },
      { postId: 'post-b', lastSeq: 1 },
    ]);
    expect((await get('/api/gaps?state=open')).json()).toEqual([]);
  });

  it('lets admins, and only admins, manage accounts', async () => {
    expect((await get('/api/users')).statusCode).toBe(403);
    const add = (token: string, payload: object) => app.inject({ method: 'POST', url: '/api/users', headers: { authorization: `Bearer ${token}` }, payload });
    expect((await add(analyst, { name: 'eve', role: 'admin', password: 'eve-password-123' })).statusCode).toBe(403);
    expect((await add(admin, { name: 'bob', role: 'analyst', password: 'bob-password-123' })).statusCode).toBe(201);
    expect((await add(admin, { name: 'bob', role: 'analyst', password: 'bob-password-123' })).json()).toMatchObject({ code: 'GW_ERR_AUTH_ACCOUNT' });
    expect((await add(admin, { name: 'shorty', role: 'analyst', password: 'short' })).json()).toMatchObject({ code: 'GW_ERR_AUTH_ACCOUNT' });
    expect((await add(admin, { name: 'x', role: 'operator', password: 'x-password-1234' })).statusCode).toBe(400);
    expect((await get('/api/users', admin)).json()).toEqual([
      { name: 'ana', role: 'analyst', disabled: false },
      { name: 'bob', role: 'analyst', disabled: false },
      { name: 'root', role: 'admin', disabled: false },
    ]);
  });

  it('serves the dashboards to anyone, under a self-only policy; their data still needs a session', async () => {
    const page = await get('/', null);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<title>VMC</title>');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect((await get('/assets/app.js', null)).statusCode).toBe(200);
    expect((await get('/api/posts', null)).statusCode).toBe(401);
    expect((await get('/assets/../../etc/passwd', null)).statusCode).not.toBe(200);
  });

  it('answers /api/trs over a crossing of ~190 years at 1-minute intervals with a bounded table', async () => {
    const z = new EventMaker('post-z', new ManualClock(Date.UTC(2026, 10, 26, 7)));
    await store.store([z.crossing('z1', 1, { durations: { registrationSec: null, crossingSec: 1e10 } })], 'vmc-1', clock.now());
    const reply = await get('/api/trs?post=post-z&interval=1');
    expect(reply.statusCode).toBe(200);
    const report = reply.json<{ vehicles: number; intervals: { upToMin: number; overMin?: number; vehicles: number }[] }>();
    expect(report.vehicles).toBe(1);
    expect(report.intervals).toHaveLength(MAX_INTERVAL_ROWS);
    expect(report.intervals.at(-1)).toMatchObject({ overMin: MAX_INTERVAL_ROWS - 1, upToMin: Math.ceil(1e10 / 60), vehicles: 1 });
  });
});
