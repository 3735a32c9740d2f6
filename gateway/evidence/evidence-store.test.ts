/**
 * The evidence store on a real gateway database and outbox: pieces are kept once under their
 * digest; the byte bound evicts the oldest first in an `evidence.evicted` (and a log line) whose
 * rows go in its transaction; full images past their days are evicted on the post clock; files a
 * kill left unindexed, temporary files and rows whose file is gone are cleaned up at start; bytes
 * that do not match their digest are never kept, and a damaged piece is found when read through.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EVIDENCE_CHUNK_BYTES } from '../../contract/catalogue.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { startTestGateway, tempDir, testConfig } from '../../test/helpers/test-config.js';
import type { Gateway } from '../daemon.js';
import { BytesInFlight } from '../../core/bytes-in-flight.js';
import { EvidenceStore, type EvidenceInput } from './evidence-store.js';
import { UploadProgress } from './upload-progress.js';

interface Stored {
  type: string;
  source: string;
  subject?: string;
  data: Record<string, unknown>;
}

const KIB = 1024;
const MIB = 1024 * KIB;
const digestOf = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const snapshot = (crossingId: string | null = 'c-1'): EvidenceInput => ({
  kind: 'plate-snapshot',
  contentType: 'image/jpeg',
  crossing: crossingId === null ? null : { crossingId, laneId: 'lane-1' },
  deviceId: 'cam-1',
  forward: true,
});
/**
 * What `store.picture` answers, its reservation released at once (nothing here sends it), with
 * the budget left empty after each read: a read that answers null keeps nothing reserved either.
 */
async function picture(store: EvidenceStore, digest: string): Promise<{ body: Buffer; contentType: string } | null> {
  const budget = new BytesInFlight(16 * MIB);
  const held = await store.picture(digest, budget);
  held?.reservation.release();
  expect(budget.held).toBe(0);
  return held && { body: held.body, contentType: held.contentType };
}

