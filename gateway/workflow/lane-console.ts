/**
 * What the console needs of a running post beyond the workflow itself: it listens to the events
 * the gateway makes (every lane change is one: milestones, operator actions, alarms, barrier and
 * device state) and to the device readings (the entry picture of a plate read, the barrier's
 * inputs), keeps the lanes' standing alarms and the thumbnails of their scans, and builds the
 * lane view (lane-view.ts) on request.
 * It tells its listeners *that* a lane changed, never hands them state: the live feed builds one
 * view for all streams when it is ready to send, so a burst of changes costs one view.
 */
import type { Logger } from 'pino';
import { BytesInFlight, type ByteBudget, type Reservation } from '../../core/bytes-in-flight.js';
import type { Clock } from '../../core/clock.js';
import { GatewayError } from '../../core/errors.js';
import { ImageStore } from '../../drivers/anpr/image-store.js';
import { laneOf, type EventDraft } from '../../contract/envelope.js';
import type { BarrierInputs } from '../../drivers/barrier/barrier-driver.js';
import { KIND_BY_DRIVER, type DeviceFeed, type PostWorkflow } from './post-workflow.js';
import { laneView, IMAGE_REF_PATTERN, type ScanThumbnail } from './lane-view.js';
import { xrayThumbnail } from './xray-thumbnail.js';
import { OpenAlarms, type AlarmView, type LaneFacts } from './open-alarms.js';

/** A picture as `/api/images/` serves it. */
export interface ConsoleImage {
  body: Buffer;
  contentType: string;
}

/** A picture for one answer, its bytes reserved in the console's budget until released (once sent). */
export interface HeldPicture extends ConsoleImage {
  reservation: Reservation;
}

/**
 * Bytes of pictures the console's answers hold at once, at most (GW_ERR_IMAGE_BUSY beyond): read
 * from disk, or held by a camera, until the browser has taken them. A client that asks and never
 * reads keeps its answer's bytes until its connection times out (60 s).
 */
export const PICTURE_BYTES_IN_FLIGHT = 16 * 1024 * 1024;

/**
 * Of those, what the answers to one account hold at once, at most (or one picture when it holds
 * none): an operator's session in hostile hands, asking and never reading, leaves three quarters of
 * the budget to the other operators. A console page shows a lane's entry pictures, 100–500 KB each.
 */
export const PICTURE_BYTES_PER_ACCOUNT = 4 * 1024 * 1024;

/** An alarm as the live feed pushes it the moment it is raised. */
export interface RaisedAlarm extends AlarmView {
  laneId: string;
}

export interface LaneConsoleListener {
  /** Something of this lane changed; the view is built later, when the feed sends. */
  changed(laneId: string): void;
  alarm(alarm: RaisedAlarm): void;
}

export interface LaneConsoleOptions {
  post: PostWorkflow;
  /** Where the events come from (Gateway.onEvent). */
  onEvent: (listener: (event: EventDraft) => void) => () => void;
  devices: Pick<DeviceFeed, 'onReadings' | 'onHealthChanges'>;
  deviceHealth: (deviceId: string) => { state: string } | undefined;
  /** A picture held by a device driver (the ONVIF camera's image store), by reference. */
  image: (ref: string) => ConsoleImage | null;
  /**
   * The pictures kept on disk (the evidence store): what the console shows once a camera has let
   * a picture go (each holds its last few), and after a restart, which empties what it holds.
   */
  stored?: {
    /** Reserves the picture's bytes in `budget` before reading it (GW_ERR_IMAGE_BUSY when they do not fit). */
    picture(ref: string, budget: ByteBudget): Promise<HeldPicture | null>;
    /** The entry picture stored for a crossing, by reference. */
    entrySnapshot(crossingId: string): string | null;
  };
  /** The post's clock (the one that stamps the events). */
  clock: Clock;
  /** How many ms of `clock` pass per real ms (the demo runs it fast). Default 1. */
  clockSpeed?: number;
  logger?: Logger;
}

/** Thumbnails remembered per crossing: more than the open crossings of a busy post. */
const MAX_THUMBNAILS = 512;
/** Scans waiting for their thumbnail; beyond this a burst goes without (the scan is still shown). */
const MAX_THUMBNAILS_WAITING = 8;

