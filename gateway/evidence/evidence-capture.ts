/**
 * Where the post's evidence comes from, handed to the store (evidence-store.ts):
 *
 * - Plate snapshots: the picture of each plate read, as the camera driver holds it by the read's
 *   `imageRef` (`sha256:` of the bytes; the ONVIF driver fetches it, the push driver keeps the
 *   pushed JPEG). Tied to the crossing the read made: the workflow emits `vehicle.arrived` (entry)
 *   or `vehicle.exited` (exit) synchronously while it handles the read, before this listener (built
 *   after the workflow) hears the read; what it heard is forgotten at the end of that turn.
 * - X-ray scans: on `xray.scanned`, the full image (the PGM the scanner wrote, copied and hashed
 *   into the store, kept but not sent) and its thumbnail (xray-thumbnail.ts, made without holding
 *   the image; sent, naming the full image as `of` and its size for the screening regions).
 *   One scan at a time; at most MAX_SCANS_WAITING wait, beyond that a scan waits for the next
 *   start. A scan whose evidence a kill interrupted is taken again at start, its crossing open or
 *   closed: the scan is recorded with its `xray.scanned` and forgotten once its evidence is stored
 *   (scans-awaiting.ts).
 */
import type { Logger } from 'pino';
import type { EvidenceConfig } from '../../config/schema.js';
import type { EventData } from '../../contract/catalogue.js';
import { laneOf, type EventDraft } from '../../contract/envelope.js';
import type { DeviceReading } from '../devices/device-manager.js';
import type { DeviceFeed } from '../workflow/post-workflow.js';
import type { Crossing } from '../workflow/lane-workflow.js';
import { xrayThumbnail, type Thumbnail } from '../workflow/xray-thumbnail.js';
import { DIGEST_PATTERN } from './evidence-files.js';
import type { EvidenceInput, EvidenceStore } from './evidence-store.js';
import type { AwaitingScan, ScansAwaitingEvidence } from './scans-awaiting.js';

/** Scans waiting for their evidence, at most (each one is a file copy and a thumbnail). */
export const MAX_SCANS_WAITING = 8;
const PGM_CONTENT_TYPE = 'image/x-portable-graymap';
/** A media type as the catalogue allows it (at most 100 characters), else the generic one. */
const MEDIA_TYPE = /^[a-z]+\/[a-z0-9.+-]{1,80}$/i;

type PlateRead = Extract<DeviceReading, { type: 'plate.read' }>;

export interface EvidenceCaptureOptions {
  store: Pick<EvidenceStore, 'put' | 'putFile' | 'index'>;
  devices: Pick<DeviceFeed, 'onReadings'>;
  /** The gateway's events as they are made (Gateway.onEvent). */
  onEvent: (listener: (event: EventDraft) => void) => () => void;
  /** A picture a camera driver holds, by its `sha256:` reference. */
  image: (ref: string) => { body: Buffer; contentType: string } | null;
  config: Pick<EvidenceConfig, 'fullImageDays' | 'forward'>;
  logger: Logger;
  /** Scans recorded with their `xray.scanned`, until their evidence is stored (gateway.scansAwaiting). */
  awaiting: Pick<ScansAwaitingEvidence, 'all' | 'done'>;
  /** Makes a scan's thumbnail (default: xray-thumbnail.ts). */
  thumbnail?: (path: string) => Promise<Thumbnail>;
}

export class EvidenceCapture {
  /** Crossings the workflow moved during the current turn, by lane and milestone (see the file comment). */
  private readonly movedNow = new Map<string, string>();
  private scans: Promise<void> = Promise.resolve();
  private scansWaiting = 0;
  private stopped = false;
  private readonly unsubscribe: () => void;

  constructor(private readonly options: EvidenceCaptureOptions) {
    this.unsubscribe = options.onEvent((event) => this.onEvent(event));
    options.devices.onReadings((laneId, role, reading) => {
      if (!this.stopped && reading.type === 'plate.read') this.onPlate(laneId, role, reading);
    });
  }

