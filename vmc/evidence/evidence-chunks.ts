/**
 * How the VMC receives a post's evidence (`evidence.chunk` events): it keeps each chunk until the
 * piece is complete, then assembles it, checks its sha256 against the digest it was sent under,
 * and keeps the verified bytes once (`evidence_blobs`, by digest). Chunks come at least once, in
 * any order, interleaved between pieces and across reconnects; a chunk already held, or of a
 * piece already stored, changes nothing. A piece whose bytes do not match its digest is dropped
 * with its chunks, marked and counted: nothing unverified is ever served.
 *
 * What incomplete pieces may hold is bounded, so a post sending garbage (or a post whose outbox
 * dropped chunks, which never complete) cannot fill the store: a piece larger than
 * `maxPieceBytes` is refused outright; past `maxPendingBytesPerPost` the post's own oldest
 * incomplete pieces are dropped (also past `maxPendingPiecesPerPost` pieces, however small); past `maxPendingBytes` (all posts) the oldest of the post
 * holding the most; and a piece no chunk has arrived for in `maxPendingAgeMs` is dropped by the
 * sweep (sweepStalePieces). A dropped piece can be asked for again (evidence.request).
 *
 * Everything here runs inside the transaction that stores the chunk's event. Several VMC
 * instances may receive chunks of one piece at once: the pending piece's row is written first
 * (on PostgreSQL that locks it), so the instance that adds the last chunk sees all the others;
 * pieces dropped for the bounds are picked `FOR UPDATE SKIP LOCKED`, so no two instances wait on
 * each other's pieces.
 */
import { createHash } from 'node:crypto';
import { EVIDENCE_CHUNK_BYTES, type EventData } from '../../contract/catalogue.js';
import type { SqlDb, SqlRunner } from '../store/sql-db.js';

export interface EvidenceBounds {
  /** Largest piece accepted, bytes. Default 48 MiB: a 4096 × 4096 16-bit scan (the largest the post screens) is 32 MiB. */
  maxPieceBytes: number;
  /** Bytes of incomplete pieces one post may hold; its oldest go first past it. Default 96 MiB. */
  maxPendingBytesPerPost: number;
  /** Incomplete pieces one post may hold (however small: each costs rows); its oldest go first past it. Default 1000. */
  maxPendingPiecesPerPost: number;
  /** Bytes of incomplete pieces all posts may hold; the oldest of the post holding most go first past it. Default 1 GiB. */
  maxPendingBytes: number;
  /** An incomplete piece that has had no chunk for this long is dropped. Default 7 days (a post may be offline for days mid-piece). */
  maxPendingAgeMs: number;
  /**
   * A verified piece is kept this long after the VMC last received it or was told of it (a
   * post's `evidence.stored` naming it), then dropped (`expired`); 0 keeps every piece. Default
   * 400 days: a year's crossings can be compared with the year before.
   */
  maxVerifiedAgeMs: number;
}

export const DEFAULT_EVIDENCE_BOUNDS: EvidenceBounds = {
  maxPieceBytes: 48 * 1024 * 1024,
  maxPendingBytesPerPost: 96 * 1024 * 1024,
  maxPendingPiecesPerPost: 1000,
  maxPendingBytes: 1024 * 1024 * 1024,
  maxPendingAgeMs: 7 * 24 * 3600 * 1000,
  maxVerifiedAgeMs: 400 * 24 * 3600 * 1000,
};

/**
 * Why evidence was rejected or dropped (counted in /api/status, kept as the piece's `problem`):
 * `chunk-invalid` a chunk that contradicts its own numbers or the piece's earlier chunks;
 * `too-large` over maxPieceBytes; `digest-mismatch` assembled bytes whose sha256 is not the
 * digest; `evicted-bound` / `evicted-age` incomplete and dropped for the bounds; `evicted-at-post`
 * incomplete and the post evicted it before sending the rest (`evidence.evicted`, `unsent` > 0);
 * `expired` verified and kept its `maxVerifiedAgeMs`.
 */
export const EVIDENCE_REJECT_REASONS = ['chunk-invalid', 'too-large', 'digest-mismatch', 'evicted-bound', 'evicted-age', 'evicted-at-post', 'expired'] as const;
export type EvidenceRejectReason = (typeof EVIDENCE_REJECT_REASONS)[number];

/** What one chunk did, for the intake's counters and log. */
export type ChunkOutcome =
  | { outcome: 'pending'; digest: string; received: number; count: number; evicted: number }
  | { outcome: 'stored'; digest: string; bytes: number }
  | { outcome: 'duplicate'; digest: string }
  | { outcome: 'rejected'; digest: string; reason: 'chunk-invalid' | 'too-large' | 'digest-mismatch'; problem: string };

