/**
 * The post's evidence store: plate snapshots, X-ray thumbnails and full X-ray images, each kept
 * once on disk under its digest (evidence-files.ts) and indexed in the gateway's database
 * (evidence-index.ts). Bounded by bytes (`evidence.maxBytes`): to make room the oldest pieces go
 * first, whatever their kind, in an `evidence.evicted` (reason `bound`) committed with the removal
 * of their rows; full images older than `evidence.fullImageDays` go the same way (reason
 * `retention`), swept hourly on the post clock. Every eviction is also a log line.
 *
 * A piece is written (synced, renamed into place) before the `evidence.stored` that names it is
 * committed, and its index row (and, for a piece sent as stored, its transfer: upload-progress.ts)
 * is written in that event's transaction; so after a kill the index never names a missing file,
 * and a file the index does not name is a leftover, removed at start with whatever else is stray.
 *
 * One piece is stored at a time, in the order asked; at most MAX_WAITING wait (each may hold a
 * camera's picture in memory), beyond that a piece is dropped with a log line. A failure never
 * reaches the caller: the piece is not kept, the crossing goes on.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { ByteBudget, Reservation } from '../../core/bytes-in-flight.js';
import { GatewayError, isGatewayError } from '../../core/errors.js';
import { EVIDENCE_CHUNK_BYTES, type EventData, type EvidenceKind } from '../../contract/catalogue.js';
import { POST_LANE } from '../../contract/envelope.js';
import type { Gateway } from '../daemon.js';
import { isOutboxRefusal } from '../outbox/sqlite-outbox.js';
import { writeWithoutWaiting } from '../storage/without-waiting.js';
import { EvidenceFiles, type TempPiece } from './evidence-files.js';
import { EvidenceIndex, type EvidenceRow } from './evidence-index.js';
import type { UploadProgress } from './upload-progress.js';

/** Pieces waiting to be stored, at most. */
export const MAX_WAITING = 8;
/** How often full images past their days are looked for (post-clock ms). */
export const RETENTION_SWEEP_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Bytes one entry of `evidence.evicted` takes at most, serialised (digest, kind, bytes, time, unsent). */
const EVICTED_ENTRY_BYTES = 200;
/** Room for the rest of an `evidence.evicted` event (envelope, totals). */
const EVICTED_BASE_BYTES = 2048;

export interface EvidenceInput {
  kind: EvidenceKind;
  /** Media type of the bytes, e.g. image/jpeg. */
  contentType: string;
  /** The crossing it is evidence of, on its lane; null when the post could not tell. */
  crossing: { crossingId: string; laneId: string } | null;
  /** The camera or scanner it came from. */
  deviceId: string | null;
  /** Send it to the VMC now (its chunks follow `evidence.stored`); false: kept until asked for. */
  forward: boolean;
  /** For a thumbnail: the size of the image it shows, and that image's digest when kept. */
  shows?: { width: number; height: number; of: string | null };
}

export interface StoredEvidence {
  digest: string;
  bytes: number;
  /** Chunks queued for the VMC with it (0: kept only). */
  chunks: number;
}

export interface EvidenceStoreOptions {
  db: Database.Database;
  /** The store's folder, `{dataDir}/evidence`. */
  dir: string;
  /** `evidence.maxBytes`. */
  maxBytes: number;
  /** `evidence.fullImageDays`: full images older than this are evicted (0: none kept). */
  fullImageDays: number;
  /** Disk left free beyond a piece, for the outbox to go on committing: twice `outbox.reserveBytes`. */
  reserveBytes: number;
  /** `uplink.maxEventBytes`: an `evidence.evicted` names at most what fits in it. */
  maxEventBytes: number;
  gateway: Pick<Gateway, 'emit'>;
  /** Transfers to the VMC, shared with the forwarder. */
  uploads: UploadProgress;
  /** The post clock: stamps pieces and runs the retention sweep. */
  clock: Clock;
  logger: Logger;
  /** Told after a transfer was queued (the forwarder sends it). */
  onQueued?: () => void;
}

export const chunkCount = (bytes: number): number => Math.ceil(bytes / EVIDENCE_CHUNK_BYTES);

