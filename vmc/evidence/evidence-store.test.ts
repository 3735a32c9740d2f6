/**
 * Evidence in the VMC store, one suite run against SQLite and PostgreSQL: chunks in any order,
 * duplicated and interleaved, assemble into one verified piece; a piece whose bytes do not match
 * its digest is rejected and never served; incomplete pieces are bounded in bytes, count and age.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EVIDENCE_CHUNK_BYTES } from '../../contract/catalogue.js';
import { createEventFactory, type CloudEvent } from '../../contract/envelope.js';
import { createTestDatabase, vmcStoreKinds } from '../../test/helpers/postgres.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { digestOf, EventMaker } from '../../test/helpers/vmc-events.js';
import type { EvidenceBounds } from './evidence-chunks.js';
import { VmcStore } from '../store/vmc-store.js';

const NOW = Date.UTC(2026, 10, 28, 12);
const KiB = 1024;
const DAY_MS = 86_400_000;
const BOUNDS: EvidenceBounds = { maxPieceBytes: 200 * KiB, maxPendingBytesPerPost: 100 * KiB, maxPendingPiecesPerPost: 3, maxPendingBytes: 150 * KiB, maxPendingAgeMs: 3_600_000, maxVerifiedAgeMs: 30 * DAY_MS };

const KINDS = vmcStoreKinds('vmc-evidence');

/** A deterministic stand-in for a picture: `size` bytes from a seed. */
function bytesOf(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  for (let offset = 0, n = 0; offset < size; n += 1) offset += createHash('sha256').update(`${seed}:${n}`).digest().copy(out, offset);
  return out;
}

const outcomes = (result: Awaited<ReturnType<VmcStore['store']>>) => result.evidence?.chunks.map((c) => c.outcome) ?? [];

