/**
 * The CloudEvents 1.0 envelope of every event (structured JSON mode). The `id` is a UUIDv7, so ids
 * sort by creation time and never collide across restarts; `seq`, the gateway-wide sequence, is
 * given by the outbox in the same transaction that commits the event, so it is never reused.
 */
import { v7 as uuidv7 } from 'uuid';
import type { Clock } from '../core/clock.js';
import { randomPool } from '../core/random-pool.js';
import type { EventData, EventType } from './catalogue.js';
import { ID_PATTERN_SOURCE, POST_LANE_ID } from '../core/identifiers.js';

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';

/** Pseudo-lane of post-wide events (gateway alarms, post-level devices). */
export const POST_LANE = POST_LANE_ID;

/** An event before the outbox has given it its `seq`. */
export interface EventDraft<T extends EventType = EventType> {
  specversion: '1.0';
  id: string;
  source: string;
  type: T;
  time: string;
  subject?: string;
  datacontenttype: 'application/json';
  data: EventData<T>;
}

/** An event as published: the draft plus its `seq` and, when sent from the backlog, `replayed`. */
export type CloudEvent<T extends EventType = EventType> = EventDraft<T> & { seq: number; replayed?: true };

export interface EventFactory {
  /** Builds an event of `type` on `laneId`; `subject` is the crossing id where there is one. */
  create<T extends EventType>(type: T, laneId: string, data: EventData<T>, subject?: string): EventDraft<T>;
}

/** What the outbox and the uplink add to a draft's JSON at most: `seq` and the `replayed` flag. */
const ENVELOPE_EXTENSION_BYTES = Buffer.byteLength(`,"seq":${Number.MAX_SAFE_INTEGER},"replayed":true`);

/** A draft's JSON, and the bytes it takes once stored and published. */
export interface SerialisedDraft {
  json: string;
  /**
   * At most: the JSON plus the `seq` the outbox adds and the `replayed` flag the uplink may splice
   * in. What `uplink.maxEventBytes` is compared with.
   */
  bytes: number;
}

export function serialise(draft: EventDraft): SerialisedDraft {
  const json = JSON.stringify(draft);
  return { json, bytes: Buffer.byteLength(json) + ENVELOPE_EXTENSION_BYTES };
}

/**
 * `JSON.stringify({ ...draft, seq })` from `JSON.stringify(draft)`, without serialising the draft
 * again (for an evidence chunk that is 44 KB of base64, ~80 µs here): a draft has keys and no
 * `seq` of its own, so the spread adds `seq` as its last key.
 */
export function withSeq(draftJson: string, seq: number): string {
  return `${draftJson.slice(0, -1)},"seq":${seq}}`;
}

/**
 * An event's `source`, `/border/{postId}/{laneId}`: each an id by the one rule of post, lane and
 * device ids (core/identifiers.ts, at most MAX_ID_LENGTH characters), which the published JSON
 * Schema carries too. The VMC's post filters take exactly those ids.
 */
export const SOURCE_PATTERN_SOURCE = `^/border/${ID_PATTERN_SOURCE}/${ID_PATTERN_SOURCE}$`;
export const SOURCE_PATTERN = new RegExp(SOURCE_PATTERN_SOURCE);

export function sourceOf(postId: string, laneId: string): string {
  return `/border/${postId}/${laneId}`;
}

/** Lane id of an event, read back from its `source`. */
export function laneOf(event: Pick<EventDraft, 'source'>): string {
  return event.source.slice(event.source.lastIndexOf('/') + 1);
}

export function createEventFactory(postId: string, clock: Clock): EventFactory {
  const rng = randomPool();
  return {
    create(type, laneId, data, subject) {
      const now = clock.now();
      const event: EventDraft<typeof type> = {
        specversion: '1.0',
        id: uuidv7({ msecs: now, rng }),
        source: sourceOf(postId, laneId),
        type,
        time: new Date(now).toISOString(),
        datacontenttype: 'application/json',
        data,
      };
      if (subject !== undefined) event.subject = subject;
      return event;
    },
  };
}
