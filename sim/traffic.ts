/**
 * The traffic generator of the simulator: trucks arrive at each lane, are read by the entry
 * camera (sometimes misread or unreadable), cross the weighbridge (a ramp in motion, then a
 * settled load, then off), and pass the barrier loop. Runs on the injected clock.
 */
import type { Clock } from '../core/clock.js';
import { TimerGroup } from '../core/timer-group.js';
import type { SimulatedCamera } from './anpr/simulated-camera.js';
import type { SimulatedBarrier } from './barrier/simulated-barrier.js';
import type { SimulatedIndicator } from './weighbridge/simulated-indicator.js';
import type { SimulatedScanner } from './xray/simulated-scanner.js';

export interface SimulatedLane {
  id: string;
  camera?: SimulatedCamera;
  indicator?: SimulatedIndicator;
  barrier?: SimulatedBarrier;
  scanner?: SimulatedScanner;
}

export interface TrafficOptions {
  clock: Clock;
  /** Mean seconds (clock time) between trucks on a lane. */
  intervalSec: number;
  random?: () => number;
  misreadShare?: number;
  unreadableShare?: number;
}

const CONFUSIONS: Record<string, string> = { '0': 'O', O: '0', '1': 'I', I: '1', '8': 'B', B: '8', '5': 'S', S: '5' };

export class TrafficGenerator {
  private readonly timers: TimerGroup;
  trucks = 0;

  constructor(
    private readonly lanes: SimulatedLane[],
    private readonly options: TrafficOptions,
  ) {
    this.timers = new TimerGroup(options.clock);
  }

  start(): void {
    this.timers.open();
    for (const lane of this.lanes) this.scheduleNext(lane);
  }

  stop(): void {
    this.timers.clear();
  }

  private random(): number {
    return (this.options.random ?? Math.random)();
  }

  private at(ms: number, fn: () => void): void {
    this.timers.after(ms, fn);
  }

  private scheduleNext(lane: SimulatedLane): void {
    const gap = -Math.log(1 - this.random()) * this.options.intervalSec * 1000;
    this.at(Math.max(500, gap), () => {
      this.truck(lane);
      this.scheduleNext(lane);
    });
  }

  /** One truck through the lane: camera, weighbridge (≈ 8 s), barrier loop. */
  truck(lane: SimulatedLane): void {
    this.trucks += 1;
    const plate = this.plate();
    const roll = this.random();
    if (lane.camera) {
      if (roll < (this.options.unreadableShare ?? 0.03)) lane.camera.showPlate({ plate: '', likelihood: 0.1, country: 'GE' });
      else if (roll < (this.options.unreadableShare ?? 0.03) + (this.options.misreadShare ?? 0.05)) lane.camera.showPlate({ plate: this.misread(plate), likelihood: 0.62, country: 'GE' });
      else lane.camera.showPlate({ plate, likelihood: 0.9 + this.random() * 0.09, country: 'GE', vehicleType: 'Truck' });
    }
    const load = Math.round(15_000 + this.random() * 25_000);
    if (lane.indicator) {
      const indicator = lane.indicator;
      this.at(1000, () => indicator.setLoad(Math.round(load * 0.6), true));
      this.at(2000, () => indicator.setLoad(load, false));
      this.at(8000, () => indicator.setLoad(0, false));
    }
    // About 27% of trucks are scanned (the share the VMC dashboards show).
    if (lane.scanner && this.random() < 0.27) {
      const scanner = lane.scanner;
      const scanId = `scan-${Date.now().toString(36)}-${this.trucks}`;
      this.at(3000, () => scanner.started(scanId, plate));
      this.at(6000, () => scanner.completed(scanId, plate, { width: 128, height: 64 }));
    }
    if (lane.barrier) {
      const barrier = lane.barrier;
      this.at(9000, () => (barrier.vehiclePresent = true));
      this.at(9000, () => barrier.setCoil(barrier.registers.openCoil, true));
      this.at(9500, () => barrier.setCoil(barrier.registers.openCoil, false));
      this.at(12_000, () => (barrier.vehiclePresent = false));
      this.at(13_000, () => barrier.setCoil(barrier.registers.closeCoil, true));
      this.at(13_500, () => barrier.setCoil(barrier.registers.closeCoil, false));
    }
  }

  private plate(): string {
    const letter = (): string => String.fromCharCode(65 + Math.floor(this.random() * 26));
    return `${letter()}${letter()}-${String(Math.floor(this.random() * 1000)).padStart(3, '0')}-${letter()}${letter()}`;
  }

  /** An OCR confusion (0/O, 1/I, 8/B, 5/S) where the plate has a confusable character. */
  private misread(plate: string): string {
    const index = [...plate].findIndex((c) => c in CONFUSIONS);
    return index < 0 ? plate.replace('-', '') : plate.slice(0, index) + CONFUSIONS[plate[index] as string] + plate.slice(index + 1);
  }
}