describe('evidence store', () => {
  let gateway: Gateway | undefined;
  let store: EvidenceStore | undefined;
  afterEach(async () => {
    await store?.stop();
    await gateway?.stop();
    store = undefined;
    gateway = undefined;
  });

  async function open(options: { dir?: string; maxBytes?: number; fullImageDays?: number; clock?: ManualClock } = {}) {
    const dir = options.dir ?? tempDir('evidence-');
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    gateway ??= await startTestGateway(testConfig(['mqtt://127.0.0.1:1']), dir);
    const g = gateway;
    const clock = options.clock ?? new ManualClock(Date.UTC(2026, 10, 27, 8));
    const uploads = new UploadProgress(g.outbox.database);
    store = await EvidenceStore.open({
      db: g.outbox.database,
      dir: join(dir, 'evidence'),
      maxBytes: options.maxBytes ?? 1024 * KIB,
      fullImageDays: options.fullImageDays ?? 7,
      reserveBytes: 0,
      maxEventBytes: 64 * KIB,
      gateway: g,
      uploads,
      clock,
      logger,
    });
    const events = async (type?: string): Promise<Stored[]> => {
      while (g.outbox.durableSeq < g.outbox.lastSeq) await once(g.outbox, 'committed');
      return g.outbox
        .readFrom(0, 100_000)
        .map((row) => JSON.parse(row.payload) as Stored)
        .filter((event) => type === undefined || event.type === type);
    };
    return { dir, store, uploads, clock, lines, events };
  }

  it('keeps a piece once under its digest, tmp+rename, indexed with its evidence.stored and its transfer', async () => {
    const { dir, store, uploads, events } = await open();
    const body = randomBytes(70 * KIB);
    const stored = await store.put(body, snapshot(), digestOf(body));
    expect(stored).toEqual({ digest: digestOf(body), bytes: body.length, chunks: 3 });
    const hex = digestOf(body).slice(7);
    expect(existsSync(join(dir, 'evidence', hex.slice(0, 2), hex))).toBe(true);
    expect(readdirSync(join(dir, 'evidence')).filter((name) => name.startsWith('.tmp-'))).toEqual([]);
    expect(store.heldBytes).toBe(body.length);
    const [event] = await events('evidence.stored');
    expect(event).toMatchObject({ source: '/border/test-post/lane-1', subject: 'c-1', data: { digest: digestOf(body), kind: 'plate-snapshot', contentType: 'image/jpeg', bytes: 70 * KIB, crossingId: 'c-1', deviceId: 'cam-1', chunks: 3 } });
    expect(uploads.pending(10)).toMatchObject([{ digest: digestOf(body), requestId: null, nextIndex: 0, chunks: 3 }]);

    // The same bytes for another crossing: nothing written or sent again, the VMC told of the tie.
    expect(await store.put(body, snapshot('c-2'))).toEqual({ digest: digestOf(body), bytes: body.length, chunks: 0 });
    expect((await events('evidence.stored')).map((e) => [e.data.crossingId, e.data.chunks])).toEqual([
      ['c-1', 3],
      ['c-2', 0],
    ]);
    expect(store.heldBytes).toBe(body.length);
    expect(uploads.count()).toBe(1);
    // Without a crossing: on the post pseudo-lane.
    const loose = randomBytes(100);
    await store.put(loose, snapshot(null));
    expect((await events('evidence.stored')).at(-1)).toMatchObject({ source: '/border/test-post/post', data: { crossingId: null } });
    expect((await events('evidence.stored')).at(-1)?.subject).toBeUndefined();
  });

  it('evicts the oldest first to stay under its bound, and says so in evidence.evicted and the log', async () => {
    const { dir, store, events, lines } = await open({ maxBytes: 200 * KIB });
    const pieces = [randomBytes(60 * KIB), randomBytes(60 * KIB), randomBytes(60 * KIB)];
    for (const [i, body] of pieces.entries()) await store.put(body, snapshot(`c-${i}`));
    expect(store.heldBytes).toBe(180 * KIB);
    expect(await events('evidence.evicted')).toEqual([]);

    // 50 KiB more: the oldest (c-0) goes, its 2 unsent chunks reported.
    const fourth = randomBytes(50 * KIB);
    await store.put(fourth, snapshot('c-3'));
    // 150 KiB more: c-1 and c-2 go (oldest first), c-3 stays.
    const fifth = randomBytes(150 * KIB);
    await store.put(fifth, snapshot('c-4'));
    const evicted = await events('evidence.evicted');
    expect(evicted.map((e) => e.data)).toEqual([
      { reason: 'bound', evicted: [{ digest: digestOf(pieces[0]!), kind: 'plate-snapshot', bytes: 60 * KIB, storedAt: '2026-11-27T08:00:00.000Z', unsent: 2 }], heldBytes: 120 * KIB, maxBytes: 200 * KIB },
      {
        reason: 'bound',
        evicted: [
          { digest: digestOf(pieces[1]!), kind: 'plate-snapshot', bytes: 60 * KIB, storedAt: '2026-11-27T08:00:00.000Z', unsent: 2 },
          { digest: digestOf(pieces[2]!), kind: 'plate-snapshot', bytes: 60 * KIB, storedAt: '2026-11-27T08:00:00.000Z', unsent: 2 },
        ],
        heldBytes: 50 * KIB,
        maxBytes: 200 * KIB,
      },
    ]);
    expect(evicted.every((e) => e.source === '/border/test-post/post')).toBe(true);
    // Each eviction was committed before the piece it made room for.
    const order = (await events()).filter((e) => e.type.startsWith('evidence.')).map((e) => `${e.type} ${typeof e.data.crossingId === 'string' ? e.data.crossingId : ''}`);
    expect(order).toEqual(['evidence.stored c-0', 'evidence.stored c-1', 'evidence.stored c-2', 'evidence.evicted ', 'evidence.stored c-3', 'evidence.evicted ', 'evidence.stored c-4']);
    expect(store.heldBytes).toBe(200 * KIB);
    for (const body of pieces) expect(store.get(digestOf(body))).toBeUndefined();
    for (const body of pieces) expect(existsSync(join(dir, 'evidence', digestOf(body).slice(7, 9), digestOf(body).slice(7)))).toBe(false);
    expect(store.get(digestOf(fourth))).toBeDefined();
    const logged = lines.filter((line) => line.msg === 'evidence store full: 2 oldest piece(s) evicted');
    expect(logged).toMatchObject([{ reason: 'bound', pieces: 2, bytes: 120 * KIB, heldBytes: 50 * KIB, maxBytes: 200 * KIB }]);

    // Larger than the whole bound: refused, nothing evicted for it.
    expect(await store.put(randomBytes(201 * KIB), snapshot('c-5'))).toBeNull();
    expect(await events('evidence.evicted')).toHaveLength(2);
    expect(lines.some((line) => line.code === 'GW_ERR_EVIDENCE_WRITE')).toBe(true);
  });

  it('evicts full X-ray images past their days on the post clock, and nothing else', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 27, 8));
    const { dir, store, events } = await open({ fullImageDays: 2, clock });
    const image = join(dir, 'scan.pgm');
    writeFileSync(image, Buffer.concat([Buffer.from('P5 64 64 65535\n'), randomBytes(64 * 64 * 2)]));
    const full = await store.putFile(image, { kind: 'xray-image', contentType: 'image/x-portable-graymap', crossing: { crossingId: 'c-9', laneId: 'lane-2' }, deviceId: 'xray-1', forward: false });
    expect(full).toMatchObject({ chunks: 0, bytes: 15 + 64 * 64 * 2 });
    const thumbnail = randomBytes(3 * KIB);
    await store.put(thumbnail, { kind: 'xray-thumbnail', contentType: 'image/png', crossing: { crossingId: 'c-9', laneId: 'lane-2' }, deviceId: 'xray-1', forward: true, shows: { width: 64, height: 64, of: full!.digest } });
    expect((await events('evidence.stored')).map((e) => e.data)).toEqual([
      { digest: full!.digest, kind: 'xray-image', contentType: 'image/x-portable-graymap', bytes: full!.bytes, crossingId: 'c-9', deviceId: 'xray-1', chunks: 0 },
      { digest: digestOf(thumbnail), kind: 'xray-thumbnail', contentType: 'image/png', bytes: 3 * KIB, crossingId: 'c-9', deviceId: 'xray-1', chunks: 1, imageWidth: 64, imageHeight: 64, of: full!.digest },
    ]);

    clock.advance(47 * 3_600_000);
    await store.idle();
    expect(await events('evidence.evicted')).toEqual([]);
    clock.advance(2 * 3_600_000); // the hourly sweep after 48 h
    await store.idle();
    const [evicted] = await events('evidence.evicted');
    expect(evicted?.data).toEqual({ reason: 'retention', evicted: [{ digest: full!.digest, kind: 'xray-image', bytes: full!.bytes, storedAt: '2026-11-27T08:00:00.000Z', unsent: 0 }], heldBytes: 3 * KIB, maxBytes: 1024 * KIB });
    expect(store.get(digestOf(thumbnail))).toBeDefined();
    expect(store.get(full!.digest)).toBeUndefined();
  });

  it('removes at start what a kill left: unindexed files, temporary files, and rows whose file is gone', async () => {
    const first = await open();
    const kept = randomBytes(10 * KIB);
    const lost = randomBytes(12 * KIB);
    await first.store.put(kept, snapshot('c-1'));
    await first.store.put(lost, snapshot('c-2'));
    await first.store.stop();
    store = undefined;
    // A kill between writing a piece and committing its event leaves an unindexed file (and maybe
    // a temporary one); a data directory restored without its evidence folder loses files.
    const orphan = randomBytes(5 * KIB);
    const orphanPath = join(first.dir, 'evidence', digestOf(orphan).slice(7, 9), digestOf(orphan).slice(7));
    mkdirSync(join(orphanPath, '..'), { recursive: true });
    writeFileSync(orphanPath, orphan);
    writeFileSync(join(first.dir, 'evidence', '.tmp-999-1'), randomBytes(100));
    const lostPath = join(first.dir, 'evidence', digestOf(lost).slice(7, 9), digestOf(lost).slice(7));
    rmSync(lostPath);

    const again = await open({ dir: first.dir });
    expect(existsSync(orphanPath)).toBe(false);
    expect(existsSync(join(first.dir, 'evidence', '.tmp-999-1'))).toBe(false);
    expect(again.store.get(digestOf(lost))).toBeUndefined();
    expect(again.uploads.pending(10).map((u) => u.digest)).toEqual([digestOf(kept)]);
    expect(again.store.get(digestOf(kept))).toBeDefined();
    expect(again.store.heldBytes).toBe(10 * KIB);
    expect(again.lines.find((line) => line.code === 'GW_ERR_EVIDENCE_DAMAGED')).toMatchObject({ pieces: 1, first: digestOf(lost) });
    expect(again.lines.find((line) => line.msg === 'evidence files left by an interrupted write removed')).toMatchObject({ unindexed: 1, strays: 1 });
  });

  it('keeps nothing whose bytes do not match its digest, copies a file hashing it, and finds a damaged piece', async () => {
    const { dir, store, events } = await open();
    const body = randomBytes(2 * KIB);
    expect(await store.put(body, snapshot(), `sha256:${'0'.repeat(64)}`)).toBeNull();
    expect(await events('evidence.stored')).toEqual([]);

    const file = join(dir, 'scan.pgm');
    const content = Buffer.concat([Buffer.from('P5 300 200 65535\n'), randomBytes(300 * 200 * 2)]);
    writeFileSync(file, content);
    const copied = await store.putFile(file, { kind: 'xray-image', contentType: 'image/x-portable-graymap', crossing: null, deviceId: 'xray-1', forward: false });
    expect(copied).toEqual({ digest: digestOf(content), bytes: content.length, chunks: 0 });
    expect(await store.intact(digestOf(content))).toBe(true);
    // A bit flipped on disk: found when read through, and dropped.
    const path = join(dir, 'evidence', digestOf(content).slice(7, 9), digestOf(content).slice(7));
    const damaged = Buffer.from(content);
    damaged[EVIDENCE_CHUNK_BYTES + 7] = (damaged[EVIDENCE_CHUNK_BYTES + 7]! + 1) % 256;
    writeFileSync(path, damaged);
    expect(await store.intact(digestOf(content))).toBe(false);
    expect(store.get(digestOf(content))).toBeUndefined();
    expect(store.heldBytes).toBe(0);
    // A file that is not regular is not copied.
    expect(await store.putFile(dir, { kind: 'xray-image', contentType: 'image/x-portable-graymap', crossing: null, deviceId: 'xray-1', forward: false })).toBeNull();
  });

  it('is idle only once the pieces asked for while it waited are stored too', async () => {
    const { store } = await open();
    const first = randomBytes(64 * KIB);
    const second = randomBytes(64 * KIB);
    const storingFirst = store.put(first, snapshot('c-1'));
    const idle = store.idle();
    // Asked for after idle() began, before the first piece is written: a clock that steps time
    // must not move on with it half written (post-evidence.ts).
    const storingSecond = store.put(second, snapshot('c-2'));
    await idle;
    expect(store.busy).toBe(false);
    expect(store.get(digestOf(first))).toBeDefined();
    expect(store.get(digestOf(second))).toBeDefined();
    await Promise.all([storingFirst, storingSecond]);
  });

  it('is busy while a piece is read through or a damaged one removed, and idle once they are done', async () => {
    const { dir, store } = await open();
    const body = randomBytes(2 * KIB);
    const digest = digestOf(body);
    expect(await store.put(body, snapshot())).toMatchObject({ digest });
    expect(store.busy).toBe(false);
    // Hashing the file runs in the thread pool: a clock that steps time waits for it (post-evidence.ts).
    const intact = store.intact(digest);
    expect(store.busy).toBe(true);
    await store.idle();
    expect(store.busy).toBe(false);
    expect(await intact).toBe(true);
    // Changed on disk: the read finds it, and its file's removal is waited for too.
    const path = join(dir, 'evidence', digest.slice(7, 9), digest.slice(7));
    writeFileSync(path, randomBytes(2 * KIB));
    const damaged = store.intact(digest);
    await store.idle();
    expect(existsSync(path)).toBe(false);
    expect(store.busy).toBe(false);
    expect(await damaged).toBe(false);
    // Grown past its size: read no further than one byte beyond it, and dropped.
    const other = randomBytes(2 * KIB);
    const otherPath = join(dir, 'evidence', digestOf(other).slice(7, 9), digestOf(other).slice(7));
    expect(await store.put(other, snapshot())).toMatchObject({ digest: digestOf(other) });
    writeFileSync(otherPath, Buffer.concat([other, randomBytes(1)]));
    expect(await store.files.digestOnDisk(digestOf(other), other.length)).toBe('longer');
    // Far past it (a file that keeps growing): the bytes read, counted at the file handle, stop
    // within one read of its size, not at the end of the file.
    writeFileSync(otherPath, Buffer.concat([other, Buffer.alloc(8 * MIB)]));
    const handle = await openFile(otherPath, 'r');
    const read = vi.spyOn(Object.getPrototypeOf(handle) as FileHandle, 'read');
    await handle.close();
    try {
      expect(await store.files.digestOnDisk(digestOf(other), other.length)).toBe('longer');
      const bytesRead = (await Promise.all(read.mock.results.map((result) => result.value as Promise<{ bytesRead: number }>))).reduce((sum, r) => sum + r.bytesRead, 0);
      expect(bytesRead).toBeGreaterThan(other.length);
      expect(bytesRead).toBeLessThanOrEqual(other.length + MIB);
    } finally {
      read.mockRestore();
    }
    expect(await store.intact(digestOf(other))).toBe(false);
    expect(store.get(digestOf(other))).toBeUndefined();
  });

  it('starts no read once it is stopping: a picture or a read-through asked for then is answered empty, the piece kept', async () => {
    const { store } = await open();
    const piece = randomBytes(3 * KIB);
    await store.put(piece, snapshot());
    expect(await picture(store, digestOf(piece))).toEqual({ body: piece, contentType: 'image/jpeg' });
    const stopping = store.stop();
    // Asked for after the stop began: nothing is read (the stop waits only for what was under way).
    expect(await picture(store, digestOf(piece))).toBeNull();
    expect(await store.intact(digestOf(piece))).toBe(false);
    expect(store.busy).toBe(false);
    await stopping;
    // Not dropped as damaged: the answers above were "not now", not "gone".
    expect(store.get(digestOf(piece))).toMatchObject({ digest: digestOf(piece) });
  });

  it('gives a plate snapshot or a thumbnail back as stored, the entry picture of a crossing, and drops what changed or grew', async () => {
    const { dir, store } = await open();
    const entry = randomBytes(5 * KIB);
    const exit = randomBytes(6 * KIB);
    // The exit camera's picture stored first (its entry picture came late): still not the entry picture.
    await store.put(exit, { ...snapshot('c-4'), deviceId: 'exit-cam' });
    await store.put(entry, snapshot('c-4'));
    expect(await picture(store, digestOf(entry))).toEqual({ body: entry, contentType: 'image/jpeg' });
    const fromEntry = (deviceId: string | null) => deviceId !== 'exit-cam';
    expect(store.entrySnapshot('c-4', fromEntry)).toBe(digestOf(entry));
    expect(store.entrySnapshot('c-4', () => true)).toBe(digestOf(exit));
    expect(store.entrySnapshot('c-5', fromEntry)).toBeNull();
    expect(await picture(store, `sha256:${'0'.repeat(64)}`)).toBeNull();
    // A full scan is not a picture for the console.
    const file = join(dir, 'scan.pgm');
    writeFileSync(file, Buffer.concat([Buffer.from('P5 64 64 65535\n'), randomBytes(64 * 64 * 2)]));
    const full = await store.putFile(file, { kind: 'xray-image', contentType: 'image/x-portable-graymap', crossing: null, deviceId: 'xray-1', forward: false });
    expect(await picture(store, full!.digest)).toBeNull();
    // Changed on disk (same length, one byte), then grown: neither is served.
    const path = join(dir, 'evidence', digestOf(exit).slice(7, 9), digestOf(exit).slice(7));
    const changed = Buffer.from(exit);
    changed[9] = (changed[9]! + 1) % 256;
    writeFileSync(path, changed);
    expect(await picture(store, digestOf(exit))).toBeNull();
    // Found damaged: dropped from the store, as a read-through for the VMC drops it.
    expect(store.get(digestOf(exit))).toBeUndefined();
    expect(store.entrySnapshot('c-4', () => true)).toBe(digestOf(entry));
    // Grown: refused and dropped too.
    const entryPath = join(dir, 'evidence', digestOf(entry).slice(7, 9), digestOf(entry).slice(7));
    writeFileSync(entryPath, Buffer.concat([entry, Buffer.from('more')]));
    expect(await picture(store, digestOf(entry))).toBeNull();
    expect(store.get(digestOf(entry))).toBeUndefined();
  });

  it("reserves a picture's bytes in the caller's budget before reading it, refuses one that does not fit as busy, one always", async () => {
    const { store } = await open({ maxBytes: 64 * 1024 * KIB });
    const budget = new BytesInFlight(16 * 1024 * KIB);
    const [first, second, large] = [randomBytes(9 * 1024 * KIB), randomBytes(9 * 1024 * KIB), randomBytes(20 * 1024 * KIB)];
    for (const body of [first, second, large]) await store.put(body, { ...snapshot(), forward: false });
    const reading = store.picture(digestOf(first), budget);
    expect(budget.held).toBe(first.length);
    await expect(store.picture(digestOf(second), budget)).rejects.toMatchObject({ code: 'GW_ERR_IMAGE_BUSY' });
    const held = await reading;
    expect(held?.body.equals(first)).toBe(true);
    // Read, not yet released (its answer not yet sent): still held.
    await expect(store.picture(digestOf(second), budget)).rejects.toMatchObject({ code: 'GW_ERR_IMAGE_BUSY' });
    held?.reservation.release();
    const again = await store.picture(digestOf(second), budget);
    expect(again?.body.equals(second)).toBe(true);
    again?.reservation.release();
    // Larger than the budget, alone: read.
    const alone = await store.picture(digestOf(large), budget);
    expect(alone?.body.length).toBe(20 * 1024 * KIB);
    alone?.reservation.release();
    // Not held, or not a picture: nothing stays reserved.
    expect(await store.picture(`sha256:${'0'.repeat(64)}`, budget)).toBeNull();
    expect(budget.held).toBe(0);
  });
});