describe.each(KINDS)('VMC evidence on $name', (kind) => {
  let spec: string;
  let cleanup: () => Promise<void>;
  let store: VmcStore;
  let post: EventMaker;

  beforeEach(async () => {
    const made = await kind.make();
    spec = made.spec;
    cleanup = made.drop;
    store = await VmcStore.open(spec, NOW, { evidenceBounds: BOUNDS });
    post = new EventMaker('post-a', new ManualClock(NOW - 60_000));
  });

  afterEach(async () => {
    await store.close();
    await cleanup();
  });

  /** Stores events one at a time (as the intake does), answering each one's chunk outcome. */
  const feed = async (events: CloudEvent[], nowMs = NOW): Promise<string[]> => {
    const seen: string[] = [];
    for (const event of events) seen.push(...outcomes(await store.store([event], 'vmc-1', nowMs)));
    return seen;
  };

  it('assembles chunks that come out of order, duplicated and interleaved, once, verified, and lists them beside the crossing with its regions', async () => {
    const snapshot = bytesOf(70 * KiB, 'plate'); // 3 chunks
    const thumbnail = bytesOf(40 * KiB, 'thumb'); // 2 chunks
    const fullImage = bytesOf(10, 'scan');
    const regions = [{ x: 120, y: 40, width: 64, height: 32, density: 0.91 }];
    const s = post.evidenceChunks(snapshot, 'plate-snapshot', 'image/jpeg');
    const t = post.evidenceChunks(thumbnail, 'xray-thumbnail', 'image/png');
    // A redelivery (the same event: no chunk outcome at all) and a re-sent copy of a chunk (another event id: the post sent it again).
    const resent = { ...post.evidenceChunks(snapshot, 'plate-snapshot', 'image/jpeg')[0]!, seq: 99 };
    expect(await feed([s[2]!, t[1]!, s[0]!, s[2]!, resent, t[1]!])).toEqual(['pending', 'pending', 'pending', 'duplicate']);
    expect(await store.evidence.blob(digestOf(snapshot))).toBeNull();
    expect(await feed([t[0]!, s[1]!])).toEqual(['stored', 'stored']);
    expect((await store.evidence.blob(digestOf(snapshot)))?.data.equals(snapshot)).toBe(true);
    expect((await store.evidence.blob(digestOf(thumbnail)))?.data.equals(thumbnail)).toBe(true);
    expect(await store.evidence.summary()).toMatchObject({ pieces: 2, bytes: snapshot.length + thumbnail.length, pendingPieces: 0, pendingBytes: 0 });
    // A chunk of a piece already stored, re-sent later, changes nothing and leaves nothing pending.
    expect(await feed([{ ...s[0]!, id: '0190c0de-0000-7000-8000-0000000000a1', seq: 100 }])).toEqual(['duplicate']);
    expect((await store.evidence.summary()).pendingPieces).toBe(0);

    // The announcements come after the chunks; the thumbnail names the full image, kept at the post.
    await feed([
      post.evidenceStored(snapshot, 'plate-snapshot', 'image/jpeg', 'c-1'),
      post.evidenceStored(thumbnail, 'xray-thumbnail', 'image/png', 'c-1', { deviceId: 'xray-1', imageWidth: 1024, imageHeight: 512, of: digestOf(fullImage) }),
      post.xrayScanned('c-1', { score: 0.83, modelVersion: 'xray-2026.11', regions }),
    ]);
    const view = await store.evidence.ofCrossing('post-a', 'c-1');
    expect(view.screening).toEqual({ score: 0.83, modelVersion: 'xray-2026.11', result: 'suspect', regions });
    expect(view.pieces.map((p) => [p.kind, p.complete, p.received, p.count, p.chunks])).toEqual([
      ['plate-snapshot', true, 3, 3, 3],
      ['xray-thumbnail', true, 2, 2, 2],
      ['xray-image', false, 0, 1, null],
    ]);
    expect(view.pieces[1]).toMatchObject({ digest: digestOf(thumbnail), of: digestOf(fullImage), imageWidth: 1024, imageHeight: 512, deviceId: 'xray-1', problem: null });
    // Another post's crossing of the same id is another crossing.
    expect((await store.evidence.ofCrossing('post-b', 'c-1')).pieces).toEqual([]);
  });

  it('rejects a piece whose bytes do not match its digest and never serves it; the right bytes sent again are kept', async () => {
    const picture = bytesOf(50 * KiB, 'snap');
    await feed([post.evidenceStored(picture, 'plate-snapshot', 'image/jpeg', 'c-2')]);
    const chunks = post.evidenceChunks(picture, 'plate-snapshot', 'image/jpeg');
    const spoilt = Buffer.from(chunks[1]!.data.data, 'base64');
    spoilt[7] = (spoilt[7] as number) ^ 0xff;
    const result = await store.store([chunks[0]!, { ...chunks[1]!, data: { ...chunks[1]!.data, data: spoilt.toString('base64') } }], 'vmc-1', NOW);
    expect(result.evidence?.chunks.map((c) => (c.outcome === 'rejected' ? c.reason : c.outcome))).toEqual(['pending', 'digest-mismatch']);
    expect(await store.evidence.blob(digestOf(picture))).toBeNull();
    expect((await store.evidence.ofCrossing('post-a', 'c-2')).pieces[0]).toMatchObject({ complete: false, received: 0, problem: 'digest-mismatch' });
    expect(await store.evidence.summary()).toMatchObject({ pieces: 0, pendingPieces: 0, problems: { 'digest-mismatch': 1 } });
    // The post sends it again (on request): the good chunks make the piece.
    expect(await feed(post.evidenceChunks(picture, 'plate-snapshot', 'image/jpeg'))).toEqual(['pending', 'stored']);
    expect((await store.evidence.blob(digestOf(picture)))?.data.equals(picture)).toBe(true);
    expect((await store.evidence.ofCrossing('post-a', 'c-2')).pieces[0]).toMatchObject({ complete: true, problem: null });
  });

  it('drops verified pieces kept their retention, marks them expired for every post, and keeps them anew when sent again', async () => {
    const old = bytesOf(40 * KiB, 'old');
    const young = bytesOf(10 * KiB, 'young');
    await feed([post.evidenceStored(old, 'plate-snapshot', 'image/jpeg', 'c-3'), ...post.evidenceChunks(old, 'plate-snapshot', 'image/jpeg')], NOW);
    // Another post announces the same bytes (one blob, two announcements).
    const other = new EventMaker('post-b', new ManualClock(NOW));
    await feed([other.evidenceStored(old, 'plate-snapshot', 'image/jpeg', 'c-9')], NOW);
    await feed([post.evidenceStored(young, 'plate-snapshot', 'image/jpeg', 'c-4'), ...post.evidenceChunks(young, 'plate-snapshot', 'image/jpeg')], NOW + 10 * DAY_MS);
    // Kept exactly its 30 days: not yet.
    expect(await store.sweepExpiredEvidence(NOW + 30 * DAY_MS)).toBe(0);
    expect(await store.sweepExpiredEvidence(NOW + 30 * DAY_MS + 1)).toBe(1);
    expect(await store.evidence.blob(digestOf(old))).toBeNull();
    expect((await store.evidence.blob(digestOf(young)))?.data.equals(young)).toBe(true);
    expect((await store.evidence.ofCrossing('post-a', 'c-3')).pieces[0]).toMatchObject({ complete: false, problem: 'expired' });
    expect((await store.evidence.ofCrossing('post-b', 'c-9')).pieces[0]).toMatchObject({ complete: false, problem: 'expired' });
    expect(await store.evidence.summary()).toMatchObject({ pieces: 1, bytes: young.length, problems: { expired: 2 } });
    // Asked for and sent again, it is kept anew, from its new arrival, for every post that named it.
    expect(await feed(post.evidenceChunks(old, 'plate-snapshot', 'image/jpeg'), NOW + 31 * DAY_MS)).toEqual(['pending', 'stored']);
    expect((await store.evidence.ofCrossing('post-a', 'c-3')).pieces[0]).toMatchObject({ complete: true, problem: null });
    expect((await store.evidence.ofCrossing('post-b', 'c-9')).pieces[0]).toMatchObject({ complete: true, problem: null });
    expect((await store.evidence.summary()).problems.expired ?? 0).toBe(0);
    // Another crossing naming the young piece keeps it its own retention, counted from then.
    await feed([other.evidenceStored(young, 'plate-snapshot', 'image/jpeg', 'c-10')], NOW + 35 * DAY_MS);
    expect(await store.sweepExpiredEvidence(NOW + 40 * DAY_MS + 1)).toBe(0);
    // The old piece, received again at 31 days, goes at 61; the young one, named again at 35, at 65.
    expect(await store.sweepExpiredEvidence(NOW + 61 * DAY_MS + 1)).toBe(1);
    expect(await store.evidence.blob(digestOf(old))).toBeNull();
    expect((await store.evidence.blob(digestOf(young)))?.data.equals(young)).toBe(true);
    expect(await store.sweepExpiredEvidence(NOW + 65 * DAY_MS + 1)).toBe(1);
    expect(await store.evidence.blob(digestOf(young))).toBeNull();
  });

  it('counts a piece\'s retention again from a chunk of it sent again', async () => {
    const picture = bytesOf(10 * KiB, 'again');
    const [chunk] = post.evidenceChunks(picture, 'plate-snapshot', 'image/jpeg');
    expect(await feed([chunk!], NOW)).toEqual(['stored']);
    expect(await feed([{ ...chunk!, id: '0190c0de-0000-7000-8000-0000000004a1', seq: 400 }], NOW + 20 * DAY_MS)).toEqual(['duplicate']);
    expect(await store.sweepExpiredEvidence(NOW + 30 * DAY_MS + 1)).toBe(0);
    expect(await store.sweepExpiredEvidence(NOW + 50 * DAY_MS + 1)).toBe(1);
  });

  it('keeps every verified piece when the retention is 0', async () => {
    await store.close();
    store = await VmcStore.open(spec, NOW, { evidenceBounds: { ...BOUNDS, maxVerifiedAgeMs: 0 } });
    const picture = bytesOf(10 * KiB, 'kept');
    await feed(post.evidenceChunks(picture, 'plate-snapshot', 'image/jpeg'), NOW);
    expect(await store.sweepExpiredEvidence(NOW + 36_500 * DAY_MS)).toBe(0);
    expect((await store.evidence.blob(digestOf(picture)))?.data.equals(picture)).toBe(true);
  });

  it('refuses chunks that do not add up, and pieces over the size bound', async () => {
    const picture = bytesOf(40 * KiB, 'odd');
    const [first, second] = post.evidenceChunks(picture, 'plate-snapshot', 'image/jpeg');
    const reasons = async (event: CloudEvent<'evidence.chunk'>) => (await store.store([event], 'vmc-1', NOW)).evidence?.chunks.map((c) => (c.outcome === 'rejected' ? c.reason : c.outcome));
    const edited = (data: Partial<CloudEvent<'evidence.chunk'>['data']>, n: number) => ({ ...first!, id: `0190c0de-0000-7000-8000-0000000001${String(n).padStart(2, '0')}`, seq: 200 + n, data: { ...first!.data, ...data } });
    expect(await reasons(edited({ count: 3 }, 1))).toEqual(['chunk-invalid']);
    expect(await reasons(edited({ index: 2 }, 2))).toEqual(['chunk-invalid']);
    expect(await reasons(edited({ data: first!.data.data.slice(0, -8) }, 3))).toEqual(['chunk-invalid']); // short
    expect(await reasons(edited({ bytes: 201 * KiB, count: 7 }, 4))).toEqual(['too-large']);
    expect(await reasons(first!)).toEqual(['pending']);
    // A later chunk that contradicts the piece's earlier ones (another type) is refused; the piece goes on.
    expect(await reasons({ ...second!, data: { ...second!.data, contentType: 'text/html' } })).toEqual(['chunk-invalid']);
    expect(await reasons({ ...second!, id: '0190c0de-0000-7000-8000-000000000301', seq: 301 })).toEqual(['stored']);
    expect(await store.evidence.summary()).toMatchObject({ pieces: 1, pendingPieces: 0 });
  });

  it("bounds incomplete pieces: a post's oldest go past its bytes or count, the heaviest post's past the total, any past the age", async () => {
    // Each piece 64 KiB + 1 byte: 3 chunks, of which only the first (32 KiB) is sent.
    const firsts = (maker: EventMaker, n: number) => Array.from({ length: n }, (_, i) => maker.evidenceChunks(bytesOf(64 * KiB + 1, `${maker.postId}-${i}`), 'xray-image', 'image/x-portable-graymap')[0]!);
    const a = firsts(post, 5);
    const clock = new ManualClock(NOW);
    // 3 pieces = 96 KiB fit post-a's 100 KiB; the 4th drops the oldest.
    for (const [i, chunk] of a.slice(0, 4).entries()) await store.store([chunk], 'vmc-1', clock.now() + i);
    expect(await store.evidence.summary()).toMatchObject({ pendingPieces: 3, pendingBytes: 96 * KiB, problems: { 'evicted-bound': 1 } });

    // Another post's pieces push the total (150 KiB) over: the heaviest post (post-a, 96 KiB) gives up its oldest.
    const b = new EventMaker('post-b', new ManualClock(NOW));
    const bFirsts = firsts(b, 2);
    expect((await store.store([bFirsts[0]!], 'vmc-1', NOW + 10)).evidence?.chunks[0]).toMatchObject({ outcome: 'pending', evicted: 0 });
    expect((await store.store([bFirsts[1]!], 'vmc-1', NOW + 11)).evidence?.chunks[0]).toMatchObject({ outcome: 'pending', evicted: 1 });
    expect(await store.evidence.summary()).toMatchObject({ pendingPieces: 4, pendingBytes: 128 * KiB, problems: { 'evicted-bound': 2 } });

    // The age bound: a piece without a chunk for an hour is dropped by the sweep.
    expect(await store.sweepStaleEvidence(NOW + 3 + 3_600_000)).toBe(1); // post-a's oldest left, last chunk at NOW + 2
    expect(await store.sweepStaleEvidence(NOW + 3_600_000 * 2)).toBe(3);
    expect(await store.evidence.summary()).toMatchObject({ pendingPieces: 0, pendingBytes: 0, problems: { 'evicted-bound': 2, 'evicted-age': 4 } });
    // A chunk of a dropped piece arriving later starts it again (the rest may still come).
    expect(outcomes(await store.store([a[4]!], 'vmc-1', NOW + 3_600_000 * 2))).toEqual(['pending']);

    // However small, a post's 4th incomplete piece drops its oldest: here only each piece's last chunk, 1 byte, came.
    const c = new EventMaker('post-c', new ManualClock(NOW));
    const lasts = Array.from({ length: 4 }, (_, i) => c.evidenceChunks(bytesOf(64 * KiB + 1, `c-${i}`), 'xray-image', 'image/x-portable-graymap')[2]!);
    const evictedByCount = [];
    for (const [i, chunk] of lasts.entries()) evictedByCount.push((await store.store([chunk], 'vmc-1', NOW + 3_600_000 * 2 + i)).evidence?.chunks[0]);
    expect(evictedByCount.map((o) => (o?.outcome === 'pending' ? o.evicted : o?.outcome))).toEqual([0, 0, 0, 1]);
    expect(await store.evidence.summary()).toMatchObject({ pendingPieces: 4, pendingBytes: 32 * KiB + 3, problems: { 'evicted-bound': 3 } });
  });

  it("drops an incomplete piece the post evicted before sending the rest, and marks what the post no longer holds", async () => {
    const scan = bytesOf(64 * KiB + 1, 'evicted');
    const [first] = post.evidenceChunks(scan, 'xray-image', 'image/x-portable-graymap');
    await store.store([post.evidenceStored(scan, 'xray-image', 'image/x-portable-graymap', 'c-3'), first!], 'vmc-1', NOW);
    post.clock.advance(1000);
    const evicted: CloudEvent<'evidence.evicted'> = {
      ...createEventFactory('post-a', post.clock).create('evidence.evicted', 'post', {
        reason: 'bound', heldBytes: 1000, maxBytes: 2000,
        evicted: [{ digest: digestOf(scan), kind: 'xray-image', bytes: scan.length, storedAt: new Date(NOW - 5000).toISOString(), unsent: 2 }],
      }),
      seq: 500,
    };
    expect((await store.store([evicted], 'vmc-1', NOW + 1)).evidence).toEqual({ chunks: [], droppedAtPost: 1 });
    expect((await store.evidence.ofCrossing('post-a', 'c-3')).pieces[0]).toMatchObject({ complete: false, received: 0, problem: 'evicted-at-post', evictedAtPost: evicted.time });
    expect(await store.evidence.summary()).toMatchObject({ pendingPieces: 0 });
  });

  it('keeps evidence requests: unanswered ones are carried along, their answers set no watchlist or model version', async () => {
    const held = bytesOf(100, 'held');
    await feed([...post.evidenceChunks(held, 'xray-image', 'image/x-portable-graymap')]);
    const d = (n: number) => `sha256:${createHash('sha256').update(String(n)).digest('hex')}`;
    await store.commands.recordSent({ commandId: 'cmd-1', kind: 'evidence.request', version: 1, postIds: ['post-a'], summary: '2 piece(s)', issuedBy: 'user:ana', issuedAt: new Date(NOW).toISOString() });
    await store.evidence.recordRequest('post-a', [d(1), d(2), digestOf(held)], 'cmd-1', 'user:ana', NOW);
    expect(await store.evidence.held([d(1), digestOf(held)])).toEqual(new Set([digestOf(held)]));
    expect(new Set(await store.evidence.unansweredRequests('post-a', NOW - 1, 100))).toEqual(new Set([d(1), d(2)]));
    expect(await store.evidence.unansweredRequests('post-a', NOW + 1, 100)).toEqual([]);
    expect(await store.evidence.unansweredRequests('post-b', NOW - 1, 100)).toEqual([]);
    // The post answers: applied; nothing is carried along any more, and its versions stay unknown.
    post.clock.advance(1000);
    const answer = {
      ...createEventFactory('post-a', post.clock).create('command.applied', 'post', {
        commandId: 'cmd-1', kind: 'evidence.request', version: 1,
        current: { watchlistVersion: 7, watchlistPlates: 3, modelCommandVersion: 2, models: { risk: 'r', xrayScreening: null } },
      }),
      seq: 600,
    };
    await store.store([answer], 'vmc-1', NOW + 2);
    expect(await store.evidence.unansweredRequests('post-a', NOW - 1, 100)).toEqual([]);
    expect(await store.commands.postVersions()).toEqual([]);
    expect((await store.commands.progress(50, ['evidence.request']))[0]).toMatchObject({ commandId: 'cmd-1', applied: ['post-a'], waiting: [] });
    expect(await store.commands.progress(50, ['watchlist.update', 'model.rollout'])).toEqual([]);
  });

});

