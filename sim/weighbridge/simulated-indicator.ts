/**
 * sim/: stand-ins for the post's hardware that speak the real protocols on real sockets and ptys.
 *
 * A weighbridge indicator: streams SMA or Mettler Toledo frames (sma-response.ts,
 * toledo-continuous.ts: the simulator's own encoders) of the current load every
 * `periodMs` (continuous mode) or answers SMA `<LF>W<CR>` requests (poll mode). A truck is a
 * load that ramps up in motion, settles with a little noise, and leaves. Faults: garbage bytes.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import { smaResponse } from './sma-response.js';
import { toledoContinuous } from './toledo-continuous.js';

export interface IndicatorOptions {
  protocol: 'sma' | 'toledo';
  /** Toledo: append the checksum byte. */
  checksum?: boolean;
  clock: Clock;
  periodMs?: number;
  random?: () => number;
}

export class SimulatedIndicator {
  private readonly options: IndicatorOptions;
  private readonly outputs = new Set<(bytes: Buffer) => void>();
  private timer: TimerHandle | null = null;
  private loadKg = 0;
  private motion = false;
  /** Noise amplitude in kg while settled (within a weighbridge's tolerance). */
  noiseKg = 0;

  constructor(options: IndicatorOptions) {
    this.options = options;
  }

  /** Adds a receiver of the indicator's bytes (a TCP client, a pty); returns its remover. */
  attach(output: (bytes: Buffer) => void): () => void {
    this.outputs.add(output);
    return () => this.outputs.delete(output);
  }

  /** Streams a frame every `periodMs` until stopped. */
  startContinuous(): void {
    const tick = (): void => {
      this.broadcast(this.frame());
      this.timer = this.options.clock.setTimeout(tick, this.options.periodMs ?? 100);
    };
    tick();
  }

  stop(): void {
    if (this.timer) this.options.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  setLoad(kg: number, motion = false): void {
    this.loadKg = kg;
    this.motion = motion;
  }

  /** Bytes from the gateway: an SMA weight request gets the current frame. */
  receive(bytes: Buffer, reply: (bytes: Buffer) => void): void {
    if (this.options.protocol === 'sma' && bytes.includes(0x57 /* W */)) reply(this.frame());
  }

  injectGarbage(bytes: Buffer): void {
    this.broadcast(bytes);
  }

  frame(): Buffer {
    const noise = this.noiseKg > 0 ? Math.round(((this.options.random ?? Math.random)() * 2 - 1) * this.noiseKg) : 0;
    // An empty platform reads a steady zero (the indicator's zero tracking); a load wobbles.
    const value = this.loadKg === 0 ? 0 : Math.max(0, Math.round(this.loadKg + (this.motion ? 0 : noise)));
    if (this.options.protocol === 'toledo') return toledoContinuous({ weightKg: value, motion: this.motion }, this.options.checksum ?? false);
    return smaResponse({ weight: value, unit: 'kg', mode: 'gross', motion: this.motion, status: value === 0 ? 'centre-of-zero' : 'ok' });
  }

  private broadcast(bytes: Buffer): void {
    for (const output of this.outputs) output(bytes);
  }
}
