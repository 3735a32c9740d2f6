/**
 * Scans whose evidence (the full image, the thumbnail) is still to be taken, kept in the gateway's
 * database from the commit of their `xray.scanned` until the capture has stored it, or found that
 * it never can (scan-capture.ts). It is the capture's queue: a scan waits here, not in memory,
 * while the capture is busy or the store refuses for a while, and a kill between the event and
 * the evidence loses nothing, its crossing open or closed. Written in the event's own transaction
 * (`within`), so a scan is here if and only if its event was stored.
 *
 * Bounded: beyond MAX_SCANS_AWAITING rows (a capture that could not keep up for hours) the oldest
 * go, logged with their crossings.
 */
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { EventData } from '../../contract/catalogue.js';
import { laneOf } from '../../contract/envelope.js';
import type { WithinCommit } from '../outbox/sqlite-outbox.js';
import { writeWithoutWaiting } from '../storage/without-waiting.js';
import { DIGEST_PATTERN } from './evidence-files.js';

export const MAX_SCANS_AWAITING = 256;

export interface AwaitingScan {
  crossingId: string;
  laneId: string;
  /** The scanner's image file, as `xray.scanned` named it. */
  path: string;
  scannerId: string;
}

export class ScansAwaitingEvidence {
  private readonly statements;
  private readonly listeners = new Set<() => void>();
  private notifyScheduled = false;
  /** Scans the bound pushed out in the current transaction: logged once it has committed. */
  private trimmed: { crossing_id: string; path: string }[] = [];

  /** `enabled` false (evidence.maxBytes 0: nothing is captured) records nothing. */
  constructor(
    private readonly db: Database.Database,
    private readonly enabled: boolean,
    private readonly logger: Logger,
  ) {
    this.statements = {
      insert: db.prepare('INSERT OR IGNORE INTO scans_awaiting_evidence (crossing_id, lane_id, path, scanner_id) VALUES (?, ?, ?, ?)'),
      trim: db.prepare<[], { crossing_id: string; path: string }>(
        `DELETE FROM scans_awaiting_evidence WHERE id IN (SELECT id FROM scans_awaiting_evidence ORDER BY id DESC LIMIT -1 OFFSET ${MAX_SCANS_AWAITING}) RETURNING crossing_id, path`,
      ),
      holds: db.prepare<[string, string], { id: number }>('SELECT id FROM scans_awaiting_evidence WHERE crossing_id = ? AND path = ?'),
      all: db.prepare<[], { crossing_id: string; lane_id: string; path: string; scanner_id: string }>(
        'SELECT crossing_id, lane_id, path, scanner_id FROM scans_awaiting_evidence ORDER BY id',
      ),
      done: db.prepare<[string, string]>('DELETE FROM scans_awaiting_evidence WHERE crossing_id = ? AND path = ?'),
    };
  }

  /**
   * For `gateway.emit` of an `xray.scanned`: records its scan in the event's transaction when it
   * names an image file (a digest names a picture already stored), then hands on to `next`.
   */
  within(next?: WithinCommit): WithinCommit {
    return (event, db) => {
      const data = event.data as Partial<EventData<'xray.scanned'>>;
      if (event.type === 'xray.scanned' && typeof data.imageRef === 'string' && data.crossingId) {
        this.record({ crossingId: data.crossingId, laneId: laneOf(event), path: data.imageRef, scannerId: data.scannerId ?? 'unknown' });
      }
      return next ? next(event, db) : event;
    };
  }

  /**
   * Records a scan (in the caller's transaction, if any). Listeners hear of it in a microtask:
   * after the outbox's flush, which runs its transaction synchronously, has committed it (or
   * rolled it back, and they find nothing).
   */
  record(scan: AwaitingScan): void {
    if (!this.enabled || DIGEST_PATTERN.test(scan.path)) return;
    this.statements.insert.run(scan.crossingId, scan.laneId, scan.path, scan.scannerId);
    this.trimmed.push(...this.statements.trim.all());
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    queueMicrotask(() => {
      this.notifyScheduled = false;
      this.logTrimmed();
      for (const listener of this.listeners) {
        try {
          listener();
        } catch (error) {
          this.logger.error({ err: error }, 'listener of scans awaiting evidence failed');
        }
      }
    });
  }

  /** The scans the bound pushed out, those still gone now that their transaction is over (a rollback brings them back). */
  private logTrimmed(): void {
    const trimmed = this.trimmed;
    this.trimmed = [];
    const gone = trimmed.filter((row) => this.statements.holds.get(row.crossing_id, row.path) === undefined);
    if (gone.length > 0) {
      this.logger.warn({ crossings: gone.map((row) => row.crossing_id), kept: MAX_SCANS_AWAITING }, 'too many scans awaiting their evidence: the oldest go without');
    }
  }

  /** Calls `listener` after scans were recorded; returns the unsubscribe. */
  onRecorded(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The scans still awaiting their evidence, oldest first. */
  all(): AwaitingScan[] {
    return this.statements.all.all().map((row) => ({ crossingId: row.crossing_id, laneId: row.lane_id, path: row.path, scannerId: row.scanner_id }));
  }

  /**
   * The scan's evidence is stored, or never will be (its file gone, not an image). Throws
   * GW_ERR_OUTBOX_LOCKED rather than wait on the loop for another connection's write lock: the
   * scan stays recorded and is settled again later (scan-capture.ts).
   */
  done(scan: Pick<AwaitingScan, 'crossingId' | 'path'>): void {
    writeWithoutWaiting(this.db, 'scan settled', () => this.statements.done.run(scan.crossingId, scan.path));
  }
}