export class LaneConsole {
  /** What the answers of `picture` hold now (released by the caller once each is sent). */
  readonly pictureBytes = new BytesInFlight(PICTURE_BYTES_IN_FLIGHT, PICTURE_BYTES_PER_ACCOUNT);
  private readonly alarms = new OpenAlarms();
  private readonly listeners = new Set<LaneConsoleListener>();
  private readonly barrierInputs = new Map<string, BarrierInputs & { atMs: number }>();
  /** Thumbnails of scans, made here (a PNG a few tens of KiB each): 64 of them, 8 MiB at most. */
  private readonly thumbnailImages = new ImageStore({ maxImages: 64, maxBytes: 8 * 1024 * 1024 });
  private readonly thumbnails = new Map<string, ScanThumbnail>();
  /** One thumbnail is made at a time, in the order the scans came. */
  private thumbnailQueue: Promise<void> = Promise.resolve();
  private thumbnailsWaiting = 0;
  /** Crossings whose thumbnail was asked for (made, in the making, or failed: asked once). */
  private readonly thumbnailsAsked = new Set<string>();
  private readonly unsubscribe: () => void;
  private stopped = false;

  constructor(private readonly options: LaneConsoleOptions) {
    // What stood when the gateway stopped and asks for an action: its events were sent then, not again.
    for (const { laneId, ...raised } of options.post.restoredAlarms) this.alarms.raise(laneId, raised, { deviceKind: (id) => this.deviceKind(laneId, id) });
    this.unsubscribe = options.onEvent((event) => this.onEvent(event));
    options.devices.onReadings((laneId, _role, reading) => {
      if (this.stopped) return;
      if (reading.type === 'inputs.changed') {
        // Stamped on the post clock when heard, as every other time of the view (viewAt, stepSince):
        // the reading's own is the device's clock, which the demo's fast post clock leaves behind.
        this.barrierInputs.set(laneId, { position: reading.position, vehiclePresent: reading.vehiclePresent, photocellBlocked: reading.photocellBlocked, atMs: this.options.clock.now() });
        this.changed(laneId);
      }
    });
    // Health is debounced into device.status events; the view reads it at once.
    options.devices.onHealthChanges((laneId) => {
      if (!this.stopped) this.changed(laneId);
    });
  }

