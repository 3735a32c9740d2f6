/**
 * What the VMC knows of the posts' evidence, besides receiving the chunks (evidence-chunks.ts):
 * what each post announced (`evidence.stored`: kind, crossing, device, a thumbnail's full image
 * and its size), what it evicted (`evidence.evicted`), the verified bytes by digest, the full
 * pieces asked of a post (evidence.request), and a crossing's evidence as the dashboard shows it,
 * with the X-ray screening regions of the crossing's own `xray.scanned` event.
 */
import type { CloudEvent } from '../../contract/envelope.js';
import type { EventData, EvidenceKind } from '../../contract/catalogue.js';
import type { SqlRunner } from '../store/sql-db.js';
import { chunkCount, dropPiece, markProblem, type EvidenceRejectReason } from './evidence-chunks.js';

export interface ScreeningRegion {
  x: number;
  y: number;
  width: number;
  height: number;
  density: number;
}

export interface EvidenceRequestState {
  commandId: string;
  requestedBy: string;
  requestedAt: string;
  /** The post's answer to the request command: waiting (none yet), applied, refused. */
  answer: 'waiting' | 'applied' | 'refused';
  reason: { code: string | null; message: string | null } | null;
}

/** One piece of a crossing's evidence, as the dashboard shows it. */
export interface EvidencePiece {
  digest: string;
  kind: EvidenceKind;
  contentType: string;
  bytes: number;
  deviceId: string | null;
  /** Chunks the post announced it sends (evidence.stored); 0: kept at the post until asked for; null: not announced (yet). */
  chunks: number | null;
  /** Chunks the piece travels in, and how many of them this VMC holds now. */
  count: number;
  received: number;
  /** Verified and held: GET /api/evidence/{digest} serves it. */
  complete: boolean;
  storedAt: string | null;
  /** A thumbnail's full image: its digest, and the size its screening regions are in. */
  of: string | null;
  imageWidth: number | null;
  imageHeight: number | null;
  /** Why it is not held, when it was rejected or dropped. */
  problem: EvidenceRejectReason | null;
  /** When the post said it evicted the piece (it can no longer be asked for). */
  evictedAtPost: string | null;
  request: EvidenceRequestState | null;
}

export interface CrossingEvidence {
  postId: string;
  crossingId: string;
  /** The crossing's X-ray screening (its xray.scanned, else its crossing.completed); null when none ran. */
  screening: { score: number; modelVersion: string; result: string | null; regions: ScreeningRegion[] } | null;
  /** Plate snapshots, thumbnails, and the full images thumbnails name (also when the post has not announced them). */
  pieces: EvidencePiece[];
}

export interface EvidenceSummary {
  pieces: number;
  bytes: number;
  pendingPieces: number;
  pendingBytes: number;
  /** Pieces marked rejected or dropped, by reason (kept per post and digest until the piece arrives whole). */
  problems: Partial<Record<EvidenceRejectReason, number>>;
}

