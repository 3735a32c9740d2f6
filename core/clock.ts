/**
 * All time in the gateway comes from one injectable clock, so the simulator can run a day in
 * minutes and tests never sleep. Wall time (`now`) can step when NTP corrects it; durations are
 * always measured with `monotonic`, which never goes backwards.
 */

export type TimerHandle = { readonly id: unknown };

export interface Clock {
  /** Wall-clock time, UTC milliseconds since the epoch. */
  now(): number;
  /** Monotonic milliseconds from an arbitrary origin; never steps. */
  monotonic(): number;
  /** Run `fn` once after `ms` milliseconds of this clock's time. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /**
   * Only clocks that step time themselves (tests, lockstep runs) implement this: before they run
   * the next timer they await `work`, which resolves true when it had to wait for something (and
   * is then asked again), so asynchronous I/O a timer caused, such as the outbox's fsync, is done
   * before time moves on. Real time waits for nobody: real clocks leave it out. Returns what takes
   * `work` off again (its owner stopped: a clock that outlives a gateway, as across a test's
   * restarts, must not keep asking it or hold it in memory).
   */
  settleWith?(work: () => Promise<boolean>): () => void;
}

/** The machine's clocks and Node's timers (which vitest fake timers replace in unit tests). */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    timer.unref?.();
    return { id: timer };
  },
  clearTimeout: (handle) => clearTimeout(handle.id as NodeJS.Timeout),
};

/**
 * A clock that runs `speed` times faster than the real one, starting at `startAt` (default: the
 * real time). The demo and the simulator use it so a day of traffic passes in minutes.
 */
export function createScaledClock(speed: number, base: Clock = systemClock, startAt?: number): Clock {
  if (!(speed > 0)) throw new RangeError(`speed must be > 0, got ${speed}`);
  const wallOrigin = startAt ?? base.now();
  const monoOrigin = base.monotonic();
  const elapsed = (): number => (base.monotonic() - monoOrigin) * speed;
  return {
    now: () => Math.round(wallOrigin + elapsed()),
    monotonic: () => elapsed(),
    setTimeout: (fn, ms) => base.setTimeout(fn, Math.max(0, ms / speed)),
    clearTimeout: (handle) => base.clearTimeout(handle),
  };
}

/** How far the wall clock can be trusted, as every TRS milestone records it. */
export interface ClockQuality {
  /** True when the OS reports the clock as synchronised (NTP/PTP). */
  synchronised: boolean;
  /** Last known offset from the reference in milliseconds, when the OS tells it. */
  offsetMs: number | null;
}

export type ClockQualityProbe = () => ClockQuality;
