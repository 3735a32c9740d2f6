/**
 * The evidence store's index (table `evidence`, gateway/storage/migrations.ts): one row per piece
 * held on disk, with what its events say of it. A row is inserted in the transaction of the
 * piece's `evidence.stored` and deleted in that of its `evidence.evicted`, so the index and the
 * VMC's view of what the post holds never disagree; the files follow (evidence-files.ts).
 */
import type Database from 'better-sqlite3';
import type { EvidenceKind } from '../../contract/catalogue.js';
import { migrateGatewayDatabase } from '../storage/migrations.js';

export interface EvidenceRow {
  /** Insertion order: the bound evicts the lowest first. */
  id: number;
  digest: string;
  kind: EvidenceKind;
  contentType: string;
  bytes: number;
  /** The lane of its events: its crossing's, else the post pseudo-lane. */
  laneId: string;
  crossingId: string | null;
  deviceId: string | null;
  /** Wall-clock ms of the post clock when it was stored (retention counts from here). */
  storedMs: number;
}

export type NewEvidenceRow = Omit<EvidenceRow, 'id'>;

const COLUMNS = 'id, digest, kind, content_type AS contentType, bytes, lane_id AS laneId, crossing_id AS crossingId, device_id AS deviceId, stored_ms AS storedMs';

export class EvidenceIndex {
  private readonly statements;

  constructor(db: Database.Database) {
    migrateGatewayDatabase(db);
    this.statements = {
      get: db.prepare<[string], EvidenceRow>(`SELECT ${COLUMNS} FROM evidence WHERE digest = ?`),
      all: db.prepare<[], EvidenceRow>(`SELECT ${COLUMNS} FROM evidence ORDER BY id`),
      oldest: db.prepare<[number], EvidenceRow>(`SELECT ${COLUMNS} FROM evidence ORDER BY id LIMIT ?`),
      olderThan: db.prepare<[string, number, number], EvidenceRow>(`SELECT ${COLUMNS} FROM evidence WHERE kind = ? AND stored_ms <= ? ORDER BY id LIMIT ?`),
      ofCrossing: db.prepare<[string, string], { digest: string }>('SELECT digest FROM evidence WHERE crossing_id = ? AND kind = ? ORDER BY id LIMIT 1'),
      allOfCrossing: db.prepare<[string, string], { digest: string; deviceId: string | null }>('SELECT digest, device_id AS deviceId FROM evidence WHERE crossing_id = ? AND kind = ? ORDER BY id LIMIT 16'),
      heldBytes: db.prepare<[], { bytes: number | null }>('SELECT SUM(bytes) AS bytes FROM evidence'),
      insert: db.prepare('INSERT INTO evidence (digest, kind, content_type, bytes, lane_id, crossing_id, device_id, stored_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      remove: db.prepare<[string]>('DELETE FROM evidence WHERE digest = ?'),
    };
  }

  get(digest: string): EvidenceRow | undefined {
    return this.statements.get.get(digest);
  }

  /** Every row, oldest first (read once at start to check the files). */
  all(): EvidenceRow[] {
    return this.statements.all.all();
  }

  /** The `limit` oldest pieces. */
  oldest(limit: number): EvidenceRow[] {
    return this.statements.oldest.all(limit);
  }

  /** Pieces of `kind` stored at or before `beforeMs`, oldest first. */
  storedBefore(kind: EvidenceKind, beforeMs: number, limit: number): EvidenceRow[] {
    return this.statements.olderThan.all(kind, beforeMs, limit);
  }

  /** Whether a piece of `kind` is held for `crossingId`. */
  holdsFor(crossingId: string, kind: EvidenceKind): boolean {
    return this.firstFor(crossingId, kind) !== null;
  }

  /** The digest of the first piece of `kind` stored for `crossingId`, or null. */
  firstFor(crossingId: string, kind: EvidenceKind): string | null {
    return this.statements.ofCrossing.get(crossingId, kind)?.digest ?? null;
  }

  /** The pieces of `kind` stored for `crossingId` (a crossing has a few: entry and exit pictures), oldest first. */
  allFor(crossingId: string, kind: EvidenceKind): { digest: string; deviceId: string | null }[] {
    return this.statements.allOfCrossing.all(crossingId, kind);
  }

  heldBytes(): number {
    return this.statements.heldBytes.get()?.bytes ?? 0;
  }

  /** Inside the transaction of the piece's `evidence.stored`. */
  insert(row: NewEvidenceRow): void {
    this.statements.insert.run(row.digest, row.kind, row.contentType, row.bytes, row.laneId, row.crossingId, row.deviceId, row.storedMs);
  }

  /** Inside the transaction of the piece's `evidence.evicted` (or of a start that found it damaged). */
  remove(digest: string): void {
    this.statements.remove.run(digest);
  }
}