  /** Listens for changes and alarms; returns the unsubscribe. */
  listen(listener: LaneConsoleListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every lane as the console shows it (the body of GET /api/lanes). */
  lanes(): Record<string, unknown>[] {
    const nowMs = this.options.clock.now();
    return [...this.options.post.lanes.values()].map((lane) => {
      // Made when someone looks, not for every scan: nobody may be watching this post's console.
      for (const crossing of lane.workflow.open()) {
        const path = crossing.scan?.imageRef;
        if (path && !IMAGE_REF_PATTERN.test(path) && !this.thumbnailsAsked.has(crossing.crossingId)) this.thumbnail(lane.config.id, crossing.crossingId, path);
      }
      const inputs = this.barrierInputs.get(lane.config.id) ?? null;
      return laneView(lane, {
        deviceHealth: this.options.deviceHealth,
        alarms: this.alarms.open(lane.config.id, this.facts(lane.config.id, inputs), nowMs),
        barrierInputs: inputs,
        // The store's index by crossing for crossings carried over from a version that did not keep
        // the picture with the crossing.
        snapshotRef: (crossing) => crossing.entryPicture ?? this.options.stored?.entrySnapshot(crossing.crossingId) ?? null,
        thumbnail: (crossingId) => this.thumbnails.get(crossingId) ?? null,
        nowMs,
        clockSpeed: this.options.clockSpeed ?? 1,
      });
    });
  }

  /**
   * A picture by its `sha256:` reference: held in memory (a thumbnail, a driver's), else kept on
   * disk; its bytes reserved in `pictureBytes` as `holder`'s, the account asking (GW_ERR_IMAGE_BUSY
   * when they do not fit in the budget or in the account's share). A picture
   * held in memory costs nothing more while its holder keeps it, but an answer that is not read
   * keeps it alive after the holder lets it go: counted alike.
   */
  async picture(ref: string, holder: string): Promise<HeldPicture | null> {
    if (!IMAGE_REF_PATTERN.test(ref)) return null;
    const budget = this.pictureBytes.holder(holder);
    const held = this.thumbnailImages.get(ref) ?? this.options.image(ref);
    if (!held) return (await this.options.stored?.picture(ref, budget)) ?? null;
    const reservation = budget.reserve(held.body.length);
    if (!reservation) throw new GatewayError('GW_ERR_IMAGE_BUSY');
    return { body: held.body, contentType: held.contentType, reservation };
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    this.listeners.clear();
  }

  private facts(laneId: string, inputs: BarrierInputs | null): LaneFacts {
    const lane = this.options.post.lane(laneId);
    const open = new Map(lane.workflow.open().map((crossing) => [crossing.crossingId, crossing]));
    return {
      crossing: (id) => open.get(id),
      health: (deviceId) => this.options.deviceHealth(deviceId)?.state,
      deviceKind: (deviceId) => this.deviceKind(laneId, deviceId),
      cyclePhase: lane.cycle.phase,
      barrierPosition: inputs?.position ?? null,
    };
  }

  private deviceKind(laneId: string, deviceId: string): ReturnType<LaneFacts['deviceKind']> {
    const device = this.options.post.lanes.get(laneId)?.config.devices.find((d) => d.id === deviceId);
    return device ? KIND_BY_DRIVER[device.driver] : undefined;
  }

  private onEvent(event: EventDraft): void {
    const laneId = laneOf(event);
    if (!this.options.post.lanes.has(laneId)) return; // post-wide events change no lane
    if (event.type === 'alarm.raised') {
      const data = event.data as { alarm: string; message: string; severity: AlarmView['severity']; details: Record<string, unknown> };
      const crossingId = typeof data.details.crossingId === 'string' ? data.details.crossingId : null;
      const view = this.alarms.raise(laneId, { code: data.alarm, message: data.message, crossingId, atMs: Date.parse(event.time), severity: data.severity, details: data.details }, { deviceKind: (id) => this.deviceKind(laneId, id) });
      for (const listener of this.listeners) listener.alarm({ laneId, ...view });
    }
    if (event.type === 'operator.action' && (event.data as { action: string }).action === 'barrier.manual') this.alarms.barrierHandled(laneId);
    if (event.type === 'crossing.completed') {
      const { crossingId } = event.data as { crossingId: string };
      this.thumbnails.delete(crossingId);
      this.thumbnailsAsked.delete(crossingId);
    }
    this.changed(laneId);
  }

  private changed(laneId: string): void {
    for (const listener of this.listeners) listener.changed(laneId);
  }

  /** Makes the thumbnail of a scan image on the gateway's disk, then tells the lane changed (a new view shows it). */
  private thumbnail(laneId: string, crossingId: string, path: string): void {
    if (this.thumbnailsWaiting >= MAX_THUMBNAILS_WAITING) return; // asked again by the next view
    this.thumbnailsWaiting += 1;
    this.thumbnailsAsked.add(crossingId);
    if (this.thumbnailsAsked.size > MAX_THUMBNAILS) this.thumbnailsAsked.delete(this.thumbnailsAsked.values().next().value as string);
    this.thumbnailQueue = this.thumbnailQueue
      .then(async () => {
        if (this.stopped) return;
        const made = await xrayThumbnail(path);
        const stored = this.thumbnailImages.put(made.png, 'image/png');
        this.thumbnails.set(crossingId, { ref: stored.ref, imageWidth: made.imageWidth, imageHeight: made.imageHeight });
        if (this.thumbnails.size > MAX_THUMBNAILS) this.thumbnails.delete(this.thumbnails.keys().next().value as string);
        this.changed(laneId);
      })
      .catch((error: unknown) => this.options.logger?.warn({ err: error, crossingId }, 'no thumbnail of the scan; the console shows it without'))
      .finally(() => {
        this.thumbnailsWaiting -= 1;
      });
  }

  /** Settles once every thumbnail asked for so far is made (or given up). */
  thumbnailsMade(): Promise<void> {
    return this.thumbnailQueue;
  }
}
