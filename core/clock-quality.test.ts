import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../test/helpers/manual-clock.js';
import { tempDir } from '../test/helpers/test-config.js';
import { createClockQualityProbe, parseChronyTracking, readChronyTracking } from './clock-quality.js';

// A `chronyc -c tracking` line: last offset -0.000012345 s, leap status Normal.
const TRACKING = 'A9FEA97B,169.254.169.123,4,1795675000.123456789,0.000001234,-0.000012345,0.000020000,-12.345,0.001,0.020,0.000300000,0.000200000,64.4,Normal';

/** Lets pending promise callbacks and one turn of the event loop run. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A stand-in for chronyc: a shell script running `body`. */
function fakeChronyc(body: string): string {
  const file = join(tempDir(), 'chronyc');
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

describe('clock quality', () => {
  it('reads chrony tracking: synchronised and the last offset in ms', () => {
    expect(parseChronyTracking(TRACKING)).toEqual({ synchronised: true, offsetMs: -0.012 });
    expect(parseChronyTracking(TRACKING.replace('Normal', 'Not synchronised'))).toMatchObject({ synchronised: false });
    expect(parseChronyTracking('garbage')).toBeNull();
  });

  it('falls back to the timesyncd flag, and probes at most once per refresh interval', async () => {
    const clock = new ManualClock();
    let probes = 0;
    let synced = false;
    const probe = createClockQualityProbe(clock, 60_000, {
      chronyTracking: () => {
        probes += 1;
        return Promise.resolve(null);
      },
      timesyncSynchronised: () => synced,
    });
    await turn();
    expect(probe()).toEqual({ synchronised: false, offsetMs: null });
    synced = true;
    clock.advance(59_000);
    expect(probe()).toEqual({ synchronised: false, offsetMs: null });
    clock.advance(1_000);
    probe(); // starts the second probe; its answer comes after this turn
    await turn();
    expect(probe()).toEqual({ synchronised: true, offsetMs: null });
    expect(probes).toBe(2);
  });

  it('never waits for chronyc: the last answer stands while a probe runs, one probe at a time', async () => {
    const clock = new ManualClock();
    const answers: ((csv: string | null) => void)[] = [];
    const probe = createClockQualityProbe(clock, 60_000, {
      chronyTracking: () => new Promise((resolve) => answers.push(resolve)),
      timesyncSynchronised: () => false,
    });
    // The first probe starts with the probe itself; until it answers, the timesyncd flag stands.
    expect(answers).toHaveLength(1);
    expect(probe()).toEqual({ synchronised: false, offsetMs: null });
    answers[0]?.(TRACKING);
    await turn();
    expect(probe()).toEqual({ synchronised: true, offsetMs: -0.012 });
    // Stale: a second probe starts, and while chronyc says nothing the last answer is returned.
    clock.advance(120_000);
    expect(probe()).toEqual({ synchronised: true, offsetMs: -0.012 });
    clock.advance(120_000);
    expect(probe()).toEqual({ synchronised: true, offsetMs: -0.012 });
    expect(answers).toHaveLength(2);
    answers[1]?.(TRACKING.replace('Normal', 'Not synchronised'));
    await turn();
    expect(probe()).toMatchObject({ synchronised: false });
  });

  it('drops the last answer for the timesyncd flag once a probe has hung for five refresh intervals, and asks again', async () => {
    const clock = new ManualClock();
    const answers: ((csv: string | null) => void)[] = [];
    const probe = createClockQualityProbe(clock, 60_000, {
      chronyTracking: () => new Promise((resolve) => answers.push(resolve)),
      timesyncSynchronised: () => false,
    });
    answers[0]?.(TRACKING);
    await turn();
    clock.advance(60_000);
    expect(probe()).toEqual({ synchronised: true, offsetMs: -0.012 });
    expect(answers).toHaveLength(2);
    // The second never answers. Four intervals on, its answer before still stands; at five it does not.
    clock.advance(4 * 60_000);
    expect(probe()).toEqual({ synchronised: true, offsetMs: -0.012 });
    clock.advance(60_000);
    expect(probe()).toEqual({ synchronised: false, offsetMs: null });
    expect(answers).toHaveLength(3);
    // The hung one answering late changes nothing; the new one does.
    answers[1]?.(TRACKING);
    await turn();
    expect(probe()).toEqual({ synchronised: false, offsetMs: null });
    answers[2]?.(TRACKING);
    await turn();
    expect(probe()).toEqual({ synchronised: true, offsetMs: -0.012 });
  });

  it('kills a chronyc that ignores SIGTERM', async () => {
    // One process (the shell's own loop) that ignores SIGTERM from its first line: before, its
    // reading waited for ever.
    const stubborn = fakeChronyc("trap '' TERM\nwhile :; do :; done");
    expect(await readChronyTracking(stubborn, 300)).toBeNull();
  });

  it('runs chronyc as a child process without blocking the event loop, and kills one that hangs', async () => {
    expect(await readChronyTracking(fakeChronyc(`echo '${TRACKING}'`))).toBe(`${TRACKING}\n`);
    expect(await readChronyTracking(join(tempDir(), 'no-chronyc-here'))).toBeNull();
    // chronyd not answering: chronyc waits. The loop turns meanwhile (execFileSync held it for
    // the whole timeout), and the reading ends as "no answer" once chronyc is killed.
    let settled = false;
    const reading = readChronyTracking(fakeChronyc('exec sleep 30'), 300).then((csv) => {
      settled = true;
      return csv;
    });
    await turn();
    expect(settled).toBe(false);
    expect(await reading).toBeNull();
  });
});
