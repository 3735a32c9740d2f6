/**
 * The simulator's ground truth about trucks: who they are (direction, type, trusted trader or not,
 * how often they come), what they declare, what they really carry, and whether the crossing hides
 * an irregularity. The traffic generator drives the devices from these profiles, the X-ray scanner
 * draws concealed dense objects for irregular loads, and `labelledCrossings` turns them into the
 * labelled rows the risk model is trained and evaluated on. The gateway never sees `irregular`.
 */

import { DIRECTIONS } from '../config/schema.js';

export type SimDirection = (typeof DIRECTIONS)[number];

export interface TruckProfile {
  plate: string;
  direction: SimDirection;
  vehicleType: 'tractor-trailer' | 'truck' | 'van';
  aeo: boolean;
  declaredWeightKg: number;
  actualWeightKg: number;
  /** Camera confidence of the entry read (the camera may still misread). */
  plateConfidence: number;
  visits30d: number;
  plateMismatches: number;
  watchlisted: boolean;
  arrivalWallMs: number;
  /** The hidden truth: the load is not what was declared. */
  irregular: boolean;
}

export interface ProfileOptions {
  random: () => number;
  /** Directions the lane handles. */
  directions: readonly SimDirection[];
  arrivalWallMs: number;
  /** Plates of the post's watchlist; a few trucks carry one. */
  watchlist?: readonly string[];
  /** Overrides the drawn plate (the traffic generator keeps a fleet). */
  plate?: string;
}

function pick<T>(random: () => number, items: readonly (readonly [T, number])[]): T {
  let roll = random();
  for (const [item, share] of items) {
    if ((roll -= share) < 0) return item;
  }
  return (items[items.length - 1] as readonly [T, number])[0];
}

/** A normal draw (Box–Muller). */
function normal(random: () => number, mean: number, sd: number): number {
  return mean + sd * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

export function randomPlate(random: () => number): string {
  const letter = (): string => String.fromCharCode(65 + Math.floor(random() * 26));
  return `${letter()}${letter()}-${String(Math.floor(random() * 1000)).padStart(3, '0')}-${letter()}${letter()}`;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** The hidden risk: the odds of an irregular load given what is true of the truck. */
function irregularLogOdds(profile: Omit<TruckProfile, 'irregular' | 'actualWeightKg'>): number {
  const hour = new Date(profile.arrivalWallMs).getUTCHours();
  return (
    -3.0 +
    3.2 * (profile.watchlisted ? 1 : 0) +
    1.1 * (profile.visits30d === 0 ? 1 : 0) +
    0.7 * (profile.direction === 'transit-entry' || profile.direction === 'transit-exit' ? 1 : 0) +
    0.6 * (hour < 5 ? 1 : 0) +
    0.9 * Math.min(profile.plateMismatches, 2) -
    1.6 * (profile.aeo ? 1 : 0) +
    0.5 * (profile.vehicleType === 'van' ? 1 : 0)
  );
}

export function randomTruck(options: ProfileOptions): TruckProfile {
  const { random } = options;
  const watchlist = options.watchlist ?? [];
  const watchlisted = watchlist.length > 0 && random() < 0.02;
  const plate = watchlisted ? (watchlist[Math.floor(random() * watchlist.length)] as string) : (options.plate ?? randomPlate(random));
  const vehicleType = pick(random, [
    ['tractor-trailer', 0.6],
    ['truck', 0.3],
    ['van', 0.1],
  ] as const);
  const frequent = random() < 0.6;
  const base = {
    plate,
    direction: options.directions[Math.floor(random() * options.directions.length)] as SimDirection,
    vehicleType,
    aeo: random() < 0.25,
    declaredWeightKg: Math.round(vehicleType === 'van' ? 2000 + random() * 1500 : 12_000 + random() * 26_000),
    plateConfidence: Math.min(0.99, Math.max(0.3, normal(random, 0.9, 0.08))),
    visits30d: frequent ? 2 + Math.floor(random() * 12) : random() < 0.5 ? 0 : 1,
    plateMismatches: random() < 0.06 ? 1 + Math.floor(random() * 3) : 0,
    watchlisted,
    arrivalWallMs: options.arrivalWallMs,
  };
  const irregular = random() < sigmoid(irregularLogOdds(base));
  // Irregular loads are mostly heavier than declared (undeclared goods); scales read ±2%.
  const deviation = irregular && random() < 0.7 ? Math.abs(normal(random, 0.14, 0.07)) : normal(random, 0, 0.02);
  return { ...base, irregular, actualWeightKg: Math.max(500, Math.round(base.declaredWeightKg * (1 + deviation))) };
}

/** One labelled row: what the gateway would know, and the truth. */
export interface LabelledCrossing {
  profile: TruckProfile;
  irregular: boolean;
}

/** `count` independent crossings at arrival times spread over 30 days. */
export function labelledCrossings(count: number, random: () => number, watchlist: readonly string[] = ['AB-123-CD', 'XY-808-ZZ', 'KT-515-OB']): LabelledCrossing[] {
  const start = Date.UTC(2026, 9, 1);
  return Array.from({ length: count }, () => {
    const profile = randomTruck({ random, directions: DIRECTIONS, arrivalWallMs: start + Math.floor(random() * 30 * 86_400_000), watchlist });
    return { profile, irregular: profile.irregular };
  });
}

/** A seeded generator (an LCG): the same seed gives the same traffic and the same training data. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}
