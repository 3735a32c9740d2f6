/**
 * The rows the outbox committed last, kept in memory until the uplink has read them, so the
 * uplink's read right after a commit (the same rows, a few hundred microseconds later) costs no
 * SELECT: in the durable-path benchmark that query was 7% of the process's CPU.
 *
 * The rows are contiguous in seq, newest last, the last the outbox's last seq. Every row held is
 * in the database as it is here: a row deleted there (acknowledged, or dropped by the byte bound)
 * is let go here first, with everything before it. A read is answered from here only when it
 * starts inside the rows held; anything else (a replay from an older seq after a reconnect) goes
 * to the database, which stays the truth.
 * Bounded in rows and bytes. When full it keeps the oldest and lets newer rows wait in the
 * database: the uplink reads oldest first, so while it is behind (a backlog, a burst faster than
 * the broker acknowledges) the newest rows were the ones it would not read for a while, and
 * keeping them (as this did at first) answered none of its reads: 95 % of the rows of the
 * durable-path benchmark were read back from the database. Once the rows held have been read,
 * the next commit starts a new run.
 */
import type { OutboxRow } from './sqlite-outbox.js';

export interface RecentRowsLimits {
  maxRows: number;
  maxBytes: number;
}

export const DEFAULT_RECENT_ROWS_LIMITS: RecentRowsLimits = { maxRows: 4096, maxBytes: 1024 * 1024 };

export class RecentRows {
  private rows: OutboxRow[] = [];
  /** Index of the first row still held in `rows` (rows before it were read or evicted). */
  private head = 0;
  private bytes = 0;

  constructor(private readonly limits: RecentRowsLimits = DEFAULT_RECENT_ROWS_LIMITS) {}

  get size(): number {
    return this.rows.length - this.head;
  }

  /**
   * Rows just committed, in seq order. Held only while they follow the last held and fit: a row
   * after a gap (rows not held because it was full) stays in the database like the gap, since the
   * rows held come before it and are read first.
   */
  add(row: OutboxRow): void {
    const last = this.rows[this.rows.length - 1];
    if (this.size > 0 && last && row.seq !== last.seq + 1) return;
    if (this.size + 1 > this.limits.maxRows || this.bytes + row.bytes > this.limits.maxBytes) return;
    this.rows.push(row);
    this.bytes += row.bytes;
  }

  /**
   * Up to `limit` rows from `fromSeq` to `upToSeq`, when `fromSeq` is one of the rows held;
   * else null (read the database). The rows returned, and any before them, are let go.
   */
  take(fromSeq: number, upToSeq: number, limit: number): OutboxRow[] | null {
    const first = this.rows[this.head];
    if (!first || fromSeq < first.seq || fromSeq > first.seq + this.size - 1) return null;
    while ((this.rows[this.head] as OutboxRow).seq < fromSeq) this.dropFirst();
    const taken: OutboxRow[] = [];
    while (taken.length < limit && this.size > 0 && (this.rows[this.head] as OutboxRow).seq <= upToSeq) {
      taken.push(this.rows[this.head] as OutboxRow);
      this.dropFirst();
    }
    return taken;
  }

  /** Lets go of every row up to `seq`: read from the database, or deleted there. */
  forget(seq: number): void {
    while (this.size > 0 && (this.rows[this.head] as OutboxRow).seq <= seq) this.dropFirst();
  }

  clear(): void {
    this.rows = [];
    this.head = 0;
    this.bytes = 0;
  }

  private dropFirst(): void {
    const row = this.rows[this.head] as OutboxRow;
    this.bytes -= row.bytes;
    this.head += 1;
    if (this.head === this.rows.length) this.clear();
    // Compact now and then, so the array does not keep what was let go.
    else if (this.head >= 1024 && this.head * 2 >= this.rows.length) {
      this.rows = this.rows.slice(this.head);
      this.head = 0;
    }
  }
}
