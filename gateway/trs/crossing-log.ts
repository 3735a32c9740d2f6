/**
 * The post's own record of completed crossings, for the console's TRS day (`GET /api/trs`): the
 * outbox forgets an event once the broker has it, so the TRS of a day cannot be read back from
 * there. One row per `crossing.completed`, written in that event's own transaction (`within`), so
 * a crossing is in the log if and only if its event was stored; a replayed or repeated event
 * counts once (keyed by the event id).
 *
 * A row keeps only what the report needs (crossingRecord's fields) and the post's calendar day of
 * the exit. "Day" is the post's local day: `workflow.utcOffsetMin`, the fixed offset the risk
 * model's hour-of-day feature already uses (the configuration has no DST rules; a post that keeps
 * summer time sets the offset it wants its days cut at). Bounded: rows older than `retentionDays`
 * and beyond `maxRows` (oldest first) are deleted as new ones come.
 *
 * Retention is measured from the median exit time of the last crossings recorded, never from one
 * crossing's own time: the wall clock can step (NTP at boot, a GPS receiver's glitch), and a single
 * crossing stamped a year ahead must not make the post's whole history look a year old. A real
 * step moves the median once most of the recent crossings agree with it, and even then each
 * crossing deletes at most `PRUNE_PER_CROSSING` expired rows, so the history goes over many
 * crossings, not in one.
 */
import type Database from 'better-sqlite3';
import type { WithinCommit } from '../outbox/sqlite-outbox.js';
import { migrateGatewayDatabase } from '../storage/migrations.js';
import { crossingRecord, type CrossingRecord } from '../../contract/trs-report.js';

export interface CrossingLogOptions {
  /** The post's offset from UTC in minutes (`workflow.utcOffsetMin`): where its days begin. */
  utcOffsetMin: number;
  /** Days kept. Default 93: a quarter, to compare a day with the same day weeks before. */
  retentionDays?: number;
  /** Rows kept at most (≈ 300 bytes each). Default 200,000: three months of a busy eight-lane post. */
  maxRows?: number;
}

const DAY_MS = 86_400_000;
/** Recent exit times whose median is the retention's "now": one odd time cannot move it. */
const RECENT_CROSSINGS = 9;
/**
 * Expired rows deleted per crossing at most: above one (a steady post deletes about one per
 * crossing, and a lowered `retentionDays` is caught up with), far below any history's size.
 */
export const PRUNE_PER_CROSSING = 4;
export const DAY_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

export class CrossingLog {
  private readonly statements;
  private readonly retentionMs: number;
  private readonly maxRows: number;
  /**
   * Rows in the table, counted once at start and kept since: no COUNT(*) per crossing. A commit
   * rolled back after our insert leaves it one high, which only trims a row early; recounted at start.
   */
  private rows: number;
  /** Exit times of the last crossings recorded (oldest first), at most RECENT_CROSSINGS. */
  private readonly recent: number[];

  constructor(
    db: Database.Database,
    private readonly options: CrossingLogOptions,
  ) {
    // The table is the schema's (storage/migrations.ts): brought up to date on whatever handle.
    migrateGatewayDatabase(db);
    this.retentionMs = (options.retentionDays ?? 93) * DAY_MS;
    this.maxRows = options.maxRows ?? 200_000;
    this.statements = {
      insert: db.prepare('INSERT OR IGNORE INTO completed_crossings (event_id, crossing_id, lane_id, day, exited_ms, record) VALUES (?, ?, ?, ?, ?, ?)'),
      prune: db.prepare('DELETE FROM completed_crossings WHERE rowid IN (SELECT rowid FROM completed_crossings WHERE exited_ms < ? ORDER BY exited_ms LIMIT ?)'),
      trim: db.prepare('DELETE FROM completed_crossings WHERE rowid IN (SELECT rowid FROM completed_crossings ORDER BY exited_ms LIMIT ?)'),
      count: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM completed_crossings'),
      day: db.prepare<[string], { record: string }>('SELECT record FROM completed_crossings WHERE day = ? ORDER BY exited_ms'),
    };
    this.rows = this.statements.count.get()?.n ?? 0;
    // The last rows inserted: a new row's rowid is above every other's (no AUTOINCREMENT needed).
    this.recent = db
      .prepare<[number], { exited_ms: number }>('SELECT exited_ms FROM completed_crossings ORDER BY rowid DESC LIMIT ?')
      .all(RECENT_CROSSINGS)
      .map((row) => row.exited_ms)
      .reverse();
  }

  /**
   * For `gateway.emit` of a `crossing.completed`: records the crossing in the event's transaction,
   * then hands the event on to `next` (the lane store, the audit log), whose writes it leaves alone.
   * Any other event, or an abandoned crossing, passes through unrecorded.
   */
  within(next?: WithinCommit): WithinCommit {
    return (event, db) => {
      const record = crossingRecord(event as unknown as Record<string, unknown>);
      if (record) {
        const data = event.data as { crossingId?: string; laneId?: string; milestones?: Record<string, string> };
        const exitedMs = Date.parse(data.milestones?.exited ?? event.time);
        const at = Number.isFinite(exitedMs) ? exitedMs : Date.parse(event.time);
        const inserted = this.statements.insert.run(event.id, data.crossingId ?? '', data.laneId ?? '', this.dayOf(at), at, JSON.stringify(record)).changes;
        if (inserted > 0 && Number.isFinite(at)) this.remember(at);
        const now = this.retentionNow();
        const pruned = now === null ? 0 : this.statements.prune.run(now - this.retentionMs, PRUNE_PER_CROSSING).changes;
        this.rows += inserted - pruned;
        if (this.rows > this.maxRows) this.rows -= this.statements.trim.run(this.rows - this.maxRows).changes;
      }
      return next ? next(event, db) : event;
    };
  }

  private remember(exitedMs: number): void {
    this.recent.push(exitedMs);
    if (this.recent.length > RECENT_CROSSINGS) this.recent.shift();
  }

  /** The lower median of the recent exit times: the later of two middles could be the odd one. */
  private retentionNow(): number | null {
    const sorted = [...this.recent].sort((a, b) => a - b);
    return sorted[Math.floor((sorted.length - 1) / 2)] ?? null;
  }

  /** The records of the crossings that exited on `day` (`YYYY-MM-DD`, the post's local day). */
  day(day: string): CrossingRecord[] {
    return this.statements.day.all(day).map((row) => JSON.parse(row.record) as CrossingRecord);
  }

  /** The post's local calendar day of wall time `ms`, as `YYYY-MM-DD`. */
  dayOf(ms: number): string {
    return new Date(ms + this.options.utcOffsetMin * 60_000).toISOString().slice(0, 10);
  }

  get size(): number {
    return this.rows;
  }
}

/** True when `text` is `YYYY-MM-DD` naming a real calendar day (no 2026-02-30). */
export function isCalendarDay(text: string): boolean {
  const match = DAY_PATTERN.exec(text);
  if (!match) return false;
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return date.toISOString().slice(0, 10) === text;
}
