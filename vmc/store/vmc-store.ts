/**
 * The VMC's store, one implementation over either dialect (sql-db.ts): every event once
 * (idempotent by id), the crossings, alarms and device health read out of them, each post's
 * lanes and last status, `seq` gaps per gateway, and the accounts of the VMC's people.
 * Several VMC instances may write one store at once: every write is a transaction, and whatever
 * must not race (the gap scan of a post) holds a lock on that post's row.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CommandRecords, recordCommandAnswer } from '../commands/command-records.js';
import { DEFAULT_EVIDENCE_BOUNDS, receiveChunk, sweepExpiredPieces, sweepStalePieces, touchPiece, type ChunkOutcome, type EvidenceBounds } from '../evidence/evidence-chunks.js';
import { EvidenceRecords, recordEvidenceAnnounced, recordEvidenceEvicted } from '../evidence/evidence-records.js';
import { crossingRecord, TrsAccumulator, type CrossingRecord, type TrsReport } from '../../contract/trs-report.js';
import type { CloudEvent } from '../../contract/envelope.js';
import { postAndLaneOf } from '../../contract/event-validator.js';
import { GatewayError } from '../../core/errors.js';
import { migrate } from './migrations.js';
import { isDataError, openPostgres, openSqlite, type SqlDb, type SqlRunner, type SqlValue } from './sql-db.js';
import { dayYearAfter, yearBefore } from '../../contract/year-before.js';

export type VmcRole = 'analyst' | 'admin';

export interface StoreResult {
  /** Events stored now. */
  stored: number;
  /** Events already in the store (a redelivery or a gateway's replay). */
  duplicates: number;
  /** What the evidence among them did (present only when there was some): each new chunk's outcome, and incomplete pieces dropped because the post evicted them. */
  evidence?: { chunks: ChunkOutcome[]; droppedAtPost: number };
}

export interface GapRow {
  id: number;
  postId: string;
  /**
   * `missing`: seqs firstSeq…lastSeq were not received. `restart`: the gateway's seq started
   * again (a new outbox) at firstSeq after the VMC had seen up to lastSeq; recorded closed, with
   * missing 0, at the time it was found (see VmcStore.scanGaps).
   */
  kind: 'missing' | 'restart';
  firstSeq: number;
  lastSeq: number;
  /** Seqs of the range still missing. */
  missing: number;
  openedAt: string;
  closedAt: string | null;
}

export interface GapChanges {
  opened: GapRow[];
  closed: GapRow[];
  /** Seq restarts found by this scan (kind `restart`). */
  restarts: GapRow[];
}

export interface CrossingFilter {
  posts?: string[];
  /** Crossing completed at or after (epoch ms). */
  fromMs?: number;
  /** Crossing completed before (epoch ms). */
  toMs?: number;
  direction?: string;
  channel?: string;
  /** The `vehicleType` of crossing.completed (`truck`, `van`, …), stored as `crossings.vehicle_type` since migration 1. */
  vehicleType?: string;
}

export type PeriodUnit = 'year' | 'month' | 'day';

/**
 * A crossing's figures count at most a year in the volumes' sums (the crossings and the TRS keep
 * them as sent, as `trs report` reads them): a post sending 1.7e308 s made PostgreSQL's SUM
 * overflow, and /api/volumes answered 500 for everyone.
 */
const MAX_FIGURE_MIN = 366 * 24 * 60;

/**
 * Crossings one page of trsRecordPages reads (`GET /api/trs`): rows a page holds at once and reads
 * without letting the event loop turn (docs/benchmarks.md, "The VMC's /api/trs over 300,000 crossings").
 */
export const TRS_PAGE_SIZE = 1000;

/** Open gaps of one post at most; the holes past them share one (openGaps). */
export const MAX_OPEN_GAPS_PER_POST = 200;

/** Rows by their `post_id`, each post's in the order given. */
function groupByPost<R extends { post_id: string }>(rows: R[]): Map<string, R[]> {
  const byPost = new Map<string, R[]>();
  for (const row of rows) {
    const list = byPost.get(row.post_id);
    if (list) list.push(row);
    else byPost.set(row.post_id, [row]);
  }
  return byPost;
}

export interface PeriodVolume {
  /** `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (UTC). */
  period: string;
  vehicles: number;
  byDirection: Record<string, number>;
  byChannel: Record<string, number>;
  xrayShare: number;
  avgRegistrationMin: number | null;
  avgCrossingMin: number;
  /**
   * Vehicles against the same dates one year before, as a fraction (0.06 = +6 %): the period's
   * part inside the asked window and before now against the same dates a year before (a period
   * not over is compared to date). Null when those dates have no vehicles, or none of the period
   * has happened yet.
   */
  changeVsPreviousYear: number | null;
}

export interface CrossingRow {
  eventId: string;
  crossingId: string;
  postId: string;
  laneId: string;
  direction: string;
  channel: string;
  xray: boolean;
  vehicleType: string;
  plate: string | null;
  outcome: string;
  completedAt: string;
  registrationMin: number | null;
  crossingMin: number | null;
}

/** Which gaps `gaps` and `gapCount` select: of these posts (all if none), open or closed (both if unset). */
export interface GapFilter {
  posts?: string[];
  open?: boolean;
}

/** Where a page of gaps starts: after the gap of this post, first seq and id (the last of the page before). */
export interface GapCursor {
  postId: string;
  firstSeq: number;
  id: number;
}

/** Where a page of `crossingsWithOutcomes` ended: the next page starts after it. */
export interface CrossingCursor {
  completedMs: number;
  eventId: string;
}

/** A completed crossing with the events that carry its decision and its outcomes. */
export interface CrossingWithOutcomes {
  eventId: string;
  crossingId: string;
  postId: string;
  laneId: string;
  /** The channel it ended in (crossing.completed). */
  channel: string;
  completedMs: number;
  /** Its `risk.assessed`, `xray.scanned` and `inspection.completed` events (`data`), oldest first. */
  events: { type: string; timeMs: number; data: Record<string, unknown> }[];
}

/** The event types that say how a crossing was decided and what it turned out to be. */
const OUTCOME_EVENT_TYPES = ['risk.assessed', 'xray.scanned', 'inspection.completed'] as const;

export interface AlarmRow {
  eventId: string;
  postId: string;
  laneId: string;
  alarm: string;
  severity: string;
  message: string;
  details: unknown;
  time: string;
}

export interface PostSummary {
  postId: string;
  firstSeen: string;
  lastSeen: string;
  lastSeq: number;
  status: { state: string; reason: string | null; time: string; gatewayVersion: string | null } | null;
  lanes: { laneId: string; lastSeen: string }[];
  devices: { deviceId: string; laneId: string; state: string; lastError: string | null; since: string | null; reported: string }[];
  openGaps: number;
  /** The latest seq restart found of this post's gateway (see GapRow's `restart`), null if none. */
  lastSeqRestart: { at: string; firstSeq: number; previousSeq: number } | null;
}

