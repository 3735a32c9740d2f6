/**
 * Sends the store's pieces to the VMC through the outbox, as `evidence.chunk` events of 32 KiB
 * each (EVIDENCE_CHUNK_BYTES, base64), read from the piece's file one chunk at a time: a picture is
 * never held whole to be sent. Durable and resumable: each chunk is appended with its transfer's
 * progress in the same transaction (upload-progress.ts), so after a kill -9 the transfers resume
 * at the first chunk the outbox does not hold, and what the outbox holds is sent by it as any
 * event is (at least once: the VMC deduplicates chunks by digest and index).
 *
 * It does not flood: at most `maxQueuedChunks` chunk events are in the outbox unacknowledged at
 * once (counted from the outbox at start, then by the broker's acknowledgements); the next are
 * appended as those leave. During an outage a transfer stops there and waits in the store, where
 * the bound, not the outbox, decides what is kept. Snapshots and thumbnails go before requested
 * pieces (upload-progress.ts); a chunk event is on its piece's lane, with its crossing as subject.
 *
 * A chunk the outbox drops when full (chunks are telemetry: the first to go) leaves a hole the VMC
 * cannot fill by itself; it asks for the piece again (`evidence.request`).
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { isGatewayError } from '../../core/errors.js';
import { EVIDENCE_CHUNK_BYTES, RETENTION_CLASSES, retentionClassOf, type EventData } from '../../contract/catalogue.js';
import type { Gateway } from '../daemon.js';
import type { CommittedEvent, OutboxRow, WithinCommit } from '../outbox/sqlite-outbox.js';
import { isOutboxRefusal } from '../outbox/sqlite-outbox.js';
import type { EvidenceRow } from './evidence-index.js';
import type { EvidenceFiles } from './evidence-files.js';
import type { Upload, UploadProgress } from './upload-progress.js';

/**
 * Most chunks read and appended in one round (their bytes are held until committed). Four: a
 * round's base64 strings and their JSON, ≈ 90 KB a chunk, then fit the unit's 1 MB semi-space and
 * die young. Sixteen (1.4 MB, alive across the round's reads and its fsync) were promoted to the
 * old space: with 300 KB pictures the 4-lane post ran 1.5× the mark-sweeps and 1.35× the GC pauses
 * per crossing (docs/benchmarks.md, "Evidence chunks four to a round"). One fsync per 128 KiB of
 * evidence is still far more than an uplink sends.
 */
const ROUND_CHUNKS = 4;
/** After a failed append (disk full, outbox closed for a moment), the next attempt waits this long. */
const RETRY_MS = 5_000;
/** Bytes of an `evidence.chunk` event at most: 32 KiB as base64 and the envelope (ids, lane, digest). */
export const CHUNK_EVENT_BYTES = Math.ceil(EVIDENCE_CHUNK_BYTES / 3) * 4 + 2048;

/** What the forwarder needs of the outbox and the uplink (gatewayChunkOutbox; a test's stand-in). */
export interface ChunkOutbox {
  append(laneId: string, data: EventData<'evidence.chunk'>, subject: string | undefined, within: WithinCommit): Promise<CommittedEvent>;
  /** Seqs of the `evidence.chunk` events in the outbox now. */
  storedChunkSeqs(): number[];
  /** Calls `listener(seq)` when the broker acknowledged a chunk, `listener(null)` when the outbox dropped events. */
  onLeft(listener: (seq: number | null) => void): () => void;
}

