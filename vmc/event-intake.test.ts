import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../core/errors.js';
import { ManualClock } from '../test/helpers/manual-clock.js';
import { tempDir } from '../test/helpers/test-config.js';
import { EventMaker } from '../test/helpers/vmc-events.js';
import { EventIntake, postSegmentOf } from './event-intake.js';
import { VmcStore } from './store/vmc-store.js';

const topicOf = (event: { source: string; type: string }): string => {
  const [, , post, lane] = event.source.split('/');
  return `border/v1/${post}/${lane}/${event.type}`;
};

describe('VMC event intake', () => {
  let store: VmcStore;
  let intake: EventIntake;
  const clock = new ManualClock();
  const lines: Record<string, unknown>[] = [];

  beforeEach(async () => {
    store = await VmcStore.open(`sqlite:${join(tempDir('vmc-intake-'), 'vmc.db')}`, clock.now());
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    intake = new EventIntake({ store, clock, logger, consumerName: 'vmc-t', maxMessageBytes: 4096 });
    lines.length = 0;
  });

  afterEach(() => store.close());

  it('stores a valid event once; a redelivery is a duplicate', async () => {
    const event = new EventMaker('post-a').crossing('c1', 20);
    const payload = Buffer.from(JSON.stringify(event));
    expect(await intake.handle(topicOf(event), payload)).toBe('stored');
    expect(await intake.handle(topicOf(event), payload)).toBe('duplicate');
    expect(intake.stats).toMatchObject({ received: 2, stored: 1, duplicates: 1 });
  });

  it('counts and drops hostile or broken messages without storing anything, and logs each reason once a minute', async () => {
    const maker = new EventMaker('post-a');
    const good = maker.crossing('c1', 20);
    const cases: [string, string | Buffer][] = [
      [topicOf(good), Buffer.alloc(5000, 0x7b)], // too large
      [topicOf(good), '{"specversion": "1.0", '], // not JSON
      [topicOf(good), '"a string"'], // JSON, not an object
      [topicOf(good), JSON.stringify({ ...good, extra: 1 })], // envelope: unknown key
      [topicOf(good), JSON.stringify({ ...good, seq: -1 })],
      [topicOf(good), JSON.stringify({ ...good, type: 'vehicle.teleported' })],
      [topicOf(good), JSON.stringify({ ...good, data: { ...good.data, channel: 'purple' } })], // data off its schema
      // Raw text: an object literal's __proto__ sets the prototype and JSON.stringify would drop it.
      [topicOf(good), `{"__proto__":{"polluted":true},${JSON.stringify({ ...good, data: { ...good.data, durations: { crossingSec: -5, registrationSec: null } } }).slice(1)}`],
      ['border/v1/post-b/lane-1/crossing.completed', JSON.stringify(good)], // another post's topic
      [topicOf(good).replace('crossing.completed', 'vehicle.arrived'), JSON.stringify(good)],
      [topicOf(good).replace('/lane-1/', '/lane-2/'), JSON.stringify(good)], // another lane's topic
      ['border/v1/post-a/status', JSON.stringify({ state: 'online', postId: 'post-b', time: '2026-11-26T06:00:00.000Z' })],
      // Under post-a's own tree, which the broker's ACL lets post-a write: post-b's event and status.
      ['border/v1/post-a/post-b/lane-1/crossing.completed', JSON.stringify(new EventMaker('post-b').crossing('c9', 20))],
      ['border/v1/post-a/post-b/status', JSON.stringify({ state: 'offline', postId: 'post-b', time: '2026-11-26T06:00:00.000Z' })],
    ];
    for (const [topic, payload] of cases) expect(await intake.handle(topic, Buffer.from(payload)), String(payload).slice(0, 60)).toBe('rejected');
    expect(intake.stats.rejected).toEqual({ 'too-large': 1, 'not-json': 1, 'too-deep': 0, 'nul-char': 0, envelope: 5, data: 1, 'topic-mismatch': 4, 'status-invalid': 2, unstorable: 0 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await store.eventCounts()).total).toBe(0);
    expect(lines.filter((l) => l.code === 'GW_ERR_VMC_MESSAGE_REJECTED').map((l) => l.reason)).toEqual(['too-large', 'not-json', 'envelope', 'data', 'topic-mismatch', 'status-invalid']);
    clock.advance(61_000);
    expect(await intake.handle(topicOf(good), Buffer.from('nope'))).toBe('rejected');
    expect(lines.at(-1)).toMatchObject({ reason: 'not-json', suppressedSinceLast: 0 });
  });

  it('refuses nesting deeper than 64 and a NUL in any string or key, before the store sees them', async () => {
    const maker = new EventMaker('post-a');
    const alarm = maker.alarm('GW_ERR_OUTBOX_FULL');
    // The envelope is depth 1, data 2, details 3: 61 more arrays inside details make 64.
    const nested = (levels: number) => JSON.stringify({ ...alarm, data: { ...alarm.data, details: { x: 0 } } }).replace('{"x":0}', `{"x":${'['.repeat(levels)}${']'.repeat(levels)}}`);
    expect(await intake.handle(topicOf(alarm), Buffer.from(nested(62)))).toBe('rejected');
    expect(await intake.handle(topicOf(alarm), Buffer.from(nested(61)))).toBe('stored');
    const crossing = maker.crossing('c1', 20);
    const withNul = JSON.stringify({ ...crossing, data: { ...crossing.data, plate: 'AB\u0000123' } });
    expect(withNul).toContain('\\u0000');
    expect(await intake.handle(topicOf(crossing), Buffer.from(withNul))).toBe('rejected');
    const alarm2 = maker.alarm('GW_ERR_OUTBOX_FULL');
    expect(await intake.handle(topicOf(alarm2), Buffer.from(JSON.stringify({ ...alarm2, data: { ...alarm2.data, details: { 'k\u0000': 1 } } })))).toBe('rejected');
    // A backslash followed by "u0000" is text, not a NUL: stored, as received.
    const alarm3 = maker.alarm('GW_ERR_OUTBOX_FULL');
    const escaped = JSON.stringify({ ...alarm3, data: { ...alarm3.data, message: 'C:\\u0000 is a path' } });
    expect(await intake.handle(topicOf(alarm3), Buffer.from(escaped))).toBe('stored');
    expect(intake.stats.rejected).toMatchObject({ 'too-deep': 1, 'nul-char': 2 });
    expect((await store.eventCounts()).total).toBe(2);
  });

  it('counts an event the store refuses for its data as rejected (unstorable) and does not throw', async () => {
    const event = new EventMaker('post-a').crossing('c1', 20);
    const refusing = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'store') return () => Promise.reject(new GatewayError('GW_ERR_VMC_EVENT_UNSTORABLE', 'invalid byte sequence for encoding "UTF8": 0x00'));
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const refused = new EventIntake({ store: refusing, clock, logger, consumerName: 'vmc-t' });
    expect(await refused.handle(topicOf(event), Buffer.from(JSON.stringify(event)))).toBe('rejected');
    expect(refused.stats.rejected.unstorable).toBe(1);
    expect(lines.at(-1)).toMatchObject({ code: 'GW_ERR_VMC_EVENT_UNSTORABLE', reason: 'unstorable' });
  });

  it('counts a status stamped in the far future as sent now, so a later status still replaces it', async () => {
    const status = (state: string, time: string) => Buffer.from(JSON.stringify({ state, postId: 'post-a', time }));
    expect(await intake.handle('border/v1/post-a/status', status('online', '2999-01-01T00:00:00.000Z'))).toBe('status');
    expect((await store.posts())[0]?.status).toMatchObject({ state: 'online', time: new Date(clock.now()).toISOString() });
    clock.advance(1000);
    expect(await intake.handle('border/v1/post-a/status', status('offline', new Date(clock.now()).toISOString()))).toBe('status');
    expect((await store.posts())[0]?.status).toMatchObject({ state: 'offline' });
  });

  it("records a gateway's retained status", async () => {
    expect(await intake.handle('border/v1/post-a/status', Buffer.from(JSON.stringify({ state: 'offline', postId: 'post-a', gatewayVersion: '0.1.0', time: '2026-11-26T06:00:00.000Z', reason: 'connection lost' })))).toBe('status');
    expect((await store.posts())[0]).toMatchObject({ postId: 'post-a', status: { state: 'offline', reason: 'connection lost' } });
  });

  it('counts evidence: pieces stored, duplicate chunks, and rejections logged with GW_ERR_VMC_EVIDENCE_REJECTED once a minute', async () => {
    const maker = new EventMaker('post-a');
    const handle = (event: { source: string; type: string }) => intake.handle(topicOf(event), Buffer.from(JSON.stringify(event)));
    const picture = Buffer.from('a small picture');
    const [chunk] = maker.evidenceChunks(picture, 'plate-snapshot', 'image/png');
    expect(await handle(chunk!)).toBe('stored');
    expect(await handle(chunk!)).toBe('duplicate'); // the same event again: not a chunk at all
    expect(await handle(maker.evidenceChunks(picture, 'plate-snapshot', 'image/png')[0]!)).toBe('stored'); // sent again: a duplicate chunk
    // Two pieces whose bytes are not what their digest names.
    for (const text of ['forged one', 'forged two']) {
      const [forged] = maker.evidenceChunks(Buffer.from(text), 'plate-snapshot', 'image/png', { digest: `sha256:${'0'.repeat(64)}` });
      expect(await handle(forged!)).toBe('stored');
    }
    expect(intake.stats.evidence).toEqual({
      chunks: 4,
      duplicateChunks: 1,
      stored: 1,
      rejected: { 'chunk-invalid': 0, 'too-large': 0, 'digest-mismatch': 2, 'evicted-bound': 0, 'evicted-age': 0, 'evicted-at-post': 0, expired: 0 },
    });
    expect(lines.filter((l) => l.code === 'GW_ERR_VMC_EVIDENCE_REJECTED').map((l) => [l.reason, l.count])).toEqual([['digest-mismatch', 1]]);
    clock.advance(61_000);
    intake.evidenceDropped('evicted-age', 3, '(sweep)', 'stale');
    expect(lines.at(-1)).toMatchObject({ code: 'GW_ERR_VMC_EVIDENCE_REJECTED', reason: 'evicted-age', count: 3, suppressedSinceLast: 0 });
    expect(intake.stats.evidence.rejected['evicted-age']).toBe(3);
    // Retention's drops are counted like the others, and noted at info without an error code.
    const infoLines: Record<string, unknown>[] = [];
    const noting = new EventIntake({ store, clock, logger: pino({ level: 'info' }, { write: (line: string) => void infoLines.push(JSON.parse(line) as Record<string, unknown>) }), consumerName: 'vmc-t', maxMessageBytes: 4096 });
    noting.evidenceDropped('expired', 2, '(sweep)', 'kept its retention');
    expect(infoLines).toEqual([expect.objectContaining({ level: 30, reason: 'expired', count: 2, msg: 'verified evidence kept its retention; dropped' })]);
    expect(infoLines[0]).not.toHaveProperty('code');
    expect(noting.stats.evidence.rejected.expired).toBe(2);
  });

  it('throws when the store fails, so the message is not acknowledged', async () => {
    await store.close();
    const event = new EventMaker('post-a').crossing('c1', 20);
    await expect(intake.handle(topicOf(event), Buffer.from(JSON.stringify(event)))).rejects.toThrow();
    store = await VmcStore.open(`sqlite:${join(tempDir('vmc-intake-'), 'vmc.db')}`, clock.now());
  });
});

describe('the post segment of a topic filter', () => {
  it('is the last + before the #, or the last segment before it', () => {
    expect(postSegmentOf('border/v1/+/#')).toBe(2);
    expect(postSegmentOf('sites/+/gateway/+/#')).toBe(3);
    expect(postSegmentOf('border/v1/post-a/#')).toBe(2);
  });
});