// Several VMC instances share one store only on PostgreSQL (SQLite is the single-instance store),
// so only there can two of them receive one piece's chunks at once.
describe('VMC evidence on postgres, two instances', () => {
  it('assembles a piece once when two instances receive its chunks at the same time', async () => {
    const db = await createTestDatabase();
    const store = await VmcStore.open(db.url, NOW, { evidenceBounds: BOUNDS });
    const other = await VmcStore.open(db.url, NOW, { evidenceBounds: BOUNDS });
    const post = new EventMaker('post-a', new ManualClock(NOW - 60_000));
    try {
      for (let round = 0; round < 5; round += 1) {
        const picture = randomBytes(EVIDENCE_CHUNK_BYTES * 4);
        const chunks = post.evidenceChunks(picture, 'xray-thumbnail', 'image/png');
        const results = await Promise.all(chunks.map((chunk, i) => (i % 2 ? other : store).store([chunk], `vmc-${i % 2}`, NOW)));
        expect(results.flatMap(outcomes).filter((o) => o === 'stored')).toHaveLength(1);
        expect((await store.evidence.blob(digestOf(picture)))?.data.equals(picture)).toBe(true);
      }
      expect(await store.evidence.summary()).toMatchObject({ pieces: 5, pendingPieces: 0 });
    } finally {
      await other.close();
      await store.close();
      await db.drop();
    }
  });
});