  /**
   * Takes the scans whose evidence a kill (or a stop) interrupted: those recorded as awaiting it,
   * and those of open crossings with no thumbnail stored (recorded before there was a record).
   */
  resume(crossings: Iterable<Crossing>): void {
    const scans = new Map<string, AwaitingScan>();
    for (const scan of this.options.awaiting.all()) scans.set(`${scan.crossingId} ${scan.path}`, scan);
    for (const crossing of crossings) {
      const path = crossing.scan?.imageRef;
      if (!path || DIGEST_PATTERN.test(path)) continue;
      scans.set(`${crossing.crossingId} ${path}`, { crossingId: crossing.crossingId, laneId: crossing.laneId, path, scannerId: crossing.scan?.scannerId ?? 'unknown' });
    }
    for (const scan of scans.values()) {
      // Stored before the kill, only its record left behind.
      if (this.options.store.index.holdsFor(scan.crossingId, 'xray-thumbnail')) this.options.awaiting.done(scan);
      else this.captureScan(scan);
    }
  }

  /** Settles once every scan taken so far is stored (or given up). */
  idle(): Promise<void> {
    return this.scans;
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
  }

  private onEvent(event: EventDraft): void {
    if (this.stopped) return;
    if (event.type === 'vehicle.arrived' || event.type === 'vehicle.exited') {
      const key = `${laneOf(event)} ${event.type}`;
      const { crossingId } = event.data as { crossingId: string };
      this.movedNow.set(key, crossingId);
      queueMicrotask(() => {
        if (this.movedNow.get(key) === crossingId) this.movedNow.delete(key);
      });
      return;
    }
    if (event.type === 'xray.scanned') {
      const data = event.data as EventData<'xray.scanned'>;
      if (data.imageRef === null || DIGEST_PATTERN.test(data.imageRef)) return;
      this.captureScan({ crossingId: data.crossingId, laneId: laneOf(event), path: data.imageRef, scannerId: data.scannerId });
    }
  }

  private onPlate(laneId: string, role: 'entry' | 'exit' | 'lane', reading: PlateRead): void {
    const ref = reading.imageRef;
    if (ref === null || !DIGEST_PATTERN.test(ref)) return;
    const picture = this.options.image(ref);
    if (!picture) {
      this.options.logger.debug({ deviceId: reading.deviceId, ref }, 'plate picture no longer held; not kept as evidence');
      return;
    }
    const crossingId = this.movedNow.get(`${laneId} ${role === 'exit' ? 'vehicle.exited' : 'vehicle.arrived'}`);
    const input: EvidenceInput = {
      kind: 'plate-snapshot',
      contentType: MEDIA_TYPE.test(picture.contentType) ? picture.contentType.toLowerCase() : 'application/octet-stream',
      crossing: crossingId === undefined ? null : { crossingId, laneId },
      deviceId: reading.deviceId,
      forward: this.options.config.forward.plateSnapshots,
    };
    void this.options.store.put(picture.body, input, ref);
  }

  private captureScan(scan: AwaitingScan): void {
    if (this.scansWaiting >= MAX_SCANS_WAITING) {
      this.options.logger.warn({ crossingId: scan.crossingId, waiting: this.scansWaiting }, 'too many scans waiting: this one is taken at the next start');
      return;
    }
    this.scansWaiting += 1;
    this.scans = this.scans
      .then(async () => {
        // Stopped before its turn: it stays recorded for the next start.
        if (this.stopped) return;
        try {
          await this.storeScan(scan);
        } catch (error) {
          this.options.logger.warn({ err: error, crossingId: scan.crossingId, path: scan.path }, 'no thumbnail of the scan kept as evidence');
        }
        // Stored, or never will be (the file gone or unreadable): trying again at every start would not help.
        this.options.awaiting.done(scan);
      })
      .catch((error: unknown) => this.options.logger.error({ err: error, crossingId: scan.crossingId }, 'scan not forgotten as awaiting evidence'))
      .finally(() => {
        this.scansWaiting -= 1;
      });
  }

  private async storeScan({ path, crossingId, laneId, scannerId }: AwaitingScan): Promise<void> {
    const crossing = { crossingId, laneId };
    const { fullImageDays, forward } = this.options.config;
    const full = fullImageDays > 0 ? await this.options.store.putFile(path, { kind: 'xray-image', contentType: PGM_CONTENT_TYPE, crossing, deviceId: scannerId, forward: false }) : null;
    const made = await (this.options.thumbnail ?? xrayThumbnail)(path);
    await this.options.store.put(made.png, {
      kind: 'xray-thumbnail',
      contentType: 'image/png',
      crossing,
      deviceId: scannerId,
      forward: forward.xrayThumbnails,
      shows: { width: made.imageWidth, height: made.imageHeight, of: full?.digest ?? null },
    });
  }
}
