/**
 * How far the wall clock can be trusted, as the OS tells it, for every TRS milestone: chrony's
 * `chronyc -c tracking` (leap status Normal = synchronised; last offset), else systemd-timesyncd's
 * `/run/systemd/timesync/synchronized` flag (no offset). Probed at most once per `refreshMs`, in
 * the background: a milestone is stamped with the last answer, never waits for chronyc.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Clock, ClockQuality, ClockQualityProbe } from './clock.js';

export interface ClockQualitySources {
  /** `chronyc -c tracking` output, or null when chrony is not there or did not answer. */
  chronyTracking(): Promise<string | null>;
  timesyncSynchronised(): boolean;
}

/** chronyc asks chronyd over a local socket: a few ms; one that takes longer is killed. */
const CHRONYC_TIMEOUT_MS = 500;
/** A tracking line is ~150 bytes. */
const CHRONYC_MAX_BYTES = 16 * 1024;

/**
 * `chronyc -c tracking` run asynchronously. It was execFileSync on the event loop: 5-10 ms of a
 * stalled loop per probe where chronyc is missing (the failed spawn), up to the whole 500 ms
 * timeout where chronyd hangs, with a camera push or a PUBACK waiting behind it.
 */
export function readChronyTracking(command = 'chronyc', timeoutMs = CHRONYC_TIMEOUT_MS): Promise<string | null> {
  return new Promise((resolve) => {
    // SIGKILL: a chronyc that ignored SIGTERM kept its probe, and the answer before it, for ever.
    execFile(command, ['-c', 'tracking'], { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: CHRONYC_MAX_BYTES }, (error, stdout) => resolve(error ? null : stdout));
  });
}

const osSources: ClockQualitySources = {
  chronyTracking: () => readChronyTracking(),
  timesyncSynchronised: () => existsSync('/run/systemd/timesync/synchronized'),
};

/** Reads chrony's CSV tracking line: field 5 (0-based) is the last offset in seconds, 13 the leap status. */
export function parseChronyTracking(csv: string): ClockQuality | null {
  const fields = csv.trim().split(',');
  if (fields.length < 14) return null;
  const lastOffsetSec = Number(fields[5]);
  return { synchronised: fields[13] === 'Normal', offsetMs: Number.isFinite(lastOffsetSec) ? Math.round(lastOffsetSec * 1e6) / 1e3 : null };
}

/** A probe still running this many refresh intervals after it started has hung: its answer is not awaited. */
const HUNG_AFTER_REFRESHES = 5;

/**
 * The last quality the OS told, asked again (one probe at a time) once it is `refreshMs` old. The
 * first probe starts at once, so chrony has answered long before the first vehicle arrives; until
 * it has, the timesyncd flag stands (offset unknown), as where chrony is not installed. A probe
 * that has hung (HUNG_AFTER_REFRESHES) no longer stands for the clock: the answer before it is
 * dropped for the timesyncd flag, and a new probe starts (a late answer of the hung one is ignored).
 */
export function createClockQualityProbe(clock: Clock, refreshMs = 60_000, sources: ClockQualitySources = osSources): ClockQualityProbe {
  let known: ClockQuality | null = null;
  let probedAt = Number.NEGATIVE_INFINITY;
  let probing = false;
  let probes = 0;
  const fromTimesync = (): ClockQuality => ({ synchronised: sources.timesyncSynchronised(), offsetMs: null });
  const refresh = (): void => {
    const probe = ++probes;
    probing = true;
    probedAt = clock.monotonic();
    void sources
      .chronyTracking()
      .catch(() => null)
      .then((chrony) => {
        if (probe !== probes) return;
        known = (chrony === null ? null : parseChronyTracking(chrony)) ?? fromTimesync();
        probing = false;
      });
  };
  refresh();
  return () => {
    const age = clock.monotonic() - probedAt;
    if (probing && age >= HUNG_AFTER_REFRESHES * refreshMs) {
      known = null;
      refresh();
    } else if (!probing && age >= refreshMs) refresh();
    return known ?? fromTimesync();
  };
}