export function gatewayChunkOutbox(gateway: Pick<Gateway, 'emit' | 'outbox' | 'uplink'>): ChunkOutbox {
  // Through the outbox's index by retention class: chunks are telemetry, and telemetry is what a
  // full outbox keeps least of, so this reads few rows even behind a long outage's backlog.
  const storedSeqs = gateway.outbox.database.prepare<[number], { seq: number }>("SELECT seq FROM events WHERE priority = ? AND type = 'evidence.chunk'");
  const telemetry = RETENTION_CLASSES[retentionClassOf('evidence.chunk')];
  return {
    append: (laneId, data, subject, within) => gateway.emit('evidence.chunk', laneId, data, subject, within),
    storedChunkSeqs: () => storedSeqs.all(telemetry).map((row) => row.seq),
    onLeft: (listener) => {
      const delivered = (row: OutboxRow): void => {
        if (row.type === 'evidence.chunk') listener(row.seq);
      };
      const dropped = (): void => listener(null);
      gateway.uplink.on('delivered', delivered);
      gateway.outbox.on('dropped', dropped);
      return () => {
        gateway.uplink.off('delivered', delivered);
        gateway.outbox.off('dropped', dropped);
      };
    },
  };
}

export interface EvidenceForwarderOptions {
  outbox: ChunkOutbox;
  /** The store's index and files (evidence-store.ts). */
  pieces: { get(digest: string): EvidenceRow | undefined; files: EvidenceFiles };
  uploads: UploadProgress;
  /** `evidence.maxQueuedChunks`. */
  maxQueuedChunks: number;
  /** `uplink.maxEventBytes`: below CHUNK_EVENT_BYTES nothing is sent (transfers wait in the store). */
  maxEventBytes: number;
  /** The gateway's clock (retries). */
  clock: Clock;
  logger: Logger;
}

interface Pick1 {
  upload: Upload;
  index: number;
}

export class EvidenceForwarder {
  /** Seqs of chunk events in the outbox, not yet acknowledged. */
  private readonly queued = new Set<number>();
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private retryTimer: TimerHandle | null = null;
  private unsubscribe: () => void = () => undefined;
  private failing = false;
  /** Chunks appended and transfers completed, since start (tests, the log). */
  readonly counts = { chunks: 0, transfers: 0 };

  constructor(private readonly options: EvidenceForwarderOptions) {}

  get enabled(): boolean {
    return this.options.maxEventBytes >= CHUNK_EVENT_BYTES;
  }

  /** Counts what the outbox holds, listens for acknowledgements, and resumes unfinished transfers. */
  start(): void {
    if (!this.enabled) {
      this.options.logger.warn(
        { maxEventBytes: this.options.maxEventBytes, needed: CHUNK_EVENT_BYTES, transfers: this.options.uploads.count() },
        'uplink.maxEventBytes is too small for an evidence chunk: evidence is kept and its transfers wait until it is raised',
      );
      return;
    }
    for (const seq of this.options.outbox.storedChunkSeqs()) this.queued.add(seq);
    this.unsubscribe = this.options.outbox.onLeft((seq) => {
      if (seq !== null) this.queued.delete(seq);
      // Dropped events may have been chunks: only then is there anything to recount.
      else if (this.queued.size > 0) this.recount();
      else return;
      this.wake();
    });
    const waiting = this.options.uploads.count();
    if (waiting > 0) this.options.logger.info({ transfers: waiting, queuedChunks: this.queued.size }, 'resuming evidence transfers');
    this.wake();
  }

  /** Chunk events in the outbox now, not yet acknowledged. */
  get queuedChunks(): number {
    return this.queued.size;
  }

