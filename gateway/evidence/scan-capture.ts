/**
 * The evidence of X-ray scans: for each scan recorded as awaiting it (scans-awaiting-evidence.ts),
 * a copy of the full image (the PGM or DICOS file the scanner wrote, copied and hashed into the store, kept but
 * not sent) and its thumbnail (xray-thumbnail.ts, made without holding the image; sent, naming the
 * full image as `of` and its size for the screening regions). The record is the queue: one scan is
 * taken at a time, at most MAX_SCANS_IN_MEMORY are in memory, and the next are read from the record
 * as those finish. A scan leaves the record once its thumbnail is stored, or once it is clear it
 * never will be (the file is gone, or not a scan image); while the store refuses (busy with
 * pictures, the disk near its reserve, the outbox refusing), or anything else fails, it is tried
 * again a minute later, MAX_ATTEMPTS tries in all in one run, and again at the next start.
 */
import type { Logger } from 'pino';
import type { EvidenceConfig } from '../../config/schema.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { isGatewayError } from '../../core/errors.js';
import type { Crossing } from '../workflow/lane-workflow.js';
import { scanImageContentType } from '../../drivers/xray/scan-image-header.js';
import { NotAScanImage, xrayThumbnail, type Thumbnail } from '../workflow/xray-thumbnail.js';
import { DIGEST_PATTERN } from './evidence-files.js';
import type { EvidenceStore } from './evidence-store.js';
import type { AwaitingScan, ScansAwaitingEvidence } from './scans-awaiting-evidence.js';

/** Scans taken into memory at most (each one is a file copy and a thumbnail); the rest wait in the record. */
export const MAX_SCANS_IN_MEMORY = 8;
/** A scan the store refused is tried again after this. */
export const SCAN_RETRY_MS = 60_000;
/** Tries of one scan in one run; after them it waits for the next start. */
export const MAX_ATTEMPTS = 5;
/** File errors that no retry mends: the scanner's image is not there (its retention removed it). */
const GONE_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

export interface ScanCaptureOptions {
  store: Pick<EvidenceStore, 'put' | 'putFile' | 'index'>;
  awaiting: Pick<ScansAwaitingEvidence, 'all' | 'done' | 'record' | 'onRecorded'>;
  config: Pick<EvidenceConfig, 'fullImageDays' | 'forward'>;
  clock: Clock;
  logger: Logger;
  /** Makes a scan's thumbnail (default: xray-thumbnail.ts). */
  thumbnail?: (path: string) => Promise<Thumbnail>;
}

type Outcome = 'stored' | 'gone' | 'refused';

export class ScanCapture {
  /** Scans taken into memory, by key, until their turn ends. */
  private readonly taken = new Set<string>();
  /** Scans the store refused in this run, by key: how often, and not to be tried again before when (monotonic ms). */
  private readonly refusals = new Map<string, { attempts: number; notBeforeMono: number }>();
  private chain: Promise<void> = Promise.resolve();
  private retryTimer: TimerHandle | null = null;
  private stopped = false;
  private readonly unsubscribe: () => void;

  constructor(private readonly options: ScanCaptureOptions) {
    this.unsubscribe = options.awaiting.onRecorded(() => this.pull());
  }

  /**
   * At start: records the scans of open crossings that have no thumbnail (from before there was a
   * record), then takes what the record holds (what a kill or a stop interrupted).
   */
  resume(open: Iterable<Crossing>): void {
    for (const crossing of open) {
      const path = crossing.scan?.imageRef;
      if (!path || DIGEST_PATTERN.test(path) || this.options.store.index.holdsFor(crossing.crossingId, 'xray-thumbnail')) continue;
      this.options.awaiting.record({ crossingId: crossing.crossingId, laneId: crossing.laneId, path, scannerId: crossing.scan?.scannerId ?? 'unknown' });
    }
    this.pull();
  }

  /** Scans are in memory being stored now. */
  get busy(): boolean {
    return this.taken.size > 0;
  }