type Chunk = EventData<'evidence.chunk'>;

/** Chunks a piece of `bytes` travels in: one at least (an empty piece is one empty chunk). */
export function chunkCount(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / EVIDENCE_CHUNK_BYTES));
}

/** The chunk's bytes, or why the chunk cannot be part of the piece it names. */
export function decodeChunk(chunk: Chunk, maxPieceBytes: number): { ok: true; data: Buffer } | { ok: false; reason: 'chunk-invalid' | 'too-large'; problem: string } {
  if (chunk.bytes > maxPieceBytes) return { ok: false, reason: 'too-large', problem: `${chunk.bytes} bytes, over the ${maxPieceBytes} a piece may have` };
  if (chunk.count !== chunkCount(chunk.bytes)) return { ok: false, reason: 'chunk-invalid', problem: `count ${chunk.count}, but ${chunk.bytes} bytes travel in ${chunkCount(chunk.bytes)} chunk(s)` };
  if (chunk.index >= chunk.count) return { ok: false, reason: 'chunk-invalid', problem: `index ${chunk.index} of ${chunk.count}` };
  const data = Buffer.from(chunk.data, 'base64');
  // Node's decoder skips what it cannot read; only a canonical encoding is one reading of the bytes.
  if (data.toString('base64') !== chunk.data) return { ok: false, reason: 'chunk-invalid', problem: 'data is not canonical base64' };
  const expected = chunk.index < chunk.count - 1 ? EVIDENCE_CHUNK_BYTES : chunk.bytes - chunk.index * EVIDENCE_CHUNK_BYTES;
  if (data.length !== expected) return { ok: false, reason: 'chunk-invalid', problem: `chunk ${chunk.index} holds ${data.length} bytes, not ${expected}` };
  return { ok: true, data };
}

type PendingRow = { kind: string; content_type: string; bytes: number | string; chunk_count: number | string; received: number | string };

/** Receives one chunk of `postId`'s; runs inside the transaction storing its event. */
export async function receiveChunk(tx: SqlRunner, postId: string, chunk: Chunk, nowMs: number, bounds: EvidenceBounds): Promise<ChunkOutcome> {
  const { digest } = chunk;
  const decoded = decodeChunk(chunk, bounds.maxPieceBytes);
  if (!decoded.ok) {
    await markProblem(tx, postId, digest, decoded.reason, nowMs);
    return { outcome: 'rejected', digest, reason: decoded.reason, problem: decoded.problem };
  }
  // The piece's row first: on PostgreSQL the upsert locks it until this transaction ends.
  const pending = (
    await tx.all<PendingRow>(
      `INSERT INTO evidence_pending (post_id, digest, kind, content_type, bytes, chunk_count, received, received_bytes, first_ms, last_ms) VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?)
       ON CONFLICT (post_id, digest) DO UPDATE SET last_ms = CASE WHEN excluded.last_ms > evidence_pending.last_ms THEN excluded.last_ms ELSE evidence_pending.last_ms END
       RETURNING kind, content_type, bytes, chunk_count, received`,
      [postId, digest, chunk.kind, chunk.contentType, chunk.bytes, chunk.count, nowMs, nowMs],
    )
  )[0] as PendingRow;
  // Checked after the lock: another instance may have just completed the piece. The check is the
  // touch itself: on PostgreSQL it waits for a retention sweep deleting the blob right now, and
  // finds nothing once that delete has committed (the piece is then received anew).
  if (await touchPiece(tx, digest, nowMs)) {
    await dropPiece(tx, postId, digest);
    return { outcome: 'duplicate', digest };
  }
  if (pending.kind !== chunk.kind || pending.content_type !== chunk.contentType || Number(pending.bytes) !== chunk.bytes || Number(pending.chunk_count) !== chunk.count) {
    return { outcome: 'rejected', digest, reason: 'chunk-invalid', problem: `chunk ${chunk.index} says ${chunk.kind} ${chunk.contentType} ${chunk.bytes} bytes, earlier chunks ${pending.kind} ${pending.content_type} ${Number(pending.bytes)} bytes` };
  }
  if ((await tx.run('INSERT INTO evidence_chunks (post_id, digest, idx, data) VALUES (?, ?, ?, ?) ON CONFLICT (post_id, digest, idx) DO NOTHING', [postId, digest, chunk.index, decoded.data])) === 0) {
    return { outcome: 'duplicate', digest };
  }
  const received = Number(pending.received) + 1;
  await tx.run('UPDATE evidence_pending SET received = ?, received_bytes = received_bytes + ? WHERE post_id = ? AND digest = ?', [received, decoded.data.length, postId, digest]);
  if (received === 1) {
    // Known from its chunks until (or unless) its evidence.stored arrives.
    await tx.run('INSERT INTO evidence (post_id, digest, kind, content_type, bytes) VALUES (?, ?, ?, ?, ?) ON CONFLICT (post_id, digest) DO NOTHING', [postId, digest, chunk.kind, chunk.contentType, chunk.bytes]);
  }
  if (received < chunk.count) {
    const evicted = await enforceBounds(tx, postId, digest, bounds, nowMs);
    return { outcome: 'pending', digest, received, count: chunk.count, evicted };
  }
  return assemble(tx, postId, chunk, nowMs);
}

