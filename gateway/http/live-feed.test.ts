/**
 * The live feed's bounds, on sinks that stand in for sockets: the total and per-account caps, and
 * a client that does not read being cut off instead of buffered for, counted in bytes as a socket
 * counts them. (The stream through HTTP, its session and its pace are in console-api.test.ts.)
 */
import { EventEmitter } from 'node:events';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import type { AccountStore } from '../auth/account-store.js';
import { SessionStore } from '../auth/sessions.js';
import type { LaneConsole, LaneConsoleListener } from '../workflow/lane-console.js';
import { LiveFeed, type SseSink } from './live-feed.js';

class FakeSink extends EventEmitter implements SseSink {
  readonly written: string[] = [];
  /** Bytes the client has not taken, as a socket counts them (UTF-8): grows with every write. */
  writableLength = 0;
  ended = false;
  destroyed = false;
  constructor(private readonly reads: boolean) {
    super();
  }
  write(chunk: string): boolean {
    this.written.push(chunk);
    if (!this.reads) this.writableLength += Buffer.byteLength(chunk);
    return true;
  }
  end(): void {
    this.ended = true;
    this.emit('close');
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

function setup(limits: { maxStreams?: number; maxPerAccount?: number; maxBufferedBytes?: number } = {}, plate = 'X'.repeat(400)) {
  const clock = new ManualClock();
  const sessions = new SessionStore({ clock });
  const listeners: LaneConsoleListener[] = [];
  const lanes = [{ laneId: 'lane-1', crossings: [{ plate }] }];
  const laneConsole = { lanes: () => lanes, listen: (listener: LaneConsoleListener) => (listeners.push(listener), () => listeners.splice(listeners.indexOf(listener), 1)) } as unknown as LaneConsole;
  const accounts = { account: (name: string) => ({ name, role: 'operator', disabled: false, changedMs: 0 }) } as unknown as AccountStore;
  const feed = new LiveFeed({ clock, source: () => laneConsole, sessions, accounts, logger: pino({ level: 'silent' }), ...limits });
  const person = (name: string) => sessions.create({ name, role: 'operator', changedMs: 0 });
  const change = () => listeners.forEach((listener) => listener.changed('lane-1'));
  return { clock, feed, laneConsole, person, change, listeners };
}

describe('the live feed', () => {
  it('serves a bounded number of streams in all', () => {
    const { feed, laneConsole, person } = setup({ maxStreams: 2 });
    for (const name of ['a', 'b']) {
      const { token, session } = person(name);
      expect(feed.refusal(session)).toBeNull();
      feed.open(new FakeSink(true), token, session, laneConsole);
    }
    expect(feed.refusal(person('c').session)).toMatch(/2 live streams at most/);
  });

  it('serves a bounded number of streams per account, whatever the number of its sessions', () => {
    const { feed, laneConsole, person } = setup();
    // One name signed in on four screens: six streams, then no more, while another account still gets its own.
    const screens = [person('shared'), person('shared'), person('shared'), person('shared')];
    for (const { token, session } of [screens[0]!, screens[0]!, screens[1]!, screens[1]!, screens[2]!, screens[2]!]) {
      expect(feed.refusal(session)).toBeNull();
      feed.open(new FakeSink(true), token, session, laneConsole);
    }
    expect(feed.refusal(screens[3]!.session)).toMatch(/account may hold 6 live streams at most/);
    expect(feed.refusal(person('other').session)).toBeNull();
    expect(feed.size).toBe(6);
  });

  it('counts unsent bytes, not characters: a view in Cyrillic is cut off at the same bound', () => {
    // Each view is about 2,370 bytes but 1,220 characters: counting characters, a second view
    // would follow the first (2,380 + 1,220 ≤ 4,096) and leave 4,750 bytes on a socket bounded at 4,096.
    const { clock, feed, laneConsole, person, change } = setup({ maxBufferedBytes: 4096 }, 'Ж'.repeat(1150));
    const slow = new FakeSink(false);
    const { token, session } = person('a');
    feed.open(slow, token, session, laneConsole);
    for (let n = 0; n < 5; n += 1) {
      change();
      clock.advance(250);
    }
    expect(slow.destroyed).toBe(true);
    expect(slow.written.length).toBe(1);
    expect(slow.writableLength).toBeLessThanOrEqual(4096);
  });

  it('cuts off a client that does not read, and goes on serving the others', () => {
    const { clock, feed, laneConsole, person, change, listeners } = setup({ maxBufferedBytes: 4096 });
    const slow = new FakeSink(false);
    const fast = new FakeSink(true);
    const a = person('a');
    const b = person('b');
    feed.open(slow, a.token, a.session, laneConsole);
    feed.open(fast, b.token, b.session, laneConsole);
    for (let n = 0; n < 20; n += 1) {
      change();
      clock.advance(250);
    }
    expect(slow.destroyed).toBe(true);
    // Never more than the bound was handed to the slow socket.
    expect(slow.writableLength).toBeLessThanOrEqual(4096);
    expect(fast.destroyed).toBe(false);
    expect(fast.written.filter((chunk) => chunk.startsWith('event: lanes')).length).toBe(20);
    expect(feed.size).toBe(1);
    // The last stream gone, the feed stops listening and leaves no timer behind.
    fast.end();
    expect(listeners).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
  });
});
