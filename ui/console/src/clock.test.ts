import { describe, expect, it } from 'vitest';
import { postClockOf, postNow } from './clock.js';
import type { LaneView } from './types.js';

const lane = (viewAt: string, clockSpeed: number): LaneView => ({ laneId: 'lane-1', name: null, devices: [], barrier: null, crossings: [], viewAt, clockSpeed });

describe('the post clock in the browser', () => {
  // The demo's post clock: hours ahead of the browser's and 120 times as fast.
  const receivedAt = Date.parse('2026-11-29T12:10:00.000Z');
  const demo = lane('2026-11-29T18:00:00.000Z', 120);

  it('reads the post clock from the lanes, moving on at its speed (the board times and a page\'s "as of" alike)', () => {
    const clock = postClockOf([demo], receivedAt);
    expect(clock.known).toBe(true);
    expect(clock.at(receivedAt)).toBe(Date.parse('2026-11-29T18:00:00.000Z'));
    expect(clock.at(receivedAt + 1000)).toBe(Date.parse('2026-11-29T18:02:00.000Z'));
    expect(clock.at(receivedAt + 1000)).toBe(postNow(demo, receivedAt, receivedAt + 1000));
    // A time before the lanes came (a report that arrived first) is read back on the same clock.
    expect(clock.at(receivedAt - 500)).toBe(Date.parse('2026-11-29T17:59:00.000Z'));
  });

  it('falls back to the browser clock until lanes come, and says so', () => {
    const clock = postClockOf([], receivedAt);
    expect(clock.known).toBe(false);
    expect(clock.at(receivedAt + 1000)).toBe(receivedAt + 1000);
  });
});
