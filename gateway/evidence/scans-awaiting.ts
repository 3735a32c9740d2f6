/**
 * Scans whose evidence (the full image, the thumbnail) is still to be taken, kept in the gateway's
 * database from the commit of their `xray.scanned` until the capture has stored it or given up.
 * The capture runs after the event, one scan at a time and seconds per scan: a kill in between
 * used to lose the scan's evidence once its crossing had closed, since only open crossings were
 * looked at on the next start. Written in the event's own transaction (`within`), so a scan is
 * here if and only if its event was stored.
 *
 * Bounded: beyond MAX_SCANS_AWAITING rows (a post whose capture cannot keep up for hours) the
 * oldest go, as the capture itself lets a scan go when too many wait.
 */
import type Database from 'better-sqlite3';
import type { EventData } from '../../contract/catalogue.js';
import { laneOf } from '../../contract/envelope.js';
import type { WithinCommit } from '../outbox/sqlite-outbox.js';
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

  /** `enabled` false (evidence.maxBytes 0: nothing is captured) records nothing. */
  constructor(
    db: Database.Database,
    private readonly enabled: boolean,
  ) {
    this.statements = {
      insert: db.prepare('INSERT OR IGNORE INTO scans_awaiting_evidence (crossing_id, lane_id, path, scanner_id) VALUES (?, ?, ?, ?)'),
      trim: db.prepare(`DELETE FROM scans_awaiting_evidence WHERE id IN (SELECT id FROM scans_awaiting_evidence ORDER BY id DESC LIMIT -1 OFFSET ${MAX_SCANS_AWAITING})`),
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
      if (this.enabled && event.type === 'xray.scanned' && typeof data.imageRef === 'string' && !DIGEST_PATTERN.test(data.imageRef) && data.crossingId) {
        this.statements.insert.run(data.crossingId, laneOf(event), data.imageRef, data.scannerId ?? 'unknown');
        this.statements.trim.run();
      }
      return next ? next(event, db) : event;
    };
  }

  /** The scans still awaiting their evidence, oldest first. */
  all(): AwaitingScan[] {
    return this.statements.all.all().map((row) => ({ crossingId: row.crossing_id, laneId: row.lane_id, path: row.path, scannerId: row.scanner_id }));
  }

  /** The scan's evidence is stored, or will never be (its file is gone, the image unreadable). */
  done(scan: Pick<AwaitingScan, 'crossingId' | 'path'>): void {
    this.statements.done.run(scan.crossingId, scan.path);
  }
}