/** Joins a complete piece's chunks, verifies them against the digest, and keeps the bytes once (or marks the piece rejected). */
async function assemble(tx: SqlRunner, postId: string, chunk: Chunk, nowMs: number): Promise<ChunkOutcome> {
  const { digest } = chunk;
  const rows = await tx.all<{ data: Buffer }>('SELECT data FROM evidence_chunks WHERE post_id = ? AND digest = ? ORDER BY idx', [postId, digest]);
  const bytes = Buffer.concat(rows.map((r) => r.data));
  await dropPiece(tx, postId, digest);
  const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (actual !== digest || bytes.length !== chunk.bytes) {
    await markProblem(tx, postId, digest, 'digest-mismatch', nowMs);
    return { outcome: 'rejected', digest, reason: 'digest-mismatch', problem: `the ${bytes.length} bytes assembled hash to ${actual}` };
  }
  await tx.run('INSERT INTO evidence_blobs (digest, content_type, bytes, data, stored_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING', [digest, chunk.contentType, bytes.length, bytes, nowMs]);
  // Only this post's row: another post's row of the same bytes reads as held through the blob
  // (a piece's view and the summary), and locking other posts' rows here could deadlock.
  await tx.run('UPDATE evidence SET problem = NULL, problem_ms = NULL WHERE post_id = ? AND digest = ?', [postId, digest]);
  return { outcome: 'stored', digest, bytes: bytes.length };
}

/** Drops the oldest incomplete pieces (never `keep`, the one being received) until the bounds hold; resolves to how many. */
async function enforceBounds(tx: SqlRunner, postId: string, keep: string, bounds: EvidenceBounds, nowMs: number): Promise<number> {
  let evicted = 0;
  const load = async (where: string, params: string[]): Promise<{ pieces: number; bytes: number }> => {
    const row = (await tx.all<{ pieces: number | string; bytes: number | string | null }>(`SELECT COUNT(*) AS pieces, SUM(received_bytes) AS bytes FROM evidence_pending ${where}`, params))[0];
    return { pieces: Number(row?.pieces ?? 0), bytes: Number(row?.bytes ?? 0) };
  };
  const post = await load('WHERE post_id = ?', [postId]);
  while (post.bytes > bounds.maxPendingBytesPerPost || post.pieces > bounds.maxPendingPiecesPerPost) {
    const dropped = await dropOldest(tx, postId, keep, { bytes: post.bytes - bounds.maxPendingBytesPerPost, pieces: post.pieces - bounds.maxPendingPiecesPerPost }, nowMs);
    if (dropped.pieces === 0) break;
    evicted += dropped.pieces;
    post.pieces -= dropped.pieces;
    post.bytes -= dropped.bytes;
  }
  const all = await load('', []);
  while (all.bytes > bounds.maxPendingBytes) {
    const heaviest = (await tx.all<{ post_id: string }>('SELECT post_id FROM evidence_pending GROUP BY post_id ORDER BY SUM(received_bytes) DESC, post_id LIMIT 1'))[0]?.post_id;
    if (heaviest === undefined) break;
    const dropped = await dropOldest(tx, heaviest, keep, { bytes: all.bytes - bounds.maxPendingBytes, pieces: 0 }, nowMs);
    if (dropped.pieces === 0) break;
    evicted += dropped.pieces;
    all.bytes -= dropped.bytes;
  }
  return evicted;
}

