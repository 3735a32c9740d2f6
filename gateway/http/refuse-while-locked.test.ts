/**
 * The operators' requests while another connection holds the gateway database's write lock (a
 * real second connection in BEGIN IMMEDIATE, as an sqlite3 shell left in a transaction): an
 * operator's action is refused at once with 503 GW_ERR_OUTBOX_LOCKED and Retry-After, before it
 * changes anything, so the retry applies it once; reads are served; /healthz says commits wait,
 * for how long and how many. On the manual clock: no time passes unless the test moves it.
 */
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Account } from '../auth/account-store.js';
import type { Gateway } from '../daemon.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { startOneLanePost, type OneLanePost } from '../../test/helpers/one-lane-post.js';

let post: OneLanePost;
let gateway: Gateway;
let clock: ManualClock;

beforeEach(async () => {
  clock = new ManualClock();
  post = await startOneLanePost({ clock, extraYaml: 'workflow: { randomXrayShare: 0 }' });
  gateway = post.gateway;
  gateway.accounts.addAccount('the-supervisor', 'supervisor', 'scrypt$unused');
});
afterEach(() => post.stop());

const app = () => {
  if (!gateway.operatorApp) throw new Error('no operator app');
  return gateway.operatorApp;
};
const headers = (): Record<string, string> => ({ authorization: `Bearer ${gateway.sessions.create(gateway.accounts.account('the-supervisor') as Account).token}` });
const register = (auth: Record<string, string>, plate: string) =>
  app().inject({ method: 'POST', url: '/api/lanes/lane-1/registrations', headers: auth, payload: { plate, direction: 'import', declaredWeightKg: 12_000 } });
const crossings = async (auth: Record<string, string>): Promise<unknown[]> => (await app().inject({ method: 'GET', url: '/api/lanes', headers: auth })).json<{ crossings: unknown[] }[]>()[0]?.crossings ?? [];
const turns = async (n = 10): Promise<void> => {
  for (let i = 0; i < n; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe("operators' actions under another connection's write lock", () => {
  it('refuses an action at once, changing nothing, and applies its retry once after the lock ends; /healthz shows the wait', async () => {
    const auth = headers();
    const shell = new Database(gateway.outbox.database.name);
    shell.exec('BEGIN IMMEDIATE');
    let released = false;
    try {
      // No commit has met the lock yet: the first action finds it all the same.
      const refused = await register(auth, 'AB123CD');
      expect(refused.statusCode).toBe(503);
      expect(refused.json()).toMatchObject({ code: 'GW_ERR_OUTBOX_LOCKED', message: expect.stringContaining('nothing was changed, try again') as unknown });
      expect(refused.headers['retry-after']).toBe('2');
      expect(await crossings(auth)).toEqual([]);
      // The gateway's own events wait for the lock in memory: /healthz says since when and how many.
      void gateway.raiseAlarm('GW_ERR_OUTBOX_LOCKED', 'warning', 'a test event waiting for the lock', {});
      await turns();
      clock.advance(4000);
      const health = await app().inject({ method: 'GET', url: '/healthz' });
      expect(health.statusCode).toBe(200);
      expect(health.json()).toMatchObject({ status: 'degraded', outbox: { locked: { forSec: 4, waiting: 1 } } });
      // Refused again while commits wait, at once; the read of the lanes is served meanwhile.
      expect((await register(auth, 'AB123CD')).json()).toMatchObject({ code: 'GW_ERR_OUTBOX_LOCKED', message: expect.stringContaining('for 4 s') as unknown });
      expect(await crossings(auth)).toEqual([]);
      shell.exec('COMMIT');
      released = true;
    } finally {
      if (!released) shell.exec('ROLLBACK');
      shell.close();
    }
    clock.advance(2000);
    await turns();
    expect((await app().inject({ method: 'GET', url: '/healthz' })).json()).toMatchObject({ outbox: { locked: null } });
    const retried = await register(auth, 'AB123CD');
    expect(retried.statusCode).toBe(201);
    expect(await crossings(auth)).toHaveLength(1);
  });
});
