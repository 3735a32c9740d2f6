/**
 * The transfers of evidence to the VMC (table `evidence_uploads`): per transfer, the next chunk to
 * queue. A transfer is added in the transaction of what starts it (the piece's `evidence.stored`,
 * or the `command.applied` of an `evidence.request`), and moved on in the transaction of each
 * `evidence.chunk` it appends: after a kill -9 the gateway resumes at exactly the first chunk not
 * stored in the outbox, and never skips one. A transfer ends (its row deleted) with its last chunk.
 */
import type Database from 'better-sqlite3';
import { migrateGatewayDatabase } from '../storage/migrations.js';

export interface Upload {
  id: number;
  digest: string;
  /** The `evidence.request` command it answers; null for a snapshot or thumbnail sent as stored. */
  requestId: string | null;
  /** The first chunk not yet appended to the outbox. */
  nextIndex: number;
  chunks: number;
}

export class UploadProgress {
  private readonly statements;

  constructor(db: Database.Database) {
    migrateGatewayDatabase(db);
    this.statements = {
      add: db.prepare('INSERT INTO evidence_uploads (digest, request_id, next_index, chunks) VALUES (?, ?, 0, ?)'),
      // Pieces sent as stored (snapshots, thumbnails: small, and what the VMC shows live) before
      // requested ones (a full image may be hundreds of chunks); each in the order it was queued.
      pending: db.prepare<[number], Upload>(
        'SELECT id, digest, request_id AS requestId, next_index AS nextIndex, chunks FROM evidence_uploads WHERE next_index < chunks ORDER BY request_id IS NOT NULL, id LIMIT ?',
      ),
      // Only from the index the caller read: a chunk appended twice (a retry) moves nothing twice.
      advance: db.prepare<[number, number, number]>('UPDATE evidence_uploads SET next_index = ? WHERE id = ? AND next_index = ?'),
      finished: db.prepare<[number]>('DELETE FROM evidence_uploads WHERE id = ? AND next_index >= chunks'),
      remove: db.prepare<[number]>('DELETE FROM evidence_uploads WHERE id = ?'),
      removeDigest: db.prepare<[string]>('DELETE FROM evidence_uploads WHERE digest = ?'),
      unsent: db.prepare<[string], { unsent: number | null }>('SELECT SUM(chunks - next_index) AS unsent FROM evidence_uploads WHERE digest = ?'),
      count: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM evidence_uploads'),
    };
  }

  /** Starts a transfer of `chunks` chunks; inside the transaction of the event that starts it. */
  add(digest: string, requestId: string | null, chunks: number): void {
    if (chunks > 0) this.statements.add.run(digest, requestId, chunks);
  }

  /** Up to `limit` transfers with chunks left, in the order they are sent. */
  pending(limit: number): Upload[] {
    return this.statements.pending.all(limit);
  }

  /**
   * Records chunk `index` of transfer `id` as appended; inside the chunk's transaction. True when
   * this was the transfer's last chunk (its row is gone).
   */
  advance(id: number, index: number): boolean {
    const moved = this.statements.advance.run(index + 1, id, index).changes > 0;
    return moved && this.statements.finished.run(id).changes > 0;
  }

  /** Drops a transfer whose piece cannot be read any more. */
  remove(id: number): void {
    this.statements.remove.run(id);
  }

  /** Drops every transfer of a piece; inside the transaction that evicts it. */
  removeDigest(digest: string): void {
    this.statements.removeDigest.run(digest);
  }

  /** Chunks of `digest` not yet appended to the outbox, over all its transfers. */
  unsent(digest: string): number {
    return this.statements.unsent.get(digest)?.unsent ?? 0;
  }

  count(): number {
    return this.statements.count.get()?.n ?? 0;
  }
}
