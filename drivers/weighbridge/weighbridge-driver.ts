/**
 * Weighbridge driver: an indicator speaking SMA SCP-0499, Mettler Toledo continuous or a
 * configured line pattern, over a serial port or a serial device server's TCP port. Emits a
 * reading when a weight has become stable (or, in axle mode, when a vehicle's axles are summed)
 * and when the indicator's status changes (over/under capacity, zero or tare error).
 */
import { DEFAULT_SMA_POLL_MS, DEFAULT_VEHICLE_GAP_MS, type WeighbridgeConfig } from '../../config/schema.js';
import type { TimerHandle } from '../../core/clock.js';
import { DriverBase, type DriverContext } from '../driver.js';
import type { ReconnectLoop } from '../reconnect-loop.js';
import { openByteStream, type ByteStream } from '../transport/byte-stream.js';
import { FrameSplitter, type Framing } from './frame-splitter.js';
import { compilePattern, parsePatternLine } from './pattern-frame.js';
import { CR, LF, parseSmaFrame, SMA_FRAME_LENGTH, SMA_REQUEST_WEIGHT, type FrameResult } from './sma-frame.js';
import { AxleAccumulator, StabilityDetector, type StableWeight } from './stability.js';
import { parseToledoFrame, STX, TOLEDO_FRAME_LENGTH } from './toledo-frame.js';
import type { WeightReading, WeightStatus } from './weight-reading.js';

export type WeighbridgeReading =
  | { type: 'weight.stable'; deviceId: string; weightKg: number; axles: number[] | null; atMs: number }
  | { type: 'status.changed'; deviceId: string; status: WeightStatus; atMs: number };

export interface WeighbridgeStats {
  frames: number;
  badFrames: number;
  discardedBytes: number;
  lastReading: WeightReading | null;
}

export function framingFor(config: { driver: 'sma' | 'pattern' } | { driver: 'toledo'; checksum: boolean }): Framing {
  switch (config.driver) {
    case 'sma':
      return { kind: 'fixed', start: LF, length: SMA_FRAME_LENGTH, end: CR, endIndex: SMA_FRAME_LENGTH - 1 };
    case 'toledo':
      return { kind: 'fixed', start: STX, length: TOLEDO_FRAME_LENGTH + (config.checksum ? 1 : 0), end: CR, endIndex: TOLEDO_FRAME_LENGTH - 1 };
    case 'pattern':
      return { kind: 'line', terminator: LF, maxLength: 256 };
  }
}

export function frameParserFor(config: { driver: 'sma' | 'toledo' } | Pick<Extract<WeighbridgeConfig, { driver: 'pattern' }>, 'driver' | 'pattern' | 'unit'>): (frame: Buffer) => FrameResult {
  switch (config.driver) {
    case 'sma':
      return parseSmaFrame;
    case 'toledo':
      return parseToledoFrame;
    case 'pattern': {
      const regex = compilePattern(config.pattern);
      return (frame) => parsePatternLine(frame, regex, config.unit);
    }
  }
}

export class WeighbridgeDriver extends DriverBase<WeighbridgeReading> {
  readonly id: string;
  readonly kind = 'weighbridge' as const;
  private readonly config: WeighbridgeConfig;
  private readonly loop: ReconnectLoop;
  private readonly parse: (frame: Buffer) => FrameResult;
  private splitter: FrameSplitter;
  private stable: StabilityDetector | AxleAccumulator;
  private stream: ByteStream | null = null;
  private pollTimer: TimerHandle | null = null;
  private silenceTimer: TimerHandle | null = null;
  private lastStatus: WeightStatus | null = null;
  private readonly counters: WeighbridgeStats = { frames: 0, badFrames: 0, discardedBytes: 0, lastReading: null };

