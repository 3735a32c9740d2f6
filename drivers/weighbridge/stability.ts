/**
 * A weight counts only after it has stayed within a tolerance, without the motion flag, for a
 * configured time; then it is reported once, until the load changes. In axle mode each stable
 * axle is recorded and the vehicle's total is reported when the platform has stayed empty for
 * `vehicleGapMs` after the last axle.
 */
import type { Clock } from '../../core/clock.js';
import type { WeightReading } from './weight-reading.js';

export interface StabilityOptions {
  stableMs: number;
  toleranceKg: number;
  /** Below this the platform counts as empty. */
  zeroBandKg: number;
  clock: Clock;
}

export interface StableWeight {
  weightKg: number;
  /** Axle weights, in axle mode. */
  axles?: number[];
}

export class StabilityDetector {
  private windowStart: number | null = null;
  private reference = 0;
  private sum = 0;
  private count = 0;
  private reported = false;

  constructor(private readonly options: StabilityOptions) {}

  /** Feeds one reading; returns the weight when it has just become stable. */
  update(reading: WeightReading): StableWeight | null {
    const now = this.options.clock.monotonic();
    const usable = reading.weightKg !== null && !reading.motion && (reading.status === 'ok' || reading.status === 'centre-of-zero');
    if (!usable) {
      this.windowStart = null;
      return null;
    }
    const weight = reading.weightKg as number;
    if (this.windowStart === null || Math.abs(weight - this.reference) > this.options.toleranceKg) {
      this.windowStart = now;
      this.reference = weight;
      this.sum = 0;
      this.count = 0;
      this.reported = false;
    }
    this.sum += weight;
    this.count += 1;
    if (this.reported || now - this.windowStart < this.options.stableMs || weight < this.options.zeroBandKg) return null;
    this.reported = true;
    return { weightKg: Math.round(this.sum / this.count) };
  }
}

/** Sums the stable weights of successive axles into one vehicle weight. */
export class AxleAccumulator {
  private readonly detector: StabilityDetector;
  private axles: number[] = [];
  private emptySince: number | null = null;

  constructor(private readonly options: StabilityOptions & { vehicleGapMs: number }) {
    this.detector = new StabilityDetector(options);
  }

  update(reading: WeightReading): StableWeight | null {
    const axle = this.detector.update(reading);
    if (axle) {
      this.axles.push(axle.weightKg);
      this.emptySince = null;
      return null;
    }
    const now = this.options.clock.monotonic();
    const empty = reading.weightKg !== null && reading.weightKg < this.options.zeroBandKg;
    if (!empty || this.axles.length === 0) {
      if (!empty) this.emptySince = null;
      return null;
    }
    this.emptySince ??= now;
    if (now - this.emptySince < this.options.vehicleGapMs) return null;
    const axles = this.axles;
    this.axles = [];
    this.emptySince = null;
    return { weightKg: axles.reduce((sum, w) => sum + w, 0), axles };
  }
}
