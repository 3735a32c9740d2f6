/**
 * The VMC's login locks on a clock the test drives: counted in monotonic time (a wall clock
 * stepped by NTP neither lifts nor stretches a lock), doubling, not washed away by a flood of
 * made-up names, and an attempt that could not be checked does not count.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LoginThrottle } from '../core/login-throttle.js';
import { ManualClock } from '../test/helpers/manual-clock.js';
import { tempDir } from '../test/helpers/test-config.js';
import { MAX_SESSIONS_PER_ACCOUNT, VmcStore } from './store/vmc-store.js';
import { VMC_LOGIN_LOCKS, VmcAuth } from './vmc-auth.js';

const PASSWORD = 'analyst-password-1';

describe('VMC logins', () => {
  const closing: VmcStore[] = [];
  afterEach(async () => {
    for (const store of closing.splice(0)) await store.close();
  });

  const open = async (clock: ManualClock): Promise<VmcStore> => {
    const store = await VmcStore.open(`sqlite:${join(tempDir('vmc-auth-'), 'vmc.db')}`, clock.now());
    closing.push(store);
    return store;
  };

  it('locks a name after five failures for 5 minutes of monotonic time, whatever the wall clock does, then doubles', async () => {
    const clock = new ManualClock();
    const auth = new VmcAuth(await open(clock), clock);
    await auth.addAccount('ana', 'analyst', PASSWORD);
    for (let i = 0; i < 5; i += 1) expect(await auth.login('ana', 'wrong-password-1')).toEqual({ ok: false, throttled: false });
    expect(await auth.login('ana', PASSWORD)).toEqual({ ok: false, throttled: true, retryAfterSec: 300 });
    // NTP steps the wall clock a day ahead: the lock still holds (it lifted with the wall clock before).
    clock.stepWall(24 * 3600_000);
    expect(await auth.login('ana', PASSWORD)).toMatchObject({ ok: false, throttled: true });
    clock.advance(5 * 60_000);
    // Free again; the next failure locks at once, for twice as long.
    expect(await auth.login('ana', 'wrong-password-1')).toEqual({ ok: false, throttled: false });
    expect(await auth.login('ana', PASSWORD)).toEqual({ ok: false, throttled: true, retryAfterSec: 600 });
    clock.advance(10 * 60_000);
    expect(await auth.login('ana', PASSWORD)).toMatchObject({ ok: true, name: 'ana' });
    // The success cleared the name: five more typos before a lock.
    for (let i = 0; i < 4; i += 1) await auth.login('ana', 'wrong-password-1');
    expect(await auth.login('ana', PASSWORD)).toMatchObject({ ok: true });
  });

  it("keeps an account's newest sessions only: logging in again and again ends the oldest", async () => {
    const clock = new ManualClock();
    const auth = new VmcAuth(await open(clock), clock);
    await auth.addAccount('ana', 'analyst', PASSWORD);
    await auth.addAccount('eli', 'analyst', PASSWORD);
    const other = await auth.login('eli', PASSWORD);
    const tokens: string[] = [];
    for (let i = 0; i < MAX_SESSIONS_PER_ACCOUNT + 5; i += 1) {
      clock.advance(1000);
      const login = await auth.login('ana', PASSWORD);
      if (!login.ok) throw new Error('login refused');
      tokens.push(login.token);
    }
    const live = async (): Promise<boolean[]> => Promise.all(tokens.map(async (token) => (await auth.authenticate(token)) !== null));
    expect(await live()).toEqual(tokens.map((_, i) => i >= 5));
    // Many in one millisecond, and after the wall clock stepped back below them: each new login's
    // token works, and the account still holds its 20.
    clock.stepWall(-60_000);
    for (let i = 0; i < 30; i += 1) {
      const login = await auth.login('ana', PASSWORD);
      expect(login.ok && (await auth.authenticate(login.token))).toMatchObject({ name: 'ana' });
      tokens.push(login.ok ? login.token : '');
    }
    expect((await live()).filter(Boolean)).toHaveLength(MAX_SESSIONS_PER_ACCOUNT);
    // Another account's session is not one of them.
    expect(other.ok && (await auth.authenticate(other.token))).toMatchObject({ name: 'eli' });
  });

  it('keeps a lock through a flood of made-up names', async () => {
    const clock = new ManualClock();
    const auth = new VmcAuth(await open(clock), clock, new LoginThrottle({ clock, ...VMC_LOGIN_LOCKS, maxKeys: 20 }));
    await auth.addAccount('ana', 'analyst', PASSWORD);
    for (let i = 0; i < 5; i += 1) await auth.login('ana', 'wrong-password-1');
    for (let i = 0; i < 40; i += 1) await auth.login(`made-up-${i}`, 'wrong-password-1');
    expect(await auth.login('ana', PASSWORD)).toMatchObject({ ok: false, throttled: true });
  });

  it('does not count an attempt whose password could not be checked (the store down)', async () => {
    const clock = new ManualClock();
    const store = await open(clock);
    const auth = new VmcAuth(store, clock);
    await auth.addAccount('ana', 'analyst', PASSWORD);
    let down = true;
    const flaky = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'account' && down) return () => Promise.reject(new Error('database is down'));
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const during = new VmcAuth(flaky, clock);
    for (let i = 0; i < 8; i += 1) await expect(during.login('ana', PASSWORD)).rejects.toThrow('database is down');
    down = false;
    expect(await during.login('ana', PASSWORD)).toMatchObject({ ok: true, name: 'ana' });
  });
});