export class EvidenceStore {
  readonly files: EvidenceFiles;
  readonly index: EvidenceIndex;
  private held = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private readonly outsideQueue = new Set<Promise<unknown>>();
  private sweepTimer: TimerHandle | null = null;
  private stopped = false;
  /** Counts for tests and the log. */
  readonly counts = { stored: 0, evicted: 0, dropped: 0 };

  private constructor(private readonly options: EvidenceStoreOptions) {
    this.files = new EvidenceFiles(options.dir);
    this.index = new EvidenceIndex(options.db);
  }

  /** Opens the store: checks the folder against the index, then applies the bound and retention. */
  static async open(options: EvidenceStoreOptions): Promise<EvidenceStore> {
    const store = new EvidenceStore(options);
    store.files.ensureDir();
    await store.reconcile();
    store.held = store.index.heldBytes();
    void store.queue(async () => {
      await store.makeRoom(0);
      await store.sweepRetention();
    }, undefined);
    store.scheduleSweep();
    return store;
  }

  /** Bytes held now. */
  get heldBytes(): number {
    return this.held;
  }

  get maxBytes(): number {
    return this.options.maxBytes;
  }

  get(digest: string): EvidenceRow | undefined {
    return this.index.get(digest);
  }

  /** Keeps `body` (a snapshot, a thumbnail); `expectedDigest`: what the bytes were named by. Resolves null when not kept. */
  put(body: Buffer, input: EvidenceInput, expectedDigest?: string): Promise<StoredEvidence | null> {
    return this.queue(async () => {
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      if (expectedDigest !== undefined && digest !== expectedDigest) throw new GatewayError('GW_ERR_EVIDENCE_WRITE', `the bytes named ${expectedDigest} hash to ${digest}`);
      const known = this.index.get(digest);
      if (known) return this.storedAgain(known, input);
      await this.prepare(body.length);
      return this.commit(await this.files.writeBytes(body), input);
    }, null);
  }

  /** Keeps a copy of the file at `path` (a full X-ray image), streamed and hashed while copied. */
  putFile(path: string, input: EvidenceInput): Promise<StoredEvidence | null> {
    return this.queue(async () => {
      // Room is made for the size the file has now; the copy refuses a file that changes meanwhile.
      const size = await this.files.sizeOf(path);
      await this.prepare(size);
      const piece = await this.files.copyFile(path, size);
      const known = this.index.get(piece.digest);
      if (known) {
        await this.files.discard(piece);
        return this.storedAgain(known, input);
      }
      return this.commit(piece, input);
    }, null);
  }

  /**
   * A picture the store holds (a plate snapshot, a scan's thumbnail: not a full scan, which is
   * large and not for a browser), as it was stored; null when not held, or its file is gone or
   * changed (then it is dropped from the store). What the console shows once the camera has let
   * the picture go, and after a restart.
   * Each read is a copy in memory, kept until its answer is sent: its bytes are reserved in
   * `budget` before the read (GW_ERR_IMAGE_BUSY when they do not fit), and the reservation comes
   * back with the picture, for the caller to release once the answer is sent.
   */
  async picture(digest: string, budget: ByteBudget): Promise<{ body: Buffer; contentType: string; reservation: Reservation } | null> {
    const row = this.index.get(digest);
    if (!row || row.kind === 'xray-image' || this.stopped) return null;
    const reservation = budget.reserve(row.bytes);
    if (!reservation) throw new GatewayError('GW_ERR_IMAGE_BUSY');
    try {
      const body = await this.outside(this.files.readPiece(digest, row.bytes));
      if (Buffer.isBuffer(body)) return { body, contentType: row.contentType, reservation };
      // Damaged (a disk fault, an edit): dropped from the store, as a read-through for the VMC does.
      if (this.index.get(digest)) this.dropDamaged([digest], body === 'missing' ? 'its file is missing' : 'its file changed');
    } catch (error) {
      this.options.logger.warn({ err: error, digest }, 'evidence picture could not be read');
    }
    reservation.release();
    return null;
  }