  /** Appends what the window allows; called when a transfer is queued and when chunks leave. */
  wake(): void {
    if (this.stopped || !this.enabled) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pump()
      .catch((error: unknown) => this.failed(error))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  /** A round of appends is under way. */
  get busy(): boolean {
    return this.running !== null;
  }

  /** Settles once the current round of appends is committed (or failed). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    if (this.retryTimer) this.options.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await this.idle();
  }

  private async pump(): Promise<void> {
    while (!this.stopped && this.retryTimer === null) {
      const room = Math.min(ROUND_CHUNKS, this.options.maxQueuedChunks - this.queued.size);
      if (room <= 0) return;
      const picks = this.pick(room);
      if (picks.length === 0) return;
      const chunks: { pick: Pick1; piece: EvidenceRow; data: EventData<'evidence.chunk'> }[] = [];
      for (const pick of picks) {
        const chunk = await this.chunkOf(pick);
        if (chunk) chunks.push({ pick, ...chunk });
      }
      const finished: Upload[] = [];
      // Appended in one turn: one transaction and one fsync for the round, progress in it.
      const appends = chunks.map(({ pick, piece, data }) =>
        this.options.outbox.append(piece.laneId, data, piece.crossingId ?? undefined, (event) => {
          if (this.options.uploads.advance(pick.upload.id, pick.index)) finished.push(pick.upload);
          return event;
        }),
      );
      const results = await Promise.allSettled(appends);
      for (const result of results) {
        if (result.status === 'fulfilled') {
          this.queued.add(result.value.seq);
          this.counts.chunks += 1;
        }
      }
      for (const upload of finished) {
        this.counts.transfers += 1;
        this.options.logger.info({ digest: upload.digest, chunks: upload.chunks, requestId: upload.requestId }, 'evidence transfer queued in full');
      }
      const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failure) {
        this.failed(failure.reason);
        return;
      }
      if (this.failing) {
        this.failing = false;
        this.options.logger.info('evidence chunks are stored again');
      }
    }
  }

  /** The next `room` chunks to append, transfer by transfer in sending order. */
  private pick(room: number): Pick1[] {
    const picks: Pick1[] = [];
    for (const upload of this.options.uploads.pending(room)) {
      for (let index = upload.nextIndex; index < upload.chunks && picks.length < room; index += 1) picks.push({ upload, index });
      if (picks.length >= room) break;
    }
    return picks;
  }

  /** Chunk `index` of the transfer's piece as an event, or null when the piece is gone (the transfer is dropped). */
  private async chunkOf({ upload, index }: Pick1): Promise<{ piece: EvidenceRow; data: EventData<'evidence.chunk'> } | null> {
    const piece = this.options.pieces.get(upload.digest);
    const expected = piece ? Math.min(EVIDENCE_CHUNK_BYTES, piece.bytes - index * EVIDENCE_CHUNK_BYTES) : 0;
    let bytes: Buffer | null = null;
    try {
      if (piece) bytes = await this.options.pieces.files.readChunk(upload.digest, index, EVIDENCE_CHUNK_BYTES);
    } catch (error) {
      // Anything but a missing file (too many open files, an I/O error) is retried, not given up.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (!piece || !bytes || bytes.length !== expected) {
      // Evicted meanwhile (its transfers went with it), or its file is damaged: nothing left to send.
      this.options.uploads.remove(upload.id);
      if (piece) this.options.logger.warn({ code: 'GW_ERR_EVIDENCE_DAMAGED', digest: upload.digest, index }, 'evidence chunk unreadable; its transfer is dropped');
      return null;
    }
    return {
      piece,
      data: {
        digest: piece.digest,
        kind: piece.kind,
        contentType: piece.contentType,
        bytes: piece.bytes,
        index,
        count: upload.chunks,
        data: bytes.toString('base64'),
        ...(upload.requestId === null ? {} : { requestId: upload.requestId }),
      },
    };
  }

  private failed(error: unknown): void {
    if (isGatewayError(error, 'GW_ERR_OUTBOX_CLOSED')) return; // shutting down
    if (!this.failing) {
      this.failing = true;
      // The outbox logs its own refusals (disk full, bound reached) once a minute with counts.
      if (isOutboxRefusal(error)) this.options.logger.warn({ code: error.code }, 'evidence chunks not stored; retrying');
      else this.options.logger.error({ err: error }, 'evidence chunks not stored; retrying');
    }
    this.retryTimer = this.options.clock.setTimeout(() => {
      this.retryTimer = null;
      this.wake();
    }, RETRY_MS);
  }

  /** After the outbox dropped events: which chunk events it still holds. */
  private recount(): void {
    this.queued.clear();
    for (const seq of this.options.outbox.storedChunkSeqs()) this.queued.add(seq);
  }
}
