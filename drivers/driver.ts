/**
 * drivers/: one folder per device class, each behind this one interface. Everything above
 * drivers/ talks to a Driver and cannot tell a real device from the simulator's.
 *
 * A driver only does protocol I/O: it connects, parses, emits typed readings and its health, and
 * reconnects by itself with capped backoff and jitter. A device fault never throws out of a
 * driver and never blocks another driver (each has its own sockets and timers).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { BackoffPolicy } from '../core/backoff.js';
import type { SerialBinding } from './transport/byte-stream.js';
import type { Clock } from '../core/clock.js';
import { ReconnectLoop, type ReconnectLoopOptions } from './reconnect-loop.js';
import { deviceText } from '../core/device-text.js';
import type { WriteRoom } from './write-room.js';

export type DeviceKind = 'anpr' | 'barrier' | 'weighbridge' | 'xray';
export type HealthState = 'up' | 'degraded' | 'down';

export interface DriverHealth {
  state: HealthState;
  /** The last error seen, kept while the state is not `up`. */
  lastError: string | null;
  /** Wall-clock ms of the last state change. */
  sinceMs: number;
}

export type DriverEventMap<Reading> = {
  reading: [reading: Reading];
  health: [health: DriverHealth];
};

export interface Driver<Reading> {
  readonly id: string;
  readonly kind: DeviceKind;
  /** Starts connecting; resolves at once. Faults are retried and reported as health, never thrown. */
  start(): Promise<void>;
  /** Stops: closes connections and timers; no event is emitted afterwards. */
  stop(): Promise<void>;
  health(): DriverHealth;
  on(event: 'reading', listener: (reading: Reading) => void): this;
  on(event: 'health', listener: (health: DriverHealth) => void): this;
  off(event: 'reading', listener: (reading: Reading) => void): this;
  off(event: 'health', listener: (health: DriverHealth) => void): this;
}

export interface DriverContext {
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /** Reconnect backoff; default 500 ms doubling to 30 s, jittered. */
  backoff?: BackoffPolicy;
  /** Serial binding instead of the OS one (tests: @serialport/binding-mock). */
  serialBinding?: SerialBinding;
  /**
   * Where a driver that writes what a device sends to the gateway's disk (an X-ray scanner's
   * images) asks for room, leaving the outbox's (write-room.ts). Default: no check.
   */
  writeRoom?: WriteRoom;
}

export const DEFAULT_DRIVER_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000 };

/** A health's `lastError` is cut here: the gateway's own words and a device's clipped reply fit. */
const MAX_LAST_ERROR_CHARS = 500;

/** Health bookkeeping shared by drivers: emits `health` only on a real change. */
export abstract class DriverBase<Reading> extends EventEmitter<DriverEventMap<Reading>> implements Driver<Reading> {
  abstract readonly id: string;
  abstract readonly kind: DeviceKind;
  protected readonly context: DriverContext;
  private current: DriverHealth;

  protected constructor(context: DriverContext) {
    super();
    this.context = context;
    this.current = { state: 'down', lastError: 'not started', sinceMs: context.clock.now() };
  }

  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;

  health(): DriverHealth {
    return { ...this.current };
  }

  /** `lastError` may carry what a device said: it goes on as deviceText (no control or bidi characters). */
  protected setHealth(state: HealthState, lastErrorAsGiven: string | null = null): void {
    const lastError = state === 'up' || lastErrorAsGiven === null ? null : deviceText(lastErrorAsGiven, MAX_LAST_ERROR_CHARS);
    if (state === this.current.state && lastError === this.current.lastError) return;
    this.current = { state, lastError, sinceMs: this.context.clock.now() };
    this.emit('health', this.health());
  }

  /** The driver's reconnect loop: backoff and randomness from the context, the hooks its own. */
  protected reconnectLoop(hooks: Pick<ReconnectLoopOptions, 'connect' | 'onUp' | 'onDown'>): ReconnectLoop {
    const { clock, backoff, random } = this.context;
    return new ReconnectLoop({ clock, backoff: backoff ?? DEFAULT_DRIVER_BACKOFF, ...(random ? { random } : {}), ...hooks });
  }

  protected emitReading(reading: Reading): void {
    this.emit('reading', reading);
  }
}