  /**
   * The entry picture stored for `crossingId`: its first plate snapshot from a camera `fromEntry`
   * says is not an exit camera, by digest; null when none is held.
   */
  entrySnapshot(crossingId: string, fromEntry: (deviceId: string | null) => boolean): string | null {
    return this.index.allFor(crossingId, 'plate-snapshot').find((piece) => fromEntry(piece.deviceId))?.digest ?? null;
  }

  /**
   * Whether `digest` is held and its bytes on disk still hash to it (read through: for a request of
   * the VMC, before anything is queued). A damaged piece is dropped from the store.
   */
  async intact(digest: string): Promise<boolean> {
    const row = this.index.get(digest);
    // Stopping: nothing new is read (a stop waits for what is under way).
    if (!row || this.stopped) return false;
    let onDisk: string | null;
    try {
      onDisk = await this.outside(this.files.digestOnDisk(digest, row.bytes));
    } catch (error) {
      // Unreadable now (an I/O error, too many open files) is not damaged: kept, not sent this time.
      this.options.logger.warn({ err: error, digest }, 'evidence piece could not be read through; not sent');
      return false;
    }
    if (onDisk === digest) return true;
    if (this.index.get(digest)) this.dropDamaged([digest], onDisk === null ? 'its file is missing' : onDisk === 'longer' ? `its file has grown past ${row.bytes} bytes` : `its file now hashes to ${onDisk}`);
    return false;
  }

  /**
   * Settles once nothing is being stored, swept, read or removed: every piece asked for so far
   * stored (or given up), and any asked for meanwhile, and every read and removal outside the queue.
   */
  async idle(): Promise<void> {
    // Until both are empty at once: pieces asked for while it waits, work outside the queue that
    // a queued task starts, or queued work that work outside it starts (none does today).
    while (this.waiting > 0 || this.outsideQueue.size > 0) {
      await this.tail;
      await Promise.allSettled([...this.outsideQueue]);
    }
  }

  /** Pieces are being written or swept, or read or removed outside the queue, now. */
  get busy(): boolean {
    return this.waiting > 0 || this.outsideQueue.size > 0;
  }

  /** File work not in the queue (reads through, pictures, a damaged piece's removal), counted for `busy` and `idle`. */
  private outside<T>(work: Promise<T>): Promise<T> {
    this.outsideQueue.add(work);
    const done = (): void => {
      this.outsideQueue.delete(work);
    };
    work.then(done, done);
    return work;
  }

  /** Runs the retention sweep now (it also runs every hour of the post clock). */
  sweep(): Promise<void> {
    return this.queue(() => this.sweepRetention(), undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweepTimer) this.options.clock.clearTimeout(this.sweepTimer);
    this.sweepTimer = null;
    await this.idle();
  }

  /** One task at a time, in order; a failure is logged and answered with `fallback`. */
  private queue<T>(task: () => Promise<T>, fallback: T): Promise<T> {
    if (this.stopped) return Promise.resolve(fallback);
    if (this.waiting >= MAX_WAITING) {
      this.counts.dropped += 1;
      this.options.logger.warn({ code: 'GW_ERR_EVIDENCE_WRITE', waiting: this.waiting }, 'evidence store busy: a piece is dropped unstored');
      return Promise.resolve(fallback);
    }
    this.waiting += 1;
    const run = this.tail.then(task).catch((error: unknown) => {
      this.counts.dropped += 1;
      const code = isGatewayError(error) ? error.code : 'GW_ERR_EVIDENCE_WRITE';
      if (isOutboxRefusal(error)) this.options.logger.warn({ code }, 'evidence not kept: its event could not be stored');
      else this.options.logger.warn({ code, err: error }, 'evidence not kept');
      return fallback;
    });
    this.tail = run.finally(() => {
      this.waiting -= 1;
    });
    return run;
  }

  /** Makes room for `bytes` and checks the disk has it, or throws GW_ERR_EVIDENCE_WRITE. */
  private async prepare(bytes: number): Promise<void> {
    const { maxBytes, reserveBytes } = this.options;
    if (bytes > maxBytes) throw new GatewayError('GW_ERR_EVIDENCE_WRITE', `${bytes} bytes, more than evidence.maxBytes ${maxBytes}`);
    await this.makeRoom(bytes);
    const available = await this.files.availableBytes();
    if (available < bytes + reserveBytes) {
      throw new GatewayError('GW_ERR_EVIDENCE_WRITE', `${bytes} bytes would leave less than ${reserveBytes} free on the disk (${available} available)`);
    }
  }

