/**
 * ANPR camera over ONVIF: device information, media profile and snapshot (node-onvif) at connect, then
 * plate events by PullPoint: the topics that carry plates are found with GetEventProperties, a
 * PullPointSubscription is created for them, PullMessages long-polls in a loop, Renew keeps it
 * alive at half its termination time, and a subscription the camera dropped (fault, expiry,
 * reboot) is recreated through the reconnect loop. Every plate read is normalised; the raw text
 * and its likelihood stay beside it; a read below `minConfidence` is reported as unreadable.
 */
import type { OnvifCameraConfig } from '../../config/schema.js';
import onvif from 'node-onvif';
import { toError, withTimeout } from '../../core/with-timeout.js';
import { DriverBase, type DriverContext } from '../driver.js';
import type { Connection, ReconnectLoop } from '../reconnect-loop.js';
import { OnvifClient, type DeviceInformation, type PullPoint } from './onvif-client.js';
import { normalisePlate, type NormalisedPlate } from './plate-normaliser.js';
import { decodePlateNotification, plateTopics } from './profile-m.js';

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
  private snapshotUri: string | null = null;
  private running = false;
  private readonly password: string;
  private device: InstanceType<typeof onvif.OnvifDevice> | null = null;
  /** Subscriptions created so far (a recreated one counts again). */
  subscriptions = 0;

  constructor(config: OnvifCameraConfig, password: string, context: DriverContext) {
    super(context);
    this.id = config.id;
    this.config = config;
    this.password = password;
    this.client = new OnvifClient(config.connection.url, { username: config.connection.username, password }, context.clock, config.requestTimeoutMs);
    this.loop = this.reconnectLoop({
      connect: () => this.subscribe(),
      onUp: () => this.setHealth('up'),
      onDown: (error) => {
        context.logger.warn({ err: error?.message }, 'camera subscription lost');
        this.setHealth('down', error?.message ?? 'subscription ended');
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

  /** Fetches a JPEG snapshot from the current media profile's snapshot URI (through node-onvif). */
  async fetchSnapshot(): Promise<Buffer> {
    if (!this.device || !this.snapshotUri) throw new Error(`${this.id}: no snapshot URI (not connected yet?)`);
    const snapshot = await withTimeout(this.device.fetchSnapshot(), this.config.requestTimeoutMs, this.context.clock, `${this.id} snapshot`);
    return snapshot.body;
  }

  /** The media profile's snapshot URI, once connected. */
  get snapshotUrl(): string | null {
    return this.snapshotUri;
  }

  /** Connect = information, capabilities, topics, a new pull point; the pull loop is the connection. */
  private async subscribe(): Promise<Connection> {
    // node-onvif does what it does well: time offset, information, profiles, snapshot URI.
    const { username } = this.config.connection;
    const device = new onvif.OnvifDevice({ xaddr: this.config.connection.url, user: username, pass: this.password });
    const info = await withTimeout(device.init(), this.config.requestTimeoutMs * 6, this.context.clock, `${this.id} ONVIF init`);
    this.info = { manufacturer: info.Manufacturer ?? null, model: info.Model ?? null, firmwareVersion: info.FirmwareVersion ?? null, serialNumber: info.SerialNumber ?? null };
    this.device = device;
    this.snapshotUri = device.getCurrentProfile()?.snapshot || null;
    // It has no event subscription: capabilities, topics and the PullPoint are ours (onvif-client.ts).
    const eventsUrl = await this.client.getEventsUrl();
    const topics = plateTopics(await this.client.getEventTopicSet(eventsUrl));
    if (topics.length === 0) throw new Error('the camera advertises no licence-plate event topic (GetEventProperties)');
    const pullPoint = await this.client.createPullPoint(eventsUrl, topics, this.config.subscriptionSec);
    this.subscriptions += 1;
    this.context.logger.info({ ...this.info, topics, pullPoint: pullPoint.address }, 'camera subscribed');
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

  private async pullLoop(pullPoint: PullPoint, stopped: () => boolean): Promise<Error | null> {
    const current = { ...pullPoint };
    try {
      while (this.running && !stopped()) {
        const now = this.context.clock.now();
        // Renew at half the termination time, and always before a long poll could outlast it.
        const renewWithinMs = Math.max((this.config.subscriptionSec * 1000) / 2, this.config.pullTimeoutSec * 1000 + this.config.requestTimeoutMs);
        if (current.terminationMs - now < renewWithinMs) {
          current.terminationMs = await this.client.renew(current, this.config.subscriptionSec);
        }
        const { notifications, terminationMs } = await this.client.pullMessages(current, this.config.pullTimeoutSec, 10);
        current.terminationMs = terminationMs;
        if (stopped()) break;
        for (const notification of notifications) {
          const read = decodePlateNotification(notification);
          if (!read) continue;
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
      }
      return null;
    } catch (error) {
      return toError(error);
    }
  }
}
