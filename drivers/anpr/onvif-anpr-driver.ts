/**
 * ANPR camera over ONVIF: device information, capabilities and the media profile's snapshot URI at
 * connect, then plate events by PullPoint: the topics that carry plates are found with
 * GetEventProperties, a PullPointSubscription is created for them, PullMessages long-polls in a
 * loop, Renew keeps it alive at half its termination time, and a subscription the camera dropped
 * (fault, expiry, reboot) is recreated through the reconnect loop. Every plate read is
 * normalised; the raw text and its likelihood stay beside it; a read below `minConfidence` is
 * reported as unreadable.
 *
 * What real cameras need (docs/integrators.md, "Real cameras"): requests are signed with the
 * camera's clock, measured at connect and again after a NotAuthorized fault; topic filters keep
 * vendor namespaces (`tnshik:Vehicle`); likelihoods on 0..1 or 0-100 both read as 0..1; the
 * picture a notification names is fetched (bounded, camera host only) and referenced by the read;
 * a notification delivered twice is read once.
 *
 * The camera is an adversary until proven otherwise (docs/integrators.md, "Camera replies"): every
 * reply is bounded in bytes and time, every address it names must be on its own host, and any such
 * fault is transient: reported as health (`down` when there is no subscription, `degraded` when
 * plates flow but the snapshot is refused) and retried with backoff.
 */
import type { OnvifCameraConfig } from '../../config/schema.js';
import { isGatewayError } from '../../core/errors.js';
import { toError } from '../../core/with-timeout.js';
import { DriverBase, type DriverContext } from '../driver.js';
import type { Connection, ReconnectLoop } from '../reconnect-loop.js';
import { DeviceAddressPolicy } from './device-address.js';
import { ImageStore, type StoredImage } from './image-store.js';
import { OnvifClient, type DeviceInformation, type PullPoint, type ServiceAddresses } from './onvif-client.js';
import { normalisePlate, type NormalisedPlate } from './plate-normaliser.js';
import { type PlateRead } from './profile-m.js';
import { RecentKeys } from './recent-keys.js';
import { clip } from './soap-client.js';

/** Shortest time between two PullMessages: ten pulls a second is more than any lane's plates need. */
export const MIN_PULL_INTERVAL_MS = 100;

/** Notifications asked for per PullMessages (its MessageLimit). */
const MESSAGE_LIMIT = 10;

/** Most events remembered for duplicate detection; far more than a lane sees in any window. */
const MAX_RECENT_EVENTS = 1024;

/** A camera clock further off than this is logged (tokens are signed with its time regardless). */
const CLOCK_WARN_MS = 5000;

/** The picture of a read, as kept on the gateway: its bytes are looked up by `ref`. */
export type AnprImage = {
  /** `sha256:<hex>` of the bytes: the reading's `imageRef`, and the key for `driver.image(ref)`. */
  ref: string;
  bytes: number;
  contentType: string;
};

export type AnprReading = {
  type: 'plate.read';
  deviceId: string;
  /** null when the camera saw a vehicle but could not read (or trust) its plate. */
  plate: NormalisedPlate | null;
  plateType: string | null;
  vehicleType: string | null;
  /**
   * Names the read's picture on the gateway: `sha256:<hex>` of its bytes, a fetched picture (ONVIF)
   * or the first picture of a push (anpr-http-push); null when there is none.
   */
  imageRef: string | null;
  /** The fetched picture (ONVIF), null when the notification named none or it was not fetched. */
  image?: AnprImage | null;
  cameraTime: string | null;
  atMs: number;
};

/**
 * Pictures held in memory per camera: the latest, for the console's live view. The evidence store
 * copies each one as its read is emitted (emitRead), and the console reads older ones from there.
 * Were 16 (38 MB for 8 cameras of 300 KB snapshots), then 4.
 */
const HELD_PICTURES = 1;

export class OnvifAnprDriver extends DriverBase<AnprReading> {
  readonly id: string;
  readonly kind = 'anpr' as const;
  private readonly config: OnvifCameraConfig;
  private readonly client: OnvifClient;
  private readonly loop: ReconnectLoop;
  private info: DeviceInformation | null = null;
  private snapshotUri: URL | null = null;
  /** Why there is no snapshot URI, while plates flow (the health's last error then). */
  private snapshotProblem: string | null = null;
  private running = false;
  /** Subscriptions created so far (a recreated one counts again). */
  subscriptions = 0;
  /** Notifications dropped as duplicates of one read within `duplicateWindowSec`. */
  duplicates = 0;
  /** Pictures that were named but not fetched (refused address, fault, over the size cap). */
  picturesMissed = 0;
  private readonly recent: RecentKeys;
  private readonly images: ImageStore;