  /** Commits `evidence.stored` with the piece's index row (and transfer); the file is in place first. */
  private async commit(piece: TempPiece, input: EvidenceInput): Promise<StoredEvidence> {
    const chunks = input.forward ? chunkCount(piece.bytes) : 0;
    const storedMs = this.options.clock.now();
    const laneId = input.crossing?.laneId ?? POST_LANE;
    try {
      await this.files.place(piece);
      await this.options.gateway.emit('evidence.stored', laneId, this.storedData(piece.digest, piece.bytes, chunks, input), input.crossing?.crossingId, (event) => {
        this.index.insert({ digest: piece.digest, kind: input.kind, contentType: input.contentType, bytes: piece.bytes, laneId, crossingId: input.crossing?.crossingId ?? null, deviceId: input.deviceId, storedMs });
        this.options.uploads.add(piece.digest, null, chunks);
        return event;
      });
    } catch (error) {
      await this.files.discard(piece);
      await this.files.remove(piece.digest).catch(() => undefined);
      throw error;
    }
    this.held += piece.bytes;
    this.counts.stored += 1;
    this.options.logger.info({ digest: piece.digest, kind: input.kind, bytes: piece.bytes, chunks, crossingId: input.crossing?.crossingId ?? null, heldBytes: this.held }, 'evidence stored');
    if (chunks > 0) this.options.onQueued?.();
    return { digest: piece.digest, bytes: piece.bytes, chunks };
  }

  /**
   * The same bytes again (a camera's picture read twice): nothing new is written or sent, and an
   * `evidence.stored` with no chunks tells the VMC which crossing it now also belongs to.
   */
  private async storedAgain(known: EvidenceRow, input: EvidenceInput): Promise<StoredEvidence> {
    await this.options.gateway.emit('evidence.stored', input.crossing?.laneId ?? POST_LANE, this.storedData(known.digest, known.bytes, 0, input), input.crossing?.crossingId);
    return { digest: known.digest, bytes: known.bytes, chunks: 0 };
  }

  private storedData(digest: string, bytes: number, chunks: number, input: EvidenceInput): EventData<'evidence.stored'> {
    const shows = input.shows;
    return {
      digest,
      kind: input.kind,
      contentType: input.contentType,
      bytes,
      crossingId: input.crossing?.crossingId ?? null,
      deviceId: input.deviceId,
      chunks,
      ...(shows ? { imageWidth: shows.width, imageHeight: shows.height, ...(shows.of ? { of: shows.of } : {}) } : {}),
    };
  }

  /** Evicts the oldest pieces until `bytes` more fit under the bound. */
  private async makeRoom(bytes: number): Promise<void> {
    while (this.held + bytes > this.options.maxBytes) {
      const victims: EvidenceRow[] = [];
      let freed = 0;
      for (const row of this.index.oldest(this.entriesPerEvent())) {
        victims.push(row);
        freed += row.bytes;
        if (this.held - freed + bytes <= this.options.maxBytes) break;
      }
      if (victims.length === 0) return;
      await this.evict(victims, 'bound');
    }
  }

  private async sweepRetention(): Promise<void> {
    const cutoff = this.options.clock.now() - this.options.fullImageDays * DAY_MS;
    for (;;) {
      const expired = this.index.storedBefore('xray-image', cutoff, this.entriesPerEvent());
      if (expired.length === 0) return;
      await this.evict(expired, 'retention');
    }
  }