export interface GatewayStatus {
  postId: string;
  state: string;
  reason: string | null;
  gatewayVersion: string | null;
  timeMs: number;
}

export interface Account {
  name: string;
  role: VmcRole;
  passwordHash: string;
  disabled: boolean;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

type GapDbRow = { id: number; post_id: string; kind: 'missing' | 'restart'; first_seq: number; last_seq: number; missing: number; opened_ms: number; closed_ms: number | null };
const gapRow = (r: GapDbRow): GapRow => ({ id: Number(r.id), postId: r.post_id, kind: r.kind, firstSeq: r.first_seq, lastSeq: r.last_seq, missing: r.missing, openedAt: iso(r.opened_ms), closedAt: isoOrNull(r.closed_ms) });

export class VmcStore {
  private constructor(
    private readonly db: SqlDb,
    /** What incomplete evidence may hold (vmc/evidence/evidence-chunks.ts). */
    readonly evidenceBounds: EvidenceBounds,
  ) {}

  get dialect(): SqlDb['dialect'] {
    return this.db.dialect;
  }

  /** The commands sent to the posts and their answers (vmc/commands). */
  get commands(): CommandRecords {
    return new CommandRecords(this.db);
  }

  /** The posts' evidence: announcements, verified bytes, requests (vmc/evidence). */
  get evidence(): EvidenceRecords {
    return new EvidenceRecords(this.db);
  }

  /** Drops incomplete evidence no chunk has arrived for in `evidenceBounds.maxPendingAgeMs`; resolves to how many pieces. */
  sweepStaleEvidence(nowMs: number): Promise<number> {
    return sweepStalePieces(this.db, nowMs, this.evidenceBounds.maxPendingAgeMs);
  }

  /** Drops verified evidence last received or named more than `evidenceBounds.maxVerifiedAgeMs` ago; resolves to how many pieces. */
  sweepExpiredEvidence(nowMs: number): Promise<number> {
    return sweepExpiredPieces(this.db, nowMs, this.evidenceBounds.maxVerifiedAgeMs);
  }

