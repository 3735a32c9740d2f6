/**
 * ANPR camera over ONVIF: device information, capabilities and the media profile's snapshot URI at
 * connect, then plate events by PullPoint: the topics that carry plates are found with
 * GetEventProperties, a PullPointSubscription is created for them, PullMessages long-polls in a
 * loop, Renew keeps it alive at half its termination time, and a subscription the camera dropped
 * (fault, expiry, reboot) is recreated through the reconnect loop. Every plate read is
 * normalised; the raw text and its likelihood stay beside it; a read below `minConfidence` is
 * reported as unreadable.
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
import { OnvifClient, type DeviceInformation, type PullPoint, type ServiceAddresses } from './onvif-client.js';
import { normalisePlate, type NormalisedPlate } from './plate-normaliser.js';
import { plateTopics } from './profile-m.js';
import { clip } from './soap-client.js';

/** Shortest time between two PullMessages: ten pulls a second is more than any lane's plates need. */
export const MIN_PULL_INTERVAL_MS = 100;

/** Notifications asked for per PullMessages (its MessageLimit). */
const MESSAGE_LIMIT = 10;

export type AnprReading = {
  type: 'plate.read';
  deviceId: string;
  /** null when the camera saw a vehicle but could not read (or trust) its plate. */
  plate: NormalisedPlate | null;
  plateType: string | null;
  vehicleType: string | null;
  imageRef: string | null;
  cameraTime: string | null;
  atMs: number;
};

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

  /** Connect = information, capabilities, snapshot URI, topics, a new pull point; the pull loop is the connection. */
  private async subscribe(): Promise<Connection> {
    this.info = await this.client.getDeviceInformation();
    const services = await this.client.getCapabilities();
    const eventsUrl = this.client.resolve(services.events, 'event service (GetCapabilities Events/XAddr)');
    await this.findSnapshotUri(services);
    const topics = plateTopics(await this.client.getEventTopicSet(eventsUrl));
    if (topics.length === 0) throw new Error('the camera advertises no licence-plate event topic (GetEventProperties)');
    const pullPoint = await this.client.createPullPoint(eventsUrl, topics, this.config.subscriptionSec);
    this.subscriptions += 1;
    this.context.logger.info({ ...this.info, topics, pullPoint: pullPoint.address.href }, 'camera subscribed');
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

  private async pullLoop(pullPoint: PullPoint, stopped: () => boolean): Promise<Error | null> {
    const current = { ...pullPoint };
    try {
      while (this.running && !stopped()) {
        const started = this.context.clock.monotonic();
        const now = this.context.clock.now();
        // Renew at half the termination time, and always before a long poll could outlast it.
        const renewWithinMs = Math.max((this.config.subscriptionSec * 1000) / 2, this.config.pullTimeoutSec * 1000 + this.config.requestTimeoutMs);
        if (current.terminationMs - now < renewWithinMs) {
          current.terminationMs = await this.client.renew(current, this.config.subscriptionSec);
        }
        const { reads, ignored, terminationMs } = await this.client.pullMessages(current, this.config.pullTimeoutSec, MESSAGE_LIMIT);
        current.terminationMs = terminationMs;
        if (stopped()) break;
        if (ignored > 0) this.context.logger.warn({ ignored, limit: MESSAGE_LIMIT }, 'camera sent more notifications than asked for; the rest were ignored');
        for (const read of reads) {
          const trusted = read.plateNumber !== null && (read.plateLikelihood ?? 1) >= this.config.minConfidence;
          this.emitReading({
            type: 'plate.read',
            deviceId: this.id,
            plate: trusted ? normalisePlate(read.plateNumber as string, read.plateLikelihood, read.countryCode) : null,
            plateType: read.plateType,
            vehicleType: read.vehicleType,
            imageRef: read.imageRef,
            cameraTime: read.utcTime,
            atMs: this.context.clock.now(),
          });
        }
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

/** An error as health and logs show it: its stable code first when it has one, never unbounded. */
function describe(error: Error): string {
  return clip(isGatewayError(error) ? `${error.code}: ${error.message}` : error.message, 500);
}