  /** One `evidence.evicted` for `victims` (oldest first), their rows removed with it; then their files. */
  private async evict(victims: EvidenceRow[], reason: 'bound' | 'retention'): Promise<void> {
    const freed = victims.reduce((sum, row) => sum + row.bytes, 0);
    const heldAfter = this.held - freed;
    const entries = (): EventData<'evidence.evicted'>['evicted'] =>
      victims.map((row) => ({ digest: row.digest, kind: row.kind, bytes: row.bytes, storedAt: new Date(row.storedMs).toISOString(), unsent: this.options.uploads.unsent(row.digest) }));
    const { uploads, maxBytes } = this.options;
    await this.options.gateway.emit('evidence.evicted', POST_LANE, { reason, evicted: entries(), heldBytes: heldAfter, maxBytes }, undefined, (event) => {
      // What was unsent is counted inside the transaction: the forwarder may have moved on meanwhile.
      const evicted = entries();
      for (const row of victims) {
        this.index.remove(row.digest);
        uploads.removeDigest(row.digest);
      }
      return { ...event, data: { ...(event.data as EventData<'evidence.evicted'>), evicted } };
    });
    this.held = heldAfter;
    this.counts.evicted += victims.length;
    this.options.logger.warn(
      { reason, pieces: victims.length, bytes: freed, oldest: victims[0]?.digest, heldBytes: heldAfter, maxBytes },
      reason === 'bound' ? `evidence store full: ${victims.length} oldest piece(s) evicted` : `${victims.length} full X-ray image(s) past ${this.options.fullImageDays} days evicted`,
    );
    for (const row of victims) {
      await this.files.remove(row.digest).catch((error: unknown) => this.options.logger.warn({ err: error, digest: row.digest }, 'evicted evidence file not removed; removed at the next start'));
    }
  }

  /** Entries that fit in one `evidence.evicted` under `uplink.maxEventBytes` (the schema allows 1000). */
  private entriesPerEvent(): number {
    return Math.max(1, Math.min(1000, Math.floor((this.options.maxEventBytes - EVICTED_BASE_BYTES) / EVICTED_ENTRY_BYTES)));
  }

  /**
   * At start: files the index does not name (a kill between writing a piece and committing its
   * event), temporary files and strays are removed; rows whose file is missing or of another size
   * (a restore without the folder, a disk fault) are dropped with their transfers.
   */
  private async reconcile(): Promise<void> {
    const { pieces, strays } = await this.files.scan();
    const damaged: string[] = [];
    for (const row of this.index.all()) {
      const size = pieces.get(row.digest);
      if (size !== row.bytes) damaged.push(row.digest);
      pieces.delete(row.digest);
    }
    if (damaged.length > 0) this.dropDamaged(damaged, 'its file is missing or of the wrong size');
    for (const digest of pieces.keys()) await this.files.remove(digest);
    for (const path of strays) await this.files.removeStray(path);
    if (pieces.size + strays.length > 0) this.options.logger.info({ unindexed: pieces.size, strays: strays.length }, 'evidence files left by an interrupted write removed');
  }

  private dropDamaged(digests: string[], why: string): void {
    const { db, uploads, logger } = this.options;
    try {
      // Never waits on the loop for another connection's write lock (storage/without-waiting.ts).
      writeWithoutWaiting(db, 'damaged evidence', () =>
        db.transaction(() => {
          for (const digest of digests) {
            const row = this.index.get(digest);
            if (!row) continue;
            this.index.remove(digest);
            uploads.removeDigest(digest);
          }
        })(),
      );
    } catch (error) {
      if (!isGatewayError(error, 'GW_ERR_OUTBOX_LOCKED')) throw error;
      // Kept in the index for now: the next read of the piece (or the next start) finds it damaged again.
      logger.warn({ code: error.code, pieces: digests.length, first: digests[0] }, `damaged evidence not dropped yet: ${error.message}`);
      return;
    }
    this.held = this.index.heldBytes();
    for (const digest of digests) void this.outside(this.files.remove(digest)).catch(() => undefined);
    logger.warn({ code: 'GW_ERR_EVIDENCE_DAMAGED', pieces: digests.length, first: digests[0] }, `evidence dropped from the store: ${why}`);
  }

  private scheduleSweep(): void {
    if (this.stopped) return;
    this.sweepTimer = this.options.clock.setTimeout(() => {
      this.sweepTimer = null;
      void this.sweep().finally(() => this.scheduleSweep());
    }, RETENTION_SWEEP_MS);
  }
}