const KIND_ORDER: Record<string, number> = { 'plate-snapshot': 0, 'xray-thumbnail': 1, 'xray-image': 2 };
const num = (value: number | string | null): number | null => (value === null ? null : Number(value));
const isoOrNull = (ms: number | string | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

/** Records a post's `evidence.stored`; runs inside the transaction storing its event. A later announcement of one digest fills in, never blanks, what an earlier one said. */
export async function recordEvidenceAnnounced(tx: SqlRunner, postId: string, data: EventData<'evidence.stored'>, timeMs: number): Promise<void> {
  await tx.run(
    `INSERT INTO evidence (post_id, digest, kind, content_type, bytes, crossing_id, device_id, chunks, image_width, image_height, of_digest, announced_ms)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (post_id, digest) DO UPDATE SET kind = excluded.kind, content_type = excluded.content_type, bytes = excluded.bytes,
       crossing_id = COALESCE(excluded.crossing_id, evidence.crossing_id), device_id = COALESCE(excluded.device_id, evidence.device_id),
       chunks = CASE WHEN evidence.chunks IS NULL OR excluded.chunks > evidence.chunks THEN excluded.chunks ELSE evidence.chunks END,
       image_width = COALESCE(excluded.image_width, evidence.image_width), image_height = COALESCE(excluded.image_height, evidence.image_height),
       of_digest = COALESCE(excluded.of_digest, evidence.of_digest), announced_ms = COALESCE(evidence.announced_ms, excluded.announced_ms)`,
    [
      postId, data.digest, data.kind, data.contentType, data.bytes, data.crossingId, data.deviceId, data.chunks,
      data.imageWidth ?? null, data.imageHeight ?? null, data.of ?? null, timeMs,
    ],
  );
}

/**
 * Records a post's `evidence.evicted`: the pieces can no longer be asked for. An incomplete piece
 * with chunks the post never queued (`unsent` > 0) can never complete: it is dropped now.
 * Resolves to how many incomplete pieces were dropped.
 */
export async function recordEvidenceEvicted(tx: SqlRunner, postId: string, data: EventData<'evidence.evicted'>, timeMs: number, nowMs: number): Promise<number> {
  let dropped = 0;
  for (const piece of data.evicted) {
    await tx.run('UPDATE evidence SET evicted_at_post_ms = ? WHERE post_id = ? AND digest = ?', [timeMs, postId, piece.digest]);
    if (piece.unsent > 0 && (await tx.all('SELECT 1 AS x FROM evidence_pending WHERE post_id = ? AND digest = ?', [postId, piece.digest])).length > 0) {
      await dropPiece(tx, postId, piece.digest);
      await markProblem(tx, postId, piece.digest, 'evicted-at-post', nowMs);
      dropped += 1;
    }
  }
  return dropped;
}

type PieceRow = {
  digest: string; kind: EvidenceKind; content_type: string; bytes: number | string; device_id: string | null; chunks: number | string | null;
  image_width: number | string | null; image_height: number | string | null; of_digest: string | null; problem: EvidenceRejectReason | null;
  evicted_at_post_ms: number | string | null; stored_ms: number | string | null; received: number | string | null; chunk_count: number | string | null;
  command_id: string | null; requested_by: string | null; requested_ms: number | string | null; outcome: string | null; reason_code: string | null; reason_message: string | null;
};

/** Columns of a post's pieces with what is held of them and the latest request; `e` is the evidence row. */
const PIECE_SELECT = `SELECT e.digest, e.kind, e.content_type, e.bytes, e.device_id, e.chunks, e.image_width, e.image_height, e.of_digest, e.problem, e.evicted_at_post_ms,
    b.stored_ms, p.received, p.chunk_count, r.command_id, r.requested_by, r.requested_ms, a.outcome, a.reason_code, a.reason_message
  FROM evidence e
  LEFT JOIN evidence_blobs b ON b.digest = e.digest
  LEFT JOIN evidence_pending p ON p.post_id = e.post_id AND p.digest = e.digest
  LEFT JOIN evidence_requests r ON r.post_id = e.post_id AND r.digest = e.digest
  LEFT JOIN command_answers a ON a.command_id = r.command_id AND a.post_id = r.post_id`;

function pieceOf(r: PieceRow): EvidencePiece {
  const bytes = Number(r.bytes);
  const count = num(r.chunk_count) ?? chunkCount(bytes);
  const complete = r.stored_ms !== null;
  return {
    digest: r.digest,
    kind: r.kind,
    contentType: r.content_type,
    bytes,
    deviceId: r.device_id,
    chunks: num(r.chunks),
    count,
    received: complete ? count : (num(r.received) ?? 0),
    complete,
    storedAt: isoOrNull(r.stored_ms),
    of: r.of_digest,
    imageWidth: num(r.image_width),
    imageHeight: num(r.image_height),
    problem: complete ? null : r.problem,
    evictedAtPost: isoOrNull(r.evicted_at_post_ms),
    request:
      r.command_id === null
        ? null
        : {
            commandId: r.command_id,
            requestedBy: r.requested_by ?? '',
            requestedAt: isoOrNull(r.requested_ms) ?? '',
            answer: r.outcome === 'applied' ? 'applied' : r.outcome === 'refused' ? 'refused' : 'waiting',
            reason: r.outcome === 'refused' ? { code: r.reason_code, message: r.reason_message } : null,
          },
  };
}

export class EvidenceRecords {
  constructor(private readonly db: SqlRunner) {}

  /** How many verified bytes of a digest are held (what `blob` would read), or null when none. */
  async blobBytes(digest: string): Promise<number | null> {
    const row = (await this.db.all<{ bytes: number | string }>('SELECT bytes FROM evidence_blobs WHERE digest = ?', [digest]))[0];
    return row ? Number(row.bytes) : null;
  }

  /** The verified bytes of a digest, or null when not held (never received, incomplete, or rejected). */
  async blob(digest: string): Promise<{ contentType: string; data: Buffer; storedAt: string } | null> {
    const row = (await this.db.all<{ content_type: string; data: Buffer; stored_ms: number | string }>('SELECT content_type, data, stored_ms FROM evidence_blobs WHERE digest = ?', [digest]))[0];
    return row ? { contentType: row.content_type, data: row.data, storedAt: new Date(Number(row.stored_ms)).toISOString() } : null;
  }

  /** A crossing's evidence: its pieces (snapshots first), the full images its thumbnails name, and the screening regions. */
  async ofCrossing(postId: string, crossingId: string): Promise<CrossingEvidence> {
    const rows = await this.db.all<PieceRow>(`${PIECE_SELECT} WHERE e.post_id = ? AND e.crossing_id = ?`, [postId, crossingId]);
    const pieces = rows.map(pieceOf);
    const named = new Set(pieces.map((p) => p.digest));
    const fullImages = [...new Set(pieces.flatMap((p) => (p.of !== null && !named.has(p.of) ? [p.of] : [])))];
    for (const digest of fullImages) {
      const row = (await this.db.all<PieceRow>(`${PIECE_SELECT} WHERE e.post_id = ? AND e.digest = ?`, [postId, digest]))[0];
      pieces.push(row ? pieceOf(row) : await this.unannounced(postId, digest));
    }
    pieces.sort((a, b) => (KIND_ORDER[a.kind] ?? 9) - (KIND_ORDER[b.kind] ?? 9) || a.digest.localeCompare(b.digest));
    return { postId, crossingId, screening: await this.screening(postId, crossingId), pieces };
  }

  /** A full image a thumbnail names that the post has neither announced nor begun sending. */
  private async unannounced(postId: string, digest: string): Promise<EvidencePiece> {
    const blob = (await this.db.all<{ content_type: string; bytes: number | string; stored_ms: number | string }>('SELECT content_type, bytes, stored_ms FROM evidence_blobs WHERE digest = ?', [digest]))[0];
    const request = (
      await this.db.all<{ command_id: string; requested_by: string; requested_ms: number | string; outcome: string | null; reason_code: string | null; reason_message: string | null }>(
        `SELECT r.command_id, r.requested_by, r.requested_ms, a.outcome, a.reason_code, a.reason_message FROM evidence_requests r
         LEFT JOIN command_answers a ON a.command_id = r.command_id AND a.post_id = r.post_id WHERE r.post_id = ? AND r.digest = ?`,
        [postId, digest],
      )
    )[0];
    return pieceOf({
      digest, kind: 'xray-image', content_type: blob?.content_type ?? 'application/octet-stream', bytes: blob?.bytes ?? 0, device_id: null, chunks: null,
      image_width: null, image_height: null, of_digest: null, problem: null, evicted_at_post_ms: null, stored_ms: blob?.stored_ms ?? null, received: null, chunk_count: null,
      command_id: request?.command_id ?? null, requested_by: request?.requested_by ?? null, requested_ms: request?.requested_ms ?? null,
      outcome: request?.outcome ?? null, reason_code: request?.reason_code ?? null, reason_message: request?.reason_message ?? null,
    });
  }

  /** The regions come from the crossing's own scan event (the thumbnail's `imageWidth`/`imageHeight` say which pixels they are in). */
  private async screening(postId: string, crossingId: string): Promise<CrossingEvidence['screening']> {
    const rows = await this.db.all<{ type: string; payload: string }>(
      "SELECT type, payload FROM events WHERE post_id = ? AND subject = ? AND type IN ('xray.scanned', 'crossing.completed') ORDER BY time_ms DESC, seq DESC",
      [postId, crossingId],
    );
    const scanned = rows.find((r) => r.type === 'xray.scanned');
    if (scanned) {
      const data = (JSON.parse(scanned.payload) as CloudEvent<'xray.scanned'>).data;
      return data.screening ? { score: data.screening.score, modelVersion: data.screening.modelVersion, result: data.result, regions: data.screening.regions } : null;
    }
    const completed = rows.find((r) => r.type === 'crossing.completed');
    const screening = completed ? (JSON.parse(completed.payload) as CloudEvent<'crossing.completed'>).data.xrayScreening : null;
    return screening ? { score: screening.score, modelVersion: screening.modelVersion, result: null, regions: screening.regions } : null;
  }

  /** Records that `digests` were asked of `postId` by command `commandId` (the latest request of a digest replaces an earlier one). */
  async recordRequest(postId: string, digests: string[], commandId: string, requestedBy: string, nowMs: number): Promise<void> {
    for (const digest of digests) {
      await this.db.run(
        `INSERT INTO evidence_requests (post_id, digest, command_id, requested_by, requested_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (post_id, digest) DO UPDATE SET command_id = excluded.command_id, requested_by = excluded.requested_by, requested_ms = excluded.requested_ms`,
        [postId, digest, commandId, requestedBy, nowMs],
      );
    }
  }

  /**
   * Digests asked of `postId` since `sinceMs` that have not arrived and whose request the post has
   * not answered yet, newest first: a post offline gets only the latest request (the retained
   * one), so a new request carries these along.
   */
  async unansweredRequests(postId: string, sinceMs: number, limit: number): Promise<string[]> {
    const rows = await this.db.all<{ digest: string }>(
      `SELECT r.digest FROM evidence_requests r
       LEFT JOIN evidence_blobs b ON b.digest = r.digest
       LEFT JOIN command_answers a ON a.command_id = r.command_id AND a.post_id = r.post_id
       LEFT JOIN evidence e ON e.post_id = r.post_id AND e.digest = r.digest
       WHERE r.post_id = ? AND r.requested_ms >= ? AND b.digest IS NULL AND a.outcome IS NULL AND e.evicted_at_post_ms IS NULL
       ORDER BY r.requested_ms DESC, r.digest LIMIT ?`,
      [postId, sinceMs, limit],
    );
    return rows.map((r) => r.digest);
  }

  /**
   * Which of `digests` `postId` has announced (`evidence.stored`), itself or as the full image a
   * thumbnail it announced is `of`: what it may be asked for.
   */
  async announced(postId: string, digests: string[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    const list = digests.map(() => '?').join(', ');
    const rows = await this.db.all<{ digest: string }>(
      `SELECT digest FROM evidence WHERE post_id = ? AND digest IN (${list}) UNION SELECT of_digest AS digest FROM evidence WHERE post_id = ? AND of_digest IN (${list})`,
      [postId, ...digests, postId, ...digests],
    );
    return new Set(rows.map((r) => r.digest));
  }

  /** Which of `digests` the VMC holds verified. */
  async held(digests: string[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    const rows = await this.db.all<{ digest: string }>(`SELECT digest FROM evidence_blobs WHERE digest IN (${digests.map(() => '?').join(', ')})`, digests);
    return new Set(rows.map((r) => r.digest));
  }

  /** What the store holds, for /api/status. */
  async summary(): Promise<EvidenceSummary> {
    const held = (await this.db.all<{ n: number | string; b: number | string | null }>('SELECT COUNT(*) AS n, SUM(bytes) AS b FROM evidence_blobs'))[0];
    const pending = (await this.db.all<{ n: number | string; b: number | string | null }>('SELECT COUNT(*) AS n, SUM(received_bytes) AS b FROM evidence_pending'))[0];
    // A problem is over once the bytes are held (sent again by this post or another).
    const problems = await this.db.all<{ problem: EvidenceRejectReason; n: number | string }>(
      'SELECT e.problem, COUNT(*) AS n FROM evidence e WHERE e.problem IS NOT NULL AND NOT EXISTS (SELECT 1 FROM evidence_blobs b WHERE b.digest = e.digest) GROUP BY e.problem ORDER BY e.problem',
    );
    return {
      pieces: Number(held?.n ?? 0),
      bytes: Number(held?.b ?? 0),
      pendingPieces: Number(pending?.n ?? 0),
      pendingBytes: Number(pending?.b ?? 0),
      problems: Object.fromEntries(problems.map((p) => [p.problem, Number(p.n)])),
    };
  }
}
