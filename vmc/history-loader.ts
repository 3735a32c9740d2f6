/**
 * `vmc load-history`: a year or two of made-up `crossing.completed` events for several posts,
 * written straight into the store (not through the broker), so the dashboards' year-over-year
 * views have something to show in a demo. Seeded, so two loads of the same options agree.
 * The shares follow the demo post's traffic (about 78/11/11 % green/orange/red, ~27 % X-ray,
 * ~100 min registration, ~135 min crossing), with a seasonal swing and growth year on year;
 * mostly trucks and tractor-trailers, some vans, buses and cars (the vehicle type filter).
 * Each post gets its own seq from 1, so the gap watch sees complete gateways, and ids come from
 * the seed too, so loading the same options again adds nothing (every event is a duplicate).
 */
import { v7 as uuidv7 } from 'uuid';
import { DIRECTIONS } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { createEventFactory, type CloudEvent } from '../contract/envelope.js';
import type { VmcStore } from './store/vmc-store.js';

export interface HistoryOptions {
  posts: string[];
  /** First day loaded, UTC midnight (epoch ms). */
  fromMs: number;
  days: number;
  /** Mean vehicles per post per day (default 120). */
  perDay?: number;
  seed?: number;
}

/** Cumulative shares of the vehicle types a cargo post sees. */
const VEHICLE_MIX: [number, 'truck' | 'tractor-trailer' | 'van' | 'bus' | 'car'][] = [
  [0.55, 'truck'],
  [0.8, 'tractor-trailer'],
  [0.92, 'van'],
  [0.96, 'bus'],
  [1, 'car'],
];

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** A gamma-ish positive duration around `mean` minutes (sum of exponentials: right-skewed like queues). */
function duration(random: () => number, mean: number): number {
  let sum = 0;
  for (let i = 0; i < 3; i += 1) sum += -Math.log(1 - random()) * (mean / 3);
  return Math.max(1, sum);
}

/** Resolves to the number of crossings stored (0 when the store had them all already). */
export async function loadHistory(store: VmcStore, options: HistoryOptions, nowClock: Clock): Promise<number> {
  const random = seeded(options.seed ?? 11);
  const perDay = options.perDay ?? 120;
  let total = 0;
  for (const [postIndex, postId] of options.posts.entries()) {
    let seq = 0;
    let batch: CloudEvent[] = [];
    // Each event is stamped at its vehicle's exit: the factory reads this clock.
    let stampMs = options.fromMs;
    const factory = createEventFactory(postId, { ...nowClock, now: () => stampMs });
    for (let day = 0; day < options.days; day += 1) {
      const dayMs = options.fromMs + day * 86_400_000;
      const month = new Date(dayMs).getUTCMonth();
      // Summer and pre-holiday peaks, 6 % more traffic each year, posts of different sizes.
      const season = 1 + 0.25 * Math.sin(((month - 3) / 12) * 2 * Math.PI);
      const growth = 1.06 ** Math.floor(day / 365);
      const count = Math.round(perDay * season * growth * (0.6 + 0.25 * postIndex) * (0.85 + 0.3 * random()));
      for (let i = 0; i < count; i += 1) {
        const arrivedMs = dayMs + Math.floor(random() * 86_400_000);
        const registrationMin = duration(random, 100);
        const roll = random();
        const channel = roll < 0.78 ? 'green' : roll < 0.89 ? 'orange' : 'red';
        const xray = channel !== 'green' ? random() < 0.85 : random() < 0.11;
        const crossingMin = registrationMin + duration(random, channel === 'green' ? 28 : 75);
        const exitedMs = arrivedMs + Math.round(crossingMin * 60_000);
        const typeRoll = random();
        const vehicleType = VEHICLE_MIX.find(([upTo]) => typeRoll < upTo)?.[1] ?? 'truck';
        const crossingId = `${postId}-${day}-${i}`;
        stampMs = exitedMs;
        const event = factory.create(
          'crossing.completed',
          `lane-${1 + (i % 4)}`,
          {
            crossingId,
            postId,
            laneId: `lane-${1 + (i % 4)}`,
            direction: DIRECTIONS[Math.floor(random() * DIRECTIONS.length)] ?? 'import',
            plate: null,
            vehicleType,
            channel,
            xray,
            milestones: { arrived: new Date(arrivedMs).toISOString(), registered: new Date(arrivedMs + Math.round(registrationMin * 60_000)).toISOString(), exited: new Date(exitedMs).toISOString() },
            durations: { registrationSec: Math.round(registrationMin * 60), crossingSec: Math.round(crossingMin * 60) },
            weightKg: null,
            risk: { score: channel === 'green' ? 0.1 : 0.7, modelVersion: 'history-loader', reasons: [] },
            xrayScreening: null,
            clock: { synchronised: true, offsetMs: 0 },
            outcome: 'completed',
          },
          crossingId,
        );
        const idBytes = Uint8Array.from({ length: 16 }, () => Math.floor(random() * 256));
        batch.push({ ...event, id: uuidv7({ msecs: exitedMs, random: idBytes }), seq: (seq += 1) });
        if (batch.length >= 1000) {
          total += (await store.store(batch, 'history-loader', nowClock.now())).stored;
          batch = [];
        }
      }
    }
    if (batch.length) {
      total += (await store.store(batch, 'history-loader', nowClock.now())).stored;
    }
  }
  return total;
}