  constructor(config: OnvifCameraConfig, password: string, context: DriverContext) {
    super(context);
    this.id = config.id;
    this.config = config;
    const addresses = new DeviceAddressPolicy(config.connection.url, config, (rewrite) =>
      context.logger.warn(rewrite, 'camera address moved onto the configured device URL (rewriteForeignAddresses)'),
    );
    this.client = new OnvifClient({
      deviceId: config.id,
      deviceUrl: config.connection.url,
      credentials: { username: config.connection.username, password },
      clock: context.clock,
      timeoutMs: config.requestTimeoutMs,
      maxReplyBytes: config.maxReplyBytes,
      maxSnapshotBytes: config.maxSnapshotBytes,
      addresses,
    });
    this.recent = new RecentKeys({ clock: context.clock, windowMs: config.duplicateWindowSec * 1000, maxKeys: MAX_RECENT_EVENTS });
    // The last few pictures, one of the largest allowed at most: the evidence store copies each as
    // its read is handled, and the console reads it from there once it is gone from here.
    this.images = new ImageStore({ maxImages: HELD_PICTURES, maxBytes: config.maxSnapshotBytes });
    this.loop = this.reconnectLoop({
      connect: () => this.subscribe(),
      onUp: () => (this.snapshotProblem ? this.setHealth('degraded', this.snapshotProblem) : this.setHealth('up')),
      onDown: (error) => {
        const reason = error ? describe(error) : 'subscription ended';
        context.logger.warn({ code: isGatewayError(error) ? error.code : undefined, err: reason }, 'camera subscription lost');
        this.setHealth('down', reason);
      },
    });
  }

  start(): Promise<void> {
    this.running = true;
    this.loop.start();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.running = false;
    this.loop.stop();
    this.removeAllListeners();
    return Promise.resolve();
  }

  deviceInformation(): DeviceInformation | null {
    return this.info;
  }

  /**
   * Fetches a JPEG snapshot from the current media profile's snapshot URI (at most
   * `maxSnapshotBytes`, within `requestTimeoutMs`). A refused snapshot marks the camera degraded.
   */
  async fetchSnapshot(): Promise<Buffer> {
    if (!this.snapshotUri) throw new Error(`${this.id}: no snapshot URI (${this.snapshotProblem ?? 'not connected yet'})`);
    try {
      return await this.client.fetchSnapshot(this.snapshotUri);
    } catch (error) {
      if (isGatewayError(error) && this.health().state === 'up') this.setHealth('degraded', describe(error));
      throw error;
    }
  }

  /** The media profile's snapshot URI, once connected. */
  get snapshotUrl(): string | null {
    return this.snapshotUri?.href ?? null;
  }

  /** A fetched picture by the `imageRef` of its read, while it is still held (see image-store.ts). */
  image(ref: string): StoredImage | null {
    return this.images.get(ref);
  }

  /** The camera's clock minus ours, in ms, as last measured. */
  get clockOffsetMs(): number {
    return this.client.clockOffsetMs;
  }

  /** Connect = the camera's clock, information, capabilities, snapshot URI, topics, a new pull point; the pull loop is the connection. */
  private async subscribe(): Promise<Connection> {
    await this.measureClock();
    this.info = await this.client.getDeviceInformation();
    const services = await this.client.getCapabilities();
    const eventsUrl = this.client.resolve(services.events, 'event service (GetCapabilities Events/XAddr)');
    await this.findSnapshotUri(services);
    const topics = (await this.client.getEventTopics(eventsUrl)).filter((topic) => topic.plate);
    if (topics.length === 0) throw new Error('the camera advertises no licence-plate event topic (GetEventProperties)');
    const pullPoint = await this.client.createPullPoint(eventsUrl, topics, this.config.subscriptionSec);
    this.subscriptions += 1;
    const expressions = topics.map((topic) => topic.expression);
    if (!pullPoint.filtered) this.context.logger.warn({ topics: expressions }, 'plate topics cannot be expressed as a filter (undeclared or conflicting prefix); subscribed to every event, plates are picked out');
    this.context.logger.info({ ...this.info, topics: expressions, pullPoint: pullPoint.address.href, clockOffsetMs: this.client.clockOffsetMs }, 'camera subscribed');
    let stop = false;
    const closed = this.pullLoop(pullPoint, () => stop);
    return {
      closed,
      close: () => {
        stop = true;
        this.client.unsubscribe(pullPoint).catch(() => undefined);
      },
    };
  }

  /** The camera's clock at connect; a camera that gives none is signed for with the last offset (0 at first). */
  private async measureClock(): Promise<void> {
    const offset = await this.client.measureClock();
    if (offset === null) this.context.logger.warn({ err: this.client.clockProblem }, "camera clock unknown (GetSystemDateAndTime); signing with the last offset");
    else if (Math.abs(offset) > CLOCK_WARN_MS) this.context.logger.warn({ clockOffsetMs: offset }, "camera clock is off; requests are signed with the camera's time");
  }

  /** The snapshot is a convenience: without it plates still flow, and the reason is the health's. */
  private async findSnapshotUri(services: ServiceAddresses): Promise<void> {
    try {
      this.snapshotUri = await this.client.getSnapshotUri(this.client.resolve(services.media, 'media service (GetCapabilities Media/XAddr)'));
      this.snapshotProblem = null;
    } catch (error) {
      this.snapshotUri = null;
      this.snapshotProblem = `no snapshot: ${describe(toError(error))}`;
      this.context.logger.warn({ code: isGatewayError(error) ? error.code : undefined, err: this.snapshotProblem }, 'camera snapshot unavailable');
    }
  }