/** Drops `postId`'s oldest incomplete pieces (other than `keep`) until `excess` bytes and pieces are gone, or as many as could be locked. */
async function dropOldest(tx: SqlRunner, postId: string, keep: string, excess: { bytes: number; pieces: number }, nowMs: number): Promise<{ pieces: number; bytes: number }> {
  const lock = tx.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
  const candidates = await tx.all<{ digest: string; received_bytes: number | string }>(
    `SELECT digest, received_bytes FROM evidence_pending WHERE post_id = ? AND digest <> ? ORDER BY last_ms, digest LIMIT 32${lock}`,
    [postId, keep],
  );
  let pieces = 0;
  let bytes = 0;
  for (const c of candidates) {
    if (bytes >= excess.bytes && pieces >= excess.pieces) break;
    await dropPiece(tx, postId, c.digest);
    await markProblem(tx, postId, c.digest, 'evicted-bound', nowMs);
    pieces += 1;
    bytes += Number(c.received_bytes);
  }
  return { pieces, bytes };
}

/** Forgets an incomplete piece of a post: its chunks and its pending row. */
export async function dropPiece(tx: SqlRunner, postId: string, digest: string): Promise<void> {
  await tx.run('DELETE FROM evidence_chunks WHERE post_id = ? AND digest = ?', [postId, digest]);
  await tx.run('DELETE FROM evidence_pending WHERE post_id = ? AND digest = ?', [postId, digest]);
}

/**
 * Records why a post's piece is not held (shown beside its crossing). Only a piece the post
 * announced or began sending has a row: a flood of made-up digests adds no rows here.
 */
export async function markProblem(tx: SqlRunner, postId: string, digest: string, problem: EvidenceRejectReason, nowMs: number): Promise<void> {
  await tx.run('UPDATE evidence SET problem = ?, problem_ms = ? WHERE post_id = ? AND digest = ?', [problem, nowMs, postId, digest]);
}

/**
 * Drops incomplete pieces that have had no chunk for `maxAgeMs`, each in a transaction of its own
 * (re-checked there: a chunk may have arrived since). Resolves to how many were dropped.
 */
export async function sweepStalePieces(db: SqlDb, nowMs: number, maxAgeMs: number, limit = 1000): Promise<number> {
  const cutoff = nowMs - maxAgeMs;
  const stale = await db.all<{ post_id: string; digest: string }>('SELECT post_id, digest FROM evidence_pending WHERE last_ms < ? ORDER BY last_ms LIMIT ?', [cutoff, limit]);
  let dropped = 0;
  for (const piece of stale) {
    dropped += await db.transaction(async (tx) => {
      if ((await tx.run('DELETE FROM evidence_pending WHERE post_id = ? AND digest = ? AND last_ms < ?', [piece.post_id, piece.digest, cutoff])) === 0) return 0;
      await tx.run('DELETE FROM evidence_chunks WHERE post_id = ? AND digest = ?', [piece.post_id, piece.digest]);
      await markProblem(tx, piece.post_id, piece.digest, 'evicted-age', nowMs);
      return 1;
    });
  }
  return dropped;
}

/**
 * A verified piece is needed again (a post sent or announced it once more): its retention counts
 * from now. `stored_ms` is when the VMC last received or was told of the piece. Resolves whether
 * the piece is held. Blobs are locked before `evidence` rows, everywhere (the sweep too).
 */
export async function touchPiece(tx: SqlRunner, digest: string, nowMs: number): Promise<boolean> {
  return (await tx.run('UPDATE evidence_blobs SET stored_ms = CASE WHEN stored_ms < ? THEN ? ELSE stored_ms END WHERE digest = ?', [nowMs, nowMs, digest])) > 0;
}

/**
 * Drops verified pieces last needed before `nowMs - maxAgeMs` (none when `maxAgeMs` is 0), oldest first,
 * at most `limit` per call: each in a transaction of its own that checks its age again, so two
 * instances sweeping at once drop a piece once. Every post's announcement of it is marked
 * `expired`; sent again (a request), the piece is kept anew. Resolves to how many were dropped.
 */
export async function sweepExpiredPieces(db: SqlDb, nowMs: number, maxAgeMs: number, limit = 1000): Promise<number> {
  if (maxAgeMs <= 0) return 0;
  const cutoff = nowMs - maxAgeMs;
  const expired = await db.all<{ digest: string }>('SELECT digest FROM evidence_blobs WHERE stored_ms < ? ORDER BY stored_ms LIMIT ?', [cutoff, limit]);
  let dropped = 0;
  for (const { digest } of expired) {
    dropped += await db.transaction(async (tx) => {
      if ((await tx.run('DELETE FROM evidence_blobs WHERE digest = ? AND stored_ms < ?', [digest, cutoff])) === 0) return 0;
      await tx.run('UPDATE evidence SET problem = ?, problem_ms = ? WHERE digest = ?', ['expired', nowMs, digest]);
      return 1;
    });
  }
  return dropped;
}
