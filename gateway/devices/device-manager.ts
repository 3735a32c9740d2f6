/**
 * Starts a driver for every device of the post, each in its own failure domain, and turns their
 * readings and health into events: `anpr.plate`, `weighbridge.weight`, `weighbridge.status`,
 * `barrier.state`, `xray.scan`, and `device.status` when health changes.
 *
 * `device.status` is debounced per device, so a flapping or noisy device costs a bounded number of
 * events: a change after a quiet interval is published at once; changes within the interval are
 * counted and the latest state is published when it ends, with the count (`changes`). The
 * interval doubles while the device keeps changing (up to `statusMaxIntervalMs`) and starts again
 * from `statusIntervalMs` once it is quiet. The last state is always published. Health listeners
 * (the lane workflow) still hear every change at once.
 */
import type { Logger } from 'pino';
import type { PostConfig } from '../../config/schema.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { AnprHttpPushDriver, type AckedAnprReading } from '../../drivers/anpr/http-push-driver.js';
import type { AnprReading } from '../../drivers/anpr/onvif-anpr-driver.js';
import type { BarrierReading } from '../../drivers/barrier/barrier-driver.js';
import type { DriverHealth } from '../../drivers/driver.js';
import type { WeighbridgeReading } from '../../drivers/weighbridge/weighbridge-driver.js';
import type { XrayReading } from '../../drivers/xray/xray-folder-driver.js';
import { XrayHttpDriver, type AckedXrayReading } from '../../drivers/xray/xray-http-driver.js';
import type { Gateway } from '../daemon.js';
import { isOutboxRefusal } from '../outbox/sqlite-outbox.js';
import { createDriver, DriverUnavailableError, type AnyDriver } from './driver-factory.js';
import { WriteRoom } from '../../drivers/write-room.js';

interface ManagedDevice {
  driver: AnyDriver;
  laneId: string;
}

export interface DeviceManagerOptions {
  /** Makes each device's driver (default: `createDriver`, the factory table). */
  createDriver?: typeof createDriver;
  /** Shortest time between two `device.status` events of one device (default 5 s). */
  statusIntervalMs?: number;
  /** Longest it grows to while the device keeps changing (default 5 min). */
  statusMaxIntervalMs?: number;
}

const DEFAULT_STATUS_INTERVAL_MS = 5_000;
const DEFAULT_STATUS_MAX_INTERVAL_MS = 300_000;

/** The `device.status` debouncer of one device. */
interface StatusGate {
  laneId: string;
  /** Monotonic time of the last published event (-Infinity before the first). */
  publishedMono: number;
  intervalMs: number;
  /** The latest health not yet published, and how many changes it stands for. */
  latest: DriverHealth | null;
  changes: number;
  timer: TimerHandle | null;
}

export type DeviceReading = Reading;
export type ReadingListener = (laneId: string, role: 'entry' | 'exit' | 'lane', reading: Reading) => void;
export type HealthListener = (laneId: string, deviceId: string, health: DriverHealth) => void;

export class DeviceManager {
  private readonly devices: ManagedDevice[] = [];
  private readonly readingListeners: ReadingListener[] = [];
  private readonly healthListeners: HealthListener[] = [];
  /** Last health of every configured device, also of those whose driver is unavailable. */
  readonly health = new Map<string, DriverHealth>();
  private readonly statusGates = new Map<string, StatusGate>();
  /** The disk's room for what devices send, shared by the drivers that write it (X-ray images): the outbox's room stays free. */
  private readonly writeRoom: WriteRoom;

  constructor(
    private readonly config: PostConfig,
    private readonly gateway: Gateway,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly dataDir: string,
    private readonly options: DeviceManagerOptions = {},
  ) {
    this.writeRoom = new WriteRoom(2 * config.outbox.reserveBytes);
  }

  /** Creates and starts every driver; a device whose driver is unavailable is reported down. */
  async start(): Promise<void> {
    for (const [laneIndex, lane] of this.config.lanes.entries()) {
      for (const [deviceIndex, device] of lane.devices.entries()) {
        const where = `lanes[${laneIndex}].devices[${deviceIndex}]`;
        const logger = this.logger.child({ deviceId: device.id });
        try {
          const driver = (this.options.createDriver ?? createDriver)(device, { clock: this.clock, logger, writeRoom: this.writeRoom }, where, this.dataDir);
          this.devices.push({ driver, laneId: lane.id });
          driver.on('reading', (reading) => this.onReading(lane.id, device.role, reading as Reading));
          driver.on('health', (health) => this.onHealth(lane.id, device.id, health));
          if (driver instanceof AnprHttpPushDriver || driver instanceof XrayHttpDriver) {
            this.gateway.registerPushHandler(driver.path, (type, body) => driver.handle(type, body));
          }
          await driver.start();
        } catch (error) {
          if (!(error instanceof DriverUnavailableError)) throw error;
          logger.warn({ driver: device.driver }, error.message);
          this.onHealth(lane.id, device.id, { state: 'down', lastError: error.message, sinceMs: this.clock.now() });
        }
      }
    }
  }

  /** Stops every driver, then publishes any `device.status` still held back by the debouncer. */
  async stop(): Promise<void> {
    await Promise.all(this.devices.map(({ driver }) => driver.stop()));
    this.devices.length = 0;
    for (const [deviceId, gate] of this.statusGates) {
      if (gate.timer) this.clock.clearTimeout(gate.timer);
      gate.timer = null;
      this.publishStatus(deviceId, gate);
    }
  }

