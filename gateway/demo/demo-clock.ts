/**
 * The demo's traffic clock runs `--speed` times faster than the wall clock, so after a few
 * minutes it stands hours ahead of it. Started again at the real time after a restart, it was
 * behind every crossing the lanes carried over: their timers showed 0:00 and their waits were
 * negative. So the demo keeps where its clock stands in the data directory and resumes from there.
 *
 * What is kept is a bound, not the reading: the clock's time plus what it will run before the next
 * save (with room for a late timer). After a kill -9 the clock resumes at or after every time it
 * stamped, so no event after the restart is stamped before one from before it; a clean stop keeps
 * the exact reading.
 */
import { closeSync, fsyncSync, openSync, readSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createScaledClock, systemClock, type Clock, type TimerHandle } from '../../core/clock.js';

export const DEMO_CLOCK_FILE = 'demo-clock.json';
/** Real milliseconds between saves. */
const SAVE_EVERY_MS = 1000;
/** The bound saved covers this many save intervals: a timer may fire late on a busy machine. */
const SAVE_MARGIN_INTERVALS = 3;
/** Readings outside these are not a demo clock's (a damaged or foreign file): ignored. */
const EARLIEST_MS = Date.UTC(2000, 0, 1);
const LATEST_MS = Date.UTC(2200, 0, 1);

export interface DemoClock {
  clock: Clock;
  /** The saved time it resumed from, or null when it started at the real time. */
  resumedFrom: number | null;
  /** Saves the exact reading and stops saving. */
  stop(): void;
}

export interface DemoClockOptions {
  dataDir: string;
  speed: number;
  base?: Clock;
  /** A save that failed (a read-only or full disk): the demo goes on, it only resumes less well. */
  onSaveError?: (error: unknown) => void;
}

export function startDemoClock(options: DemoClockOptions): DemoClock {
  const base = options.base ?? systemClock;
  const file = join(options.dataDir, DEMO_CLOCK_FILE);
  const saved = readSaved(file);
  const resumedFrom = saved !== null && saved > base.now() ? saved : null;
  const clock = createScaledClock(options.speed, base, resumedFrom ?? undefined);
  const save = (trafficMs: number): void => {
    try {
      const temporary = `${file}.tmp`;
      // Synced: after a power cut the crossings (synced in SQLite) must not be ahead of the file.
      const fd = openSync(temporary, 'w');
      try {
        writeSync(fd, `${JSON.stringify({ trafficMs: Math.round(trafficMs) })}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, file);
    } catch (error) {
      options.onSaveError?.(error);
    }
  };
  let timer: TimerHandle | null = null;
  const tick = (): void => {
    save(clock.now() + SAVE_EVERY_MS * SAVE_MARGIN_INTERVALS * options.speed);
    timer = base.setTimeout(tick, SAVE_EVERY_MS);
  };
  tick();
  return {
    clock,
    resumedFrom,
    stop: () => {
      if (timer) base.clearTimeout(timer);
      timer = null;
      save(clock.now());
    },
  };
}

/** Bytes read of the file at most: a reading is a few dozen; anything longer is not one. */
const MAX_FILE_BYTES = 256;

function readSaved(file: string): number | null {
  let text: string;
  try {
    const fd = openSync(file, 'r');
    try {
      const buffer = Buffer.alloc(MAX_FILE_BYTES + 1);
      const read = readSync(fd, buffer, 0, buffer.length, 0);
      if (read > MAX_FILE_BYTES) return null;
      text = buffer.subarray(0, read).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return null; // a first start
  }
  try {
    const value: unknown = (JSON.parse(text) as { trafficMs?: unknown } | null)?.trafficMs;
    return typeof value === 'number' && Number.isFinite(value) && value >= EARLIEST_MS && value <= LATEST_MS ? value : null;
  } catch {
    return null;
  }
}
