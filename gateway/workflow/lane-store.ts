/**
 * What the lanes must not forget across a SIGKILL or a power cut, in the gateway's database:
 * the open crossings with every milestone stamped so far, each lane's barrier cycle, and the
 * visit history of the last 30 days. Crossings are written in the transaction of the events that
 * change them (`within`), so a crossing is stored exactly as far as its events are; on start the
 * lanes are rebuilt from these rows (restore) and carry on.
 *
 * The visit history is read here too, per vehicle assessed (`visits`, `mismatchesOf`: one indexed
 * lookup each), not held in memory: a month of a busy post's arrivals would otherwise grow the
 * heap for 30 days (≈ 115 bytes a plate: ≈ 10 MB at 3,000 trucks a day, 29 MB at VISITS_MAX_ROWS).
 *
 * Monotonic stamps do not survive the process (its monotonic clock restarts), so a snapshot keeps
 * the monotonic and wall times of its writing: a restored crossing's stamps are moved onto the new
 * process's monotonic clock with the wall time that passed meanwhile, and the crossing says so.
 *
 * The lanes' re-read windows (recent-plates.ts) come back from here too: the entry camera's from
 * the open crossings' arrival stamps (nothing more is written for it), the exit camera's from one
 * row per lane (`recent_exits`) rewritten in the transaction of each `vehicle.exited`, with the
 * plates that left in the last minutes and how long before its writing each did. A re-read push
 * that changes nothing writes nothing; an entry push writes nothing more than before.
 *
 * Each lane's weighbridge queue-shift run (queue-shift.ts) is one row too (`queue_shift_runs`),
 * rewritten in the transaction of each weighing's `vehicle.weighed` (and of the lane's events after
 * it until one of them is stored: post-workflow.ts) and removed when no run stands.
 */
import type Database from 'better-sqlite3';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { isGatewayError } from '../../core/errors.js';
import { canonicalPlate } from '../../core/plates.js';
import type { WithinCommit } from '../outbox/sqlite-outbox.js';
import { migrateGatewayDatabase } from '../storage/migrations.js';
import { writeWithoutWaiting } from '../storage/without-waiting.js';
import type { Crossing } from './lane-workflow.js';
import type { QueueShiftRun } from './queue-shift.js';
import type { VisitHistory } from './risk-assessor.js';

/**
 * The longest outage a restored crossing is taken to have waited through. Longer than any real
 * one a vehicle waits out (the workflow abandons a crossing after 12 h without progress by
 * default), short enough that a wrong clock cannot add more.
 */
export const MAX_OUTAGE_MS = 7 * 24 * 3_600_000;

/** The visit history keeps 30 days, and at most this many arrivals (≈ 70 bytes each on disk with both indexes). */
export const VISITS_WINDOW_MS = 30 * 86_400_000;
export const VISITS_MAX_ROWS = 250_000;
/** Plates with a mismatch remembered at most (≈ 40 bytes each on disk); the longest unchanged go first. */
export const MISMATCH_PLATES_MAX = 50_000;

/**
 * A barrier cycle that could not be written because another connection held the database's write
 * lock is written again after this, doubling to CYCLE_RETRY_MAX_MS (never waited for on the loop:
 * storage/without-waiting.ts).
 */
const CYCLE_RETRY_FIRST_MS = 100;
const CYCLE_RETRY_MAX_MS = 2000;

interface Snapshot {
  crossing: Crossing;
  /** Monotonic and wall ms when the snapshot was taken, to move stamps onto a new process's clock. */
  monoAt: number;
  wallAt: number;
}

/** A lane's `recent_exits` row: the plates that had left, and how long before `wallAt` each did. */
interface ExitsSnapshot {
  wallAt: number;
  plates: { plate: string; agoMs: number }[];
}

/** A plate that left a lane, as restored: how long ago it left, by the wall clock across the outage. */
export interface RecentExit {
  plate: string;
  agoMs: number;
}

