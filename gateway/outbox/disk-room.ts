/**
 * How much the outbox may still write to its filesystem. Free space alone misleads both ways:
 * SQLite still needs room for what it has already accepted (a checkpoint copies the WAL's new
 * pages into the database file, growing it; the WAL grows until the next checkpoint resets it),
 * and pages freed by deleted events are reused inside the database file without growing it,
 * although the filesystem never sees them come back.
 */
import { statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { fileWriteCounts } from '../../core/file-writes.js';

export interface DiskRoom {
  /**
   * What new events may still take: `freeBytes + freePagesBytes - checkpointBytes - walGrowthBytes`
   * (may be negative).
   */
  availableBytes: number;
  /** Free space of the filesystem for an unprivileged user (`statfs` `bavail`). */
  freeBytes: number;
  /** Pages inside the database freed by deleted events, reused before the file grows. */
  freePagesBytes: number;
  /** How much the next checkpoint will grow the database file by (pages only in the WAL). */
  checkpointBytes: number;
  /** How much the WAL may still grow before the automatic checkpoint resets it. */
  walGrowthBytes: number;
}

/** WAL file header and per-frame header (https://www.sqlite.org/fileformat2.html#walformat). */
const WAL_HEADER_BYTES = 32;
const WAL_FRAME_HEADER_BYTES = 24;
/** SQLite's default `wal_autocheckpoint`, assumed when it is turned off. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

export class DiskRoomGauge {
  private readonly path: string;
  private readonly dir: string;
  private readonly pageSize: number;
  /** Size the WAL reaches before the automatic checkpoint (after the commit that crosses it). */
  private readonly walHighWaterBytes: number;
  private readonly pageCount: Database.Statement<[], number>;
  private readonly freelistCount: Database.Statement<[], number>;

  constructor(db: Database.Database, path: string) {
    this.path = path;
    this.dir = dirname(path);
    this.pageSize = Number(db.pragma('page_size', { simple: true }));
    const autocheckpoint = Number(db.pragma('wal_autocheckpoint', { simple: true })) || DEFAULT_AUTOCHECKPOINT_PAGES;
    this.walHighWaterBytes = WAL_HEADER_BYTES + (autocheckpoint + 1) * (this.pageSize + WAL_FRAME_HEADER_BYTES);
    this.pageCount = db.prepare<[], number>('PRAGMA page_count').pluck();
    this.freelistCount = db.prepare<[], number>('PRAGMA freelist_count').pluck();
  }

  /** Measures now: one statfs, two stats and two header reads (a few microseconds). */
  measure(): DiskRoom {
    const fs = statfsSync(this.dir);
    const freeBytes = fs.bavail * fs.bsize;
    const freePagesBytes = (this.freelistCount.get() ?? 0) * this.pageSize;
    const checkpointBytes = Math.max(0, (this.pageCount.get() ?? 0) * this.pageSize - fileSize(this.path));
    const walGrowthBytes = Math.max(0, this.walHighWaterBytes - fileSize(`${this.path}-wal`));
    return { availableBytes: freeBytes + freePagesBytes - checkpointBytes - walGrowthBytes, freeBytes, freePagesBytes, checkpointBytes, walGrowthBytes };
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0; // no WAL yet, or it was removed at the last close
  }
}

/** How long a measurement far from the reserve is reused (the outbox checks before every commit). */
export const ROOM_REUSE_MS = 1000;
/** A measurement is reused only while this much beyond the reserve would still remain. */
export const ROOM_REUSE_MARGIN_BYTES = 64 * 1024 * 1024;

/**
 * The room before each commit without a statfs, two stats and two PRAGMAs per commit (≈ 40 µs,
 * 2 % of a device push): a measurement is reused for up to a second, less what was written since
 * (the outbox's commits, counted high, and every file this process wrote: core/file-writes.ts),
 * while that leaves ROOM_REUSE_MARGIN_BYTES beyond the reserve. Near the reserve every commit
 * measures afresh, so the refusal comes where it did before. What another process writes within
 * that second only makes SQLite's own refusal (SQLITE_FULL) come first.
 */
export class RecentDiskRoom {
  private last: { room: DiskRoom; measuredMono: number; spentBytes: number; filesFinishedAt: number } | null = null;

  constructor(
    private readonly measureNow: () => DiskRoom,
    private readonly monotonic: () => number,
    /** Bytes of file writes this process has started and finished so far (running counts). */
    private readonly fileWrites: () => { started: number; finished: number } = fileWriteCounts,
  ) {}

  /** The room as last measured, less what was written since, or measured now; throws as statfs does. */
  roomFor(bytes: number, reserveBytes: number): DiskRoom {
    const last = this.last;
    if (last && this.monotonic() - last.measuredMono < ROOM_REUSE_MS) {
      // Writes not finished when it was measured count whole: statfs saw part of them at most.
      const filesSince = this.fileWrites().started - last.filesFinishedAt;
      const availableBytes = last.room.availableBytes - last.spentBytes - filesSince;
      if (availableBytes - bytes >= reserveBytes + ROOM_REUSE_MARGIN_BYTES) return { ...last.room, availableBytes };
    }
    this.last = null;
    const filesFinishedAt = this.fileWrites().finished;
    const room = this.measureNow();
    this.last = { room, measuredMono: this.monotonic(), spentBytes: 0, filesFinishedAt };
    return room;
  }

  /** The outbox wrote `bytes` (rows and their WAL frames) since the last measurement. */
  spent(bytes: number): void {
    if (this.last) this.last.spentBytes += bytes;
  }
}