  constructor(config: WeighbridgeConfig, context: DriverContext) {
    super(context);
    this.id = config.id;
    this.config = config;
    this.parse = frameParserFor(config);
    this.splitter = new FrameSplitter(framingFor(config));
    this.stable = this.newStability();
    this.loop = this.reconnectLoop({
      connect: async () => {
        this.splitter = new FrameSplitter(framingFor(config));
        this.stream = await openByteStream(config.connection, (chunk) => this.onBytes(chunk), 5000, context.serialBinding);
        return this.stream;
      },
      onUp: () => {
        context.logger.info({ connection: config.connection }, 'weighbridge connected');
        this.setHealth('up');
        this.armSilence();
        if (config.driver === 'sma' && config.smaMode === 'poll') this.poll();
      },
      onDown: (error) => {
        this.stream = null;
        this.clearTimers();
        context.logger.warn({ err: error?.message }, 'weighbridge disconnected');
        this.setHealth('down', error?.message ?? 'disconnected');
      },
    });
  }

  start(): Promise<void> {
    this.loop.start();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.loop.stop();
    this.clearTimers();
    this.removeAllListeners();
    return Promise.resolve();
  }

  stats(): WeighbridgeStats {
    return { ...this.counters };
  }

  private newStability(): StabilityDetector | AxleAccumulator {
    const options = { stableMs: this.config.stableMs, toleranceKg: this.config.toleranceKg, zeroBandKg: this.config.zeroBandKg, clock: this.context.clock };
    return this.config.axleMode ? new AxleAccumulator({ ...options, vehicleGapMs: this.config.vehicleGapMs ?? DEFAULT_VEHICLE_GAP_MS }) : new StabilityDetector(options);
  }

  private onBytes(chunk: Buffer): void {
    const { frames, discarded } = this.splitter.push(chunk);
    if (discarded > 0) {
      this.counters.discardedBytes += discarded;
      this.setHealth('degraded', `${discarded} byte(s) of garbage skipped`);
    }
    for (const frame of frames) this.onFrame(frame);
  }

  private onFrame(frame: Buffer): void {
    const result = this.parse(frame);
    if (!result.ok) {
      this.counters.badFrames += 1;
      this.context.logger.debug({ error: result.error }, 'bad weighbridge frame');
      this.setHealth('degraded', result.error);
      return;
    }
    this.counters.frames += 1;
    this.counters.lastReading = result.reading;
    this.setHealth('up');
    this.armSilence();
    const now = this.context.clock.now();
    // Centre of zero is the normal state of an empty platform: only a change of condition
    // (normal ↔ over/under capacity, zero or tare error, out of range) is reported.
    const condition = result.reading.status === 'centre-of-zero' ? 'ok' : result.reading.status;
    if (condition !== this.lastStatus) {
      if (this.lastStatus !== null) this.emitReading({ type: 'status.changed', deviceId: this.id, status: condition, atMs: now });
      this.lastStatus = condition;
    }
    const stable: StableWeight | null = this.stable.update(result.reading);
    if (stable) this.emitReading({ type: 'weight.stable', deviceId: this.id, weightKg: stable.weightKg, axles: stable.axles ?? null, atMs: now });
  }

  private poll(): void {
    this.stream?.write(SMA_REQUEST_WEIGHT);
    this.pollTimer = this.context.clock.setTimeout(() => this.poll(), (this.config.driver === 'sma' ? this.config.pollMs : undefined) ?? DEFAULT_SMA_POLL_MS);
  }

  /** No valid frame for `silenceMs`: the indicator is mute or unplugged behind a live server. */
  private armSilence(): void {
    if (this.silenceTimer) this.context.clock.clearTimeout(this.silenceTimer);
    this.silenceTimer = this.context.clock.setTimeout(() => {
      this.silenceTimer = null;
      this.setHealth('degraded', `no valid frame for ${this.config.silenceMs} ms`);
    }, this.config.silenceMs);
  }

  private clearTimers(): void {
    for (const timer of [this.pollTimer, this.silenceTimer]) if (timer) this.context.clock.clearTimeout(timer);
    this.pollTimer = null;
    this.silenceTimer = null;
  }
}