/** A crossing as restored: its stamps on this process's monotonic clock. */
export interface RestoredCrossing {
  crossing: Crossing;
  /** Wall ms of its last snapshot (its last progress, as far as anyone can know). */
  lastWrittenWallMs: number;
}

export class LaneStore implements VisitHistory {
  private readonly statements;
  /** Rows in `visits` and in `plate_mismatches`, counted once at start and kept since: no COUNT(*) per write. */
  private visitRows: number;
  private mismatchRows: number;
  /** Barrier cycles (JSON) by lane not yet written: the database was locked by another connection. */
  private readonly unsavedCycles = new Map<string, string>();
  private cycleRetry: { timer: TimerHandle | null; tries: number } = { timer: null, tries: 0 };

  constructor(
    private readonly db: Database.Database,
    private readonly clock: Clock,
    private readonly limits = { maxVisits: VISITS_MAX_ROWS, maxMismatchPlates: MISMATCH_PLATES_MAX },
  ) {
    // The tables are the schema's (storage/migrations.ts): brought up to date on whatever handle.
    migrateGatewayDatabase(db);
    this.statements = {
      upsert: db.prepare('INSERT INTO open_crossings (crossing_id, lane_id, snapshot) VALUES (?, ?, ?) ON CONFLICT (crossing_id) DO UPDATE SET snapshot = excluded.snapshot, lane_id = excluded.lane_id'),
      remove: db.prepare('DELETE FROM open_crossings WHERE crossing_id = ?'),
      crossings: db.prepare<[], { lane_id: string; snapshot: string }>('SELECT lane_id, snapshot FROM open_crossings ORDER BY rowid'),
      setCycle: db.prepare('INSERT INTO barrier_cycles (lane_id, cycle) VALUES (?, ?) ON CONFLICT (lane_id) DO UPDATE SET cycle = excluded.cycle'),
      cycles: db.prepare<[], { lane_id: string; cycle: string }>('SELECT lane_id, cycle FROM barrier_cycles'),
      setExits: db.prepare('INSERT INTO recent_exits (lane_id, plates) VALUES (?, ?) ON CONFLICT (lane_id) DO UPDATE SET plates = excluded.plates'),
      exits: db.prepare<[], { lane_id: string; plates: string }>('SELECT lane_id, plates FROM recent_exits'),
      setShiftRun: db.prepare('INSERT INTO queue_shift_runs (lane_id, run) VALUES (?, ?) ON CONFLICT (lane_id) DO UPDATE SET run = excluded.run'),
      removeShiftRun: db.prepare('DELETE FROM queue_shift_runs WHERE lane_id = ?'),
      shiftRuns: db.prepare<[], { lane_id: string; run: string }>('SELECT lane_id, run FROM queue_shift_runs'),
      addVisit: db.prepare('INSERT INTO visits (plate_key, wall_ms) VALUES (?, ?)'),
      pruneVisits: db.prepare('DELETE FROM visits WHERE wall_ms < ?'),
      countVisits: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM visits'),
      trimVisits: db.prepare('DELETE FROM visits WHERE rowid IN (SELECT rowid FROM visits ORDER BY wall_ms LIMIT ?)'),
      visitsOf: db.prepare<[string, number, number], { n: number }>('SELECT COUNT(*) AS n FROM visits WHERE plate_key = ? AND wall_ms >= ? AND wall_ms < ?'),
      // REPLACE deletes the plate's row and inserts it anew, with the highest rowid: rowid order
      // is then the order of last change, which the trim below goes by.
      setMismatches: db.prepare('INSERT OR REPLACE INTO plate_mismatches (plate_key, count) VALUES (?, ?)'),
      countMismatches: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM plate_mismatches'),
      trimMismatches: db.prepare('DELETE FROM plate_mismatches WHERE rowid IN (SELECT rowid FROM plate_mismatches ORDER BY rowid LIMIT ?)'),
      mismatchesOf: db.prepare<[string], { count: number }>('SELECT count FROM plate_mismatches WHERE plate_key = ?'),
    };
    this.visitRows = this.statements.countVisits.get()?.n ?? 0;
    this.mismatchRows = this.statements.countMismatches.get()?.n ?? 0;
  }

