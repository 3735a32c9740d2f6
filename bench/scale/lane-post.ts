/**
 * A post of N identical lanes for the lane scale curve: the configuration (lanes without device
 * transports, the uplink pointed nowhere so every event stays in the outbox) and the simulator's
 * stand-in lanes. Every lane takes every direction, so each lane's traffic is drawn from the same
 * mix whatever N is (the workflow benchmark's lanes 1–2 are inbound only, which would make the
 * one-lane post's trucks different from the 64-lane post's).
 */
import { DIRECTIONS, type PostConfig } from '../../config/schema.js';
import { parseConfigText } from '../../config/load-config.js';
import type { Clock } from '../../core/clock.js';
import type { SimulatedLane } from '../../sim/traffic.js';
import { standInLanes, type DeviceFeedStandIn } from '../../test/helpers/post-harness.js';

/**
 * Hours of traffic before a lane point is measured: longer than most crossings (a red channel's
 * ≈ 3 h), so the post then holds its steady load and the JIT is warm.
 */
export const WARMUP_HOURS = 4;

export function laneIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `lane-${i + 1}`);
}

export function lanePostConfig(count: number): PostConfig {
  return parseConfigText(`
version: 1
post: { id: scale-post }
lanes:
${laneIds(count)
  .map((id) => `  - { id: ${id}, devices: [] }`)
  .join('\n')}
uplink: { brokers: ["mqtt://127.0.0.1:1"] }
outbox: { path: outbox.db, maxBytes: 4294967296 }
`);
}

/** The stand-in devices of `count` lanes, all directions on each; the post's one scanner is on lane 1. */
export function scaleLanes(feed: Pick<DeviceFeedStandIn, 'read'>, count: number, clock: Clock, scanFolder: string): SimulatedLane[] {
  return standInLanes(feed, laneIds(count), clock, scanFolder).map((lane) => ({ ...lane, directions: DIRECTIONS }));
}
