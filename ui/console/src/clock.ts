/**
 * The post's clock as the browser sees it: waiting times count from the gateway's stamps, which
 * come from the post clock (in the demo a sped-up one). A lane view may say what time it is there
 * (`viewAt`) and how fast that clock runs (`clockSpeed`); without them the browser's clock is used,
 * moved forward if the stamps are ahead of it.
 */
import { useEffect, useState } from 'preact/hooks';
import type { CrossingView, LaneView, Step } from './types.js';

export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

const stamp = (value: string | null | undefined): number => (value ? Date.parse(value) : Number.NaN);

function latestStamp(lane: LaneView): number {
  let latest = Number.NEGATIVE_INFINITY;
  for (const crossing of lane.crossings) {
    for (const value of [crossing.stepSince, crossing.arrivedAt, ...Object.values(crossing.milestones ?? {})]) {
      const ms = stamp(value);
      if (ms > latest) latest = ms;
    }
  }
  return latest;
}

/** The post clock's time now (ms), for a lane view received at `receivedAt` (browser ms). */
export function postNow(lane: LaneView, receivedAt: number, browserNow: number): number {
  const speed = lane.clockSpeed && lane.clockSpeed > 0 ? lane.clockSpeed : 1;
  const base = lane.viewAt ? stamp(lane.viewAt) : Math.max(receivedAt, latestStamp(lane));
  return base + (browserNow - receivedAt) * speed;
}

/** The post clock as the browser reads it, for what the console stamps itself (a page's "as of"). */
export interface PostClock {
  /** Whether lanes came: until then the post clock is unknown and the browser's is read instead. */
  known: boolean;
  /** The post clock's reading (ms) at browser time `browserMs`. */
  at: (browserMs: number) => number;
}

/** The post clock by the lanes last received, received at `receivedAt` (they all carry the same clock). */
export function postClockOf(lanes: readonly LaneView[], receivedAt: number): PostClock {
  const lane = lanes[0];
  return lane ? { known: true, at: (browserMs) => postNow(lane, receivedAt, browserMs) } : { known: false, at: (browserMs) => browserMs };
}

const STATE_STEP: Record<string, Step> = {
  arrived: 'queue',
  registered: 'weighbridge',
  weighed: 'weighbridge',
  'risk-assessed': 'weighbridge',
  scanning: 'scanner',
  inspecting: 'inspection',
  released: 'barrier',
  exited: 'exit',
};

/** Where the vehicle is: the gateway's `step`, else derived from the workflow state. */
export function stepOf(crossing: CrossingView): Step {
  return crossing.step ?? STATE_STEP[crossing.state] ?? 'queue';
}

export function arrivedAt(crossing: CrossingView): number {
  return stamp(crossing.arrivedAt ?? crossing.milestones?.arrived);
}

const MILESTONE_OF_STATE: Record<string, string> = { arrived: 'arrived', registered: 'registered', weighed: 'weighed', 'risk-assessed': 'riskAssessed', scanning: 'riskAssessed', inspecting: 'riskAssessed', released: 'released' };

export function stepSince(crossing: CrossingView): number {
  const since = stamp(crossing.stepSince);
  if (Number.isFinite(since)) return since;
  const milestone = MILESTONE_OF_STATE[crossing.state];
  return stamp(milestone ? crossing.milestones?.[milestone] : undefined);
}
