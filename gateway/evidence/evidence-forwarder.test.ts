/**
 * Chunking through a real outbox: a piece's `evidence.chunk` events concatenate to its bytes
 * (32 KiB each, the last shorter, base64), on its crossing's lane; no more than
 * `maxQueuedChunks` are in the outbox unacknowledged at once; each chunk's progress is committed
 * in its own transaction, so a forwarder started again on the same database (a restart) resumes at
 * the first chunk the outbox does not hold, skipping none and repeating none; a requested piece's
 * chunks carry the request's id and go after the pieces sent as stored.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EVIDENCE_CHUNK_BYTES, type EventData } from '../../contract/catalogue.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { startTestGateway, tempDir, testConfig } from '../../test/helpers/test-config.js';
import type { Gateway } from '../daemon.js';
import { EvidenceForwarder, gatewayChunkOutbox, type ChunkOutbox } from './evidence-forwarder.js';
import { storeRequests } from './evidence-requests.js';
import { EvidenceStore } from './evidence-store.js';
import { UploadProgress } from './upload-progress.js';

interface Stored {
  type: string;
  source: string;
  subject?: string;
  seq: number;
  data: Record<string, unknown>;
}
type Chunk = EventData<'evidence.chunk'>;

const digestOf = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const logger = pino({ level: 'silent' });

describe('evidence forwarder', () => {
  let gateway: Gateway | undefined;
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
    await gateway?.stop();
    gateway = undefined;
  });

  /** The real outbox, with the broker's acknowledgements made by the test (`ack`). */
  function ackingOutbox(g: Gateway): { outbox: ChunkOutbox; ack: (seq: number) => void } {
    const base = gatewayChunkOutbox(g);
    const listeners = new Set<(seq: number | null) => void>();
    return {
      outbox: {
        append: (...args) => base.append(...args),
        storedChunkSeqs: () => base.storedChunkSeqs(),
        onLeft: (listener) => {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
      },
      ack: (seq) => {
        g.outbox.remove(seq);
        for (const listener of listeners) listener(seq);
      },
    };
  }

  async function post(dir = tempDir('forwarder-'), maxQueuedChunks = 4) {
    gateway ??= await startTestGateway(testConfig(['mqtt://127.0.0.1:1']), dir);
    const g = gateway;
    const clock = new ManualClock(Date.UTC(2026, 10, 27, 8));
    const uploads = new UploadProgress(g.outbox.database);
    const { outbox, ack } = ackingOutbox(g);
    let forwarder: EvidenceForwarder | null = null;
    const store = await EvidenceStore.open({
      db: g.outbox.database,
      dir: join(dir, 'evidence'),
      maxBytes: 64 * 1024 * 1024,
      fullImageDays: 7,
      reserveBytes: 0,
      maxEventBytes: 64 * 1024,
      gateway: g,
      uploads,
      clock,
      logger,
      onQueued: () => forwarder?.wake(),
    });
    const started = new EvidenceForwarder({ outbox, pieces: store, uploads, maxQueuedChunks, maxEventBytes: 64 * 1024, clock, logger });
    forwarder = started;
    started.start();
    stops.push(async () => {
      await started.stop();
      await store.stop();
    });
    const events = async (): Promise<Stored[]> => {
      await started.idle();
      while (g.outbox.durableSeq < g.outbox.lastSeq) await once(g.outbox, 'committed');
      return g.outbox.readFrom(0, 100_000).map((row) => JSON.parse(row.payload) as Stored);
    };
    const chunks = async (): Promise<Stored[]> => (await events()).filter((e) => e.type === 'evidence.chunk');
    /** Acknowledges every chunk in the outbox, as the broker would; returns them. */
    const deliver = async (): Promise<Stored[]> => {
      const sent = await chunks();
      for (const chunk of sent) ack(chunk.seq);
      await started.idle();
      return sent;
    };
    const progress = (): { next_index: number; chunks: number }[] => g.outbox.database.prepare<[], { next_index: number; chunks: number }>('SELECT next_index, chunks FROM evidence_uploads ORDER BY id').all();
    return { dir, store, uploads, forwarder: started, events, chunks, deliver, progress };
  }

  it('sends a piece as chunks that concatenate to its bytes, at most maxQueuedChunks at a time, progress committed with each', async () => {
    const { store, forwarder, chunks, deliver, progress } = await post(undefined, 4);
    const body = randomBytes(10 * EVIDENCE_CHUNK_BYTES + 1234);
    await store.put(body, { kind: 'plate-snapshot', contentType: 'image/jpeg', crossing: { crossingId: 'c-7', laneId: 'lane-2' }, deviceId: 'cam-2', forward: true });
    await store.idle();

    const received: Stored[] = [];
    for (let round = 0; round < 10 && received.length < 11; round += 1) {
      const queued = await chunks();
      // Never more than the window in the outbox; the progress row says exactly what it holds.
      expect(queued.length).toBeLessThanOrEqual(4);
      expect(forwarder.queuedChunks).toBe(queued.length);
      const next = Math.max(...queued.map((c) => (c.data as Chunk).index)) + 1;
      expect(progress()).toEqual(next >= 11 ? [] : [{ next_index: next, chunks: 11 }]);
      received.push(...(await deliver()));
    }
    expect(received.map((c) => (c.data as Chunk).index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const bytes = received.map((c) => Buffer.from((c.data as Chunk).data, 'base64'));
    expect(bytes.slice(0, 10).every((b) => b.length === EVIDENCE_CHUNK_BYTES)).toBe(true);
    expect(bytes[10]?.length).toBe(1234);
    expect(Buffer.concat(bytes).equals(body)).toBe(true);
    expect(digestOf(Buffer.concat(bytes))).toBe(digestOf(body));
    for (const chunk of received) {
      expect(chunk).toMatchObject({ source: '/border/test-post/lane-2', subject: 'c-7', data: { digest: digestOf(body), kind: 'plate-snapshot', contentType: 'image/jpeg', bytes: body.length, count: 11 } });
      expect(chunk.data.requestId).toBeUndefined();
      // Base64 of 32 KiB, inside the 64 KiB event cap with its envelope.
      expect(JSON.stringify(chunk).length).toBeLessThan(46 * 1024);
    }
    expect(progress()).toEqual([]);
    expect(forwarder.counts).toEqual({ chunks: 11, transfers: 1 });
  });

  it('resumes after a restart at the first chunk the outbox does not hold, skipping and repeating none', async () => {
    const dir = tempDir('forwarder-');
    const first = await post(dir, 3);
    const body = randomBytes(7 * EVIDENCE_CHUNK_BYTES);
    await first.store.put(body, { kind: 'xray-thumbnail', contentType: 'image/png', crossing: null, deviceId: 'xray-1', forward: true, shows: { width: 640, height: 480, of: null } });
    await first.store.idle();
    const delivered = await first.deliver(); // chunks 0-2 acknowledged; 3-5 appended
    expect(delivered.map((c) => (c.data as Chunk).index)).toEqual([0, 1, 2]);
    expect((await first.chunks()).map((c) => (c.data as Chunk).index)).toEqual([3, 4, 5]);
    expect(first.progress()).toEqual([{ next_index: 6, chunks: 7 }]);
    // The process goes (nothing more acknowledged); a new one on the same database resumes.
    for (const stop of stops.splice(0)) await stop();
    const second = await post(dir, 3);
    // The three in the outbox count against the window: nothing appended until they leave.
    expect(second.forwarder.queuedChunks).toBe(3);
    expect((await second.chunks()).map((c) => (c.data as Chunk).index)).toEqual([3, 4, 5]);
    const rest = [...(await second.deliver()), ...(await second.deliver())];
    const all = [...delivered, ...rest].map((c) => c.data as Chunk);
    expect(all.map((c) => c.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(Buffer.concat(all.map((c) => Buffer.from(c.data, 'base64'))).equals(body)).toBe(true);
    expect(second.progress()).toEqual([]);
  });

  it('sends a requested piece with the request id, after the pieces sent as stored', async () => {
    const { store, uploads, forwarder, chunks, deliver } = await post(undefined, 8);
    const full = randomBytes(3 * EVIDENCE_CHUNK_BYTES);
    const stored = await store.put(full, { kind: 'xray-image', contentType: 'image/x-portable-graymap', crossing: { crossingId: 'c-1', laneId: 'lane-1' }, deviceId: 'xray-1', forward: false });
    expect(stored?.chunks).toBe(0);
    expect(await chunks()).toEqual([]);
    const requests = storeRequests(store, uploads, () => forwarder.wake());
    expect(await requests.intact([stored!.digest, `sha256:${'a'.repeat(64)}`])).toEqual([stored!.digest]);
    // Queued in the answer's transaction (here: an event of the test's), then a snapshot arrives.
    await gateway!.emit('alarm.raised', 'post', { alarm: 'TEST', severity: 'info', message: 'answer', details: {} }, undefined, requests.queueWithin([stored!.digest], 'cmd-1'));
    const snapshot = randomBytes(100);
    await store.put(snapshot, { kind: 'plate-snapshot', contentType: 'image/jpeg', crossing: null, deviceId: 'cam-1', forward: true });
    requests.wake();
    await store.idle();
    const sent = await deliver();
    expect(sent.map((c) => [(c.data as Chunk).digest === digestOf(snapshot) ? 'snapshot' : 'full', (c.data as Chunk).index, (c.data as Chunk).requestId])).toEqual([
      ['snapshot', 0, undefined],
      ['full', 0, 'cmd-1'],
      ['full', 1, 'cmd-1'],
      ['full', 2, 'cmd-1'],
    ]);
    expect(Buffer.concat(sent.slice(1).map((c) => Buffer.from((c.data as Chunk).data, 'base64'))).equals(full)).toBe(true);
    expect(forwarder.queuedChunks).toBe(0);
    expect(uploads.count()).toBe(0);
  });
});
