/**
 * How far the wall clock can be trusted, as the OS tells it, for every TRS milestone: chrony's
 * `chronyc -c tracking` (leap status Normal = synchronised; last offset), else systemd-timesyncd's
 * `/run/systemd/timesync/synchronized` flag (no offset). Probed at most once per `refreshMs`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Clock, ClockQuality, ClockQualityProbe } from './clock.js';

export interface ClockQualitySources {
  /** `chronyc -c tracking` output, or null when chrony is not there. */
  chronyTracking(): string | null;
  timesyncSynchronised(): boolean;
}

const osSources: ClockQualitySources = {
  chronyTracking: () => {
    try {
      return execFileSync('chronyc', ['-c', 'tracking'], { encoding: 'utf8', timeout: 500, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return null;
    }
  },
  timesyncSynchronised: () => existsSync('/run/systemd/timesync/synchronized'),
};

/** Reads chrony's CSV tracking line: field 5 (0-based) is the last offset in seconds, 13 the leap status. */
export function parseChronyTracking(csv: string): ClockQuality | null {
  const fields = csv.trim().split(',');
  if (fields.length < 14) return null;
  const lastOffsetSec = Number(fields[5]);
  return { synchronised: fields[13] === 'Normal', offsetMs: Number.isFinite(lastOffsetSec) ? Math.round(lastOffsetSec * 1e6) / 1e3 : null };
}

export function createClockQualityProbe(clock: Clock, refreshMs = 60_000, sources: ClockQualitySources = osSources): ClockQualityProbe {
  let cached: ClockQuality | null = null;
  let probedAt = Number.NEGATIVE_INFINITY;
  return () => {
    const now = clock.monotonic();
    if (cached && now - probedAt < refreshMs) return cached;
    const chrony = sources.chronyTracking();
    cached = (chrony === null ? null : parseChronyTracking(chrony)) ?? { synchronised: sources.timesyncSynchronised(), offsetMs: null };
    probedAt = now;
    return cached;
  };
}
