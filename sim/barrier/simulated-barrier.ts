/**
 * A barrier as its Modbus I/O module sees it: OPEN/CLOSE coils start the arm, which takes
 * `travelMs` to move between its limit switches; the vehicle loop and the photocell follow the
 * simulated traffic. Like a real controller it will not start closing onto a vehicle. Faults:
 * a jammed arm, a Modbus exception on the next request, slow replies.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';

export interface BarrierRegisterMap {
  openCoil: number;
  closeCoil: number;
  openLimitInput: number;
  closedLimitInput: number;
  loopInput: number;
  photocellInput: number;
}

export class SimulatedBarrier {
  /** 0 closed, 1 open, 0.5 travelling. */
  private position = 0;
  private moveTimer: TimerHandle | null = null;
  private readonly coils = new Map<number, boolean>();
  vehiclePresent = false;
  photocellBlocked = false;
  /** The arm does not move (motor fault): commands are accepted but never confirmed. */
  jammed = false;
  /** Answer the next request with this Modbus exception code, once. */
  nextException: number | null = null;
  /** Delay every reply by this many ms of the clock. */
  replyDelayMs = 0;
  movements = 0;

  constructor(
    readonly registers: BarrierRegisterMap,
    private readonly clock: Clock,
    private readonly travelMs = 1500,
  ) {}

  get armPosition(): 'open' | 'closed' | 'moving' {
    return this.position >= 1 ? 'open' : this.position <= 0 ? 'closed' : 'moving';
  }

  input(address: number): boolean {
    switch (address) {
      case this.registers.openLimitInput:
        return this.position >= 1;
      case this.registers.closedLimitInput:
        return this.position <= 0;
      case this.registers.loopInput:
        return this.vehiclePresent;
      case this.registers.photocellInput:
        return this.photocellBlocked;
      default:
        return false;
    }
  }

  coil(address: number): boolean {
    return this.coils.get(address) ?? false;
  }

  setCoil(address: number, value: boolean): void {
    const rising = value && !this.coil(address);
    this.coils.set(address, value);
    if (!rising) return;
    if (address === this.registers.openCoil) this.moveTo(1);
    if (address === this.registers.closeCoil && !this.vehiclePresent && !this.photocellBlocked) this.moveTo(0);
  }

  /** Takes the pending one-shot exception, if any. */
  takeException(): number | null {
    const code = this.nextException;
    this.nextException = null;
    return code;
  }

  private moveTo(target: 0 | 1): void {
    if (this.jammed || this.position === target) return;
    if (this.moveTimer) this.clock.clearTimeout(this.moveTimer);
    this.position = 0.5;
    this.movements += 1;
    this.moveTimer = this.clock.setTimeout(() => {
      this.moveTimer = null;
      this.position = target;
    }, this.travelMs);
  }
}
