/**
 * Emitted events match the JSON Schemas in docs/schemas (checked with ajv, a validator
 * independent of the zod catalogue they were generated from), and those files are up to date.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { postConfigSchema } from '../config/schema.js';
import { ManualClock } from '../test/helpers/manual-clock.js';
import { SyntheticTraffic } from '../gateway/demo/synthetic-traffic.js';
import { EVENT_TYPES, type EventData, type EventType } from './catalogue.js';
import { MAX_ID_LENGTH } from '../core/identifiers.js';
import { createEventFactory, serialise, sourceOf, withSeq, type CloudEvent, type EventDraft } from './envelope.js';
import { checkEvent } from './event-validator.js';
import { EVENT_SCHEMA_DIR, envelopeJsonSchema, eventJsonSchema } from './json-schemas.js';

function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function runSyntheticDay(seed: number) {
  const clock = new ManualClock();
  const factory = createEventFactory('demo-post', clock);
  const emitted: (EventDraft & { seq: number })[] = [];
  const config = postConfigSchema.parse({
    version: 1,
    post: { id: 'demo-post' },
    lanes: [{ id: 'lane-1' }, { id: 'lane-2' }, { id: 'lane-3' }, { id: 'lane-4' }],
    uplink: { brokers: ['mqtt://127.0.0.1:1883'] },
  });
  const traffic = new SyntheticTraffic({
    postId: 'demo-post',
    lanes: config.lanes,
    clock,
    clockQuality: () => ({ synchronised: true, offsetMs: 0.4 }),
    emit: <T extends EventType>(type: T, laneId: string, data: EventData<T>, subject?: string) => {
      emitted.push({ ...factory.create(type, laneId, data, subject), seq: emitted.length + 1 });
      return Promise.resolve();
    },
    vehiclesPerHourPerLane: 20,
    random: seededRandom(seed),
  });
  traffic.start();
  clock.advance(24 * 3600 * 1000);
  traffic.stop();
  return emitted;
}

describe('event contract', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const validators = new Map(
    EVENT_TYPES.map((type) => [type, ajv.compile(JSON.parse(readFileSync(join(EVENT_SCHEMA_DIR, `${type}.json`), 'utf8')) as object)]),
  );

  it('keeps docs/schemas in step with the catalogue', () => {
    expect(JSON.parse(readFileSync(join(EVENT_SCHEMA_DIR, 'cloudevent.json'), 'utf8'))).toEqual(envelopeJsonSchema());
    for (const type of EVENT_TYPES) {
      expect(JSON.parse(readFileSync(join(EVENT_SCHEMA_DIR, `${type}.json`), 'utf8')), type).toEqual(eventJsonSchema(type));
    }
  });

  it('every event of a synthetic day validates against its published schema', () => {
    const emitted = runSyntheticDay(42);
    expect(emitted.length).toBeGreaterThan(1000);
    const types = new Set(emitted.map((e) => e.type));
    for (const type of ['vehicle.arrived', 'vehicle.registered', 'vehicle.weighed', 'risk.assessed', 'xray.scanned', 'inspection.completed', 'vehicle.released', 'vehicle.exited', 'crossing.completed']) {
      expect(types.has(type as EventType), type).toBe(true);
    }
    for (const event of JSON.parse(JSON.stringify(emitted)) as EventDraft[]) {
      const validate = validators.get(event.type)!;
      expect(validate(event), `${event.type}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
  });

  it('rejects an event that breaks its schema', () => {
    const validate = validators.get('crossing.completed')!;
    expect(validate({ specversion: '1.0', id: 'x', source: '/border/p/l', type: 'crossing.completed', time: 'now', datacontenttype: 'application/json', data: {}, seq: 1 })).toBe(false);
  });

  it('takes a source whose post and lane ids are at the ids\' bound, and refuses one past it, in the published schema and the validator alike', () => {
    const at = 'a'.repeat(MAX_ID_LENGTH);
    const past = 'b'.repeat(MAX_ID_LENGTH + 1);
    const event = { ...(JSON.parse(JSON.stringify(runSyntheticDay(3).find((e) => e.type === 'crossing.completed'))) as CloudEvent<'crossing.completed'>) };
    const validate = validators.get('crossing.completed')!;
    const withIds = ([postId, laneId]: readonly [string, string]) => ({ ...event, source: sourceOf(postId, laneId), data: { ...event.data, postId, laneId } });
    for (const ids of [[at, at], [at, 'l'], ['p', at]] as const) {
      expect(validate(withIds(ids)), `${ajv.errorsText(validate.errors)}`).toBe(true);
      expect(checkEvent(withIds(ids))).toMatchObject({ ok: true });
    }
    for (const ids of [[past, 'l'], ['p', past], ['-p', 'l']] as const) {
      expect(validate(withIds(ids)), ids.join('/')).toBe(false);
      expect(checkEvent(withIds(ids)), ids.join('/')).toMatchObject({ ok: false, reason: 'envelope' });
      // The data's own ids are held to the same rule.
      expect(validate({ ...withIds(ids), source: event.source }), ids.join('/')).toBe(false);
      expect(checkEvent({ ...withIds(ids), source: event.source }), ids.join('/')).toMatchObject({ ok: false, reason: 'data' });
    }
  });

  it("splices the outbox's seq into a draft's JSON exactly as serialising the draft with it would", () => {
    for (const { seq, ...draft } of runSyntheticDay(7).slice(0, 2000)) {
      const { json, bytes } = serialise(draft);
      expect(withSeq(json, seq)).toBe(JSON.stringify({ ...draft, seq }));
      expect(bytes).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify({ ...draft, seq: Number.MAX_SAFE_INTEGER, replayed: true })));
    }
  });

  it('gives time-ordered unique ids and a source naming post and lane', () => {
    const clock = new ManualClock();
    const factory = createEventFactory('p1', clock);
    const ids: string[] = [];
    for (let i = 0; i < 1000; i += 1) {
      ids.push(factory.create('vehicle.released', 'lane-2', { crossingId: 'c', clock: { synchronised: false, offsetMs: null }, sinceArrivalSec: 1 }).id);
      if (i % 100 === 0) clock.advance(1);
    }
    expect(new Set(ids).size).toBe(1000);
    const firstOfEachMs = ids.filter((_, i) => i % 100 === 0);
    expect([...firstOfEachMs].sort()).toEqual(firstOfEachMs);
    const event = factory.create('vehicle.released', 'lane-2', { crossingId: 'c', clock: { synchronised: false, offsetMs: null }, sinceArrivalSec: 1 }, 'c');
    expect(event).toMatchObject({ specversion: '1.0', source: '/border/p1/lane-2', subject: 'c', time: new Date(clock.now()).toISOString() });
  });

  it('synthetic traffic has the demo shares: ~78/11/11 channels, ~27% X-ray, ~100 and ~135 min', () => {
    const crossings = runSyntheticDay(7).filter((e) => e.type === 'crossing.completed').map((e) => e.data as EventData<'crossing.completed'>);
    expect(crossings.length).toBeGreaterThan(1000);
    const share = (predicate: (c: (typeof crossings)[number]) => boolean) => crossings.filter(predicate).length / crossings.length;
    expect(share((c) => c.channel === 'green')).toBeCloseTo(0.78, 1);
    expect(share((c) => c.channel === 'red')).toBeCloseTo(0.11, 1);
    expect(share((c) => c.xray)).toBeGreaterThan(0.22);
    expect(share((c) => c.xray)).toBeLessThan(0.32);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean(crossings.map((c) => c.durations.registrationSec ?? 0)) / 60).toBeGreaterThan(85);
    expect(mean(crossings.map((c) => c.durations.registrationSec ?? 0)) / 60).toBeLessThan(115);
    expect(mean(crossings.map((c) => c.durations.crossingSec)) / 60).toBeGreaterThan(115);
    expect(mean(crossings.map((c) => c.durations.crossingSec)) / 60).toBeLessThan(155);
    expect(new Set(crossings.map((c) => c.direction)).size).toBe(5);
  });
});