  /** The lane workflow listens here; readings are published as events whether or not anyone listens. */
  onReadings(listener: ReadingListener): void {
    this.readingListeners.push(listener);
  }

  onHealthChanges(listener: HealthListener): void {
    this.healthListeners.push(listener);
  }

  driver(id: string): AnyDriver | undefined {
    return this.devices.find(({ driver }) => driver.id === id)?.driver;
  }

  private onHealth(laneId: string, deviceId: string, health: DriverHealth): void {
    this.health.set(deviceId, health);
    for (const listener of this.healthListeners) listener(laneId, deviceId, health);
    this.reportStatus(laneId, deviceId, health);
  }

  /** Publishes now after a quiet interval, else holds the change until the interval ends. */
  private reportStatus(laneId: string, deviceId: string, health: DriverHealth): void {
    const baseMs = this.options.statusIntervalMs ?? DEFAULT_STATUS_INTERVAL_MS;
    let gate = this.statusGates.get(deviceId);
    if (!gate) {
      gate = { laneId, publishedMono: Number.NEGATIVE_INFINITY, intervalMs: baseMs, latest: null, changes: 0, timer: null };
      this.statusGates.set(deviceId, gate);
    }
    gate.latest = health;
    gate.changes += 1;
    if (gate.timer) return;
    const now = this.clock.monotonic();
    const wait = gate.publishedMono + gate.intervalMs - now;
    if (wait <= 0) {
      gate.intervalMs = baseMs; // quiet for a whole interval: not flapping (any more)
      this.publishStatus(deviceId, gate);
      return;
    }
    const held = gate;
    held.timer = this.clock.setTimeout(() => {
      held.timer = null;
      // Changes came within the interval: the device is flapping; hear from it less often.
      held.intervalMs = Math.min(held.intervalMs * 2, this.options.statusMaxIntervalMs ?? DEFAULT_STATUS_MAX_INTERVAL_MS);
      this.publishStatus(deviceId, held);
    }, wait);
  }

  private publishStatus(deviceId: string, gate: StatusGate): void {
    const health = gate.latest;
    if (!health) return;
    const changes = gate.changes;
    gate.latest = null;
    gate.changes = 0;
    gate.publishedMono = this.clock.monotonic();
    this.emit(
      this.gateway.emit('device.status', gate.laneId, {
        deviceId,
        state: health.state,
        lastError: health.lastError,
        changes,
        since: new Date(health.sinceMs).toISOString(),
      }),
    );
  }

  /** The reading's own event first, so it precedes in the outbox what the workflow makes of it. */
  private onReading(laneId: string, role: 'entry' | 'exit' | 'lane', reading: Reading): void {
    this.gateway.metrics.deviceReadings.inc({ device: reading.deviceId, type: reading.type });
    this.publish(laneId, reading);
    for (const listener of this.readingListeners) listener(laneId, role, reading);
  }

  private publish(laneId: string, reading: Reading): void {
    switch (reading.type) {
      case 'plate.read':
        return this.emit(
          this.gateway.emit('anpr.plate', laneId, {
            deviceId: reading.deviceId,
            plate: reading.plate
              ? { text: reading.plate.text, raw: reading.plate.raw, ...(reading.plate.confidence !== null ? { confidence: reading.plate.confidence } : {}), ...(reading.plate.country ? { country: reading.plate.country } : {}), formatValid: reading.plate.formatValid }
              : null,
            plateType: reading.plateType,
            vehicleType: reading.vehicleType,
            imageRef: reading.imageRef,
            cameraTime: reading.cameraTime,
          }),
          'ack' in reading ? reading.ack : undefined,
        );
      case 'weight.stable':
        return this.emit(this.gateway.emit('weighbridge.weight', laneId, { deviceId: reading.deviceId, weightKg: reading.weightKg, axles: reading.axles }));
      case 'status.changed':
        return this.emit(this.gateway.emit('weighbridge.status', laneId, { deviceId: reading.deviceId, status: reading.status }));
      case 'scan': {
        const { deviceId, status, scanId, scannerId, plate, container, scannerTime, imageRef, image, metadataRef, decision } = reading;
        return this.emit(
          this.gateway.emit('xray.scan', laneId, { deviceId, status, scanId, scannerId, plate, container, scannerTime, imageRef, image, metadataRef, decision }),
          'ack' in reading ? reading.ack : undefined,
        );
      }
      case 'inputs.changed':
        return this.emit(
          this.gateway.emit('barrier.state', laneId, {
            deviceId: reading.deviceId,
            position: reading.position,
            vehiclePresent: reading.vehiclePresent,
            photocellBlocked: reading.photocellBlocked,
          }),
        );
    }
  }

  /**
   * A reading that cannot be stored is logged with its error; the outbox has alarmed already. A
   * pushed reading is acknowledged to its device only once stored (or refused when not).
   */
  private emit(commit: Promise<unknown>, ack?: { resolve(): void; reject(error: unknown): void }): void {
    commit.then(
      () => ack?.resolve(),
      (error: unknown) => {
        // The outbox logs its refusals itself, once a minute with counts (a full disk would
        // otherwise cost a stack trace per reading).
        if (isOutboxRefusal(error)) this.logger.debug({ code: error.code }, 'device event not stored');
        else this.logger.error({ err: error }, 'device event not stored');
        ack?.reject(error);
      },
    );
  }
}

type Reading = AnprReading | AckedAnprReading | WeighbridgeReading | BarrierReading | XrayReading | AckedXrayReading;
