/**
 * Where the post's evidence comes from, handed to the store (evidence-store.ts):
 *
 * - Plate snapshots: the picture of each plate read, as the camera driver holds it by the read's
 *   `imageRef` (`sha256:` of the bytes; the ONVIF driver fetches it, the push driver keeps the
 *   pushed JPEG). Tied to the crossing the read made: the workflow emits `vehicle.arrived` (entry)
 *   or `vehicle.exited` (exit) synchronously while it handles the read, before this listener (built
 *   after the workflow) hears the read; what it heard is forgotten at the end of that turn.
 * - X-ray scans: scan-capture.ts, from the scans recorded with their `xray.scanned`.
 */
import type { Logger } from 'pino';
import type { EvidenceConfig } from '../../config/schema.js';
import { laneOf, type EventDraft } from '../../contract/envelope.js';
import type { DeviceReading } from '../devices/device-manager.js';
import type { DeviceFeed } from '../workflow/post-workflow.js';
import type { Crossing } from '../workflow/lane-workflow.js';
import type { Thumbnail } from '../workflow/xray-thumbnail.js';
import { DIGEST_PATTERN } from './evidence-files.js';
import type { EvidenceInput, EvidenceStore } from './evidence-store.js';
import { ScanCapture, type ScanCaptureOptions } from './scan-capture.js';

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
  awaiting: ScanCaptureOptions['awaiting'];
  /** Times the retries of scans the store refused. */
  clock: ScanCaptureOptions['clock'];
  /** Makes a scan's thumbnail (default: xray-thumbnail.ts). */
  thumbnail?: (path: string) => Promise<Thumbnail>;
}

export class EvidenceCapture {
  /** Crossings the workflow moved during the current turn, by lane and milestone (see the file comment). */
  private readonly movedNow = new Map<string, string>();
  private readonly scans: ScanCapture;
  private stopped = false;
  private readonly unsubscribe: () => void;

  constructor(private readonly options: EvidenceCaptureOptions) {
    const { store, awaiting, config, clock, logger, thumbnail } = options;
    this.scans = new ScanCapture({ store, awaiting, config, clock, logger, ...(thumbnail ? { thumbnail } : {}) });
    this.unsubscribe = options.onEvent((event) => this.onEvent(event));
    options.devices.onReadings((laneId, role, reading) => {
      if (!this.stopped && reading.type === 'plate.read') this.onPlate(laneId, role, reading);
    });
  }

  /** Takes the scans whose evidence a kill (or a stop) interrupted; `open` are the crossings restored (scan-capture.ts). */
  resume(open: Iterable<Crossing>): void {
    this.scans.resume(open);
  }

  /** Scans are being stored now. */
  get busy(): boolean {
    return this.scans.busy;
  }

  /** Settles once every scan taken so far is done with. */
  idle(): Promise<void> {
    return this.scans.idle();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    this.scans.stop();
  }

  private onEvent(event: EventDraft): void {
    if (this.stopped || (event.type !== 'vehicle.arrived' && event.type !== 'vehicle.exited')) return;
    const key = `${laneOf(event)} ${event.type}`;
    const { crossingId } = event.data as { crossingId: string };
    this.movedNow.set(key, crossingId);
    queueMicrotask(() => {
      if (this.movedNow.get(key) === crossingId) this.movedNow.delete(key);
    });
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
}