  /** Arrivals of `plate` before `atMs` within the last 30 days, as stored (an OCR variant counts). */
  visits(plate: string | null, atMs: number): number {
    if (plate === null) return 0;
    return this.statements.visitsOf.get(canonicalPlate(plate), atMs - VISITS_WINDOW_MS, atMs)?.n ?? 0;
  }

  mismatchesOf(plate: string | null): number {
    return plate === null ? 0 : (this.statements.mismatchesOf.get(canonicalPlate(plate))?.count ?? 0);
  }

  /**
   * For an event that changes `crossing`: its current state stored in the event's transaction,
   * or its row removed when the crossing has closed. `also` writes more in the same transaction.
   */
  within(
    crossing: Crossing | null,
    options: {
      closed?: boolean;
      cycle?: { laneId: string; cycle: unknown };
      visit?: { plate: string; atMs: number };
      mismatch?: string;
      exits?: { laneId: string; plates: RecentExit[] };
      queueShift?: { laneId: string; run: QueueShiftRun | null };
    } = {},
    next?: WithinCommit,
  ): WithinCommit {
    return (event, db) => {
      if (crossing) {
        if (options.closed) this.statements.remove.run(crossing.crossingId);
        else this.statements.upsert.run(crossing.crossingId, crossing.laneId, JSON.stringify({ crossing, monoAt: this.clock.monotonic(), wallAt: this.clock.now() } satisfies Snapshot));
      }
      if (options.cycle) {
        this.statements.setCycle.run(options.cycle.laneId, JSON.stringify(options.cycle.cycle));
        // Newer than one waiting for the lock: that one must not be written over it later.
        this.unsavedCycles.delete(options.cycle.laneId);
      }
      if (options.visit) this.addVisit(options.visit.plate, options.visit.atMs);
      if (options.mismatch) this.addMismatch(options.mismatch);
      if (options.exits) this.statements.setExits.run(options.exits.laneId, JSON.stringify({ wallAt: this.clock.now(), plates: options.exits.plates } satisfies ExitsSnapshot));
      if (options.queueShift) {
        const { laneId, run } = options.queueShift;
        if (run === null) this.statements.removeShiftRun.run(laneId);
        else this.statements.setShiftRun.run(laneId, JSON.stringify(run));
      }
      return next ? next(event, db) : event;
    };
  }

  /**
   * A barrier cycle changed with no event to carry it (a loop or arm reading). Called on the
   * barrier's polling path, so it never waits for another connection's write lock: the cycle is
   * kept in memory and written again later (the newest per lane), also when no event comes.
   */
  saveCycle(laneId: string, cycle: unknown): void {
    this.unsavedCycles.set(laneId, JSON.stringify(cycle));
    // A retry is armed: it writes this one too, in order.
    if (!this.cycleRetry.timer) this.saveCycles();
  }

  /** Barrier cycles waiting for another connection's lock to end (0 when none). */
  get cyclesWaiting(): number {
    return this.unsavedCycles.size;
  }

  /** Stops retrying; what still waits for the lock is lost, as a cycle is at a kill (the next reading rewrites it). */
  stop(): void {
    if (this.cycleRetry.timer) this.clock.clearTimeout(this.cycleRetry.timer);
    this.cycleRetry = { timer: null, tries: 0 };
  }

  private saveCycles(): void {
    try {
      writeWithoutWaiting(this.db, 'barrier cycle', () =>
        this.db.transaction(() => {
          for (const [laneId, cycle] of this.unsavedCycles) this.statements.setCycle.run(laneId, cycle);
        })(),
      );
      this.unsavedCycles.clear();
      this.cycleRetry.tries = 0;
    } catch (error) {
      if (!isGatewayError(error, 'GW_ERR_OUTBOX_LOCKED')) {
        this.unsavedCycles.clear();
        throw error;
      }
      const delay = Math.min(CYCLE_RETRY_MAX_MS, CYCLE_RETRY_FIRST_MS * 2 ** this.cycleRetry.tries);
      this.cycleRetry.tries += 1;
      this.cycleRetry.timer = this.clock.setTimeout(() => {
        this.cycleRetry.timer = null;
        if (this.unsavedCycles.size > 0) this.saveCycles();
      }, delay);
    }
  }

