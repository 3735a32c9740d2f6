/**
 * Keeps one connection to a device open: connect, wait until it closes, back off (capped,
 * jittered, on the injected clock), connect again, until stopped. Shared by every driver that
 * holds a connection.
 */
import { backoffDelay, type BackoffPolicy } from '../core/backoff.js';
import type { Clock, TimerHandle } from '../core/clock.js';

export interface Connection {
  /** Resolves (never rejects) when the connection has closed, with the reason if any. */
  closed: Promise<Error | null>;
  close(): void;
}

export interface ReconnectLoopOptions {
  clock: Clock;
  backoff: BackoffPolicy;
  random?: () => number;
  /** Opens a connection; rejects when it cannot. */
  connect: () => Promise<Connection>;
  onUp: () => void;
  onDown: (error: Error | null) => void;
}

export class ReconnectLoop {
  private readonly options: ReconnectLoopOptions;
  private running = false;
  private attempt = 0;
  private timer: TimerHandle | null = null;
  private connection: Connection | null = null;
  /** The wait before the latest attempt (0 before the first). */
  private waitedMs = 0;

  constructor(options: ReconnectLoopOptions) {
    this.options = options;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    // A loop started again begins afresh, not with the backoff it had when stopped.
    this.attempt = 0;
    this.waitedMs = 0;
    void this.connectOnce();
  }

  stop(): void {
    this.running = false;
    if (this.timer) this.options.clock.clearTimeout(this.timer);
    this.timer = null;
    this.connection?.close();
    this.connection = null;
  }

  /** Drops the current connection (e.g. the device went silent); the loop reconnects. */
  recycle(): void {
    this.connection?.close();
  }

  private async connectOnce(): Promise<void> {
    let connection: Connection;
    try {
      connection = await this.options.connect();
    } catch (error) {
      if (!this.running) return;
      this.options.onDown(error instanceof Error ? error : new Error(String(error)));
      this.scheduleRetry();
      return;
    }
    if (!this.running) {
      connection.close();
      return;
    }
    this.connection = connection;
    const upAt = this.options.clock.monotonic();
    this.options.onUp();
    const reason = await connection.closed;
    this.connection = null;
    // A connection that lasted no longer than the wait before it is no recovery: a device that
    // accepts and drops at once (an ONVIF camera faulting each new subscription, a Modbus module
    // closing each socket) would otherwise be reconnected at the shortest delay for ever, each
    // time paying the whole connect (a camera's topic set parsed again).
    if (this.options.clock.monotonic() - upAt >= this.waitedMs) this.attempt = 0;
    if (!this.running) return;
    this.options.onDown(reason);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    const delay = backoffDelay(this.attempt, this.options.backoff, this.options.random);
    this.waitedMs = delay;
    this.attempt += 1;
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = null;
      if (this.running) void this.connectOnce();
    }, delay);
  }
}