  /**
   * Settles once every scan taken so far is done with (stored, given up, or left for a retry),
   * including those recorded by commits pending now (taken a turn of the event loop later).
   */
  async idle(): Promise<void> {
    for (;;) {
      const chain = this.chain;
      await new Promise((resolve) => setImmediate(resolve));
      await chain;
      if (chain === this.chain) return;
    }
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    if (this.retryTimer) this.options.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Takes recorded scans into memory, oldest first, while there is room; arms the retry of refused ones. */
  private pull(): void {
    if (this.stopped) return;
    // Called from a microtask, a timer and a promise's end: nothing may escape to take the process down.
    try {
      const now = this.options.clock.monotonic();
      const recorded = new Set<string>();
      for (const scan of this.options.awaiting.all()) {
        const key = keyOf(scan);
        recorded.add(key);
        const refused = this.refusals.get(key);
        if (this.taken.size >= MAX_SCANS_IN_MEMORY || this.taken.has(key) || (refused && (refused.attempts >= MAX_ATTEMPTS || refused.notBeforeMono > now))) continue;
        this.take(scan, key);
      }
      // Refusals of scans no longer recorded (done, or trimmed) are forgotten.
      for (const key of this.refusals.keys()) if (!recorded.has(key)) this.refusals.delete(key);
      this.armRetry(now);
    } catch (error) {
      this.options.logger.error({ err: error }, 'scans awaiting evidence not read; tried again with the next scan');
    }
  }

  /**
   * A timer for the earliest refused scan due again, if any. None while memory is full: a scan
   * finishing pulls (and arms) again, and a timer now would only find no room.
   */
  private armRetry(now: number): void {
    if (this.retryTimer) this.options.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.taken.size >= MAX_SCANS_IN_MEMORY) return;
    let due = Number.POSITIVE_INFINITY;
    for (const [key, refused] of this.refusals) {
      if (refused.attempts < MAX_ATTEMPTS && !this.taken.has(key)) due = Math.min(due, refused.notBeforeMono);
    }
    if (due === Number.POSITIVE_INFINITY) return;
    this.retryTimer = this.options.clock.setTimeout(() => {
      this.retryTimer = null;
      this.pull();
    }, Math.max(0, due - now));
  }

  private take(scan: AwaitingScan, key: string): void {
    this.taken.add(key);
    this.chain = this.chain
      .then(async () => {
        // Stopped before its turn: it stays recorded for the next start.
        if (this.stopped) return;
        try {
          const outcome = await this.store(scan);
          if (outcome === 'refused') return this.refused(scan, key);
          this.options.awaiting.done(scan);
          this.refusals.delete(key);
        } catch (error) {
          // The database locked by another connection (never waited for on the loop), or unforeseen
          // (the record's database failing): recorded still, tried again later.
          if (isGatewayError(error, 'GW_ERR_OUTBOX_LOCKED')) this.options.logger.warn({ code: error.code, crossingId: scan.crossingId }, `scan evidence not settled; it stays recorded: ${error.message}`);
          else this.options.logger.error({ err: error, crossingId: scan.crossingId }, 'scan evidence not settled; it stays recorded');
          this.refused(scan, key);
        }
      })
      .finally(() => {
        this.taken.delete(key);
        this.pull();
      });
  }

  /** Copies the full image (when kept) and stores the thumbnail; says how it went. */
  private async store({ path, crossingId, laneId, scannerId }: AwaitingScan): Promise<Outcome> {
    const crossing = { crossingId, laneId };
    const { fullImageDays, forward } = this.options.config;
    try {
      // The store logs its own refusals: a full image it could not keep goes without, the thumbnail decides.
      const full = fullImageDays > 0 ? await this.options.store.putFile(path, { kind: 'xray-image', contentType: scanImageContentType(path), crossing, deviceId: scannerId, forward: false }) : null;
      const made = await (this.options.thumbnail ?? xrayThumbnail)(path);
      const thumbnail = await this.options.store.put(made.png, {
        kind: 'xray-thumbnail',
        contentType: 'image/png',
        crossing,
        deviceId: scannerId,
        forward: forward.xrayThumbnails,
        shows: { width: made.imageWidth, height: made.imageHeight, of: full?.digest ?? null },
      });
      return thumbnail ? 'stored' : 'refused';
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (error instanceof NotAScanImage || (typeof code === 'string' && GONE_CODES.has(code))) {
        this.options.logger.warn({ err: error, crossingId, path }, 'no thumbnail of the scan kept as evidence: its image is gone or not one');
        return 'gone';
      }
      this.options.logger.warn({ err: error, crossingId, path }, 'scan image not read now; tried again later');
      return 'refused';
    }
  }

  private refused(scan: AwaitingScan, key: string): void {
    const attempts = (this.refusals.get(key)?.attempts ?? 0) + 1;
    this.refusals.set(key, { attempts, notBeforeMono: this.options.clock.monotonic() + SCAN_RETRY_MS });
    if (attempts >= MAX_ATTEMPTS) {
      this.options.logger.warn({ crossingId: scan.crossingId, path: scan.path, attempts }, 'scan evidence refused every time: tried again at the next start');
    }
  }
}

function keyOf(scan: Pick<AwaitingScan, 'crossingId' | 'path'>): string {
  return `${scan.crossingId} ${scan.path}`;
}