  private addVisit(plate: string, atMs: number): void {
    this.statements.addVisit.run(canonicalPlate(plate), atMs);
    this.visitRows += 1 - this.statements.pruneVisits.run(atMs - VISITS_WINDOW_MS).changes;
    if (this.visitRows > this.limits.maxVisits) this.visitRows -= this.statements.trimVisits.run(this.visitRows - this.limits.maxVisits).changes;
  }

  private addMismatch(plate: string): void {
    const key = canonicalPlate(plate);
    const before = this.statements.mismatchesOf.get(key)?.count;
    this.statements.setMismatches.run(key, (before ?? 0) + 1);
    if (before === undefined) this.mismatchRows += 1;
    if (this.mismatchRows > this.limits.maxMismatchPlates) this.mismatchRows -= this.statements.trimMismatches.run(this.mismatchRows - this.limits.maxMismatchPlates).changes;
  }

  /** The open crossings by lane, their stamps moved onto this process's monotonic clock. */
  restoreCrossings(): Map<string, RestoredCrossing[]> {
    const byLane = new Map<string, RestoredCrossing[]>();
    const monoNow = this.clock.monotonic();
    const wallNow = this.clock.now();
    for (const row of this.statements.crossings.all()) {
      const { crossing, monoAt, wallAt } = JSON.parse(row.snapshot) as Snapshot;
      // Age of each stamp at the snapshot (monotonic, exact) plus the wall time since (the outage),
      // believed up to MAX_OUTAGE_MS: a wall clock stepped years ahead (a dead RTC, a bad NTP
      // answer) must not turn a waiting truck into a crossing of years.
      const sinceSnapshot = Math.min(MAX_OUTAGE_MS, Math.max(0, wallNow - wallAt));
      for (const [milestone, mono] of Object.entries(crossing.monoMs)) {
        (crossing.monoMs as Record<string, number>)[milestone] = monoNow - sinceSnapshot - (monoAt - mono);
      }
      crossing.durationsAcrossRestart = true;
      const list = byLane.get(row.lane_id) ?? [];
      list.push({ crossing, lastWrittenWallMs: wallAt });
      byLane.set(row.lane_id, list);
    }
    return byLane;
  }

  /**
   * The plates that left each lane within `windowMs` before now, with how long ago each did: its
   * age when the row was written plus the wall time since, believed from 0 (a wall clock stepped
   * back does not make a plate younger than it was when written, so it is forgotten within the
   * window from now) to the window (a clock stepped ahead forgets it, as a long outage does).
   */
  restoreRecentExits(windowMs: number): Map<string, RecentExit[]> {
    const byLane = new Map<string, RecentExit[]>();
    const wallNow = this.clock.now();
    for (const row of this.statements.exits.all()) {
      const { wallAt, plates } = JSON.parse(row.plates) as ExitsSnapshot;
      const sinceWritten = Math.max(0, wallNow - wallAt);
      const recent = plates.map(({ plate, agoMs }) => ({ plate, agoMs: Math.max(0, agoMs) + sinceWritten })).filter((exit) => exit.agoMs < windowMs);
      if (recent.length > 0) byLane.set(row.lane_id, recent);
    }
    return byLane;
  }

  /** Each lane's queue-shift run as its last weighing left it. */
  restoreQueueShiftRuns(): Map<string, QueueShiftRun> {
    return new Map(this.statements.shiftRuns.all().map((row) => [row.lane_id, JSON.parse(row.run) as QueueShiftRun]));
  }

  restoreCycles(): Map<string, unknown> {
    return new Map(this.statements.cycles.all().map((row) => [row.lane_id, JSON.parse(row.cycle) as unknown]));
  }
}