// Two instances in one process would share SQLite's one writer lock synchronously; on PostgreSQL
// they are two connections as two VMC hosts would be.
describe('VMC evidence retention on postgres, two instances', () => {
  it('drops each expired piece once when two instances sweep at the same time', async () => {
    const db = await createTestDatabase();
    const first = await VmcStore.open(db.url, NOW, { evidenceBounds: BOUNDS });
    const second = await VmcStore.open(db.url, NOW, { evidenceBounds: BOUNDS });
    try {
      const post = new EventMaker('post-a', new ManualClock(NOW - 60_000));
      for (let i = 0; i < 5; i += 1) {
        for (const chunk of post.evidenceChunks(bytesOf(4 * KiB, `batch-${i}`), 'plate-snapshot', 'image/jpeg')) await first.store([chunk], 'vmc-1', NOW + i);
      }
      expect(await first.evidence.summary()).toMatchObject({ pieces: 5 });
      const late = NOW + 31 * DAY_MS;
      const [mine, theirs] = await Promise.all([first.sweepExpiredEvidence(late), second.sweepExpiredEvidence(late)]);
      expect(mine + theirs).toBe(5);
      expect(await first.evidence.summary()).toMatchObject({ pieces: 0 });
    } finally {
      await first.close();
      await second.close();
      await db.drop();
    }
  });
});