  /** False for a notification already read within `duplicateWindowSec` (then counted, not read again). */
  private isFresh(read: PlateRead): boolean {
    const key = this.config.duplicateWindowSec > 0 ? duplicateKey(read) : null;
    if (key === null || this.recent.addIfNew(key)) return true;
    this.duplicates += 1;
    this.context.logger.info({ key: clip(key, 200) }, 'camera notification delivered twice; read once');
    return false;
  }

  /**
   * Fetches and keeps the picture a read names; null when it names none, fetching is off, or the
   * camera does not serve it (logged; a refused address or a reply over its bounds marks the
   * camera degraded, as a refused snapshot does). Never rejects.
   */
  private async fetchPicture(read: PlateRead): Promise<{ body: Buffer; contentType: string } | null> {
    if (read.imageRef === null || !this.config.fetchPictures) return null;
    try {
      return await this.client.fetchPicture(read.imageRef);
    } catch (error) {
      this.picturesMissed += 1;
      const problem = `picture not fetched: ${describe(toError(error))}`;
      this.context.logger.warn({ code: isGatewayError(error) ? error.code : undefined, err: problem, picture: clip(read.imageRef, 200) }, 'camera picture not fetched');
      if (isGatewayError(error) && this.health().state === 'up') this.setHealth('degraded', problem);
      return null;
    }
  }

  /**
   * Emits a read with its picture, kept in the image store just before: the listeners (the
   * evidence capture copies it) hear the read at once, while the picture is still held, however
   * many pictures the pull brought (the store holds HELD_PICTURES).
   */
  private emitRead(read: PlateRead, fetched: { body: Buffer; contentType: string } | null): void {
    const stored = fetched ? this.images.put(fetched.body, fetched.contentType) : null;
    const picture: AnprImage | null = stored ? { ref: stored.ref, bytes: stored.body.length, contentType: stored.contentType } : null;
    const trusted = read.plateNumber !== null && (read.plateLikelihood ?? 1) >= this.config.minConfidence;
    this.emitReading({
      type: 'plate.read',
      deviceId: this.id,
      plate: trusted ? normalisePlate(read.plateNumber as string, read.plateLikelihood, read.countryCode) : null,
      plateType: read.plateType,
      vehicleType: read.vehicleType,
      imageRef: picture?.ref ?? null,
      image: picture,
      cameraTime: read.utcTime,
      atMs: this.context.clock.now(),
    });
  }

  private async pullLoop(pullPoint: PullPoint, stopped: () => boolean): Promise<Error | null> {
    const current = { ...pullPoint };
    try {
      while (this.running && !stopped()) {
        const started = this.context.clock.monotonic();
        const now = this.context.clock.now();
        // Renew at half the termination time, and always before a long poll and the pictures it
        // names (fetched in parallel, each within requestTimeoutMs) could outlast it.
        const renewWithinMs = Math.max((this.config.subscriptionSec * 1000) / 2, this.config.pullTimeoutSec * 1000 + 2 * this.config.requestTimeoutMs);
        if (current.terminationMs - now < renewWithinMs) {
          current.terminationMs = await this.client.renew(current, this.config.subscriptionSec);
        }
        const { reads, ignored, terminationMs } = await this.client.pullMessages(current, this.config.pullTimeoutSec, MESSAGE_LIMIT);
        current.terminationMs = terminationMs;
        if (stopped()) break;
        if (ignored > 0) this.context.logger.warn({ ignored, limit: MESSAGE_LIMIT }, 'camera sent more notifications than asked for; the rest were ignored');
        const fresh = reads.filter((read) => this.isFresh(read));
        const pictures = await Promise.all(fresh.map((read) => this.fetchPicture(read)));
        // Reads already marked seen are emitted even if this subscription was closed meanwhile (a
        // redelivery would be dropped as a duplicate); only a stopped driver emits nothing.
        if (!this.running) break;
        fresh.forEach((read, index) => this.emitRead(read, pictures[index] ?? null));
        // A long poll that answers at once, again and again (an empty reply, a termination time
        // already past), would spin this loop at network speed: one pull per MIN_PULL_INTERVAL_MS.
        const wait = MIN_PULL_INTERVAL_MS - (this.context.clock.monotonic() - started);
        if (wait > 0 && !stopped()) await new Promise<void>((resolve) => this.context.clock.setTimeout(resolve, wait));
      }
      return null;
    } catch (error) {
      return toError(error);
    }
  }
}

/** The identity two deliveries of one notification share: the camera's event id, else its time, topic and plate. */
export function duplicateKey(read: PlateRead): string | null {
  if (read.eventId !== null) return `id ${read.eventId}`;
  if (read.utcTime === null) return null;
  return `at ${read.utcTime} ${read.topic} ${read.plateNumber ?? ''}`;
}

/** An error as health and logs show it: its stable code first when it has one, never unbounded. */
function describe(error: Error): string {
  return clip(isGatewayError(error) ? `${error.code}: ${error.message}` : error.message, 500);
}
