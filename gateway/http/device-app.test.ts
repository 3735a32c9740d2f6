/**
 * The device listener's slots as `buildDeviceApp` wires them: camera pushes share
 * `maxConcurrentPushes` slots across their routes, a scanner's streamed push takes none. A push
 * that must wait says so in the log (debug), which is how the test knows it is waiting. A push
 * refused at its headers closes its connection (core/close-unread.ts).
 */
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { AccountStore } from '../auth/account-store.js';
import { createLogger } from '../logger.js';
import { SqliteOutbox } from '../outbox/sqlite-outbox.js';
import { partialRequest } from '../../test/helpers/hostile-http.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { buildDeviceApp, type PushHandler, type PushRoute } from './servers.js';

const ROUTES: PushRoute[] = [
  { path: '/anpr/cam-1', deviceId: 'cam-1', bodyLimit: 64 * 1024, streamed: false },
  { path: '/anpr/cam-2', deviceId: 'cam-2', bodyLimit: 64 * 1024, streamed: false },
  { path: '/xray/scanner-1', deviceId: 'scanner-1', bodyLimit: 1024 * 1024, streamed: true },
];

const open: { app: FastifyInstance; outbox: SqliteOutbox }[] = [];
afterEach(async () => {
  for (const { app, outbox } of open.splice(0)) {
    await app.close();
    outbox.close();
  }
});

/** Each handler records that it started and waits until the test lets its path go. */
class Handlers {
  readonly started: string[] = [];
  private readonly gates = new Map<string, () => void>();
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  handler(path: string): PushHandler {
    return async (_contentType, body) => {
      if (!Buffer.isBuffer(body)) for await (const chunk of body) void chunk;
      this.started.push(path);
      for (const waiter of this.waiters.filter((w) => this.started.length >= w.count)) waiter.resolve();
      await new Promise<void>((resolve) => this.gates.set(path, resolve));
      return { status: 200, body: 'stored' };
    };
  }

  release(path: string): void {
    this.gates.get(path)?.();
  }

  untilStarted(count: number): Promise<void> {
    if (this.started.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
}

/** Log lines as they are written, and who waits for one that matches. */
class LogLines extends Writable {
  readonly lines: string[] = [];
  private readonly waiters: { match: (line: string) => boolean; resolve: () => void }[] = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    const line = chunk.toString('utf8');
    this.lines.push(line);
    for (const waiter of this.waiters.filter((w) => w.match(line))) waiter.resolve();
    done();
  }

  until(match: (line: string) => boolean): Promise<void> {
    if (this.lines.some(match)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
}

async function deviceApp(handlers: Handlers, maxConcurrentPushes: number, log: LogLines, locked = false): Promise<{ app: FastifyInstance; secrets: Map<string, string>; outbox: SqliteOutbox }> {
  const clock = new ManualClock();
  const outbox = SqliteOutbox.open({ path: join(tempDir(), 'outbox.db'), maxBytes: 16 * 1024 * 1024, maxBatch: 100, clock, logger: createLogger('silent') });
  const accounts = new AccountStore(outbox.database, () => clock.now());
  const secrets = new Map(ROUTES.map((route) => [route.deviceId, accounts.addClient(route.deviceId, 'device', { deviceId: route.deviceId, allowFrom: ['127.0.0.1'] })]));
  const app = await buildDeviceApp({
    logger: createLogger('debug', log),
    accounts,
    routes: ROUTES,
    handler: (path) => handlers.handler(path),
    maxConcurrentPushes,
    ...(locked ? { refuseWhileLocked: (what: string) => outbox.refuseWhileLocked(what) } : {}),
  });
  open.push({ app, outbox });
  return { app, secrets, outbox };
}

describe('device listener slots', () => {
  it('counts every camera route against one bound and no scanner stream', async () => {
    const handlers = new Handlers();
    const log = new LogLines();
    const { app, secrets } = await deviceApp(handlers, 1, log);
    const push = (path: string, deviceId: string) =>
      app.inject({
        method: 'POST',
        url: path,
        headers: { authorization: `Basic ${Buffer.from(`${deviceId}:${secrets.get(deviceId)}`).toString('base64')}`, 'content-type': 'application/octet-stream' },
        payload: Buffer.from(`a push from ${deviceId}`),
      });
    const first = push('/anpr/cam-1', 'cam-1');
    await handlers.untilStarted(1);
    const scan = push('/xray/scanner-1', 'scanner-1'); // handled at once: it takes no slot
    await handlers.untilStarted(2);
    const second = push('/anpr/cam-2', 'cam-2'); // waits: the one slot is cam-1's
    await log.until((line) => line.includes('push waits for a slot'));
    expect(handlers.started).toEqual(['/anpr/cam-1', '/xray/scanner-1']);

    handlers.release('/anpr/cam-1');
    expect((await first).statusCode).toBe(200);
    await handlers.untilStarted(3);
    expect(handlers.started).toEqual(['/anpr/cam-1', '/xray/scanner-1', '/anpr/cam-2']);
    handlers.release('/anpr/cam-2');
    handlers.release('/xray/scanner-1');
    expect([(await second).statusCode, (await scan).statusCode]).toEqual([200, 200]);
  });
});

describe("device pushes under another connection's write lock", () => {
  it('refuses a push at once with 503 GW_ERR_OUTBOX_LOCKED, Retry-After and the connection closed, before its driver sees it', async () => {
    const handlers = new Handlers();
    const { app, secrets, outbox } = await deviceApp(handlers, 4, new LogLines(), true);
    const shell = new Database(outbox.database.name);
    shell.exec('BEGIN IMMEDIATE');
    const push = (path: string, deviceId: string) =>
      app.inject({
        method: 'POST',
        url: path,
        headers: { authorization: `Basic ${Buffer.from(`${deviceId}:${secrets.get(deviceId)}`).toString('base64')}`, 'content-type': 'application/octet-stream' },
        payload: Buffer.from(`a push from ${deviceId}`),
      });
    try {
      for (const [path, deviceId] of [['/anpr/cam-1', 'cam-1'], ['/xray/scanner-1', 'scanner-1']] as const) {
        const refused = await push(path, deviceId);
        expect(refused.statusCode).toBe(503);
        expect(refused.json()).toMatchObject({ code: 'GW_ERR_OUTBOX_LOCKED' });
        expect(refused.headers['retry-after']).toBe('2');
        expect(refused.headers.connection).toBe('close');
      }
      // Credentials first: a caller without them hears 401, not about the lock.
      expect((await app.inject({ method: 'POST', url: '/anpr/cam-1', payload: 'x' })).statusCode).toBe(401);
      expect(handlers.started).toEqual([]);
    } finally {
      shell.exec('ROLLBACK');
      shell.close();
    }
    const accepted = push('/anpr/cam-1', 'cam-1');
    await handlers.untilStarted(1);
    handlers.release('/anpr/cam-1');
    expect((await accepted).statusCode).toBe(200);
  });
});

describe('device pushes refused at their headers', () => {
  it('closes the connection with the refusal, so the rest of the body is never read', async () => {
    const { app } = await deviceApp(new Handlers(), 4, new LogLines());
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    // No credentials: 401 before a byte of the body is read; its route takes 64 KiB, 1 KiB is sent.
    const push = partialRequest(typeof address === 'object' && address ? address.port : 0, { method: 'POST', path: '/anpr/cam-1', headers: { 'Content-Type': 'application/octet-stream' }, declaredBytes: 64 * 1024, sentBytes: 1024 });
    const head = await push.head;
    expect(head.status).toBe(401);
    expect(head.headers.connection).toBe('close');
    await push.closed;
  });
});