  /**
   * Opens `sqlite:PATH[?sync=full]` (or a bare path) or `postgres://…` / `postgresql://…` and migrates it.
   * Fails with GW_ERR_VMC_STORE (or GW_ERR_VMC_STORE_NEWER) naming the store, never half-open.
   */
  static async open(spec: string, nowMs: number, options: { evidenceBounds?: Partial<EvidenceBounds> } = {}): Promise<VmcStore> {
    let db: SqlDb | null = null;
    try {
      if (/^postgres(ql)?:\/\//.test(spec)) db = openPostgres(spec);
      else {
        const [path = '', query = ''] = spec.replace(/^sqlite:/, '').split('?');
        db = openSqlite(path, { syncFull: new URLSearchParams(query).get('sync') === 'full' });
      }
      await migrate(db, nowMs);
      return new VmcStore(db, { ...DEFAULT_EVIDENCE_BOUNDS, ...options.evidenceBounds });
    } catch (error) {
      await db?.close().catch(() => undefined);
      if (error instanceof GatewayError) throw error;
      throw new GatewayError('GW_ERR_VMC_STORE', `cannot open the VMC store ${redactStore(spec)}: ${(error as Error).message}`, { cause: error });
    }
  }

  close(): Promise<void> {
    return this.db.close();
  }

  /**
   * Stores events in one transaction; an id already stored counts as a duplicate and changes
   * nothing. Resolves only once committed: the caller acknowledges the broker after this.
   *
   * `payloads` gives the text an event arrived as (the intake's message): stored as received,
   * rather than serialised again. Fails with GW_ERR_VMC_EVENT_UNSTORABLE when the database refused
   * the event's data (retrying cannot help; see isDataError), else with GW_ERR_VMC_STORE.
   */
  async store(events: CloudEvent[], storedBy: string, nowMs: number, payloads?: ReadonlyMap<CloudEvent, string>): Promise<StoreResult> {
    // One order of row locks for every writer (posts, then lanes, by id), so two instances never deadlock.
    const sorted = [...events].sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : a.seq - b.seq));
    try {
      return await this.db.transaction(async (tx) => {
        const result: StoreResult = { stored: 0, duplicates: 0 };
        for (const event of sorted) {
          if (await this.insertEvent(tx, event, payloads?.get(event) ?? JSON.stringify(event), storedBy, nowMs, result)) result.stored += 1;
          else result.duplicates += 1;
        }
        return result;
      });
    } catch (error) {
      if (isDataError(error)) throw new GatewayError('GW_ERR_VMC_EVENT_UNSTORABLE', `the store refused the event's data: ${(error as Error).message}`, { cause: error });
      throw new GatewayError('GW_ERR_VMC_STORE', `store failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Whether the database answers a trivial query: tells a failing message from a failing database. */
  async ping(): Promise<boolean> {
    return this.db.all('SELECT 1 AS ok').then(
      () => true,
      () => false,
    );
  }

  private async insertEvent(tx: SqlRunner, event: CloudEvent, payload: string, storedBy: string, nowMs: number, result: StoreResult): Promise<boolean> {
    const { postId, laneId } = postAndLaneOf(event);
    const timeMs = Date.parse(event.time);
    // What orders a post's, a lane's and a device's latest state (and a post's command versions):
    // never later than now. An event stamped 9999-12-31 (a gateway's clock far ahead) pinned its
    // post's last-seen and its device's state, which no later report could replace. The event
    // itself keeps its time.
    const seenMs = Math.min(timeMs, nowMs);
    // A chunk's event is kept (its seq counts for the gap scan, its id for idempotency) without
    // its bytes: they live in the evidence tables, once.
    const kept = event.type === 'evidence.chunk' ? JSON.stringify({ ...event, data: { ...(event as CloudEvent<'evidence.chunk'>).data, data: undefined } }) : payload;
    const inserted = await tx.run(
      'INSERT INTO events (id, post_id, lane_id, type, seq, time_ms, subject, replayed, payload, stored_ms, stored_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
      [event.id, postId, laneId, event.type, event.seq, timeMs, event.subject ?? null, event.replayed ? 1 : 0, kept, nowMs, storedBy],
    );
    if (inserted === 0) return false;
    if (event.type === 'evidence.chunk') {
      result.evidence ??= { chunks: [], droppedAtPost: 0 };
      result.evidence.chunks.push(await receiveChunk(tx, postId, (event as CloudEvent<'evidence.chunk'>).data, nowMs, this.evidenceBounds));
    } else if (event.type === 'evidence.stored') {
      const data = (event as CloudEvent<'evidence.stored'>).data;
      // A crossing naming bytes the VMC holds already keeps them its own retention. The blob
      // before the announcement's row: the order the retention sweep locks them in.
      await touchPiece(tx, data.digest, nowMs);
      await recordEvidenceAnnounced(tx, postId, data, timeMs);
    }
    else if (event.type === 'evidence.evicted') {
      result.evidence ??= { chunks: [], droppedAtPost: 0 };
      result.evidence.droppedAtPost += await recordEvidenceEvicted(tx, postId, (event as CloudEvent<'evidence.evicted'>).data, timeMs, nowMs);
    }
    if (event.type === 'crossing.completed') await this.insertCrossing(tx, event as CloudEvent<'crossing.completed'>, postId, laneId, timeMs);
    else if (event.type === 'alarm.raised') {
      const data = (event as CloudEvent<'alarm.raised'>).data;
      await tx.run('INSERT INTO alarms (event_id, post_id, lane_id, alarm, severity, message, details, time_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING', [
        event.id, postId, laneId, data.alarm, data.severity, data.message, JSON.stringify(data.details), timeMs,
      ]);
    } else if (event.type === 'command.applied' || event.type === 'command.refused') {
      await recordCommandAnswer(tx, event, postId, timeMs, seenMs);
    } else if (event.type === 'device.status') {
      const data = (event as CloudEvent<'device.status'>).data;
      // Only a newer report replaces the device's state: a replayed old one must not undo it.
      await tx.run(
        `INSERT INTO devices (post_id, device_id, lane_id, state, last_error, since, time_ms, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (post_id, device_id) DO UPDATE SET lane_id = excluded.lane_id, state = excluded.state, last_error = excluded.last_error,
           since = excluded.since, time_ms = excluded.time_ms, event_id = excluded.event_id WHERE excluded.time_ms >= devices.time_ms`,
        [postId, data.deviceId, laneId, data.state, data.lastError, data.since ?? null, seenMs, event.id],
      );
    }
    await tx.run(
      `INSERT INTO posts (post_id, first_seen_ms, last_seen_ms, last_seq) VALUES (?, ?, ?, ?)
       ON CONFLICT (post_id) DO UPDATE SET last_seen_ms = CASE WHEN excluded.last_seen_ms > posts.last_seen_ms THEN excluded.last_seen_ms ELSE posts.last_seen_ms END,
         last_seq = CASE WHEN excluded.last_seq > posts.last_seq THEN excluded.last_seq ELSE posts.last_seq END`,
      [postId, seenMs, seenMs, event.seq],
    );
    if (laneId !== 'post') {
      await tx.run(
        `INSERT INTO lanes (post_id, lane_id, last_seen_ms) VALUES (?, ?, ?)
         ON CONFLICT (post_id, lane_id) DO UPDATE SET last_seen_ms = CASE WHEN excluded.last_seen_ms > lanes.last_seen_ms THEN excluded.last_seen_ms ELSE lanes.last_seen_ms END`,
        [postId, laneId, seenMs],
      );
    }
    return true;
  }

  private async insertCrossing(tx: SqlRunner, event: CloudEvent<'crossing.completed'>, postId: string, laneId: string, timeMs: number): Promise<void> {
    const data = event.data;
    // The same reading as `trs report`, so /api/trs and the report agree on every figure.
    const record = crossingRecord(event as unknown as Record<string, unknown>);
    const arrived = data.milestones.arrived === undefined ? null : Date.parse(data.milestones.arrived);
    await tx.run(
      `INSERT INTO crossings (event_id, crossing_id, post_id, lane_id, direction, channel, xray, vehicle_type, plate, outcome, completed_ms, arrived_ms, registration_min, crossing_min)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
      [event.id, data.crossingId, postId, laneId, data.direction, data.channel, data.xray ? 1 : 0, data.vehicleType, data.plate, data.outcome, timeMs, arrived, record?.registrationMin ?? null, record?.crossingMin ?? null],
    );
  }

  /** The retained `{root}/status` of a gateway: online, or offline with its reason (last will). */
  async recordStatus(status: GatewayStatus): Promise<void> {
    await this.db.run(
      `INSERT INTO posts (post_id, first_seen_ms, last_seen_ms, last_seq, status, status_reason, status_ms, gateway_version) VALUES (?, ?, ?, 0, ?, ?, ?, ?)
       ON CONFLICT (post_id) DO UPDATE SET status = excluded.status, status_reason = excluded.status_reason, status_ms = excluded.status_ms, gateway_version = excluded.gateway_version
       WHERE posts.status_ms IS NULL OR excluded.status_ms >= posts.status_ms`,
      [status.postId, status.timeMs, status.timeMs, status.state, status.reason, status.timeMs, status.gatewayVersion],
    );
  }

  /**
   * Finds new `seq` gaps and updates the open ones, post by post. Only events stored at least
   * `graceMs` ago open a gap: two instances of one share group store a post's events out of
   * order for a moment, which is no gap. The first seq seen of a post is its start: what a
   * gateway sent before the VMC's first session existed is not reported missing.
   *
   * A gateway's seq starts again when its outbox is replaced (a reinstall, a lost disk); the
   * envelope carries nothing naming the outbox, so a restart is read from the events: seqs below
   * what was scanned, far below (at most half of it), in events newer than the scanned top's
   * `time`. A late event of the same run is older than the top instead (a run's seq and time
   * rise together; a clock stepped back by a moment moves a seq or two, not half the run). The
   * restart is recorded (a `restart` row in gaps), the old run's open gaps are closed as they
   * stand (their `missing` kept: those events will not come), and the scan starts again from the
   * new run's first seq, reading only events from the new run's first `time` on.
   */
  async scanGaps(nowMs: number, graceMs: number): Promise<GapChanges> {
    const changes: GapChanges = { opened: [], closed: [], restarts: [] };
    const posts = await this.db.all<{ post_id: string }>('SELECT post_id FROM posts ORDER BY post_id');
    for (const { post_id: postId } of posts) {
      await this.db.transaction(async (tx) => {
        const lock = tx.dialect === 'postgres' ? ' FOR UPDATE' : '';
        const post = (await tx.all<{ scanned_to: number | null; run_from_ms: number | null }>(`SELECT scanned_to, run_from_ms FROM posts WHERE post_id = ?${lock}`, [postId]))[0];
        if (!post) return;
        let runFrom = post.run_from_ms === null ? 0 : Number(post.run_from_ms);
        let scannedTo = post.scanned_to === null ? null : Number(post.scanned_to);
        if (scannedTo !== null) {
          const restart = await seqRestart(tx, postId, scannedTo, runFrom, nowMs - graceMs);
          if (restart) {
            const rows = await tx.all<GapDbRow>("INSERT INTO gaps (post_id, kind, first_seq, last_seq, missing, opened_ms, closed_ms) VALUES (?, 'restart', ?, ?, 0, ?, ?) RETURNING *", [
              postId, restart.firstSeq, scannedTo, nowMs, nowMs,
            ]);
            changes.restarts.push(...rows.map(gapRow));
            await tx.run(`UPDATE ${openGaps(tx.dialect)} SET closed_ms = ? WHERE post_id = ? AND kind = 'missing' AND closed_ms IS NULL`, [nowMs, postId]);
            await tx.run('UPDATE posts SET scanned_to = NULL, run_from_ms = ?, last_seq = (SELECT MAX(seq) FROM events WHERE post_id = ? AND time_ms >= ?) WHERE post_id = ?', [
              restart.fromMs, postId, restart.fromMs, postId,
            ]);
            runFrom = restart.fromMs;
            scannedTo = null;
          }
        }
        const from = scannedTo ?? (await tx.all<{ s: number | null }>('SELECT MIN(seq) AS s FROM events WHERE post_id = ? AND time_ms >= ?', [postId, runFrom]))[0]?.s ?? null;
        if (from === null) return;
        const upTo = (await tx.all<{ s: number | null }>('SELECT MAX(seq) AS s FROM events WHERE post_id = ? AND seq > ? AND stored_ms <= ? AND time_ms >= ?', [postId, from, nowMs - graceMs, runFrom]))[0]?.s ?? null;
        if (upTo !== null) {
          const holes = await tx.all<{ prev: number; seq: number }>(
            `SELECT prev, seq FROM (SELECT seq, LAG(seq) OVER (ORDER BY seq) AS prev FROM (SELECT DISTINCT seq FROM events WHERE post_id = ? AND seq >= ? AND seq <= ? AND time_ms >= ?) s) t
             WHERE seq - prev > 1 ORDER BY seq`,
            [postId, from, upTo, runFrom],
          );
          changes.opened.push(...(await this.openGaps(tx, postId, holes, nowMs)));
          await tx.run('UPDATE posts SET scanned_to = ? WHERE post_id = ?', [upTo, postId]);
        } else if (scannedTo === null) {
          await tx.run('UPDATE posts SET scanned_to = ? WHERE post_id = ?', [from, postId]);
        }
        // A late event (a replay, an instance's backlog) shrinks or closes an open gap.
        const open = await tx.all<GapDbRow>(`SELECT * FROM ${openGaps(tx.dialect)} WHERE post_id = ? AND kind = 'missing' AND closed_ms IS NULL ORDER BY first_seq`, [postId]);
        for (const gap of open) {
          const present =
            (await tx.all<{ n: number }>('SELECT COUNT(DISTINCT seq) AS n FROM events WHERE post_id = ? AND seq >= ? AND seq <= ? AND time_ms >= ?', [postId, gap.first_seq, gap.last_seq, runFrom]))[0]?.n ?? 0;
          const missing = gap.last_seq - gap.first_seq + 1 - Number(present);
          if (missing === gap.missing) continue;
          const closedMs = missing === 0 ? nowMs : null;
          // A gap shrinks to the seqs still missing at its ends (one in the middle stays counted).
          const [first, last] = missing === 0 ? [gap.first_seq, gap.last_seq] : await missingBounds(tx, postId, gap.first_seq, gap.last_seq, runFrom);
          await tx.run('UPDATE gaps SET first_seq = ?, last_seq = ?, missing = ?, closed_ms = ? WHERE id = ?', [first, last, missing, closedMs, gap.id]);
          if (closedMs !== null) changes.closed.push(gapRow({ ...gap, missing, closed_ms: closedMs }));
        }
      });
    }
    return changes;
  }

  /**
   * Opens a gap for each hole, at most MAX_OPEN_GAPS_PER_POST open per post: holes past that share
   * one gap from the first of them to the last (the seqs present inside it are not counted missing,
   * and it shrinks and closes as any gap does), or, with no room at all, widen the post's newest.
   * A post sending every other seq opened 50,000 gaps, each recounted at every scan inside one
   * transaction (SQLite's queue held for seconds), and /api/gaps answered 8 MB.
   */
  private async openGaps(tx: SqlRunner, postId: string, holes: { prev: number; seq: number }[], nowMs: number): Promise<GapRow[]> {
    if (holes.length === 0) return [];
    const openNow = Number((await tx.all<{ n: number }>(`SELECT COUNT(*) AS n FROM ${openGaps(tx.dialect)} WHERE post_id = ? AND kind = 'missing' AND closed_ms IS NULL`, [postId]))[0]?.n ?? 0);
    const room = MAX_OPEN_GAPS_PER_POST - openNow;
    const alone = holes.length <= room ? holes : holes.slice(0, Math.max(0, room - 1));
    const rest = holes.slice(alone.length);
    const opened: GapRow[] = [];
    const open = async (first: number, last: number, missing: number): Promise<void> => {
      const rows = await tx.all<GapDbRow>('INSERT INTO gaps (post_id, first_seq, last_seq, missing, opened_ms) VALUES (?, ?, ?, ?, ?) RETURNING *', [postId, first, last, missing, nowMs]);
      opened.push(...rows.map(gapRow));
    };
    for (const hole of alone) await open(hole.prev + 1, hole.seq - 1, hole.seq - hole.prev - 1);
    const [first, last] = [rest[0], rest.at(-1)];
    if (!first || !last) return opened;
    const missing = rest.reduce((sum, hole) => sum + hole.seq - hole.prev - 1, 0);
    if (room >= 1) await open(first.prev + 1, last.seq - 1, missing);
    else {
      await tx.run(
        `UPDATE gaps SET last_seq = ?, missing = missing + ? WHERE id = (SELECT id FROM ${openGaps(tx.dialect)} WHERE post_id = ? AND kind = 'missing' AND closed_ms IS NULL ORDER BY first_seq DESC LIMIT 1)`,
        [last.seq - 1, missing, postId],
      );
    }
    return opened;
  }

  /**
   * Gaps by post, then first seq, then id (a restart and a gap, or gaps of two runs, may share a
   * first seq); the first `limit` of them when it is given, from after `after` when it is.
   */
  async gaps(filter: GapPage = {}): Promise<GapRow[]> {
    const rows: GapDbRow[] = [];
    for (const { sql, params } of gapPageStatements(filter, this.db.dialect)) {
      const room = filter.limit === undefined ? undefined : filter.limit - rows.length;
      if (room === 0) break;
      rows.push(...(await this.db.all<GapDbRow>(sql, room === undefined ? params : [...params, room])));
    }
    return rows.map(gapRow);
  }

  /** How many gaps the filter selects, all pages together. */
  async gapCount(filter: GapFilter = {}): Promise<number> {
    const { sql, params } = gapWhere(filter);
    return Number((await this.db.all<{ n: number }>(`SELECT COUNT(*) AS n FROM ${gapsOf(filter, this.db.dialect)} ${sql}`, params))[0]?.n ?? 0);
  }

  private crossingWhere(filter: CrossingFilter, fixed: string[] = []): { sql: string; params: SqlValue[] } {
    return whereOf(
      [
        ['post_id IN', filter.posts],
        ['completed_ms >=', filter.fromMs],
        ['completed_ms <', filter.toMs],
        ['direction =', filter.direction],
        ['channel =', filter.channel],
        ['vehicle_type =', filter.vehicleType],
      ],
      fixed,
    );
  }

  /**
   * Completed (not abandoned) crossings the filter selects, oldest completion first, `limit` at a
   * time after `after`, each with its own decision and outcome events (matched by post and
   * `subject`, the crossing id): what the training export reads, a page at a time so a year of a
   * country never sits in memory at once.
   */
  async crossingsWithOutcomes(filter: CrossingFilter, after: CrossingCursor | null, limit: number): Promise<CrossingWithOutcomes[]> {
    const page = pageAfter(after);
    const { sql, params } = this.crossingWhere(filter, ["outcome = 'completed'", ...page.terms]);
    params.push(...page.params);
    const types = OUTCOME_EVENT_TYPES.map((type) => `'${type}'`).join(', ');
    const rows = await this.db.all<{
      event_id: string; crossing_id: string; post_id: string; lane_id: string; channel: string; completed_ms: number; type: string | null; time_ms: number | null; payload: string | null;
    }>(
      `SELECT c.event_id, c.crossing_id, c.post_id, c.lane_id, c.channel, c.completed_ms, e.type, e.time_ms, e.payload
       FROM (SELECT event_id, crossing_id, post_id, lane_id, channel, completed_ms FROM crossings ${sql} ORDER BY completed_ms, event_id LIMIT ?) c
       LEFT JOIN events e ON e.post_id = c.post_id AND e.subject = c.crossing_id AND e.type IN (${types})
       ORDER BY c.completed_ms, c.event_id, e.time_ms, e.seq`,
      [...params, limit],
    );
    const crossings: CrossingWithOutcomes[] = [];
    for (const r of rows) {
      let crossing = crossings[crossings.length - 1];
      if (crossing?.eventId !== r.event_id) {
        crossing = { eventId: r.event_id, crossingId: r.crossing_id, postId: r.post_id, laneId: r.lane_id, channel: r.channel, completedMs: Number(r.completed_ms), events: [] };
        crossings.push(crossing);
      }
      if (r.type !== null && r.payload !== null) {
        crossing.events.push({ type: r.type, timeMs: Number(r.time_ms), data: (JSON.parse(r.payload) as { data: Record<string, unknown> }).data });
      }
    }
    return crossings;
  }

  /**
   * What the TRS report is computed from: the crossings the filter selects that have a crossing
   * time, `pageSize` at a time in (completed_ms, event_id) order, each page read after the last
   * one's key (keyset pagination), so a year of a country never sits in memory at once. Each page
   * is a query of its own: a crossing stored while the pages are read counts if its key comes
   * after the page being read, and no crossing counts twice. Between pages the event loop turns
   * (SQLite's reads are synchronous, so awaiting them alone would not let it). Once `signal`
   * aborts, no page more is read: it throws the signal's reason.
   */
  async *trsRecordPages(filter: CrossingFilter, pageSize = TRS_PAGE_SIZE, signal?: AbortSignal): AsyncGenerator<CrossingRecord[]> {
    if (!(Number.isInteger(pageSize) && pageSize > 0)) throw new RangeError(`page size must be a whole number > 0, got ${pageSize}`);
    let after: CrossingCursor | null = null;
    for (;;) {
      signal?.throwIfAborted();
      const page = pageAfter(after);
      const { sql, params } = this.crossingWhere(filter, ['crossing_min IS NOT NULL', ...page.terms]);
      const rows = await this.db.all<{ event_id: string; completed_ms: number; direction: string; channel: string; xray: number; registration_min: number | null; crossing_min: number }>(
        `SELECT event_id, completed_ms, direction, channel, xray, registration_min, crossing_min FROM crossings ${sql} ORDER BY completed_ms, event_id LIMIT ?`,
        [...params, ...page.params, pageSize],
      );
      const last = rows[rows.length - 1];
      if (last === undefined) return;
      yield rows.map((r) => ({ id: r.event_id, direction: r.direction, channel: r.channel, xray: Number(r.xray) === 1, registrationMin: r.registration_min, crossingMin: r.crossing_min }));
      if (rows.length < pageSize) return;
      after = { completedMs: Number(last.completed_ms), eventId: last.event_id };
      await nextTurn();
    }
  }

  /**
   * The TRS report (contract/trs-report.ts) of the crossings the filter selects, folded a page
   * at a time (trsRecordPages): what `GET /api/trs` answers, the same figures as `trsReport` over
   * all of them at once, holding 16 bytes a crossing and one page of rows instead of every record.
   * Once `signal` aborts (the asker has gone) no page more is read: it rejects with the signal's reason.
   */
  async trsReport(filter: CrossingFilter, intervalMin = 10, pageSize = TRS_PAGE_SIZE, signal?: AbortSignal): Promise<TrsReport> {
    const accumulator = new TrsAccumulator(intervalMin);
    for await (const page of this.trsRecordPages(filter, pageSize, signal)) for (const record of page) accumulator.add(record);
    return accumulator.report();
  }

  /**
   * Completed crossings per UTC year, month or day: vehicles by direction and channel, X-ray
   * involvement, average registration and crossing time, and the change in vehicles against the
   * same dates a year before (contract/year-before.ts). What the year-over-year views draw.
   *
   * The change compares like with like, whatever window the filter asks for: a period's part
   * inside the window and before `nowMs` against the same dates a year before, counted whether
   * or not the window holds them (so the first months of a 24-month window have their change
   * too). A period not over at `nowMs` (the current year, month, day) is thus compared to date,
   * never a part-year against a whole one; a period entirely after `nowMs` has no change.
   */
  async volumes(filter: CrossingFilter, unit: PeriodUnit, nowMs: number): Promise<PeriodVolume[]> {
    const { sql, params } = this.crossingWhere(filter);
    const width = { year: 4, month: 7, day: 10 }[unit];
    const day =
      this.db.dialect === 'postgres'
        ? "to_char(to_timestamp(completed_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        : "strftime('%Y-%m-%d', completed_ms / 1000, 'unixepoch')";
    // Not LEAST: PostgreSQL's skips a NULL (a crossing never registered) and answers the cap.
    const capped = (column: string): string => `CASE WHEN ${column} > ${MAX_FIGURE_MIN} THEN ${MAX_FIGURE_MIN} ELSE ${column} END`;
    const rows = await this.db.all<{ period: string; direction: string; channel: string; n: number; elapsed: number; xray: number; reg_sum: number | null; reg_n: number; crossing_sum: number }>(
      `SELECT substr(${day}, 1, ${width}) AS period, direction, channel, COUNT(*) AS n, SUM(CASE WHEN completed_ms < ? THEN 1 ELSE 0 END) AS elapsed,
         SUM(xray) AS xray, SUM(${capped('registration_min')}) AS reg_sum, COUNT(registration_min) AS reg_n, SUM(${capped('crossing_min')}) AS crossing_sum
       FROM crossings ${sql} ${sql ? 'AND' : 'WHERE'} crossing_min IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
      [nowMs, ...params],
    );
    const byPeriod = new Map<string, { vehicles: number; elapsed: number; byDirection: Record<string, number>; byChannel: Record<string, number>; xray: number; regSum: number; regN: number; crossingSum: number }>();
    for (const r of rows) {
      const p = byPeriod.get(r.period) ?? { vehicles: 0, elapsed: 0, byDirection: {}, byChannel: {}, xray: 0, regSum: 0, regN: 0, crossingSum: 0 };
      const n = Number(r.n);
      p.vehicles += n;
      p.elapsed += Number(r.elapsed);
      p.byDirection[r.direction] = (p.byDirection[r.direction] ?? 0) + n;
      p.byChannel[r.channel] = (p.byChannel[r.channel] ?? 0) + n;
      p.xray += Number(r.xray);
      p.regSum += Number(r.reg_sum ?? 0);
      p.regN += Number(r.reg_n);
      p.crossingSum += Number(r.crossing_sum);
      byPeriod.set(r.period, p);
    }
    const before = await this.vehiclesYearBefore(filter, day, width, nowMs);
    // Rounded in decimal (an integer over a power of ten), so the JSON carries no binary noise.
    const round = (x: number, decimals: number): number => Math.round(x * 10 ** decimals) / 10 ** decimals;
    return [...byPeriod.entries()].map(([key, p]) => {
      const previous = before.get(key);
      return {
        period: key,
        vehicles: p.vehicles,
        byDirection: p.byDirection,
        byChannel: p.byChannel,
        xrayShare: round(p.xray / p.vehicles, 6),
        avgRegistrationMin: p.regN ? round(p.regSum / p.regN, 2) : null,
        avgCrossingMin: round(p.crossingSum / p.vehicles, 2),
        changeVsPreviousYear: previous ? round((p.elapsed - previous) / previous, 6) : null,
      };
    });
  }

  /**
   * The vehicles of the same dates a year before each period of `volumes`: the filter's window
   * cut at `nowMs`, moved one year back, counted per day and each day put with the period (the
   * first `width` characters of the day) whose year before holds it.
   */
  private async vehiclesYearBefore(filter: CrossingFilter, day: string, width: number, nowMs: number): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    const toMs = Math.min(filter.toMs ?? Infinity, nowMs);
    if (filter.fromMs !== undefined && !(toMs > filter.fromMs)) return counts;
    const window = yearBefore({ fromMs: filter.fromMs ?? -Infinity, toMs });
    const { sql, params } = this.crossingWhere({ ...filter, fromMs: filter.fromMs === undefined ? undefined : window.fromMs, toMs: window.toMs });
    const rows = await this.db.all<{ day: string; n: number }>(`SELECT ${day} AS day, COUNT(*) AS n FROM crossings ${sql} ${sql ? 'AND' : 'WHERE'} crossing_min IS NOT NULL GROUP BY 1`, params);
    for (const r of rows) {
      const key = dayYearAfter(r.day).slice(0, width);
      counts.set(key, (counts.get(key) ?? 0) + Number(r.n));
    }
    return counts;
  }

  /**
   * Crossings the filter selects, newest completion first (ties by event id), `limit` at a time:
   * those after `after` in that order (keyset: the last row of the page before), or past `offset`
   * rows. A keyset page costs an index range scan wherever it starts; an offset makes the
   * database read and discard every row before it (the API bounds it, data-routes.ts).
   */
  async crossings(filter: CrossingFilter & { limit: number; offset?: number; after?: CrossingCursor }): Promise<CrossingRow[]> {
    const { after } = filter;
    // `completed_ms <= ?` on its own lets the planner range-scan the time index; the OR picks the rows after the cursor within its millisecond.
    const { sql, params } = this.crossingWhere(filter, after ? ['completed_ms <= ?', '(completed_ms < ? OR event_id > ?)'] : []);
    if (after) params.push(after.completedMs, after.completedMs, after.eventId);
    const rows = await this.db.all<{
      event_id: string; crossing_id: string; post_id: string; lane_id: string; direction: string; channel: string; xray: number; vehicle_type: string;
      plate: string | null; outcome: string; completed_ms: number; registration_min: number | null; crossing_min: number | null;
    }>(`SELECT * FROM crossings ${sql} ORDER BY completed_ms DESC, event_id LIMIT ? OFFSET ?`, [...params, filter.limit, filter.offset ?? 0]);
    return rows.map((r) => ({
      eventId: r.event_id, crossingId: r.crossing_id, postId: r.post_id, laneId: r.lane_id, direction: r.direction, channel: r.channel, xray: Number(r.xray) === 1,
      vehicleType: r.vehicle_type, plate: r.plate, outcome: r.outcome, completedAt: iso(r.completed_ms), registrationMin: r.registration_min, crossingMin: r.crossing_min,
    }));
  }

  async alarms(filter: { posts?: string[]; fromMs?: number; toMs?: number; limit: number }): Promise<AlarmRow[]> {
    const { sql, params } = whereOf([
      ['post_id IN', filter.posts],
      ['time_ms >=', filter.fromMs],
      ['time_ms <', filter.toMs],
    ]);
    const rows = await this.db.all<{ event_id: string; post_id: string; lane_id: string; alarm: string; severity: string; message: string; details: string; time_ms: number }>(
      `SELECT * FROM alarms ${sql} ORDER BY time_ms DESC, event_id LIMIT ?`,
      [...params, filter.limit],
    );
    return rows.map((r) => ({ eventId: r.event_id, postId: r.post_id, laneId: r.lane_id, alarm: r.alarm, severity: r.severity, message: r.message, details: JSON.parse(r.details) as unknown, time: iso(r.time_ms) }));
  }

  async posts(): Promise<PostSummary[]> {
    const posts = await this.db.all<{
      post_id: string; first_seen_ms: number; last_seen_ms: number; last_seq: number; status: string | null; status_reason: string | null; status_ms: number | null; gateway_version: string | null;
    }>('SELECT * FROM posts ORDER BY post_id');
    const lanes = await this.db.all<{ post_id: string; lane_id: string; last_seen_ms: number }>('SELECT * FROM lanes ORDER BY post_id, lane_id');
    const devices = await this.db.all<{ post_id: string; device_id: string; lane_id: string; state: string; last_error: string | null; since: string | null; time_ms: number }>(
      'SELECT * FROM devices ORDER BY post_id, device_id',
    );
    const gaps = await this.db.all<{ post_id: string; n: number }>("SELECT post_id, COUNT(*) AS n FROM gaps WHERE closed_ms IS NULL AND kind = 'missing' GROUP BY post_id");
    const restarts = await this.db.all<GapDbRow>("SELECT * FROM gaps WHERE kind = 'restart' ORDER BY post_id, opened_ms DESC, id DESC");
    // Each post's rows by its id: looking them up per post in the whole lists was quadratic
    // (15,000 posts: /api/posts took seconds, and /healthz waited behind it).
    const lanesOf = groupByPost(lanes);
    const devicesOf = groupByPost(devices);
    const openGapsOf = new Map(gaps.map((g) => [g.post_id, Number(g.n)]));
    const lastRestartOf = new Map<string, GapDbRow>();
    for (const restart of restarts) if (!lastRestartOf.has(restart.post_id)) lastRestartOf.set(restart.post_id, restart);
    return posts.map((p) => ({
      postId: p.post_id,
      firstSeen: iso(p.first_seen_ms),
      lastSeen: iso(p.last_seen_ms),
      lastSeq: p.last_seq,
      status: p.status === null || p.status_ms === null ? null : { state: p.status, reason: p.status_reason, time: iso(p.status_ms), gatewayVersion: p.gateway_version },
      lanes: (lanesOf.get(p.post_id) ?? []).map((l) => ({ laneId: l.lane_id, lastSeen: iso(l.last_seen_ms) })),
      devices: (devicesOf.get(p.post_id) ?? []).map((d) => ({ deviceId: d.device_id, laneId: d.lane_id, state: d.state, lastError: d.last_error, since: d.since, reported: iso(d.time_ms) })),
      openGaps: openGapsOf.get(p.post_id) ?? 0,
      lastSeqRestart: ((r) => (r ? { at: iso(r.opened_ms), firstSeq: r.first_seq, previousSeq: r.last_seq } : null))(lastRestartOf.get(p.post_id)),
    }));
  }

  /** How many events the store holds, and how many each consumer stored (tests, /api/status). */
  async eventCounts(): Promise<{ total: number; byConsumer: Record<string, number> }> {
    const rows = await this.db.all<{ stored_by: string; n: number }>('SELECT stored_by, COUNT(*) AS n FROM events GROUP BY stored_by ORDER BY stored_by');
    const byConsumer = Object.fromEntries(rows.map((r) => [r.stored_by, Number(r.n)]));
    return { total: rows.reduce((sum, r) => sum + Number(r.n), 0), byConsumer };
  }

  /** Every stored event id with its post and seq (tests compare it with what was published). */
  async eventKeys(): Promise<{ id: string; postId: string; seq: number }[]> {
    const rows = await this.db.all<{ id: string; post_id: string; seq: number }>('SELECT id, post_id, seq FROM events ORDER BY post_id, seq');
    return rows.map((r) => ({ id: r.id, postId: r.post_id, seq: r.seq }));
  }

  // Accounts and sessions.

  async addAccount(account: Omit<Account, 'disabled'>, nowMs: number): Promise<boolean> {
    const changed = await this.db.run('INSERT INTO accounts (name, role, password_hash, disabled, created_ms) VALUES (?, ?, ?, 0, ?) ON CONFLICT (name) DO NOTHING', [account.name, account.role, account.passwordHash, nowMs]);
    return changed === 1;
  }

  async setPassword(name: string, passwordHash: string): Promise<boolean> {
    return (await this.db.run('UPDATE accounts SET password_hash = ? WHERE name = ?', [passwordHash, name])) === 1;
  }

  async account(name: string): Promise<Account | null> {
    const row = (await this.db.all<{ name: string; role: VmcRole; password_hash: string; disabled: number }>('SELECT * FROM accounts WHERE name = ?', [name]))[0];
    return row ? { name: row.name, role: row.role, passwordHash: row.password_hash, disabled: Number(row.disabled) === 1 } : null;
  }

  async accounts(): Promise<{ name: string; role: VmcRole; disabled: boolean }[]> {
    const rows = await this.db.all<{ name: string; role: VmcRole; disabled: number }>('SELECT name, role, disabled FROM accounts ORDER BY name');
    return rows.map((r) => ({ name: r.name, role: r.role, disabled: Number(r.disabled) === 1 }));
  }

  /**
   * A new session of `name`; its oldest live ones beyond `maxPerAccount` end with it, so logging in
   * again and again (each login a valid password) cannot grow the table for the sessions' 12 hours.
   */
  async addSession(tokenHash: string, name: string, nowMs: number, expiresMs: number, maxPerAccount = MAX_SESSIONS_PER_ACCOUNT): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run('DELETE FROM sessions WHERE expires_ms <= ?', [nowMs]);
      await tx.run('INSERT INTO sessions (token_hash, name, created_ms, expires_ms) VALUES (?, ?, ?, ?)', [tokenHash, name, nowMs, expiresMs]);
      // The new one always stays (a login must not answer a token already gone), whatever the others'
      // times say: many in one millisecond, or stamped ahead by a wall clock since stepped back.
      await tx.run(
        'DELETE FROM sessions WHERE name = ? AND token_hash <> ? AND token_hash NOT IN (SELECT token_hash FROM sessions WHERE name = ? AND token_hash <> ? ORDER BY created_ms DESC, token_hash LIMIT ?)',
        [name, tokenHash, name, tokenHash, maxPerAccount - 1],
      );
    });
  }

  /** The account of a live session; null when unknown, expired or the account is disabled. */
  async session(tokenHash: string, nowMs: number): Promise<{ name: string; role: VmcRole } | null> {
    const row = (
      await this.db.all<{ name: string; role: VmcRole }>(
        'SELECT a.name AS name, a.role AS role FROM sessions s JOIN accounts a ON a.name = s.name WHERE s.token_hash = ? AND s.expires_ms > ? AND a.disabled = 0',
        [tokenHash, nowMs],
      )
    )[0];
    return row ?? null;
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.db.run('DELETE FROM sessions WHERE token_hash = ?', [tokenHash]);
  }
}

/**
 * A seq restart of a post's gateway, if its events show one (see VmcStore.scanGaps): the new
 * run's lowest seq and first time, among events stored before `storedBefore`.
 */
async function seqRestart(tx: SqlRunner, postId: string, scannedTo: number, runFrom: number, storedBefore: number): Promise<{ firstSeq: number; fromMs: number } | null> {
  const top = (await tx.all<{ t: number | null }>('SELECT MAX(time_ms) AS t FROM events WHERE post_id = ? AND seq = ? AND time_ms >= ?', [postId, scannedTo, runFrom]))[0]?.t ?? null;
  if (top === null) return null;
  // "Far below": at most half of what was scanned. The new run's first time is taken from those
  // low seqs only, so an old-run event a stepped clock made newer than the top stays in the old run.
  const farBelow = Math.max(1, Math.floor(scannedTo / 2));
  const newer = (
    await tx.all<{ s: number | null; t: number | null }>('SELECT MIN(seq) AS s, MIN(time_ms) AS t FROM events WHERE post_id = ? AND seq <= ? AND time_ms > ? AND stored_ms <= ?', [
      postId, farBelow, Number(top), storedBefore,
    ])
  )[0];
  if (newer?.s === null || newer?.s === undefined || newer.t === null) return null;
  return { firstSeq: Number(newer.s), fromMs: Number(newer.t) };
}

/** The lowest and highest seq in [first, last] that no stored event of the post's current run has. */
async function missingBounds(tx: SqlRunner, postId: string, first: number, last: number, runFrom: number): Promise<[number, number]> {
  const present = async (seq: number) => (await tx.all('SELECT 1 AS x FROM events WHERE post_id = ? AND seq = ? AND time_ms >= ? LIMIT 1', [postId, seq, runFrom])).length > 0;
  const low = (await present(first))
    ? ((await tx.all<{ s: number | null }>(
        'SELECT MIN(e.seq) + 1 AS s FROM events e WHERE e.post_id = ? AND e.seq >= ? AND e.seq < ? AND e.time_ms >= ? AND NOT EXISTS (SELECT 1 FROM events f WHERE f.post_id = e.post_id AND f.seq = e.seq + 1 AND f.time_ms >= ?)',
        [postId, first, last, runFrom, runFrom],
      ))[0]?.s ?? first)
    : first;
  const high = (await present(last))
    ? ((await tx.all<{ s: number | null }>(
        'SELECT MAX(e.seq) - 1 AS s FROM events e WHERE e.post_id = ? AND e.seq > ? AND e.seq <= ? AND e.time_ms >= ? AND NOT EXISTS (SELECT 1 FROM events f WHERE f.post_id = e.post_id AND f.seq = e.seq - 1 AND f.time_ms >= ?)',
        [postId, first, last, runFrom, runFrom],
      ))[0]?.s ?? last)
    : last;
  return [low, high];
}

/** A store spec for messages and logs: a PostgreSQL URL's password never printed. */
export function redactStore(spec: string): string {
  return spec.replace(/^(postgres(?:ql)?:\/\/[^:/@]+:)[^@]*@/, '$1[redacted]@');
}

/**
 * The keyset condition of the page after `after` in (completed_ms, event_id) order. The
 * `completed_ms >= ?` (implied by the rest) lets the time index start the scan at the cursor
 * rather than filter every earlier row again on each page.
 */
function pageAfter(after: CrossingCursor | null): { terms: string[]; params: SqlValue[] } {
  if (after === null) return { terms: [], params: [] };
  return { terms: ['completed_ms >= ?', '(completed_ms > ? OR event_id > ?)'], params: [after.completedMs, after.completedMs, after.eventId] };
}

/** A page of gaps: the filter's, the first `limit` of them when it is given, from after `after` when it is. */
/** Live sessions one account keeps (browsers, machines): a new login ends its oldest beyond these. */
export const MAX_SESSIONS_PER_ACCOUNT = 20;

export type GapPage = GapFilter & { limit?: number; after?: GapCursor };

/** One statement of a page of gaps: its SQL, ending in `LIMIT ?` when the page has a limit, and its parameters but the limit. */
export interface GapStatement {
  sql: string;
  params: SqlValue[];
}

/**
 * The statements of a page of gaps, in (post, first seq, id) order, run in turn until the page is
 * full: an index gives that order (migration 7: `gaps_by_post_seq`, and `gaps_open` for the open
 * ones), so a page reads its rows, not every gap of the posts sorted. The cursor is a row value:
 * both databases start the index's range scan at the cursor itself (an OR of the columns scanned
 * the cursor's post from its first gap). With posts named, each is looked up by `post_id = ?`,
 * after which a row value that starts with the post no longer bounds the scan: SQLite read every
 * gap of the cursor's post up to the cursor. So the cursor's post is read first, from the cursor
 * on by (first seq, id), then the posts named after it, each from its first gap (`post_id > ?`:
 * "after" as the database orders posts, whatever its collation). Exported for the test that asks
 * each database for its plans.
 */
export function gapPageStatements(filter: GapPage, dialect: SqlDb['dialect']): GapStatement[] {
  const { after, posts } = filter;
  const statement = ({ sql, params }: { sql: string; params: SqlValue[] }): GapStatement => ({
    sql: `SELECT * FROM ${gapsOf(filter, dialect)} ${sql} ORDER BY post_id, first_seq, id${filter.limit === undefined ? '' : ' LIMIT ?'}`,
    params,
  });
  if (after === undefined) return [statement(gapWhere(filter))];
  if (posts === undefined || posts.length === 0) {
    const where = gapWhere(filter, ['(post_id, first_seq, id) > (?, ?, ?)']);
    return [statement({ sql: where.sql, params: [...where.params, after.postId, after.firstSeq, after.id] })];
  }
  const statements: GapStatement[] = [];
  if (posts.includes(after.postId)) {
    const where = gapWhere({ ...filter, posts: [after.postId] }, ['(first_seq, id) > (?, ?)']);
    statements.push(statement({ sql: where.sql, params: [...where.params, after.firstSeq, after.id] }));
  }
  // SQLite looks up each post of the list and tests `post_id > ?` on its every gap, reading the
  // gaps of a post before the cursor's to keep none: those posts are left out here. Post ids are
  // ASCII (the route takes [a-z0-9-]), where JavaScript's order is SQLite's byte order;
  // PostgreSQL's collation may order them otherwise, and it skips them by itself.
  const others = posts.filter((post) => post !== after.postId && (dialect !== 'sqlite' || post > after.postId));
  if (others.length > 0) {
    const where = gapWhere({ ...filter, posts: others }, ['post_id > ?']);
    statements.push(statement({ sql: where.sql, params: [...where.params, after.postId] }));
  }
  return statements;
}

/**
 * The gaps table for statements that select open gaps only, read through `gaps_open` in SQLite.
 * SQLite plans without statistics (the store never runs ANALYZE) and, told nothing, took
 * `gaps_by_post_seq` for them, for its order: every gap a post ever had, read at each scan.
 * `INDEXED BY` also fails loudly, at prepare, should the index stop serving the statement.
 * PostgreSQL keeps statistics and chooses on them.
 */
function openGaps(dialect: SqlDb['dialect']): string {
  return dialect === 'sqlite' ? 'gaps INDEXED BY gaps_open' : 'gaps';
}

function gapsOf(filter: GapFilter, dialect: SqlDb['dialect']): string {
  return filter.open === true ? openGaps(dialect) : 'gaps';
}

function gapWhere(filter: GapFilter, fixed: string[] = []): { sql: string; params: SqlValue[] } {
  return whereOf([['post_id IN', filter.posts]], [...(filter.open === undefined ? [] : [filter.open ? 'closed_ms IS NULL' : 'closed_ms IS NOT NULL']), ...fixed]);
}

/**
 * `WHERE …` of the terms whose value is given (an empty list counts as not given), each
 * `column op ?` with its value bound, `IN` with a placeholder per element; `fixed` are added as
 * they are. Empty when nothing applies.
 */
function whereOf(terms: [columnAndOp: string, value: SqlValue | readonly SqlValue[] | undefined][], fixed: string[] = []): { sql: string; params: SqlValue[] } {
  const where: string[] = [];
  const params: SqlValue[] = [];
  for (const [columnAndOp, value] of terms) {
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      if (value.length === 0) continue;
      where.push(`${columnAndOp} (${value.map(() => '?').join(', ')})`);
      params.push(...(value as readonly SqlValue[]));
    } else {
      where.push(`${columnAndOp} ?`);
      params.push(value as SqlValue);
    }
  }
  where.push(...fixed);
  return { sql: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', params };
}
